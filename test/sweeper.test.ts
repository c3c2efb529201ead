import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { randomBytes } from 'node:crypto';

import { loadConfig } from '../src/config/load-config.ts';
import { systemSource } from '../src/libraries/audit.ts';
import { clientsLibrary } from '../src/libraries/clients.ts';
import { openSqliteStore } from '../src/store/sqlite/index.ts';
import type { Store } from '../src/store/types.ts';
import { createSweeper, sweeperLeaseName } from '../src/sweeper.ts';
import type { SweeperOptions } from '../src/sweeper.ts';

// A real SQLite store on an injected clock; no sleeps: time moves when a test moves it.
const t0 = Date.parse('2024-08-01T09:00:00.000Z');
let now: number;
let store: Store;
const warnings: string[] = [];
const logger = { warn: (message: string) => void warnings.push(message) };

const oidcRows = 1_050;
const extraRows = 30;

beforeEach(async () => {
  now = t0;
  warnings.length = 0;
  store = openSqliteStore(':memory:', () => now);
  const tokens = store.oidc.model('AccessToken');
  const sessions = store.oidc.model('Session');
  for (let index = 0; index < oidcRows; index += 1) {
    await (index % 3 ? tokens : sessions).upsert(`expired-${index}`, { grantId: `grant-${index}`, uid: `uid-${index}`, accountId: 'acct-1' }, 60);
  }
  await tokens.upsert('live', { grantId: 'grant-live' }, 3600);
  await tokens.upsert('forever', { grantId: 'grant-forever' });
  for (let index = 0; index < extraRows; index += 1) {
    await store.codes.issue({
      id: `code-${index}`, purpose: 'verify_email', email: `p${index}@example.com`, accountId: `acct-${index}`, codeHash: null,
      linkHash: `link-${index}`, createdAt: new Date(t0), expiresAt: new Date(t0 + 60_000),
    });
    await store.rateLimits.add(`login:${index}`, 1, 60_000, new Date(t0), false);
  }
  await store.codes.issue({
    id: 'code-live', purpose: 'verify_email', email: 'live@example.com', accountId: 'acct-live', codeHash: null,
    linkHash: 'link-live', createdAt: new Date(t0), expiresAt: new Date(t0 + 3_600_000),
  });
  await store.rateLimits.add('login:live', 1, 3_600_000, new Date(t0), false);
  // Everything but the live records has expired.
  now = t0 + 120_000;
});

afterEach(async () => {
  vi.useRealTimers();
  await store.close();
});

function sweeper(options: Partial<SweeperOptions> = {}) {
  return createSweeper({ store, logger, clock: () => new Date(now), batchSize: 100, budgetMs: Number.POSITIVE_INFINITY, yieldToEventLoop: async () => {}, ...options });
}

async function expectLiveRecordsKept(): Promise<void> {
  expect(await store.oidc.model('AccessToken').find('live')).toEqual({ grantId: 'grant-live' });
  expect(await store.oidc.model('AccessToken').find('forever')).toEqual({ grantId: 'grant-forever' });
  expect(await store.codes.find('code-live')).toMatchObject({ id: 'code-live' });
  expect(await store.rateLimits.get('login:live', new Date(now))).toMatchObject({ points: 1 });
}

