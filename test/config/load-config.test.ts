import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { resolveSecrets } from '../../src/config/secrets.ts';
import { GatehouseError } from '../../src/errors.ts';
import { caught } from '../helpers/caught.ts';
import { freePort, sleep, startMain, withTimeout } from '../helpers/main-process.ts';

const cwd = '/srv/gatehouse';
const cookieKey = 'k'.repeat(32);
const encryptionKey = randomBytes(32);
const productionSecrets = { COOKIE_KEYS: cookieKey, KEY_ENCRYPTION_KEY: encryptionKey.toString('base64') };

function configError(env: NodeJS.ProcessEnv): GatehouseError {
  const error = caught(() => loadConfig(env, cwd));
  expect(error).toBeInstanceOf(GatehouseError);
  expect((error as GatehouseError).code).toBe('invalid_config');
  return error as GatehouseError;
}

describe('loadConfig', () => {
  it('uses the defaults when no variable is set', () => {
    const config = loadConfig({}, cwd);

    expect(config.port).toBe(3000);
    expect(config.issuer).toBe('http://localhost:3000');
    expect(config.issuerExplicit).toBe(false);
    expect(config.databaseUrl).toBe('sqlite:data/gatehouse.db');
    expect(config.env).toBe('development');
    expect(config.dataDir).toBe(resolve(cwd, 'data'));
    expect(config.cookieKeys).toBeUndefined();
    expect(config.keyEncryptionKey).toBeUndefined();
    expect(config.ttl.authorizationCode).toBeLessThanOrEqual(600);
  });

  it('takes PORT and derives the issuer from it', () => {
    const config = loadConfig({ PORT: '8080' }, cwd);
    expect(config.port).toBe(8080);
    expect(config.issuer).toBe('http://localhost:8080');
    expect(config.issuerExplicit).toBe(false);
  });

  it('accepts PORT=0 for an ephemeral port', () => {
    expect(loadConfig({ PORT: '0' }, cwd).port).toBe(0);
  });

  it('takes ISSUER as given, without a trailing slash', () => {
    const config = loadConfig({ ISSUER: 'https://id.example.com/', PORT: '8080' }, cwd);
    expect(config.issuer).toBe('https://id.example.com');
    expect(config.issuerExplicit).toBe(true);
    expect(loadConfig({ ISSUER: 'https://example.com/tenants/acme' }, cwd).issuer).toBe('https://example.com/tenants/acme');
  });

  it('takes DATABASE_URL, DATA_DIR and NODE_ENV', () => {
    const config = loadConfig({ DATABASE_URL: 'sqlite:/var/lib/gatehouse/g.db', DATA_DIR: 'state', NODE_ENV: 'test' }, cwd);
    expect(config.databaseUrl).toBe('sqlite:/var/lib/gatehouse/g.db');
    expect(config.dataDir).toBe(resolve(cwd, 'state'));
    expect(config.env).toBe('test');
    expect(loadConfig({ DATABASE_URL: 'mongodb://db.example.test/gatehouse' }, cwd).databaseUrl).toBe('mongodb://db.example.test/gatehouse');
    expect(loadConfig({ DATA_DIR: '/var/lib/gatehouse' }, cwd).dataDir).toBe('/var/lib/gatehouse');
  });

  it('takes COOKIE_KEYS as a comma-separated list and KEY_ENCRYPTION_KEY as base64', () => {
    const config = loadConfig({ COOKIE_KEYS: ` ${cookieKey} , ${'n'.repeat(40)} `, KEY_ENCRYPTION_KEY: encryptionKey.toString('base64') }, cwd);
    expect(config.cookieKeys).toEqual([cookieKey, 'n'.repeat(40)]);
    expect(config.keyEncryptionKey?.equals(encryptionKey)).toBe(true);
  });

  it.each([
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '70000' }],
    ['PORT', { PORT: '65536' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '' }],
    ['PORT', { PORT: '80.5' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['DATABASE_URL', { DATABASE_URL: 'postgres://x' }],
    ['DATABASE_URL', { DATABASE_URL: 'sqlite:' }],
    ['DATA_DIR', { DATA_DIR: '  ' }],
    ['ISSUER', { ISSUER: 'not-a-url' }],
    ['ISSUER', { ISSUER: 'https://id.example.com/?tenant=acme' }],
    ['ISSUER', { ISSUER: 'https://id.example.com/#top' }],
    ['ISSUER', { ISSUER: 'ftp://id.example.com' }],
    ['ISSUER', { ISSUER: 'https://user:pass@id.example.com' }],
    ['COOKIE_KEYS', { COOKIE_KEYS: 'too-short' }],
    ['COOKIE_KEYS', { COOKIE_KEYS: ' , ' }],
    ['KEY_ENCRYPTION_KEY', { KEY_ENCRYPTION_KEY: randomBytes(16).toString('base64') }],
    ['KEY_ENCRYPTION_KEY', { KEY_ENCRYPTION_KEY: randomBytes(33).toString('base64') }],
    ['KEY_ENCRYPTION_KEY', { KEY_ENCRYPTION_KEY: 'not base64 at all!' }],
    ['TRUST_PROXY', { TRUST_PROXY: 'yes' }],
  ])('rejects an invalid %s (%j) with a message naming it', (name, env) => {
    expect(configError(env).message.startsWith(`${name} `)).toBe(true);
  });

  it('requires COOKIE_KEYS in production', () => {
    expect(configError({ NODE_ENV: 'production', KEY_ENCRYPTION_KEY: productionSecrets.KEY_ENCRYPTION_KEY }).message).toMatch(/^COOKIE_KEYS /);
    // Without either secret, both are named (one run names every missing variable).
    expect(configError({ NODE_ENV: 'production' }).message).toMatch(/\n {2}COOKIE_KEYS .*\n {2}KEY_ENCRYPTION_KEY /);
  });

  it('requires KEY_ENCRYPTION_KEY in production', () => {
    expect(configError({ NODE_ENV: 'production', COOKIE_KEYS: cookieKey }).message).toMatch(/^KEY_ENCRYPTION_KEY /);
  });

  it('starts in production with both secrets and an https issuer', () => {
    const config = loadConfig({ NODE_ENV: 'production', ISSUER: 'https://id.example.com', ...productionSecrets }, cwd);
    expect(config.env).toBe('production');
    expect(config.issuer).toBe('https://id.example.com');
    expect(config.cookieKeys).toEqual([cookieKey]);
    expect(config.keyEncryptionKey?.equals(encryptionKey)).toBe(true);
  });

  it('refuses an http issuer in production', () => {
    const error = configError({ NODE_ENV: 'production', ISSUER: 'http://id.example.com', ...productionSecrets });
    expect(error.message).toMatch(/^ISSUER .*https/);
  });

  it.each(['http://localhost:3000', 'http://127.0.0.1:3000', 'http://[::1]:3000'])('allows the loopback http issuer %s in production', (issuer) => {
    expect(loadConfig({ NODE_ENV: 'production', ISSUER: issuer, ...productionSecrets }, cwd).issuer).toBe(issuer);
  });

  it('allows the default localhost issuer in production', () => {
    expect(loadConfig({ NODE_ENV: 'production', ...productionSecrets }, cwd).issuer).toBe('http://localhost:3000');
  });

  it('allows an http issuer outside production', () => {
    expect(loadConfig({ ISSUER: 'http://id.example.com' }, cwd).issuer).toBe('http://id.example.com');
  });
});

