import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signIn } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { UserAgent } from '../helpers/user-agent.ts';

/**
 * Health that tells the truth (issue 13, item 4). The database sits on a real, small tmpfs that
 * this file mounts: once filled to the last byte (a full disk), once holding a database file that
 * cannot be written (the immutable attribute, which binds root too; mode bits do not). Every
 * flow must then answer 503 with Retry-After and a clear page or JSON error, /readyz must say
 * why, and both must come back by themselves once the cause is gone, without a restart.
 *
 * Why not `mount -o remount,ro` under a running server: Linux refuses it (EBUSY) while a file on
 * the mount is open for writing, as the database always is. What stays read-only for good is a
 * connection SQLite opened while the file was read-only, which is what the second test makes.
 */

const password = 'correct horse battery staple';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let parent = '';
/** Why this machine cannot run these tests; empty when it can mount a tmpfs. */
let cannotMount = '';
const mounted: string[] = [];
const started: TestGatehouse[] = [];
const cleanUps: Array<() => void> = [];

function run(command: string, ...args: string[]): void {
  execFileSync(command, args, { stdio: 'pipe' });
}

function firstLine(error: unknown): string {
  const { stderr, message } = error as { stderr?: Buffer; message?: string };
  return (stderr?.toString().trim() || message || String(error)).split('\n')[0]!;
}

/** Mounts a small tmpfs of its own for one test (none shares a filesystem with another). */
function tmpfs(name: string): string {
  const mountPoint = join(parent, name);
  mkdirSync(mountPoint);
  run('mount', '-t', 'tmpfs', '-o', 'size=16m,mode=0700', `gatehouse-${name}`, mountPoint);
  mounted.push(mountPoint);
  return mountPoint;
}

beforeAll(() => {
  parent = mkdtempSync(join(tmpdir(), 'gatehouse-tmpfs-'));
  try {
    tmpfs('probe');
  } catch (error) {
    cannotMount = firstLine(error);
    console.log(`skipped: cannot mount a tmpfs here (${cannotMount})`);
  }
});

afterAll(async () => {
  for (const cleanUp of cleanUps.splice(0).reverse()) {
    try {
      cleanUp();
    } catch {
      // best effort: the unmount below takes everything with it
    }
  }
  for (const gatehouse of started) await gatehouse.stop().catch(() => undefined);
  for (const mountPoint of mounted) run('umount', mountPoint);
  rmSync(parent, { recursive: true, force: true });
});

async function readiness(gatehouse: TestGatehouse): Promise<{ status: number; retryAfter: string | null; body: unknown }> {
  const response = await fetch(`${gatehouse.url}/readyz`);
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() };
}

/** Polls /readyz until it answers 200; returns how long that took. */
async function untilReady(gatehouse: TestGatehouse, timeoutMs = 10_000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if ((await fetch(`${gatehouse.url}/readyz`)).status === 200) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`/readyz did not answer 200 within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function clientCredentials(gatehouse: TestGatehouse, client: { clientId: string; clientSecret?: string }): Promise<Response> {
  return fetch(`${gatehouse.url}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials',
  });
}

/** A 503 a person or a client can act on: Retry-After, the right shape, no "something went wrong". */
async function expectOutageJson(response: Response): Promise<void> {
  expect(response.status).toBe(503);
  expect(response.headers.get('retry-after')).toBe('5');
  expect(await response.json()).toMatchObject({ error: 'temporarily_unavailable', error_description: expect.stringContaining('Try again in a moment') });
}

function expectOutagePage(page: Page): void {
  expect(page.status).toBe(503);
  expect(page.headers.get('retry-after')).toBe('5');
  expect(page.headers.get('content-type')).toContain('text/html');
  expect(page.body).toContain('cannot save anything to its database right now');
  expect(page.body).not.toContain('Something went wrong');
  expect(page.body).not.toMatch(/\n\s+at .+:\d+:\d+/);
}

async function gatehouseWithApp(dir: string) {
  const gatehouse = await startGatehouse({ dir });
  started.push(gatehouse);
  const registered = await gatehouse.addClient({ name: 'Health app', grantTypes: ['authorization_code', 'client_credentials'] });
  await gatehouse.addUser('alice@example.com', password);
  return { gatehouse, registered };
}

