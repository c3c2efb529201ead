import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { GatehouseError } from '../../src/errors.ts';
import { registerApi } from '../../src/libraries/apis.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { cliSource, systemSource } from '../../src/libraries/audit.ts';
import { clientsLibrary, providerMetadata, registerClient } from '../../src/libraries/clients.ts';
import type { NewClientInput } from '../../src/libraries/clients.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';

let dir: string;
let store: Store;
const key = randomBytes(32);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-clients-'));
  store = openSqliteStore(join(dir, 'clients.db'));
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refused(input: NewClientInput): Promise<string> {
  const error = await registerClient(store, key, input).then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(GatehouseError);
  expect((error as GatehouseError).code).toBe('invalid_input');
  return (error as GatehouseError).message;
}

describe('registerClient', () => {
  it('registers a confidential client with a secret that is stored sealed', async () => {
    const { metadata, clientSecret } = await registerClient(store, key, { name: 'Web', redirectUris: ['https://app.example/cb'] });
    expect(metadata).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] });
    expect(clientSecret).toMatch(/^[\w-]{43}$/);
    const record = (await store.clients.find(metadata.client_id))!;
    expect(record.encryptedSecret).toBeDefined();
    expect(record.encryptedSecret).not.toContain(clientSecret);
    expect(JSON.stringify(record.metadata)).not.toContain(clientSecret);
    expect(readFileSync(join(dir, 'clients.db')).includes(clientSecret!)).toBe(false);
    expect(providerMetadata(record, key).client_secret).toBe(clientSecret);
  });

  it('registers a public client without a secret', async () => {
    const { metadata, clientSecret } = await registerClient(store, key, { name: 'SPA', public: true, redirectUris: ['http://localhost:5173/cb'] });
    expect(clientSecret).toBeUndefined();
    expect(metadata.token_endpoint_auth_method).toBe('none');
  });

  it('registers a machine-to-machine client without redirect URIs', async () => {
    const { metadata } = await registerClient(store, key, { name: 'Worker', grantTypes: ['client_credentials'] });
    expect(metadata).toMatchObject({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
  });

  it('accepts loopback http redirect URIs only', async () => {
    for (const uri of ['http://localhost:8080/cb', 'http://127.0.0.1/cb', 'http://[::1]:3000/cb']) {
      await expect(registerClient(store, key, { name: 'Loopback', redirectUris: [uri] })).resolves.toBeDefined();
    }
  });

  it('refuses unsafe or inconsistent registrations with a reason', async () => {
    expect(await refused({ name: 'x', redirectUris: ['http://app.example/cb'] })).toMatch(/must use https/);
    expect(await refused({ name: 'x', redirectUris: ['https://app.example/cb#frag'] })).toMatch(/fragment/);
    expect(await refused({ name: 'x', redirectUris: ['/relative'] })).toMatch(/absolute/);
    expect(await refused({ name: 'x', redirectUris: ['https://user:pw@app.example/cb'] })).toMatch(/credentials/);
    expect(await refused({ name: 'x', redirectUris: ['javascript:alert(1)'] })).toMatch(/https/);
    expect(await refused({ name: '', redirectUris: ['https://app.example/cb'] })).toMatch(/name/);
    expect(await refused({ name: 'x' })).toMatch(/redirect URI is required/);
    expect(await refused({ name: 'x', public: true, grantTypes: ['client_credentials'] })).toMatch(/public client cannot use client_credentials/);
    expect(await refused({ name: 'x', public: true, pkceExempt: true, redirectUris: ['https://app.example/cb'] })).toMatch(/only a confidential client/);
    expect(await refused({ name: 'x', grantTypes: ['password' as never] })).toMatch(/grant types are/);
    expect(await refused({ name: 'x', grantTypes: ['refresh_token', 'client_credentials'] })).toMatch(/refresh_token needs authorization_code/);
  });
});

describe('registerApi', () => {
  it('registers an API with its scopes and defaults', async () => {
    const api = await registerApi(store, { identifier: 'https://api.example/v1', scopes: ['read', 'read', 'write'] });
    expect(api).toMatchObject({ scopes: ['read', 'write'], signingAlg: 'RS256', accessTokenTtl: 3600 });
    expect((await store.apis.find('https://api.example/v1'))?.scopes).toEqual(['read', 'write']);
  });

  it('refuses a relative identifier, a fragment, a bad scope and a duplicate', async () => {
    for (const input of [{ identifier: 'api' }, { identifier: 'https://api.example/#x' }, { identifier: 'https://api.example/2', scopes: ['has space'] }, { identifier: 'https://api.example/3', signingAlg: 'HS256' as never }]) {
      await expect(registerApi(store, input)).rejects.toMatchObject({ code: 'invalid_input' });
    }
    await expect(registerApi(store, { identifier: 'https://api.example/v1' })).rejects.toMatchObject({ code: 'conflict' });
  });
});

