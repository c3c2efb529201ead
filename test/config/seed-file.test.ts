import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { applyLeaseName } from '../../src/libraries/apply.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/server.ts';
import { openBesideCli } from '../helpers/cli-libraries.ts';
import { cheapPasswordHashing, testEnvironment } from '../helpers/gatehouse.ts';
import { freePort, sleep, startMain, withTimeout } from '../helpers/main-process.ts';

/**
 * GATEHOUSE_SEED_FILE: the file applied at start-up, after the migrations and before the first
 * request, by one instance at a time (the apply lease); a file that cannot be applied stops the
 * start-up with one clear message.
 */

const api = 'https://orders.example.test';
const secret = 'seeded-worker-secret-from-the-environment';
const seed = `
apis:
  - identifier: ${api}
    scopes: [orders:read]
clients:
  - client_id: seeded-worker
    name: Seeded worker
    grant_types: [client_credentials]
    api_scopes: [orders:read]
    client_secret: \${ENV:SEEDED_SECRET}
`;

const dirs: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-seed-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'seed.yaml'), seed);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function startInstance(env: NodeJS.ProcessEnv, port: number) {
  const running = startMain({ ...env, PORT: String(port) });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (running.child.exitCode !== null) throw new Error(`instance on ${port} exited: ${(await running.exited).stderr}`);
    if (Date.now() > deadline) throw new Error(`instance on ${port} did not become ready`);
    if (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)) break;
    await sleep(100);
  }
  return {
    url,
    async stop() {
      running.child.kill('SIGTERM');
      await withTimeout(running.exited, 10_000, `instance on ${port} stopping`);
    },
  };
}

describe('GATEHOUSE_SEED_FILE', () => {
  it('two instances starting together on one database apply it exactly once; its client gets tokens from either', async () => {
    const dir = freshDir();
    const [portA, portB] = [await freePort(), await freePort()];
    const env = { ...testEnvironment(dir), ISSUER: `http://127.0.0.1:${portA}`, GATEHOUSE_SEED_FILE: join(dir, 'seed.yaml'), SEEDED_SECRET: secret };
    const instances = await Promise.all([startInstance(env, portA), startInstance(env, portB)]);
    try {
      const { store, libraries } = await openBesideCli(env);
      try {
        expect((await libraries.clients.list()).map((record) => record.metadata.client_id)).toEqual(['seeded-worker']);
        const events = (await store.audit.tail({ limit: 1000 })).filter((event) => event.details?.via === 'seed');
        expect(events.map((event) => `${event.type} ${event.actor}`)).toEqual(['api_added system', 'client_added system']);
        // The lease is given back: a later run need not wait for it to expire.
        expect(await store.leases.acquire(applyLeaseName, 'test', new Date(), new Date(Date.now() + 1000))).toBe(true);
        await store.leases.release(applyLeaseName, 'test');
      } finally {
        await store.close();
      }
      // Both serve one issuer (instance A's address), as behind one load balancer: each answers at its own port.
      for (const instance of instances) {
        const response = await fetch(`${instance.url}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`seeded-worker:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'orders:read', resource: api }),
        });
        expect(response.status).toBe(200);
        expect(((await response.json()) as { scope: string }).scope).toBe('orders:read');
      }
    } finally {
      await Promise.all(instances.map((instance) => instance.stop()));
    }
  }, 60_000);

  it('waits for another apply holding the lease, then applies (in this process, before serving)', async () => {
    const dir = freshDir();
    const env = { ...testEnvironment(dir), GATEHOUSE_SEED_FILE: join(dir, 'seed.yaml') };
    const config = cheapPasswordHashing(loadConfig(env));
    // The database exists and another run holds the lease.
    const beside = await openBesideCli(env);
    await beside.store.migrate();
    expect(await beside.store.leases.acquire(applyLeaseName, 'another', new Date(), new Date(Date.now() + 60_000))).toBe(true);
    let started = false;
    const starting = startServer(config, createLogger({ silent: true }), { host: '127.0.0.1', env: { SEEDED_SECRET: secret } }).then((server) => {
      started = true;
      return server;
    });
    await sleep(700);
    expect(started).toBe(false);
    expect(await beside.libraries.clients.list()).toEqual([]);
    await beside.store.leases.release(applyLeaseName, 'another');
    const server = await withTimeout(starting, 10_000, 'the server starting');
    try {
      expect((await beside.libraries.clients.get('seeded-worker')).metadata.client_name).toBe('Seeded worker');
    } finally {
      await server.close();
      await beside.store.close();
    }
  }, 30_000);

  it('a file that cannot be applied stops the start-up with one clear message (exit 2)', async () => {
    const dir = freshDir();
    const port = await freePort();
    const env = { ...testEnvironment(dir), ISSUER: `http://127.0.0.1:${port}`, PORT: String(port), GATEHOUSE_SEED_FILE: join(dir, 'seed.yaml') };
    const exit = await withTimeout(startMain(env).exited, 30_000, 'the server giving up');
    expect(exit.code).toBe(2);
    expect(exit.stderr).toContain(`the seed file ${join(dir, 'seed.yaml')} (GATEHOUSE_SEED_FILE) was not applied`);
    expect(exit.stderr).toContain('clients[0].client_secret: the environment variable SEEDED_SECRET is not set');
    expect(exit.stderr).not.toMatch(/\n\s+at /);
  }, 40_000);
});
