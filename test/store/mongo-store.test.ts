import mongoose from 'mongoose';
import type { Connection } from 'mongoose';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/server.ts';
import { describeHosts } from '../../src/store/mongo/database.ts';
import { oidcModelNames, openMongoStore } from '../../src/store/mongo/index.ts';
import { escapeKeys, unescapeKeys } from '../../src/store/mongo/keys.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { ClientRecord, Store } from '../../src/store/types.ts';
import { mongodbUri, mongodbUrl, newDatabaseName } from '../helpers/mongodb.ts';
import { describeStoreContract } from './store-contract.ts';

/** Raw documents as stored, keyed by the provider's string ids. */
type RawDocument = { _id: string; [field: string]: unknown };

if (!mongodbUri) console.log('skipped: no MongoDB available');
/** For dropping test databases and reading raw documents. */
const admin: Connection | undefined = mongodbUri ? await mongoose.createConnection(mongodbUri).asPromise() : undefined;

afterAll(async () => {
  await admin?.close();
});

/** The test database as stored, through the admin connection. */
function rawDatabase(name: string): Connection {
  return admin!.useDb(name, { useCache: true });
}

async function dropDatabase(name: string): Promise<void> {
  await rawDatabase(name).dropDatabase();
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error('expected the promise to reject, but it resolved'),
    (error: unknown) => error,
  );
}

