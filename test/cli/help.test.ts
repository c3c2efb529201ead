import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { commands } from '../../src/cli/commands.ts';
import { inCliWords } from '../../src/cli/main.ts';
import { describeRun, succeeded } from '../helpers/cli-assertions.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';
import type { CliRun } from '../helpers/run-cli.ts';
import { cliFor, runCliProcess } from '../helpers/run-cli.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const packageVersion = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A CLI on a data directory of its own, with nothing in it yet. */
function freshCli(extra: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-help-'));
  dirs.push(dir);
  return { dir, gatehouse: cliFor({ ...testEnvironment(dir), ...extra }) };
}

/** A usage error: exit 2, nothing on stdout, exactly `line` (and at most a usage line after it) on stderr. */
function usageError(run: CliRun, line: string | RegExp): void {
  expect(run.code, describeRun(run)).toBe(2);
  expect(run.stdout).toBe('');
  const [first, ...rest] = run.stderr.trimEnd().split('\n');
  expect(first).toMatch(typeof line === 'string' ? new RegExp(`^${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : line);
  expect(rest.every((more) => more.startsWith('usage: gatehouse '))).toBe(true);
  expect(rest.length).toBeLessThanOrEqual(1);
}

describe('gatehouse --version', () => {
  it('prints the version of this Gatehouse, from the real binary, exit 0', async () => {
    const { dir } = freshCli();
    const run = await runCliProcess(['--version'], { env: testEnvironment(dir) });
    expect(succeeded(run)).toBe(`gatehouse ${packageVersion} (Node ${process.version})\n`);
    // Needs no database: nothing was created.
    expect(existsSync(join(dir, 'gatehouse.db'))).toBe(false);
  });

  it('answers -V and --version --json alike', async () => {
    const { gatehouse } = freshCli();
    expect(succeeded(await gatehouse(['-V']))).toContain(`gatehouse ${packageVersion}`);
    expect(JSON.parse(succeeded(await gatehouse(['--version', '--json'])))).toEqual({ version: packageVersion, node: process.version });
  });
});

describe('gatehouse help', () => {
  it('answers for a group: `clients --help`, `help clients` and `clients -h` list the group’s commands, exit 0', async () => {
    const { gatehouse } = freshCli();
    const [flag, word, short] = await Promise.all([gatehouse(['clients', '--help']), gatehouse(['help', 'clients']), gatehouse(['clients', '-h'])]);
    const text = succeeded(flag);
    expect(succeeded(word)).toBe(text);
    expect(succeeded(short)).toBe(text);
    for (const name of Object.keys(commands).filter((known) => known.startsWith('clients '))) expect(text).toContain(`  ${name}`);
    expect(text).not.toContain('users add');
    expect(text).toContain('Exit codes: 0 done, 1 failed, 2 usage or configuration.');
  });

  it('answers for a three-word group: `registration tokens --help`', async () => {
    const { gatehouse } = freshCli();
    const text = succeeded(await gatehouse(['registration', 'tokens', '--help']));
    expect(text).toContain('  registration tokens create');
    expect(text).not.toContain('clients add');
  });

  it('answers for every command: `GROUP COMMAND --help` is its usage and its options, exit 0', async () => {
    const { gatehouse } = freshCli();
    for (const [name, command] of Object.entries(commands)) {
      const text = succeeded(await gatehouse([...name.split(' '), '--help']));
      expect(text.startsWith(`usage: gatehouse ${command.usage}\n`), text).toBe(true);
      for (const option of Object.keys(command.options)) expect(text).toContain(`  --${option}`);
    }
    const add = succeeded(await gatehouse(['help', 'clients', 'add']));
    expect(add).toBe(succeeded(await gatehouse(['clients', 'add', '--help'])));
    expect(add).toContain('  --redirect-uri VALUE   (repeatable)');
    // Help even among other arguments, before any `--`.
    expect(succeeded(await gatehouse(['clients', 'add', '--name', 'X', '--help']))).toBe(add);
  });

  it('needs no valid configuration, and writes nothing', async () => {
    const { dir, gatehouse } = freshCli({ PORT: 'not a port', NODE_ENV: 'production' });
    expect(succeeded(await gatehouse(['users', '--help']))).toContain('  users add');
    expect(succeeded(await gatehouse(['--help']))).toContain('usage: gatehouse <command>');
    expect(existsSync(join(dir, 'gatehouse.db'))).toBe(false);
    // A real command with that configuration is refused as a configuration error: exit 2.
    const run = await gatehouse(['users', 'list']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^gatehouse: \d variables are missing or invalid: PORT must be a whole number[^\n]*; COOKIE_KEYS must be set[^\n]*\n$/);
  });

  it('says an unknown name is unknown, exit 2', async () => {
    const { gatehouse } = freshCli();
    usageError(await gatehouse(['help', 'tenants']), 'gatehouse: unknown command "tenants"; run gatehouse --help');
    usageError(await gatehouse(['tenants', '--help']), 'gatehouse: unknown command "tenants"; run gatehouse --help');
  });
});

describe('usage errors read well and exit 2; failures exit 1', () => {
  it('names an unknown option with its command and where to look', async () => {
    const { gatehouse } = freshCli();
    const run = await gatehouse(['clients', 'add', '--name', 'X', '--foo']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('gatehouse clients add: unknown option --foo (see gatehouse clients add --help)\n');
    const json = await gatehouse(['clients', 'add', '--name', 'X', '--foo', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toEqual({ error: 'usage', message: 'gatehouse clients add: unknown option --foo (see gatehouse clients add --help)' });
  });

  it('says an option needs a value, or takes none', async () => {
    const { gatehouse } = freshCli();
    usageError(await gatehouse(['clients', 'add', '--redirect-uri', 'http://127.0.0.1/cb', '--name']), 'gatehouse clients add: --name needs a value (see gatehouse clients add --help)');
    usageError(await gatehouse(['clients', 'add', '--public=yes']), 'gatehouse clients add: --public takes no value (see gatehouse clients add --help)');
  });

  it('shows how an argument beginning with - is given, for a command that takes one', async () => {
    const { gatehouse } = freshCli();
    const run = await gatehouse(['keys', 'revoke', 'some-kid', '--force']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('gatehouse keys revoke: unknown option --force (see gatehouse keys revoke --help)\nusage: gatehouse keys revoke [options] -- KID\n');
  });

  it('exits 2 for a missing or extra argument and 1 for a command that ran and failed', async () => {
    const { gatehouse } = freshCli();
    usageError(await gatehouse(['clients', 'show']), 'gatehouse: expected CLIENT_ID');
    usageError(await gatehouse(['clients', 'list', 'all']), 'gatehouse: expected no arguments');
    // A group alone is not a command: its commands, on stderr.
    const group = await gatehouse(['clients']);
    expect(group.code).toBe(2);
    expect(group.stdout).toBe('');
    expect(group.stderr).toMatch(/^usage: gatehouse <command>[^]*\n {2}clients add /);
    const failed = await gatehouse(['clients', 'show', 'no-such-client']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toBe('gatehouse: no client no-such-client\n');
  });
});

describe('validation in the CLI’s own words', () => {
  it('never shows zod’s generic sentences', async () => {
    const { gatehouse } = freshCli();
    const alg = await gatehouse(['apis', 'add', '--identifier', 'https://api.example.com', '--scope', 'notes:read', '--signing-alg', 'HS256']);
    expect(alg.code).toBe(1);
    expect(alg.stderr).toBe('gatehouse: --signing-alg: must be one of RS256, ES256\n');
    const long = await gatehouse(['users', 'add', '--email', 'long@example.com', '--given-name', 'x'.repeat(300)], 'long enough password\n');
    expect(long.code).toBe(1);
    expect(long.stderr).toBe('gatehouse: --given-name: must be at most 200 characters\n');
    for (const run of [alg, long]) expect(run.stderr).not.toMatch(/Invalid (input|option)|Too (big|small)|expected \w+, received/);
  });

  it.each([
    ['Invalid input: expected string, received undefined', 'is required'],
    ['Invalid input: expected int, received number', 'must be a whole number'],
    ['Invalid option: expected one of "RS256"|"ES256"', 'must be one of RS256, ES256'],
    ['Too big: expected string to have <=200 characters', 'must be at most 200 characters'],
    ['Too small: expected string to have >=1 characters', 'must not be empty'],
    ['Too small: expected array to have >=1 items', 'must be given at least once'],
    ['Too small: expected number to be >0', 'must be more than 0'],
    ['Too big: expected number to be <=3650', 'must be at most 3650'],
    ['Invalid email address', 'must be an email address'],
    ['must use https', 'must use https'],
  ])('%s → %s', (zod, words) => {
    expect(inCliWords(zod)).toBe(words);
  });
});