/** Writes to `path` until the filesystem has no byte left. */
function fillUp(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 4096, 1]) {
      const chunk = Buffer.alloc(size, 0x61);
      try {
        for (;;) written += writeSync(fd, chunk);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe('health that tells the truth: real full and read-only databases', () => {
  it('on a full disk every flow answers 503 with Retry-After, /readyz says "disk full", and all comes back once there is room', async ({ skip }) => {
    if (cannotMount) return skip(`cannot mount a tmpfs here (${cannotMount})`);
    const mountPoint = tmpfs('full');
    const dir = join(mountPoint, 'data');
    const { gatehouse, registered } = await gatehouseWithApp(dir);
    const rp = await relyingParty(gatehouse, registered);
    expect((await readiness(gatehouse)).status).toBe(200);
    expect((await clientCredentials(gatehouse, registered)).status).toBe(200);
    // A sign-in under way when the disk fills: its login page was stored while there was room.
    const ua = new UserAgent(gatehouse.url);
    const loginPage = await ua.page((await authorizationRequest(rp)).url.href);
    expect(loginPage.status).toBe(200);

    const filler = join(mountPoint, 'filler');
    cleanUps.push(() => rmSync(filler, { force: true }));
    fillUp(filler);

    // Our own page (the login form posts to our route, which records the sign-in).
    const login = await ua.submit(loginPage, '/login', { email: 'alice@example.com', password });
    expectOutagePage(login as Page);
    // A protocol endpoint of the provider (the access token is stored): JSON.
    await expectOutageJson(await clientCredentials(gatehouse, registered));
    // A page of the provider (the interaction is stored): our page.
    expectOutagePage(await new UserAgent(gatehouse.url).page((await authorizationRequest(rp)).url.href));
    // Reads still work: discovery does not need the disk.
    expect((await fetch(`${gatehouse.url}/.well-known/openid-configuration`)).status).toBe(200);

    expect(await readiness(gatehouse)).toEqual({ status: 503, retryAfter: '5', body: { status: 'unavailable', store: 'sqlite', reason: 'disk full' } });
    // Polling /readyz does not load the database: a burst is answered from the last probe.
    const burst = await Promise.all(Array.from({ length: 50 }, () => readiness(gatehouse)));
    expect(new Set(burst.map((answer) => answer.status))).toEqual(new Set([503]));

    rmSync(filler);
    const recoveredAfter = await untilReady(gatehouse);
    console.log(`full disk: /readyz answered 200 again ${recoveredAfter} ms after the filler was removed`);
    expect(recoveredAfter).toBeLessThan(5_000);
    expect((await clientCredentials(gatehouse, registered)).status).toBe(200);
    const { tokens } = await signIn(gatehouse, rp, { email: 'alice@example.com', password });
    expect(tokens.access_token).toBeTruthy();
  });

  it('on a read-only database file flows answer 503, /readyz says "read-only database", and the same process recovers once the file is writable', async ({ skip }) => {
    if (cannotMount) return skip(`cannot mount a tmpfs here (${cannotMount})`);
    const dir = join(tmpfs('read-only'), 'data');
    const first = await gatehouseWithApp(dir);
    await first.gatehouse.close();
    const database = join(dir, 'gatehouse.db');
    try {
      run('chattr', '+i', database);
    } catch (error) {
      return skip(`this tmpfs cannot make a file read-only (${firstLine(error)})`);
    }
    cleanUps.push(() => run('chattr', '-i', database));

    // Opened while the file is read-only (restored with the wrong owner, a read-only volume, …).
    const gatehouse = await startGatehouse({ dir });
    started.push(gatehouse);
    const rp = await relyingParty(gatehouse, first.registered);

    expect(await readiness(gatehouse)).toEqual({ status: 503, retryAfter: '5', body: { status: 'unavailable', store: 'sqlite', reason: 'read-only database' } });
    await expectOutageJson(await clientCredentials(gatehouse, first.registered));
    expectOutagePage(await new UserAgent(gatehouse.url).page((await authorizationRequest(rp)).url.href));

    run('chattr', '-i', database);
    const recoveredAfter = await untilReady(gatehouse);
    console.log(`read-only database: /readyz answered 200 again ${recoveredAfter} ms after the file became writable`);
    expect(recoveredAfter).toBeLessThan(5_000);
    expect((await clientCredentials(gatehouse, first.registered)).status).toBe(200);
    const { tokens } = await signIn(gatehouse, rp, { email: 'alice@example.com', password });
    expect(tokens.access_token).toBeTruthy();
  });
});