describe('resolveSecrets', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-secrets-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('generates secrets in development into DATA_DIR/secrets.json, readable by the owner only', () => {
    const dataDir = join(dir, 'not-yet-created');
    const secrets = resolveSecrets(loadConfig({ DATA_DIR: dataDir }, cwd));
    const file = join(dataDir, 'secrets.json');

    expect(secrets.source).toBe('generated');
    expect(secrets.file).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(secrets.keyEncryptionKey).toHaveLength(32);
    expect(secrets.cookieKeys).toHaveLength(1);
    expect(secrets.cookieKeys[0]!.length).toBeGreaterThanOrEqual(32);

    const stored = JSON.parse(readFileSync(file, 'utf8')) as { cookieKeys: string[]; keyEncryptionKey: string };
    expect(stored.cookieKeys).toEqual(secrets.cookieKeys);
    expect(Buffer.from(stored.keyEncryptionKey, 'base64').equals(secrets.keyEncryptionKey)).toBe(true);
  });

  it('reads the same secrets back from the file on the next start', () => {
    const config = loadConfig({ DATA_DIR: dir }, cwd);
    const generated = resolveSecrets(config);
    const again = resolveSecrets(config);

    expect(again.source).toBe('file');
    expect(again.cookieKeys).toEqual(generated.cookieKeys);
    expect(again.keyEncryptionKey.equals(generated.keyEncryptionKey)).toBe(true);
  });

  it('hands every process that starts at once on an empty DATA_DIR the same secrets, never a half-written file', async () => {
    // Threads stand in for processes: each resolves the secrets at the same moment, in its own isolate.
    const script = `
      const { workerData, parentPort } = require('node:worker_threads');
      Promise.all([import(workerData.loadConfig), import(workerData.secrets)]).then(([{ loadConfig }, { resolveSecrets }]) => {
        parentPort.postMessage({ ready: true });
        Atomics.wait(new Int32Array(workerData.start), 0, 0);
        try {
          const secrets = resolveSecrets(loadConfig({ DATA_DIR: workerData.dir }, '/srv/gatehouse'));
          parentPort.postMessage({ source: secrets.source, key: secrets.keyEncryptionKey.toString('base64'), cookieKeys: secrets.cookieKeys });
        } catch (error) {
          parentPort.postMessage({ error: String(error.message) });
        }
      });`;
    const modules = { loadConfig: new URL('../../src/config/load-config.ts', import.meta.url).href, secrets: new URL('../../src/config/secrets.ts', import.meta.url).href };
    for (let round = 0; round < 5; round += 1) {
      const dataDir = join(dir, `round-${round}`);
      const start = new SharedArrayBuffer(4);
      const workers = Array.from({ length: 6 }, () => new Worker(script, { eval: true, workerData: { ...modules, dir: dataDir, start } }));
      // Each thread says when it is ready to go; all are released at once.
      const next = (worker: Worker) => new Promise<Record<string, unknown>>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
      await Promise.all(workers.map(next));
      const answers = workers.map(next);
      Atomics.store(new Int32Array(start), 0, 1);
      Atomics.notify(new Int32Array(start), 0);
      const results = await Promise.all(answers);
      await Promise.all(workers.map((worker) => worker.terminate()));

      expect(results.filter((result) => result.error)).toEqual([]);
      expect(results.filter((result) => result.source === 'generated')).toHaveLength(1);
      expect(new Set(results.map((result) => result.key)).size).toBe(1);
      expect(readdirSync(dataDir)).toEqual(['secrets.json']);
    }
  });

  it('generates secrets in test mode too', () => {
    expect(resolveSecrets(loadConfig({ NODE_ENV: 'test', DATA_DIR: dir }, cwd)).source).toBe('generated');
  });

  it('takes the secrets from the environment when both are given and writes no file', () => {
    const secrets = resolveSecrets(loadConfig({ DATA_DIR: dir, ...productionSecrets }, cwd));

    expect(secrets.source).toBe('environment');
    expect(secrets.cookieKeys).toEqual([cookieKey]);
    expect(secrets.keyEncryptionKey.equals(encryptionKey)).toBe(true);
    expect(existsSync(join(dir, 'secrets.json'))).toBe(false);
  });

  it('prefers an environment secret over the generated one when only one is given', () => {
    const secrets = resolveSecrets(loadConfig({ DATA_DIR: dir, COOKIE_KEYS: cookieKey }, cwd));
    expect(secrets.cookieKeys).toEqual([cookieKey]);
    expect(secrets.keyEncryptionKey).toHaveLength(32);
  });

  it('refuses to generate secrets in production', () => {
    const config = { ...loadConfig({ DATA_DIR: dir }, cwd), env: 'production' as const };
    const error = caught(() => resolveSecrets(config));

    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).code).toBe('invalid_config');
    expect(existsSync(join(dir, 'secrets.json'))).toBe(false);
  });

  it('reports a malformed secrets file as invalid configuration instead of replacing it', () => {
    const file = join(dir, 'secrets.json');
    writeFileSync(file, '{"cookieKeys": []}');

    const error = caught(() => resolveSecrets(loadConfig({ DATA_DIR: dir }, cwd)));

    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).code).toBe('invalid_config');
    expect((error as GatehouseError).message).toContain(file);
    expect(readFileSync(file, 'utf8')).toBe('{"cookieKeys": []}');
  });
});

