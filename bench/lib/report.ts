import { execFileSync } from 'node:child_process';
import { cpus, totalmem, availableParallelism, platform, release, arch } from 'node:os';

import { repoRoot } from './processes.ts';

export type MachineInfo = {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  gitCommit: string;
  /** Uncommitted changes in the working tree when the bench ran. */
  gitDirty: boolean;
};

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineInfo(): MachineInfo {
  return {
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()} ${arch()}`,
    node: process.version,
    gitCommit: git(['rev-parse', '--short', 'HEAD']) || 'unknown',
    gitDirty: git(['status', '--porcelain']) !== '',
  };
}

/**
 * A Markdown table (readable as is in a terminal, and pasted into the README as is). `notes`: rows
 * of long text appended as they are, without widening the columns.
 */
export function table(header: string[], rows: string[][], align: ('l' | 'r')[] = [], notes: string[][] = []): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => (align[column] === 'r' ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (align[column] === 'r' ? `${'-'.repeat(width + 1)}:` : '-'.repeat(width + 2))).join('|')}|`;
  const note = (cells: string[]) => `| ${header.map((_, column) => cells[column] ?? '').join(' | ')} |`;
  return [line(header), rule, ...rows.map(line), ...notes.map(note)].join('\n');
}

export const fmt = {
  rate: (value: number) => (Number.isFinite(value) ? (value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(1)) : '–'),
  // autocannon measures whole milliseconds; our own timings have decimals.
  ms: (value: number) => (Number.isFinite(value) ? (Number.isInteger(value) || value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)) : '–'),
  us: (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–'),
  ratio: (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '–'),
  mib: (kib: number | undefined) => (kib === undefined ? '–' : `${(kib / 1024).toFixed(0)} MiB`),
};
