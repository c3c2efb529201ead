import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import { caught } from '../helpers/caught.ts';
import type { Exit } from '../helpers/main-process.ts';
import { freePort, sleep, startMain, withTimeout } from '../helpers/main-process.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
/** Node 24 and the project's binaries first, as `npm ci` leaves them and the README assumes. */
const path = `${join(root, 'node_modules/.bin')}:${process.env.PATH ?? ''}`;

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  // Only after a failure half-way: whatever this file started and is still running, in the
  // process group of each (a server orphaned by npm included).
  for (const child of children) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the whole group has exited
    }
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-start-'));
  dirs.push(dir);
  return dir;
}

/** Runs a shell command line from the repository root in its own process group (so that all of it can be signalled). */
function shell(script: string, env: NodeJS.ProcessEnv) {
  const child = spawn('bash', ['-c', script], { cwd: root, env: { HOME: process.env.HOME, PATH: path, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolveExit) => child.on('close', (code, signal) => resolveExit({ code, signal, stdout, stderr })));
  return { child, exited, output: () => `--- stdout\n${stdout}--- stderr\n${stderr}` };
}

/** GETs `url` until it answers 200 (or the process ends, or `ms` pass); the last body. */
async function waitForOk(url: string, child: ChildProcess, ms: number): Promise<string | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
      if (response.status === 200) return await response.text();
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return undefined;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolveAttempt) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolveAttempt(true);
    });
    socket.once('error', () => resolveAttempt(false));
  });
}

describe('production start', () => {
  it('names every missing or invalid variable in one run, a line each, exit 2', async () => {
    const dir = scratch();
    const running = startMain({ NODE_ENV: 'production', DATA_DIR: dir, PORT: 'abc', TRUST_PROXY: 'maybe', MAIL_FROM: 'nobody', ISSUER: 'http://id.example.com' });
    const exit = await withTimeout(running.exited, 10_000, 'exit');

    expect(exit.code).toBe(2);
    expect(exit.stdout).toBe('');
    expect(exit.stderr).not.toContain('    at ');
    const [first, ...problems] = exit.stderr.trimEnd().split('\n');
    expect(first).toBe('gatehouse: invalid configuration: 7 variables are missing or invalid:');
    expect(problems.map((line) => line.trim().split(' ')[0]).sort()).toEqual(['COOKIE_KEYS', 'ISSUER', 'KEY_ENCRYPTION_KEY', 'MAIL_FROM', 'PORT', 'SMTP_URL', 'TRUST_PROXY']);
    expect(problems.every((line) => line.startsWith('  '))).toBe(true);
    expect(existsSync(join(dir, 'secrets.json'))).toBe(false);
  });

  it('asks SMTP_URL of a server only: the command line sends no mail', () => {
    const secrets = { NODE_ENV: 'production', COOKIE_KEYS: 'k'.repeat(32), KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') };
    const error = caught(() => loadConfig(secrets, '/srv/gatehouse', { startingServer: true })) as GatehouseError;
    expect(error).toBeInstanceOf(GatehouseError);
    expect(error.message).toMatch(/^SMTP_URL must be set in production/);
    expect(loadConfig(secrets, '/srv/gatehouse').smtpUrl).toBeUndefined();
    // One problem alone reads as before: the variable first.
    expect((caught(() => loadConfig({ PORT: 'x' }, '/srv/gatehouse')) as GatehouseError).message).toMatch(/^PORT must be/);
  });

  it("the README's production try-out runs as written: db migrate, then npm start, ready on its port", async () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /To try the production configuration[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'the README has the try-out block').toBeDefined();
    expect(block).toContain('npx gatehouse db migrate');
    expect(block).toMatch(/npm start\n$/);
    const dir = scratch();
    const port = await freePort();
    // Only where it writes and which port it takes change; the rest is the README's text.
    const script = block!.replaceAll('/tmp/gatehouse-try', dir).replace('PORT=3001', `PORT=${port}`);
    expect(script).not.toBe(block);
    const running = shell(script, {});
    const ready = await waitForOk(`http://127.0.0.1:${port}/readyz`, running.child, 30_000);
    expect(ready, running.output()).toBeDefined();
    expect(JSON.parse(ready!)).toMatchObject({ status: 'ready', store: 'sqlite' });
    process.kill(-running.child.pid!, 'SIGTERM');
    await withTimeout(running.exited, 15_000, 'exit');
  });

  it('npm start passes SIGTERM on: stopping npm stops Gatehouse, and the port closes', async () => {
    const dir = scratch();
    const port = await freePort();
    const npm = shell('exec npm start', { DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'g.db')}`, PORT: String(port) });
    const ready = await waitForOk(`http://127.0.0.1:${port}/healthz`, npm.child, 30_000);
    expect(ready, npm.output()).toBeDefined();

    // The signal goes to npm alone, as a process manager stopping `npm start` sends it.
    npm.child.kill('SIGTERM');
    const exit = await withTimeout(npm.exited, 15_000, 'npm to exit');
    expect(exit.stdout).toContain('SIGTERM received');
    // Nothing left listening: Gatehouse stopped with npm, not orphaned behind it.
    let open = true;
    for (let attempt = 0; attempt < 50 && open; attempt += 1) {
      open = await accepts(port);
      if (open) await sleep(100);
    }
    expect(open, npm.output()).toBe(false);
  });
});
