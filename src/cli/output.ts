import { message } from '../messages/messages.ts';
import type { CliContext } from './context.ts';

/** The parsed options of one command (node:util parseArgs). */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** What a command prints; `exitCode` 1 reports a partial failure whose report is still the output. */
export type Result = { json: unknown; text: string; exitCode?: number };

/**
 * What a command that works on the database file itself gets (`db backup`, `db restore`): the
 * configuration, and no open store (a restore must find the file closed; a backup must not migrate it).
 */
export type FileContext = Pick<CliContext, 'config' | 'warn'>;

type CommandShape = {
  usage: string;
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  /** Names of the positional arguments, all required. */
  positionals: string[];
};

export type Command = CommandShape & (
  | { fileOnly?: undefined; run(ctx: CliContext, values: Values, positionals: string[]): Promise<Result> }
  | { fileOnly: true; run(ctx: FileContext, values: Values, positionals: string[]): Promise<Result> }
);

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
