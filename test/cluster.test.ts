import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { request } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { testEnvironment } from './helpers/gatehouse.ts';
import { freePort, sleep, startMain, withTimeout } from './helpers/main-process.ts';

/** WORKERS=2: real processes, as `npm start` runs them. */

type Main = ReturnType<typeof startMain>;

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function environment(port: number, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-'));
  dirs.push(dir);
  return { ...testEnvironment(dir, port), ISSUER: `http://127.0.0.1:${port}`, WORKERS: '2', ...extra };
}

/** The worker pids the primary has announced, in order (a restarted worker appears anew). */
function announcedWorkers(stdout: string): number[] {
  return [...stdout.matchAll(/worker \d+ \(pid (\d+)\) is serving/g)].map((match) => Number(match[1]));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The parent pid from the process table (Linux /proc; elsewhere the check is skipped). */
function parentOf(pid: number): number | undefined {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return undefined;
  // pid (comm) state ppid …; comm may contain spaces, so split after the last ')'.
  return Number(readFileSync(stat, 'utf8').slice(readFileSync(stat, 'utf8').lastIndexOf(')') + 2).split(' ')[1]);
}

async function until<T>(what: string, check: () => T | undefined | false, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`);
    await sleep(50);
  }
}

/** GET on a new connection each time, so that the primary hands each one to a worker in turn. */
function getFresh(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject).end();
  });
}

async function allAnswer(base: string, times: number): Promise<void> {
  for (let index = 0; index < times; index += 1) {
    const { status, body } = await getFresh(`${base}/.well-known/openid-configuration`);
    expect(status).toBe(200);
    expect((JSON.parse(body) as { issuer: string }).issuer).toBe(base);
  }
}

describe('WORKERS=2', () => {
  let main: Main | undefined;
  afterAll(async () => {
    if (main && main.child.exitCode === null) {
      main.child.kill('SIGKILL');
      await main.exited;
    }
  });

  it('serves from two worker processes, restarts one that dies, and stops them all on SIGTERM', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    main = startMain(environment(port));
    const running = main;
    let stdout = '';
    running.child.stdout.on('data', (chunk: string) => (stdout += chunk));

    const [first, second] = await until('two workers serving', () => {
      if (running.child.exitCode !== null) throw new Error(`gatehouse exited early: ${stdout}`);
      const pids = announcedWorkers(stdout);
      return pids.length >= 2 && stdout.includes('Gatehouse is running') && pids;
    });
    expect(stdout).toContain('2 workers');
    expect(first).not.toBe(second);
    const primary = running.child.pid!;
    for (const pid of [first!, second!]) {
      expect(alive(pid)).toBe(true);
      const parent = parentOf(pid);
      if (parent !== undefined) expect(parent).toBe(primary);
    }
    await allAnswer(base, 6);

    // One worker dies: the other keeps serving alone while the primary starts a replacement.
    process.kill(first!, 'SIGKILL');
    await until('the exit noticed', () => stdout.includes(`(pid ${first}) exited (signal SIGKILL)`));
    await allAnswer(base, 4);
    const replacement = await until('a replacement worker', () => announcedWorkers(stdout)[2]);
    expect([first, second]).not.toContain(replacement);
    expect(alive(first!)).toBe(false);
    const parent = parentOf(replacement);
    if (parent !== undefined) expect(parent).toBe(primary);

    // Now the second dies: requests are answered by the replacement.
    process.kill(second!, 'SIGKILL');
    await until('the second exit noticed', () => stdout.includes(`(pid ${second}) exited (signal SIGKILL)`));
    await allAnswer(base, 4);
    await until('another replacement worker', () => announcedWorkers(stdout)[3]);
    await allAnswer(base, 6);

    // SIGTERM to the primary stops every worker, then the primary, with exit code 0.
    const workers = announcedWorkers(stdout).slice(2);
    running.child.kill('SIGTERM');
    const exit = await withTimeout(running.exited, 20_000, 'the cluster stopping');
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('SIGTERM received: stopping 2 workers');
    for (const pid of workers) expect(alive(pid)).toBe(false);
    await expect(getFresh(base)).rejects.toThrow();
  }, 90_000);

  it('refuses WORKERS=2 with PORT=0 and no ISSUER, in one line, exit code 2', async () => {
    const { ISSUER: _issuer, ...env } = environment(0);
    const exit = await withTimeout(startMain(env).exited, 20_000, 'gatehouse refusing');
    expect(exit.code).toBe(2);
    expect(exit.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^gatehouse: invalid configuration: WORKERS above 1 needs ISSUER/)]);
  });

  it('stops when the workers cannot start (here: the port is taken)', async () => {
    const taken = createServer();
    taken.listen(0, '0.0.0.0');
    await once(taken, 'listening');
    const { port } = taken.address() as AddressInfo;
    try {
      const exit = await withTimeout(startMain(environment(port)).exited, 30_000, 'gatehouse giving up');
      expect(exit.code).toBe(1);
      expect(exit.stderr).toContain(`port ${port} is already in use`);
      expect(exit.stdout).toMatch(/failed to start/);
    } finally {
      taken.close();
    }
  }, 40_000);
});