describe.skipIf(!mongodbUri)('MongoDB', () => {
  describeStoreContract('mongodb', async () => {
    const name = newDatabaseName();
    const others = new Map<string, string>();
    const opened: Store[] = [];
    const open = async (database = name) => {
      const store = await openMongoStore(mongodbUrl(database));
      opened.push(store);
      return store;
    };
    const store = await open();
    // Unique emails and the uid / user code lookups rely on the indexes.
    await store.migrate();
    return {
      store,
      reopen: () => open(),
      async openUnmigrated(other) {
        if (!others.has(other)) others.set(other, newDatabaseName());
        return open(others.get(other));
      },
      async cleanup() {
        for (const each of opened) await each.close();
        for (const database of [name, ...others.values()]) await dropDatabase(database);
      },
    };
  });

  describe('MongoDB store specifics', () => {
    let name: string;
    const toClose: Store[] = [];

    beforeEach(() => {
      name = newDatabaseName();
    });

    afterEach(async () => {
      for (const store of toClose.splice(0)) await store.close();
      await dropDatabase(name);
    });

    async function open(clock?: () => number): Promise<Store> {
      const store = await openMongoStore(mongodbUrl(name), clock);
      toClose.push(store);
      return store;
    }

    it('round-trips payload keys with dots, dollars and percent signs, stored escaped', async () => {
      const store = await open();
      await store.migrate();
      const sessions = store.oidc.model('Session');
      // oidc-provider keys a session's authorizations by client id, and client ids may contain dots.
      const payload = {
        uid: 'uid-1',
        accountId: 'acct-1',
        authorizations: {
          'app.example.com': { sid: 'sid-1', grantId: 'grant-1', persistsLogout: true },
          $admin: { sid: 'sid-2' },
          '100%2E.sure': { sid: 'sid-3', nested: [{ 'a.b': 1 }, 'plain'] },
        },
      };

      await sessions.upsert('sess-1', payload, 3600);
      expect(await sessions.find('sess-1')).toEqual(payload);
      expect(await sessions.findByUid('uid-1')).toEqual(payload);
      await sessions.consume('sess-1');
      expect(await sessions.find('sess-1')).toMatchObject({ authorizations: payload.authorizations, consumed: expect.any(Number) });

      const raw = await rawDatabase(name).collection<RawDocument & { payload: { uid: string; authorizations: object } }>('oidc_Session').findOne({ _id: 'sess-1' });
      expect(Object.keys(raw?.payload.authorizations ?? {}).sort()).toEqual(['%24admin', '100%252E%2Esure', 'app%2Eexample%2Ecom']);
      expect(raw?.payload.uid).toBe('uid-1');
    });

    it('round-trips client metadata keys with dots', async () => {
      const store = await open();
      const client: ClientRecord = {
        metadata: {
          client_id: 'app.example.com',
          redirect_uris: ['https://app.example.com/cb'],
          grant_types: ['authorization_code'],
          response_types: ['code'],
          token_endpoint_auth_method: 'none',
          'urn:example.extension': { 'x.y': true },
        },
        createdAt: new Date('2024-05-01T10:00:00.123Z'),
        dynamic: false,
        lastUsedAt: null,
      };

      await store.clients.create(client);

      expect(await store.clients.find('app.example.com')).toEqual(client);
    });

    it('lists the missing indexes before migrate, none after, and migrate is repeatable', async () => {
      const store = await open();
      // A model outside the known list, created lazily by the provider, is indexed too.
      await store.oidc.model('CustomModel').upsert('x-1', { grantId: 'grant-1' }, 60);

      const pending = await store.pendingMigrations();
      expect(pending).toEqual(expect.arrayContaining([
        'accounts.emailNormalized',
        'audit_events.accountId',
        'oidc_Session.payload.uid',
        'oidc_DeviceCode.payload.userCode',
        'oidc_AccessToken.expiresAt',
        'oidc_Grant.payload.accountId',
        'oidc_RefreshToken.payload.grantId',
        'oidc_CustomModel.expiresAt',
        'mail_queue.status_nextAttemptAt',
        'passkeys.accountId_createdAt',
        'linked_identities.accountId_linkedAt',
        'linked_identities.connectionId',
        'clients.dynamic_lastUsedAt_createdAt',
        'logout_deliveries.status_nextAttemptAt',
        'logout_deliveries.clientId_sid',
      ]));
      // three per oidc collection, plus uid, user code, the account email, the audit trail's account,
      // the mail queue, three of one-time codes, the rate limits' expiry, the passkeys' account and
      // the linked identities' account and connection, the dynamic clients' last use, and four of
      // the back-channel logout deliveries
      expect(pending).toHaveLength((oidcModelNames.length + 1) * 3 + 17);

      await store.migrate();
      expect(await store.pendingMigrations()).toEqual([]);
      await store.migrate();
      expect(await store.pendingMigrations()).toEqual([]);

      const indexes = await rawDatabase(name).collection('oidc_Session').listIndexes().toArray();
      expect(indexes.find((index) => index.name === 'expiresAt')).toMatchObject({ key: { expiresAt: 1 }, expireAfterSeconds: 0 });
      expect(indexes.find((index) => index.name === 'payload.uid')).toMatchObject({ unique: true, partialFilterExpression: { 'payload.uid': { $exists: true } } });
    });

    it('rejects a second session with the same uid as a conflict, and a second device code with the same user code', async () => {
      const store = await open();
      await store.migrate();
      const sessions = store.oidc.model('Session');
      const deviceCodes = store.oidc.model('DeviceCode');
      await sessions.upsert('sess-1', { uid: 'uid-1', accountId: 'acct-1' }, 3600);
      await deviceCodes.upsert('dc-1', { userCode: 'WDJB-MJHT' }, 600);

      const error = await rejection(sessions.upsert('sess-2', { uid: 'uid-1', accountId: 'acct-2' }, 3600));
      expect(error).toBeInstanceOf(GatehouseError);
      expect((error as GatehouseError).code).toBe('conflict');
      expect(((await rejection(deviceCodes.upsert('dc-2', { userCode: 'WDJB-MJHT' }, 600))) as GatehouseError).code).toBe('conflict');

      expect(await sessions.find('sess-2')).toBeUndefined();
      expect(await sessions.findByUid('uid-1')).toEqual({ uid: 'uid-1', accountId: 'acct-1' });
      // Sessions without a uid are not indexed, so they do not collide with each other.
      await sessions.upsert('no-uid-1', { accountId: 'acct-1' }, 60);
      await sessions.upsert('no-uid-2', { accountId: 'acct-1' }, 60);
    });

    it('expires records on the injected clock and sweeping deletes the documents', async () => {
      // In the future, so the server's TTL monitor (real time) leaves the documents alone.
      let now = Date.now() + 365 * 24 * 3600_000;
      const store = await open(() => now);
      await store.migrate();
      const tokens = store.oidc.model('AccessToken');
      await tokens.upsert('at-1', { grantId: 'grant-1' }, 60);
      await tokens.upsert('at-forever', { grantId: 'grant-1' });

      now += 59_999;
      expect(await tokens.find('at-1')).toEqual({ grantId: 'grant-1' });
      expect(await store.oidc.sweepExpired()).toBe(0);

      now += 1;
      expect(await tokens.find('at-1')).toBeUndefined();
      expect(await store.oidc.sweepExpired()).toBe(1);
      const ids = (await rawDatabase(name).collection<RawDocument>('oidc_AccessToken').find().toArray()).map((document) => document._id);
      expect(ids).toEqual(['at-forever']);
    });

    it('ping answers while open and reports store_unavailable once closed', async () => {
      const store = await open();
      await expect(store.ping()).resolves.toBeUndefined();
      expect(store.kind).toBe('mongodb');

      await store.close();
      await store.close();

      const error = await rejection(store.ping());
      expect((error as GatehouseError).code).toBe('store_unavailable');
      expect(((await rejection(store.accounts.list())) as GatehouseError).code).toBe('store_unavailable');
    });

    it('openStore opens a mongodb:// DATABASE_URL', async () => {
      const store = await openStore(mongodbUrl(name));
      toClose.push(store);
      expect(store.kind).toBe('mongodb');
      await expect(store.ping()).resolves.toBeUndefined();
    });

    it('refuses to start in production while indexes are missing, and starts after db migrate', async () => {
      const env = {
        NODE_ENV: 'production', PORT: '0', ISSUER: 'http://localhost:3000', SMTP_URL: 'smtp://127.0.0.1:2525', DATABASE_URL: mongodbUrl(name),
        COOKIE_KEYS: 'k'.repeat(32), KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
      };
      const refused = await rejection(startServer(loadConfig(env), createLogger({ silent: true })));
      expect((refused as GatehouseError).code).toBe('migration_required');
      expect((refused as GatehouseError).message).toMatch(/oidc_Session\.payload\.uid.*gatehouse db migrate/);

      const store = await open();
      await store.migrate();
      const running = await startServer(loadConfig(env), createLogger({ silent: true }));
      expect(await (await fetch(`http://localhost:${running.port}/readyz`)).json()).toEqual({ status: 'ready', store: 'mongodb' });
      await running.close();
    });
  });
});