describe('sweeper', () => {
  it('deletes every expired record in batches, yielding to the event loop after each, and keeps the live ones', async () => {
    let yields = 0;
    const report = await sweeper({ holder: 'a', yieldToEventLoop: async () => void (yields += 1) }).sweep();

    // 10 full oidc batches and a short one, then one short batch for codes and one for counters.
    expect(report).toEqual({ held: true, complete: true, batches: 13, deleted: { oidc: oidcRows, codes: extraRows, rateLimits: extraRows, clients: 0 } });
    expect(yields).toBe(13);
    expect(await store.oidc.sweepExpired()).toBe(0);
    expect(await store.codes.sweep(new Date(now))).toBe(0);
    expect(await store.rateLimits.sweep(new Date(now))).toBe(0);
    await expectLiveRecordsKept();
    // The lease was given up at the end of the run: anyone may take the next one.
    expect(await store.leases.acquire(sweeperLeaseName, 'b', new Date(now), new Date(now + 60_000))).toBe(true);
  });

  it('lets only one of two instances sweeping at the same moment hold the lease', async () => {
    const [a, b] = await Promise.all([sweeper({ holder: 'a' }).sweep(), sweeper({ holder: 'b' }).sweep()]);

    expect([a.held, b.held].filter(Boolean)).toHaveLength(1);
    const [winner, loser] = a.held ? [a, b] : [b, a];
    expect(winner).toMatchObject({ complete: true, deleted: { oidc: oidcRows, codes: extraRows, rateLimits: extraRows } });
    expect(loser).toEqual({ held: false, complete: false, batches: 0, deleted: { oidc: 0, codes: 0, rateLimits: 0, clients: 0 } });
  });

  it('waits while another instance holds the lease, and takes it over once that lease has expired', async () => {
    // An instance that took the lease and died without giving it up.
    await store.leases.acquire(sweeperLeaseName, 'dead', new Date(now), new Date(now + 60_000));
    const survivor = sweeper({ holder: 'survivor', leaseSeconds: 60 });

    now += 59_000;
    expect(await survivor.sweep()).toMatchObject({ held: false, batches: 0 });
    expect(await store.oidc.model('AccessToken').find('live')).toBeDefined();

    now += 1_000;
    expect(await survivor.sweep()).toMatchObject({ held: true, complete: true, deleted: { oidc: oidcRows } });
  });

  it('renews the lease while a long run goes on, so nobody else takes it meanwhile', async () => {
    const others: boolean[] = [];
    const report = await sweeper({
      holder: 'a', leaseSeconds: 60,
      yieldToEventLoop: async () => {
        now += 25_000;
        others.push(await store.leases.acquire(sweeperLeaseName, 'other', new Date(now), new Date(now + 60_000)));
      },
    }).sweep();

    expect(report).toMatchObject({ held: true, complete: true, batches: 13 });
    // 13 batches 25 s apart: the run lasted over five minutes on a 60 s lease.
    expect(others).toEqual(Array(13).fill(false));
  });

  it('stops when its lease was taken over (it stalled past the expiry), leaving the rest to the new holder', async () => {
    let taken: boolean | undefined;
    const report = await sweeper({
      holder: 'a', leaseSeconds: 60,
      yieldToEventLoop: async () => {
        if (taken !== undefined) return;
        now += 61_000;
        taken = await store.leases.acquire(sweeperLeaseName, 'b', new Date(now), new Date(now + 60_000));
      },
    }).sweep();

    expect(taken).toBe(true);
    expect(report).toMatchObject({ held: true, complete: false, batches: 1, deleted: { oidc: 100 } });
    expect(warnings).toEqual([expect.stringContaining('taken over')]);
    // Its end-of-run release left b's lease alone.
    expect(await store.leases.acquire(sweeperLeaseName, 'c', new Date(now), new Date(now + 60_000))).toBe(false);
  });

  it('stops when the time budget of a run is spent; the next run goes on from there', async () => {
    const slow = sweeper({ holder: 'a', budgetMs: 3_000, yieldToEventLoop: async () => void (now += 1_000) });

    expect(await slow.sweep()).toMatchObject({ held: true, complete: false, batches: 3, deleted: { oidc: 300, codes: 0 } });
    const rest = await sweeper({ holder: 'a' }).sweep();
    expect(rest).toMatchObject({ complete: true, deleted: { oidc: oidcRows - 300, codes: extraRows, rateLimits: extraRows } });
    await expectLiveRecordsKept();
  });

  it('stop() ends a run under way after its current batch and gives the lease up', async () => {
    let stopping: Promise<void> | undefined;
    const instance = sweeper({ holder: 'a', yieldToEventLoop: async () => void (stopping ??= instance.stop()) });

    expect(await instance.sweep()).toMatchObject({ complete: false, batches: 1 });
    await stopping;
    expect(await store.leases.acquire(sweeperLeaseName, 'b', new Date(now), new Date(now + 60_000))).toBe(true);
  });

  it('start() sweeps on a timer, never two runs of one instance at once', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let running = 0;
    let mostAtOnce = 0;
    let batches = 0;
    const oidc = {
      ...store.oidc,
      sweepExpired: async (limit?: number) => {
        batches += 1;
        mostAtOnce = Math.max(mostAtOnce, (running += 1));
        // A batch that takes longer than the interval: the next tick must not start a second run.
        await new Promise((resolve) => setTimeout(resolve, 5));
        running -= 1;
        return store.oidc.sweepExpired(limit);
      },
    };
    const instance = sweeper({ holder: 'a', store: { ...store, oidc } });
    instance.start(0.001);

    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toBe(0);
    for (let tick = 0; tick < 20; tick += 1) await vi.advanceTimersByTimeAsync(1);
    await instance.stop();
    expect(batches).toBeGreaterThan(0);
    expect(mostAtOnce).toBe(1);
  });

  it('a failing store fails the run but still gives the lease up', async () => {
    const codes = { ...store.codes, sweep: async () => Promise.reject(new Error('disk I/O error')) };

    await expect(sweeper({ holder: 'a', store: { oidc: store.oidc, codes, rateLimits: store.rateLimits, leases: store.leases } }).sweep()).rejects.toThrow('disk I/O error');
    expect(await store.leases.acquire(sweeperLeaseName, 'b', new Date(now), new Date(now + 60_000))).toBe(true);
  });

  it('expires dynamic clients unused for unusedExpiryDays in batches, audited, leaving operators\' and recent ones', async () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    const clients = clientsLibrary({ store, config, clock: () => new Date(now), keyEncryptionKey: randomBytes(32) });
    const registration = (clientId: string) => ({
      client_id: clientId, redirect_uris: ['http://127.0.0.1/cb'], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none',
    });
    for (let index = 0; index < 150; index += 1) await clients.saveRegistered(registration(`agent-${index}`), new Date(now));
    await clients.saveRegistered(registration('agent-busy'), new Date(now));
    await clients.register({ name: 'Operator app', redirectUris: ['https://app.example/cb'] }, systemSource);
    now += (config.dynamicClients.unusedExpiryDays - 1) * 86_400_000;
    await clients.touch('agent-busy');
    now += 2 * 86_400_000;

    const report = await sweeper({ holder: 'a', expireUnusedClients: (limit) => clients.expireUnused(systemSource, limit) }).sweep();

    expect(report).toMatchObject({ held: true, complete: true, deleted: { clients: 150 } });
    // Two batches of clients (100 and 50) after the other tables' 13.
    expect(report.batches).toBe(15);
    expect((await store.clients.list()).map((client) => client.metadata.client_name ?? client.metadata.client_id).sort()).toEqual(['Operator app', 'agent-busy']);
    const expired = (await store.audit.tail({ limit: 500 })).filter((event) => event.type === 'client_expired');
    expect(expired).toHaveLength(150);
    expect(expired[0]).toMatchObject({ actor: 'system', clientId: expect.stringMatching(/^agent-\d+$/), details: { unused_days: config.dynamicClients.unusedExpiryDays } });
  });
});
