import { expect } from 'vitest';

import type { CliRun } from './run-cli.ts';

/** The whole run, for an assertion's message. */
export function describeRun(run: CliRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;
}

/** A successful run: exit 0, nothing on stderr. Returns stdout. */
export function succeeded(run: CliRun): string {
  expect(run.code, describeRun(run)).toBe(0);
  expect(run.stderr, describeRun(run)).toBe('');
  return run.stdout;
}

/** A refusal as every command gives one: exit 1, nothing on stdout, one readable line on stderr. */
export function refused(run: CliRun, words: RegExp | string): void {
  expect(run.code, describeRun(run)).toBe(1);
  expect(run.stdout, describeRun(run)).toBe('');
  expect(run.stderr, describeRun(run)).toMatch(/^gatehouse: [^\n]+\n$/);
  expect(run.stderr).toMatch(words);
}
