import { message } from '../messages/messages.ts';
import type { CliContext } from './context.ts';

/** The parsed options of one command (node:util parseArgs). */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** What a command prints; `exitCode` 1 reports a partial failure whose report is still the output. */
export type Result = { json: unknown; text: string; exitCode?: number };

export type Command = {
  usage: string;
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  /** Names of the positional arguments, all required. */
  positionals: string[];
  run(ctx: CliContext, values: Values, positionals: string[]): Promise<Result>;
};

export const list = (value: Values[string]): string[] => (Array.isArray(value) ? value : typeof value === 'string' ? [value] : []);
export const text = (value: Values[string]): string | undefined => (typeof value === 'string' ? value : undefined);

/** Text from users shown on an operator's terminal: control characters are escaped, never obeyed. */
export function printable(value: string): string {
  return value.replace(/[\p{Cc}\u202A-\u202E\u2066-\u2069]/gu, (char) => `\\u${char.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

/** Rows as aligned columns, the first row the headings; "(none)" without rows. */
export function table(rows: string[][]): string {
  if (rows.length <= 1) return message('cli.none');
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}
