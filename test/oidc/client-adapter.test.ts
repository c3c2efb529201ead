import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import * as encryption from '../../src/keys/encryption.ts';
import Provider from 'oidc-provider';

import { createAdapterFactory, rememberClientInstances } from '../../src/oidc/adapter.ts';
import { createReadCache, maxStaleMs } from '../../src/oidc/read-cache.ts';
import { movableClock } from '../helpers/clock.ts';
import { registerClient } from '../../src/libraries/clients.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { ClientRecord, Store } from '../../src/store/types.ts';

// Counts how often a sealed secret is opened, without changing what opening does.
vi.mock(import('../../src/keys/encryption.ts'), async (importOriginal) => {
  const original = await importOriginal();
  return { ...original, open: vi.fn(original.open) };
});

let dir: string;
let store: Store;
const key = randomBytes(32);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-client-adapter-'));
  store = openSqliteStore(join(dir, 'clients.db'));
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  vi.mocked(encryption.open).mockClear();
});

function clientAdapter() {
  return createAdapterFactory({ oidc: store.oidc, clients: store.clients, encryptionKey: key })('Client');
}

describe("the provider's client adapter", () => {
  it('opens a client secret once, however often the client is looked up', async () => {
    const { metadata, clientSecret } = await registerClient(store, key, { name: 'Web', redirectUris: ['https://app.example/cb'] });
    const adapter = clientAdapter();
    for (let lookup = 0; lookup < 5; lookup += 1) {
      expect(await adapter.find(metadata.client_id)).toMatchObject({ client_id: metadata.client_id, client_secret: clientSecret, client_name: 'Web' });
    }
    expect(encryption.open).toHaveBeenCalledTimes(1);
  });

  it('still reads the store on every lookup: a removed client is gone at once', async () => {
    const { metadata } = await registerClient(store, key, { name: 'Soon gone', redirectUris: ['https://app.example/cb'] });
    const adapter = clientAdapter();
    expect(await adapter.find(metadata.client_id)).toBeDefined();
    await store.clients.remove(metadata.client_id);
    expect(await adapter.find(metadata.client_id)).toBeUndefined();
  });

  it('opens a new sealed secret when the stored one changes', async () => {
    const { metadata } = await registerClient(store, key, { name: 'Rotated', redirectUris: ['https://app.example/cb'] });
    const adapter = clientAdapter();
    await adapter.find(metadata.client_id);
    const record = (await store.clients.find(metadata.client_id))!;
    await store.clients.remove(metadata.client_id);
    await store.clients.create({ ...record, encryptedSecret: encryption.seal('the new secret', key, `client-secret:${metadata.client_id}`) });
    expect(await adapter.find(metadata.client_id)).toMatchObject({ client_secret: 'the new secret' });
    expect(encryption.open).toHaveBeenCalledTimes(2);
  });

  it('keeps a sealed secret bound to its client: one copied to another client does not open', async () => {
    const { metadata } = await registerClient(store, key, { name: 'Original', redirectUris: ['https://app.example/cb'] });
    const adapter = clientAdapter();
    await adapter.find(metadata.client_id);
    const record = (await store.clients.find(metadata.client_id))!;
    const copy: ClientRecord = { ...record, metadata: { ...record.metadata, client_id: 'copied0000000000000000000000000' } };
    await store.clients.create(copy);
    await expect(adapter.find(copy.metadata.client_id)).rejects.toThrow(/failed authentication/);
  });

  it('returns public clients as stored, with no secret to open', async () => {
    const { metadata } = await registerClient(store, key, { name: 'SPA', public: true, redirectUris: ['https://app.example/cb'] });
    expect(await clientAdapter().find(metadata.client_id)).toEqual(metadata);
    expect(encryption.open).not.toHaveBeenCalled();
  });
});

describe("the provider's Client for a cached record", () => {
  it('is the same instance while the record is cached, and a new one once a change is seen', async () => {
    const clock = movableClock();
    const reads = createReadCache(store, { clock });
    const provider = new Provider('http://localhost:3000', {
      adapter: createAdapterFactory({ oidc: store.oidc, clients: reads.clients, encryptionKey: key }),
      clientAuthMethods: ['client_secret_basic', 'none'],
    });
    rememberClientInstances(provider);
    const { metadata } = await registerClient(store, key, { name: 'Remembered', redirectUris: ['https://app.example/cb'] });

    const first = await provider.Client.find(metadata.client_id);
    expect(first?.clientName).toBe('Remembered');
    expect(await provider.Client.find(metadata.client_id)).toBe(first);

    // Changed by another process (the CLI): seen within the read cache's bound, as a new Client.
    const record = (await store.clients.find(metadata.client_id))!;
    await store.clients.remove(metadata.client_id);
    await store.clients.create({ ...record, metadata: { ...record.metadata, client_name: 'Renamed' } });
    expect(await provider.Client.find(metadata.client_id)).toBe(first);
    clock.advance(maxStaleMs);
    const renamed = await provider.Client.find(metadata.client_id);
    expect(renamed).not.toBe(first);
    expect(renamed?.clientName).toBe('Renamed');

    // Removed: gone once seen.
    await store.clients.remove(metadata.client_id);
    clock.advance(maxStaleMs);
    expect(await provider.Client.find(metadata.client_id)).toBeUndefined();
    expect(await provider.Client.find('')).toBeUndefined();
  });
});