describe('MongoDB store without a server', () => {
  const unreachable = 'mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=500';

  it.each([
    ['openMongoStore', () => openMongoStore(unreachable)],
    ['openStore', () => openStore(unreachable)],
  ])('%s fails with store_unavailable in one line naming the host when MongoDB is unreachable', async (_name, openIt) => {
    const error = await rejection(openIt());

    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).code).toBe('store_unavailable');
    expect((error as GatehouseError).message).toContain('127.0.0.1:1');
    expect((error as GatehouseError).message).not.toContain('\n');
  });

  it('keeps credentials out of the message', async () => {
    const error = await rejection(openMongoStore('mongodb://gatehouse:s3cret@127.0.0.1:1/x?serverSelectionTimeoutMS=200'));

    expect((error as GatehouseError).code).toBe('store_unavailable');
    expect((error as GatehouseError).message).not.toContain('s3cret');
  });

  it.each(['mongodb://127.0.0.1:1/x?maxPoolSize=lots', 'mongodb://'])('rejects the malformed URL %s with invalid_config', async (url) => {
    const error = await rejection(openMongoStore(url));

    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).code).toBe('invalid_config');
  });

  it('describes the hosts of a URL without credentials', () => {
    expect(describeHosts('mongodb://user:p%40ss@db1:27017,db2:27018/gatehouse?replicaSet=rs0')).toBe('db1:27017,db2:27018');
    expect(describeHosts('mongodb+srv://cluster0.example.net/gatehouse')).toBe('cluster0.example.net');
  });

  it('escapes keys reversibly and without collisions', () => {
    const value = {
      'a.b': 1,
      'a%2Eb': 2,
      $set: 3,
      'x$': 4,
      plain: { 'deep.er': [{ 'in.array': true }, 'text', null], when: new Date(0) },
      dropped: undefined,
    };

    const escaped = escapeKeys(value) as Record<string, unknown>;

    expect(Object.keys(escaped)).toEqual(['a%2Eb', 'a%252Eb', '%24set', 'x%24', 'plain']);
    expect(escaped.plain).toEqual({ 'deep%2Eer': [{ 'in%2Earray': true }, 'text', null], when: new Date(0) });
    const { dropped: _dropped, ...kept } = value;
    expect(unescapeKeys(escaped)).toEqual(kept);
  });
});
