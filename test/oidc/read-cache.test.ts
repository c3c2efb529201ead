import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createReadCache, maxStaleMs } from '../../src/oidc/read-cache.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { ClientRecord, Store } from '../../src/store/types.ts';

/**
 * The provider's read cache over a real SQLite file, with a second store on the same file standing
 * in for another instance or the CLI (another process: its writes are not seen by this one's cache).
 */
describe('the provider read cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-read-cache-'));
  // Frozen unless a test moves it: the bound is checked to the millisecond.
  let now = Date.parse('2026-11-30T12:00:00Z');
  const clock = Object.assign(() => new Date(now), { advance: (ms: number) => { now += ms; } });
  let here: Store;
  let elsewhere: Store;

  beforeAll(() => {
    const file = join(dir, 'g.db');
    here = openSqliteStore(file, () => clock().getTime());
    elsewhere = openSqliteStore(file, () => clock().getTime());
  });

  afterAll(async () => {
    await here.close();
    await elsewhere.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const newAccount = (id: string) => ({
    id, email: `${id}@example.com`, passwordHash: null, emailVerified: true, profile: { name: 'First' }, roles: [], disabled: false,
  });
  const newClient = (clientId: string): ClientRecord => ({
    metadata: { client_id: clientId, redirect_uris: ['http://127.0.0.1/cb'], grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'none' },
    createdAt: new Date(),
  } as ClientRecord);

  it('sees a change made elsewhere within maxStaleMs, and not a moment before it is due', async () => {
    const cache = createReadCache(here, { clock });
    await elsewhere.accounts.create(newAccount('far'));
    expect((await cache.accounts.findById('far'))?.disabled).toBe(false);

    await elsewhere.accounts.update('far', { disabled: true, profile: { name: 'Changed' } });
    clock.advance(maxStaleMs - 1);
    // Still the copy read a moment ago: that is what the bound allows.
    expect((await cache.accounts.findById('far'))?.disabled).toBe(false);
    clock.advance(1);
    expect(await cache.accounts.findById('far')).toMatchObject({ disabled: true, profile: { name: 'Changed' } });
  });

  it('sees a change made in this process at once', async () => {
    const cache = createReadCache(here, { clock });
    const store = cache.observe(here);
    await store.accounts.create(newAccount('near'));
    expect((await cache.accounts.findById('near'))?.disabled).toBe(false);
    await store.accounts.update('near', { disabled: true });
    expect((await cache.accounts.findById('near'))?.disabled).toBe(true);

    expect(await cache.clients.find('app-near')).toBeUndefined();
    await store.clients.create(newClient('app-near'));
    expect((await cache.clients.find('app-near'))?.metadata.client_id).toBe('app-near');
    await store.clients.remove('app-near');
    expect(await cache.clients.find('app-near')).toBeUndefined();

    await store.apis.create({ identifier: 'https://api.near.test', scopes: ['read'], signingAlg: 'ES256', accessTokenTtl: 300, createdAt: new Date() });
    expect((await cache.apis.find('https://api.near.test'))?.scopes).toEqual(['read']);
    await store.apis.remove('https://api.near.test');
    expect(await cache.apis.find('https://api.near.test')).toBeUndefined();
  });

  it('sees a client or API removed elsewhere within maxStaleMs', async () => {
    const cache = createReadCache(here, { clock });
    await elsewhere.clients.create(newClient('app-far'));
    await elsewhere.apis.create({ identifier: 'https://api.far.test', scopes: ['read'], signingAlg: 'RS256', accessTokenTtl: 300, createdAt: new Date() });
    expect(await cache.clients.find('app-far')).toBeDefined();
    expect(await cache.apis.find('https://api.far.test')).toBeDefined();
    await elsewhere.clients.remove('app-far');
    await elsewhere.apis.remove('https://api.far.test');
    clock.advance(maxStaleMs);
    expect(await cache.clients.find('app-far')).toBeUndefined();
    expect(await cache.apis.find('https://api.far.test')).toBeUndefined();
  });

  it('reads the store once for concurrent lookups, never remembers a failed read, and stays bounded', async () => {
    let reads = 0;
    let fail = false;
    const counting = {
      ...here,
      accounts: { ...here.accounts, findById: async (id: string) => {
        reads += 1;
        if (fail) throw new Error('store unavailable');
        return here.accounts.findById(id);
      } },
    } as Store;
    const cache = createReadCache(counting, { clock, maxEntries: 3 });
    await Promise.all(Array.from({ length: 20 }, () => cache.accounts.findById('near')));
    expect(reads).toBe(1);

    clock.advance(maxStaleMs);
    fail = true;
    await expect(cache.accounts.findById('near')).rejects.toThrow('store unavailable');
    fail = false;
    expect((await cache.accounts.findById('near'))?.id).toBe('near');
    expect(reads).toBe(3);

    // More distinct keys than it holds: it starts over rather than growing.
    for (const id of ['a', 'b', 'c', 'd']) await cache.accounts.findById(id);
    const before = reads;
    await cache.accounts.findById('near');
    expect(reads).toBe(before + 1);
  });
});