describe('clients library: clients that register themselves', () => {
  let libraryDir: string;
  let libraryStore: Store;
  let now: number;
  const libraryKey = randomBytes(32);
  const warnings: string[] = [];
  const config = loadConfig({ NODE_ENV: 'test' });
  const days = config.dynamicClients.unusedExpiryDays;
  const dbFile = () => join(libraryDir, 'dynamic.db');

  /** Counts (and may fail) the store's touch writes; the store's own objects are proxies vi.spyOn cannot wrap. */
  const touchWrites = { count: 0, failNext: false };
  const countedStore = (): Store => ({
    ...libraryStore,
    oidc: libraryStore.oidc, accounts: libraryStore.accounts, apis: libraryStore.apis, audit: libraryStore.audit,
    clients: {
      create: (client) => libraryStore.clients.create(client),
      find: (clientId) => libraryStore.clients.find(clientId),
      list: () => libraryStore.clients.list(),
      remove: (clientId) => libraryStore.clients.remove(clientId),
      save: (record) => libraryStore.clients.save(record),
      replace: (clientId, change) => libraryStore.clients.replace(clientId, change),
      removeUnusedDynamic: (before, limit) => libraryStore.clients.removeUnusedDynamic(before, limit),
      sweepUnusedDynamic: (before, limit) => libraryStore.clients.sweepUnusedDynamic(before, limit),
      async touch(clientId, at) {
        touchWrites.count += 1;
        if (touchWrites.failNext) {
          touchWrites.failNext = false;
          throw new Error('database is locked');
        }
        return libraryStore.clients.touch(clientId, at);
      },
    },
  });
  const library = () => clientsLibrary({
    store: countedStore(), config, clock: () => new Date(now), keyEncryptionKey: libraryKey,
    logger: { info: () => undefined, warn: (text: string) => void warnings.push(text), error: () => undefined },
  });
  // As oidc-provider's adapter receives a registration: the client's metadata, the secret in clear.
  const registration = (clientId: string, extra: Record<string, unknown> = {}) => ({
    client_id: clientId, client_name: 'Agent', redirect_uris: ['http://127.0.0.1:4000/cb'], grant_types: ['authorization_code'],
    response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', client_id_issued_at: 1_722_500_000, ...extra,
  });

  beforeEach(() => {
    libraryDir = mkdtempSync(join(tmpdir(), 'gatehouse-dynamic-clients-'));
    libraryStore = openSqliteStore(dbFile(), () => now);
    now = Date.parse('2024-08-01T09:00:00.000Z');
    warnings.length = 0;
    touchWrites.count = 0;
    touchWrites.failNext = false;
  });

  afterEach(async () => {
    await libraryStore.close();
    rmSync(libraryDir, { recursive: true, force: true });
  });

  it('saveRegistered seals the secret as an operator client\'s (never in the database file), marks the client dynamic and forces the operator-only flags off', async () => {
    const secret = `dynamic-secret-${randomBytes(16).toString('hex')}`;
    await library().saveRegistered(registration('agent-1', { client_secret: secret, first_party: true, pkce_exempt: true }), new Date(now));

    const record = (await libraryStore.clients.find('agent-1'))!;
    expect(record).toMatchObject({ dynamic: true, lastUsedAt: null, createdAt: new Date(now) });
    expect(record.metadata).toMatchObject({ client_id: 'agent-1', client_name: 'Agent', first_party: false, pkce_exempt: false, client_id_issued_at: 1_722_500_000 });
    expect(record.metadata).not.toHaveProperty('client_secret');
    expect(record.encryptedSecret).toBeDefined();
    // The provider's adapter opens it again, as for an operator's client.
    expect(providerMetadata(record, libraryKey).client_secret).toBe(secret);

    await libraryStore.close();
    const files = [dbFile(), `${dbFile()}-wal`].filter((file) => existsSync(file)).map((file) => readFileSync(file));
    expect(files.length).toBeGreaterThan(0);
    for (const bytes of files) expect(bytes.includes(secret)).toBe(false);
    libraryStore = openSqliteStore(dbFile(), () => now);
  });

  it('saveRegistered replaces a dynamic client (RFC 7592) keeping its creation and last use; a public one has no secret', async () => {
    const clients = library();
    await clients.saveRegistered(registration('agent-1', { client_secret: 'first-secret' }), new Date(now));
    const created = now;
    now += 3_600_000;
    await clients.touch('agent-1');
    const used = now;
    now += 3_600_000;

    await clients.saveRegistered(registration('agent-1', { client_name: 'Renamed', token_endpoint_auth_method: 'none' }), new Date(now));

    const record = (await libraryStore.clients.find('agent-1'))!;
    expect(record).toMatchObject({ dynamic: true, createdAt: new Date(created), lastUsedAt: new Date(used) });
    expect(record.metadata.client_name).toBe('Renamed');
    expect(record.encryptedSecret).toBeUndefined();
  });

  it('never replaces or removes an operator\'s client, and refuses a payload without a client_id', async () => {
    const clients = library();
    const { metadata } = await clients.register({ name: 'Operator app', redirectUris: ['https://app.example/cb'] }, cliSource);

    await expect(clients.saveRegistered(registration(metadata.client_id), new Date(now))).rejects.toMatchObject({ code: 'conflict' });
    await expect(clients.removeRegistered(metadata.client_id)).rejects.toMatchObject({ code: 'conflict' });
    expect(await libraryStore.clients.find(metadata.client_id)).toMatchObject({ dynamic: false, metadata: { client_name: 'Operator app' } });
    await expect(clients.saveRegistered({ client_name: 'No id' }, new Date(now))).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('removeRegistered deletes a dynamic client; an unknown one is nothing to do', async () => {
    const clients = library();
    await clients.saveRegistered(registration('agent-1'), new Date(now));

    await clients.removeRegistered('agent-1');
    expect(await libraryStore.clients.find('agent-1')).toBeUndefined();
    await expect(clients.removeRegistered('agent-1')).resolves.toBeUndefined();
  });

  it('touch writes a client\'s use at most once an hour per client in this process', async () => {
    const clients = library();
    await clients.saveRegistered(registration('agent-1'), new Date(now));
    await clients.saveRegistered(registration('agent-2'), new Date(now));
    const first = now;

    await Promise.all([clients.touch('agent-1'), clients.touch('agent-1'), clients.touch('agent-2')]);
    now += 3_599_999;
    await clients.touch('agent-1');
    expect(touchWrites.count).toBe(2);
    expect((await libraryStore.clients.find('agent-1'))?.lastUsedAt).toEqual(new Date(first));

    now += 1;
    await clients.touch('agent-1');
    expect(touchWrites.count).toBe(3);
    expect((await libraryStore.clients.find('agent-1'))?.lastUsedAt).toEqual(new Date(now));
    // Another process (another instance of the library) keeps its own memo.
    await library().touch('agent-1');
    expect(touchWrites.count).toBe(4);
  });

  it('touch never fails the request it is called from: a failed write is logged and tried again next time', async () => {
    const clients = library();
    touchWrites.failNext = true;

    await expect(clients.touch('agent-1')).resolves.toBeUndefined();
    expect(warnings).toEqual([expect.stringContaining('use failed')]);
    await clients.touch('agent-1');
    expect(touchWrites.count).toBe(2);
  });

  it('expireUnused deletes the dynamic clients unused for unusedExpiryDays and audits each (actor given)', async () => {
    const clients = library();
    await clients.saveRegistered(registration('never-used'), new Date(now));
    await clients.saveRegistered(registration('used'), new Date(now));
    await clients.register({ name: 'Operator app', redirectUris: ['https://app.example/cb'] }, cliSource);
    now += 2 * 86_400_000;
    await clients.touch('used');
    now += (days - 1) * 86_400_000;

    expect(await clients.expireUnused(systemSource)).toBe(1);
    expect(await libraryStore.clients.find('never-used')).toBeUndefined();
    expect(await libraryStore.clients.find('used')).toBeDefined();
    const [event] = (await libraryStore.audit.tail({ limit: 50 })).filter((entry) => entry.type === 'client_expired');
    expect(event).toMatchObject({ actor: 'system', clientId: 'never-used', details: { unused_days: days, unused_since: new Date(now - days * 86_400_000).toISOString() } });

    now += 2 * 86_400_000;
    expect(await clients.expireUnused(systemSource, 10)).toBe(1);
    expect(await clients.expireUnused(systemSource)).toBe(0);
    expect((await libraryStore.clients.list()).map((client) => client.metadata.client_name)).toEqual(['Operator app']);
  });
});