const discoveryUrl = (port: number) => `http://127.0.0.1:${port}/.well-known/openid-configuration`;

/** Polls discovery until it answers (or the process exits, or 15 s pass). */
async function waitForDiscovery(port: number, child: ChildProcess): Promise<{ status?: number; body: { issuer?: string } }> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      // A short timeout per attempt: a request that reaches the server too early may never be answered.
      const response = await fetch(discoveryUrl(port), { signal: AbortSignal.timeout(1_000) });
      return { status: response.status, body: (await response.json()) as { issuer?: string } };
    } catch {
      await sleep(100);
    }
  }
  return { body: {} };
}

/** Connects until the port accepts a TCP connection (the server has called listen). */
async function waitUntilAccepting(port: number, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && child.exitCode === null) {
    const socket = connect(port, '127.0.0.1');
    const accepted = await new Promise<boolean>((resolveAttempt) => {
      socket.once('connect', () => resolveAttempt(true));
      socket.once('error', () => resolveAttempt(false));
    });
    socket.destroy();
    if (accepted) return;
    await sleep(20);
  }
  throw new Error(`port ${port} did not accept connections within ${ms} ms`);
}

// Each test runs its own process on its own port and directory, so they can run side by side.
describe.concurrent('the server entry point (node src/main.ts)', () => {
  /** Starts main.ts in a fresh directory; the process and directory go when the test finishes. */
  async function start(onTestFinished: (fn: () => Promise<void>) => void, env: (dir: string) => NodeJS.ProcessEnv) {
    const dir = await mkdtemp(join(tmpdir(), 'gatehouse-main-'));
    const running = startMain(env(dir));
    onTestFinished(async () => {
      // Only if the test failed half-way: stop the process this test started.
      if (running.child.exitCode === null && running.child.signalCode === null) {
        running.child.kill('SIGKILL');
        await running.exited;
      }
      await rm(dir, { recursive: true, force: true });
    });
    return { ...running, dir };
  }

  it('exits with code 2 and one line naming PORT when PORT is invalid', async ({ expect, onTestFinished }) => {
    const running = await start(onTestFinished, (dir) => ({ PORT: 'abc', DATA_DIR: dir }));
    const exit = await withTimeout(running.exited, 8_000, 'exit');

    expect(exit.code).toBe(2);
    const lines = exit.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('PORT');
    expect(exit.stderr).not.toContain('    at ');
  });

  it('exits with code 2 naming COOKIE_KEYS, KEY_ENCRYPTION_KEY and SMTP_URL (a line each) in production without them', async ({ expect, onTestFinished }) => {
    const running = await start(onTestFinished, (dir) => ({ NODE_ENV: 'production', DATA_DIR: dir }));
    const exit = await withTimeout(running.exited, 8_000, 'exit');

    expect(exit.code).toBe(2);
    const lines = exit.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.slice(1).map((line) => line.trim().split(' ')[0])).toEqual(['COOKIE_KEYS', 'KEY_ENCRYPTION_KEY', 'SMTP_URL']);
    expect(exit.stderr).not.toContain('    at ');
    expect(existsSync(join(running.dir, 'secrets.json'))).toBe(false);
  });

  it('exits with code 1 and one line naming the host when MongoDB is unreachable', async ({ expect, onTestFinished }) => {
    const running = await start(onTestFinished, (dir) => ({ DATA_DIR: dir, DATABASE_URL: 'mongodb://127.0.0.1:1/gatehouse?serverSelectionTimeoutMS=500' }));
    const exit = await withTimeout(running.exited, 10_000, 'exit');

    expect(exit.code).toBe(1);
    const lines = exit.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^gatehouse: cannot connect to MongoDB at 127\.0\.0\.1:1/);
    expect(exit.stderr).not.toContain('    at ');
  });

  it('serves discovery and exits with code 0 on SIGTERM', async ({ expect, onTestFinished }) => {
    const port = await freePort();
    const running = await start(onTestFinished, (dir) => ({ PORT: String(port), DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'g.db')}` }));
    const { status, body } = await waitForDiscovery(port, running.child);
    expect(status).toBe(200);
    expect(body.issuer).toBe(`http://localhost:${port}`);

    running.child.kill('SIGTERM');
    const exit = await withTimeout(running.exited, 5_000, 'exit after SIGTERM');

    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('SIGTERM received');
    expect(existsSync(join(running.dir, 'g.db'))).toBe(true);
  });

  it('answers a request that arrives as soon as the port accepts connections', async ({ expect, onTestFinished }) => {
    const port = await freePort();
    const running = await start(onTestFinished, (dir) => ({ PORT: String(port), DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'g.db')}` }));
    await waitUntilAccepting(port, running.child, 8_000);

    // Load balancers and health checks connect as soon as the port is open; the answer may wait
    // for start-up to finish, but it must come.
    const early = fetch(discoveryUrl(port), { signal: AbortSignal.timeout(15_000) }).then(
      (response) => response.status,
      (error: unknown) => `no answer: ${(error as Error).name}`,
    );
    expect((await waitForDiscovery(port, running.child)).status).toBe(200);
    // The server now answers new requests; one still waiting after this has been dropped.
    const status = await Promise.race([early, sleep(1_000).then(() => 'no answer 1 s after the server answered others')]);

    expect(status).toBe(200);
  });
});
