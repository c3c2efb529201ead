import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { GatehouseError } from '../../src/errors.ts';
import type { ErrorCode } from '../../src/errors.ts';
import type {
  ApiRecord, AuditEvent, ClientRecord, ConnectionRecord, LinkedIdentityRecord, MailMessage, NewAccount, NewLogoutDelivery, OneTimeCodeRecord, PasskeyRecord, SessionActivity, SigningKeyRecord, Store,
  NewWebhookDelivery, WebhookRecord,
  OneTimeCodePurpose,
} from '../../src/store/types.ts';

/** What a backend hands the contract: a fresh, empty store, a way to open it again, and clean-up. */
export type OpenedStore = {
  store: Store;
  /** Opens the same data again (called after `store.close()`). */
  reopen(): Promise<Store>;
  /**
   * Opens another database, new and empty, the way production opens one: nothing is migrated
   * until `migrate()`. The same `name` opens the same database again, as a second process would.
   */
  openUnmigrated(name: string): Promise<Store>;
  /** Closes whatever is still open and removes the data. */
  cleanup(): Promise<void>;
  /**
   * Lets `ms` milliseconds pass for the store: a backend that reads an injected clock moves it; one
   * whose server keeps its own time (MongoDB's) leaves this out, and the contract sleeps.
   */
  passTime?(ms: number): Promise<void>;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A little more than one second: records upserted with expiresIn 1 are expired afterwards. */
const pastOneSecond = 1_100;

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

async function expectGatehouseError(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(GatehouseError);
  expect((error as GatehouseError).code).toBe(code);
}

function newAccount(overrides: Partial<NewAccount> = {}): NewAccount {
  return {
    id: 'acct-alice',
    email: 'Alice@Example.COM',
    passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g',
    emailVerified: true,
    profile: { name: 'Alice Liddell', given_name: 'Alice', locale: 'en-GB' },
    roles: ['admin', 'billing'],
    disabled: false,
    ...overrides,
  };
}

function newClient(clientId: string, overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    metadata: {
      client_id: clientId,
      client_name: `App ${clientId}`,
      redirect_uris: ['https://app.example.test/callback'],
      post_logout_redirect_uris: ['https://app.example.test/logged-out'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'openid email profile',
      first_party: true,
    },
    encryptedSecret: `v1.keyid.iv.tag.secret-of-${clientId}`,
    createdAt: new Date('2024-05-01T10:00:00.123Z'),
    dynamic: false,
    lastUsedAt: null,
    ...overrides,
  };
}

/** A client that registered itself (RFC 7591): public, with the provider's registration metadata. */
function newDynamicClient(clientId: string, overrides: Partial<ClientRecord> = {}): ClientRecord {
  return {
    metadata: {
      client_id: clientId,
      client_name: `Agent ${clientId}`,
      redirect_uris: ['http://127.0.0.1:33418/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: 'mcp:tools',
      client_id_issued_at: 1_714_557_600,
    },
    createdAt: new Date('2024-05-01T10:00:00.123Z'),
    dynamic: true,
    lastUsedAt: null,
    ...overrides,
  };
}

function newApi(identifier: string, overrides: Partial<ApiRecord> = {}): ApiRecord {
  return {
    identifier,
    name: `API ${identifier}`,
    scopes: ['orders:read', 'orders:write'],
    signingAlg: 'RS256',
    accessTokenTtl: 900,
    createdAt: new Date('2024-05-01T10:00:00.456Z'),
    ...overrides,
  };
}

function newSigningKey(kid: string, overrides: Partial<SigningKeyRecord> = {}): SigningKeyRecord {
  return {
    kid,
    alg: 'ES256',
    state: 'current',
    publicJwk: { kty: 'EC', crv: 'P-256', x: `x-${kid}`, y: `y-${kid}`, kid, alg: 'ES256', use: 'sig' },
    encryptedPrivateJwk: `v1.keyid.iv.tag.private-${kid}`,
    createdAt: new Date('2024-05-01T10:00:00.789Z'),
    ...overrides,
  };
}

/**
 * The behaviour every Store backend must show. Backend-neutral: it only uses the Store interface,
 * so the SQLite and (later) MongoDB backends run exactly the same suite.
 */
export function describeStoreContract(name: string, openStore: () => Promise<OpenedStore>): void {
  describe(`Store contract: ${name}`, () => {
    let opened: OpenedStore;
    let store: Store;

    beforeEach(async () => {
      opened = await openStore();
      store = opened.store;
    });

    afterEach(async () => {
      await opened.cleanup();
    });

    describe('oidc models', () => {
      it('finds an upserted record by id with its payload intact', async () => {
        const tokens = store.oidc.model('AccessToken');
        const payload = { jti: 'at-1', kind: 'AccessToken', grantId: 'grant-1', accountId: 'acct-1', scope: 'openid email', nested: { claims: ['email'] } };
        await tokens.upsert('at-1', payload, 3600);

        expect(await tokens.find('at-1')).toEqual(payload);
        expect(await tokens.find('at-unknown')).toBeUndefined();
      });

      it('replaces the payload when the same id is upserted again', async () => {
        const sessions = store.oidc.model('Session');
        await sessions.upsert('sess-1', { uid: 'uid-1', accountId: 'acct-1', loginTs: 1 }, 3600);
        await sessions.upsert('sess-1', { uid: 'uid-1', accountId: 'acct-1', loginTs: 2 }, 3600);

        expect(await sessions.find('sess-1')).toEqual({ uid: 'uid-1', accountId: 'acct-1', loginTs: 2 });
      });

      it('consume marks the record with the consumption time in seconds and keeps the rest of the payload', async () => {
        const codes = store.oidc.model('AuthorizationCode');
        await codes.upsert('code-1', { grantId: 'grant-1', accountId: 'acct-1', redirectUri: 'https://app.example.test/cb' }, 60);
        expect((await codes.find('code-1'))?.consumed).toBeUndefined();

        const before = Math.floor(Date.now() / 1000);
        await codes.consume('code-1');
        const after = Math.ceil(Date.now() / 1000);

        const consumed = await codes.find('code-1');
        expect(consumed).toMatchObject({ grantId: 'grant-1', accountId: 'acct-1', redirectUri: 'https://app.example.test/cb' });
        expect(typeof consumed?.consumed).toBe('number');
        // oidc-provider works in epoch seconds; a millisecond value would be far outside this window.
        expect(consumed?.consumed as number).toBeGreaterThanOrEqual(before);
        expect(consumed?.consumed as number).toBeLessThanOrEqual(after);
      });

      it('destroy removes the record, and destroying an unknown id is harmless', async () => {
        const tokens = store.oidc.model('RefreshToken');
        await tokens.upsert('rt-1', { grantId: 'grant-1' }, 3600);
        await tokens.upsert('rt-2', { grantId: 'grant-1' }, 3600);

        await tokens.destroy('rt-1');
        await tokens.destroy('rt-never-existed');

        expect(await tokens.find('rt-1')).toBeUndefined();
        expect(await tokens.find('rt-2')).toEqual({ grantId: 'grant-1' });
      });

      it('hides a record once its expiresIn has passed, while a record without expiresIn stays', async () => {
        const tokens = store.oidc.model('AccessToken');
        await tokens.upsert('short-lived', { grantId: 'grant-1' }, 1);
        await tokens.upsert('no-expiry', { grantId: 'grant-1' });
        await tokens.upsert('long-lived', { grantId: 'grant-1' }, 3600);
        expect(await tokens.find('short-lived')).toEqual({ grantId: 'grant-1' });

        await (opened.passTime ?? sleep)(pastOneSecond);

        expect(await tokens.find('short-lived')).toBeUndefined();
        expect(await tokens.find('no-expiry')).toEqual({ grantId: 'grant-1' });
        expect(await tokens.find('long-lived')).toEqual({ grantId: 'grant-1' });
      });

      it('sweepExpired removes exactly the expired records and reports how many', async () => {
        const tokens = store.oidc.model('AccessToken');
        const sessions = store.oidc.model('Session');
        await tokens.upsert('expiring-1', { grantId: 'grant-1' }, 1);
        await tokens.upsert('expiring-2', { grantId: 'grant-2' }, 1);
        await sessions.upsert('expiring-session', { uid: 'uid-expiring', accountId: 'acct-1' }, 1);
        await tokens.upsert('no-expiry', { grantId: 'grant-3' });
        await sessions.upsert('live-session', { uid: 'uid-live', accountId: 'acct-1' }, 3600);

        await (opened.passTime ?? sleep)(pastOneSecond);

        // A backend that also expires records by itself (MongoDB's TTL monitor) may have removed
        // some already; the SQLite suite checks the exact count on an injected clock.
        const removed = await store.oidc.sweepExpired();
        expect(removed).toBeGreaterThanOrEqual(store.kind === 'sqlite' ? 3 : 0);
        expect(removed).toBeLessThanOrEqual(3);
        // Nothing left to sweep: the rows are gone, not merely hidden.
        expect(await store.oidc.sweepExpired()).toBe(0);
        expect(await tokens.find('no-expiry')).toEqual({ grantId: 'grant-3' });
        expect(await sessions.findByUid('uid-live')).toEqual({ uid: 'uid-live', accountId: 'acct-1' });
      });

      it('sweepExpired returns 0 and removes nothing when no record has expired', async () => {
        const tokens = store.oidc.model('AccessToken');
        await tokens.upsert('live', { grantId: 'grant-1' }, 3600);
        await tokens.upsert('forever', { grantId: 'grant-1' });

        expect(await store.oidc.sweepExpired()).toBe(0);
        expect(await tokens.find('live')).toBeDefined();
        expect(await tokens.find('forever')).toBeDefined();
      });

      it('findByUid finds a session by its uid', async () => {
        const sessions = store.oidc.model('Session');
        await sessions.upsert('sess-a', { uid: 'uid-a', accountId: 'acct-a' }, 3600);
        await sessions.upsert('sess-b', { uid: 'uid-b', accountId: 'acct-b' }, 3600);

        expect(await sessions.findByUid('uid-a')).toEqual({ uid: 'uid-a', accountId: 'acct-a' });
        expect(await sessions.findByUid('uid-b')).toEqual({ uid: 'uid-b', accountId: 'acct-b' });
        expect(await sessions.findByUid('uid-unknown')).toBeUndefined();

        await sessions.destroy('sess-a');
        expect(await sessions.findByUid('uid-a')).toBeUndefined();
      });

      it('findByUid follows a session whose uid changed on re-upsert', async () => {
        const sessions = store.oidc.model('Session');
        await sessions.upsert('sess-1', { uid: 'uid-old', accountId: 'acct-1' }, 3600);
        await sessions.upsert('sess-1', { uid: 'uid-new', accountId: 'acct-1' }, 3600);

        expect(await sessions.findByUid('uid-new')).toEqual({ uid: 'uid-new', accountId: 'acct-1' });
        expect(await sessions.findByUid('uid-old')).toBeUndefined();
      });

      it('findByUserCode finds a device code by its user code', async () => {
        const deviceCodes = store.oidc.model('DeviceCode');
        await deviceCodes.upsert('dc-1', { userCode: 'WDJB-MJHT', clientId: 'tv-app' }, 600);
        await deviceCodes.upsert('dc-2', { userCode: 'QRST-VWXZ', clientId: 'tv-app' }, 600);

        expect(await deviceCodes.findByUserCode('WDJB-MJHT')).toEqual({ userCode: 'WDJB-MJHT', clientId: 'tv-app' });
        expect(await deviceCodes.findByUserCode('QRST-VWXZ')).toEqual({ userCode: 'QRST-VWXZ', clientId: 'tv-app' });
        expect(await deviceCodes.findByUserCode('NOPE-NOPE')).toBeUndefined();
      });

      it("revokeByGrantId removes only that grant's records of that model", async () => {
        const accessTokens = store.oidc.model('AccessToken');
        const refreshTokens = store.oidc.model('RefreshToken');
        await accessTokens.upsert('at-g1-a', { grantId: 'grant-1' }, 3600);
        await accessTokens.upsert('at-g1-b', { grantId: 'grant-1' }, 3600);
        await accessTokens.upsert('at-g2', { grantId: 'grant-2' }, 3600);
        await accessTokens.upsert('at-no-grant', { clientId: 'machine' }, 3600);
        await refreshTokens.upsert('rt-g1', { grantId: 'grant-1' }, 3600);

        await accessTokens.revokeByGrantId('grant-1');

        expect(await accessTokens.find('at-g1-a')).toBeUndefined();
        expect(await accessTokens.find('at-g1-b')).toBeUndefined();
        expect(await accessTokens.find('at-g2')).toEqual({ grantId: 'grant-2' });
        expect(await accessTokens.find('at-no-grant')).toEqual({ clientId: 'machine' });
        // Another model's records of the same grant are that model's business (the provider revokes per model).
        expect(await refreshTokens.find('rt-g1')).toEqual({ grantId: 'grant-1' });
      });

      it("revokeByAccountId removes the account's sessions, grants and tokens across models and counts them", async () => {
        const sessions = store.oidc.model('Session');
        const grants = store.oidc.model('Grant');
        const accessTokens = store.oidc.model('AccessToken');
        const refreshTokens = store.oidc.model('RefreshToken');
        await sessions.upsert('sess-alice', { uid: 'uid-alice', accountId: 'acct-alice' }, 3600);
        await grants.upsert('grant-alice', { accountId: 'acct-alice', clientId: 'web' }, 3600);
        await accessTokens.upsert('at-alice', { accountId: 'acct-alice', grantId: 'grant-alice' }, 3600);
        await refreshTokens.upsert('rt-alice', { accountId: 'acct-alice', grantId: 'grant-alice' });
        await sessions.upsert('sess-bob', { uid: 'uid-bob', accountId: 'acct-bob' }, 3600);
        await accessTokens.upsert('at-bob', { accountId: 'acct-bob', grantId: 'grant-bob' }, 3600);
        await accessTokens.upsert('at-machine', { clientId: 'machine' }, 3600);

        expect(await store.oidc.revokeByAccountId('acct-alice')).toBe(4);

        expect(await sessions.find('sess-alice')).toBeUndefined();
        expect(await sessions.findByUid('uid-alice')).toBeUndefined();
        expect(await grants.find('grant-alice')).toBeUndefined();
        expect(await accessTokens.find('at-alice')).toBeUndefined();
        expect(await refreshTokens.find('rt-alice')).toBeUndefined();
        expect(await sessions.find('sess-bob')).toEqual({ uid: 'uid-bob', accountId: 'acct-bob' });
        expect(await accessTokens.find('at-bob')).toEqual({ accountId: 'acct-bob', grantId: 'grant-bob' });
        expect(await accessTokens.find('at-machine')).toEqual({ clientId: 'machine' });
        expect(await store.oidc.revokeByAccountId('acct-alice')).toBe(0);
      });

      it('listModel lists the unexpired records of one model with their ids and expiry, up to the limit', async () => {
        const tokens = store.oidc.model('InitialAccessToken');
        await tokens.upsert('iat-1', { jti: 'iat-1', kind: 'InitialAccessToken', iat: 1 }, 3600);
        await tokens.upsert('iat-2', { jti: 'iat-2', kind: 'InitialAccessToken', iat: 2 });
        await tokens.upsert('iat-soon', { jti: 'iat-soon', kind: 'InitialAccessToken', iat: 3 }, 1);
        await store.oidc.model('AccessToken').upsert('at-1', { jti: 'at-1' }, 3600);

        const listed = await store.oidc.listModel('InitialAccessToken', 10);
        expect(listed.map((record) => record.id).sort()).toEqual(['iat-1', 'iat-2', 'iat-soon']);
        expect(listed.find((record) => record.id === 'iat-2')).toEqual({ id: 'iat-2', payload: { jti: 'iat-2', kind: 'InitialAccessToken', iat: 2 }, expiresAt: null });
        expect(listed.find((record) => record.id === 'iat-1')?.expiresAt).toBeInstanceOf(Date);
        expect(await store.oidc.listModel('InitialAccessToken', 2)).toHaveLength(2);
        expect(await store.oidc.listModel('NeverStored', 10)).toEqual([]);

        await (opened.passTime ?? sleep)(pastOneSecond);
        expect((await store.oidc.listModel('InitialAccessToken', 10)).map((record) => record.id).sort()).toEqual(['iat-1', 'iat-2']);
      });

      it("listByAccountId lists an account's unexpired records of one model", async () => {
        const sessions = store.oidc.model('Session');
        await sessions.upsert('sess-1', { uid: 'uid-1', accountId: 'acct-alice', authorizations: { 'app.example': { sid: 'sid-1', grantId: 'grant-1' } } }, 3600);
        await sessions.upsert('sess-2', { uid: 'uid-2', accountId: 'acct-alice' }, 1);
        await sessions.upsert('sess-bob', { uid: 'uid-3', accountId: 'acct-bob' }, 3600);
        await store.oidc.model('Grant').upsert('grant-1', { accountId: 'acct-alice' }, 3600);

        const listed = await store.oidc.listByAccountId('Session', 'acct-alice', 10);
        expect(listed.map((record) => record.id).sort()).toEqual(['sess-1', 'sess-2']);
        expect(listed.find((record) => record.id === 'sess-1')?.payload).toEqual({ uid: 'uid-1', accountId: 'acct-alice', authorizations: { 'app.example': { sid: 'sid-1', grantId: 'grant-1' } } });
        expect(await store.oidc.listByAccountId('Session', 'acct-alice', 1)).toHaveLength(1);
        expect(await store.oidc.listByAccountId('Session', 'acct-nobody', 10)).toEqual([]);

        await (opened.passTime ?? sleep)(pastOneSecond);
        expect((await store.oidc.listByAccountId('Session', 'acct-alice', 10)).map((record) => record.id)).toEqual(['sess-1']);
      });

      it("revokeInteractions removes only the account's pending interactions", async () => {
        const interactions = store.oidc.model('Interaction');
        const sessions = store.oidc.model('Session');
        await interactions.upsert('int-alice', { accountId: 'acct-alice', result: { registration: { accountId: 'acct-alice' } } }, 3600);
        await interactions.upsert('int-bob', { accountId: 'acct-bob' }, 3600);
        await interactions.upsert('int-nobody', { params: {} }, 3600);
        await sessions.upsert('sess-alice', { uid: 'uid-alice-2', accountId: 'acct-alice' }, 3600);

        expect(await store.oidc.revokeInteractions('acct-alice')).toBe(1);

        expect(await interactions.find('int-alice')).toBeUndefined();
        expect(await interactions.find('int-bob')).toEqual({ accountId: 'acct-bob' });
        expect(await interactions.find('int-nobody')).toEqual({ params: {} });
        expect(await sessions.find('sess-alice')).toEqual({ uid: 'uid-alice-2', accountId: 'acct-alice' });
        expect(await store.oidc.revokeInteractions('acct-alice')).toBe(0);
      });

      it('keeps models apart: the same id in two models are two records', async () => {
        const accessTokens = store.oidc.model('AccessToken');
        const refreshTokens = store.oidc.model('RefreshToken');
        await accessTokens.upsert('shared-id', { grantId: 'grant-1', kind: 'AccessToken' }, 3600);
        await refreshTokens.upsert('shared-id', { grantId: 'grant-1', kind: 'RefreshToken' }, 3600);

        expect(await accessTokens.find('shared-id')).toEqual({ grantId: 'grant-1', kind: 'AccessToken' });
        expect(await refreshTokens.find('shared-id')).toEqual({ grantId: 'grant-1', kind: 'RefreshToken' });

        await refreshTokens.consume('shared-id');
        expect((await accessTokens.find('shared-id'))?.consumed).toBeUndefined();

        await accessTokens.destroy('shared-id');
        expect(await accessTokens.find('shared-id')).toBeUndefined();
        expect(await refreshTokens.find('shared-id')).toMatchObject({ kind: 'RefreshToken' });
      });

      it('looks up uids and user codes only within the model asked', async () => {
        await store.oidc.model('Session').upsert('s-1', { uid: 'same-uid', accountId: 'acct-1' }, 3600);
        await store.oidc.model('DeviceCode').upsert('dc-1', { userCode: 'ABCD-EFGH' }, 600);

        expect(await store.oidc.model('Interaction').findByUid('same-uid')).toBeUndefined();
        expect(await store.oidc.model('Session').findByUserCode('ABCD-EFGH')).toBeUndefined();
      });
    });

    describe('accounts', () => {
      it('creates an account and returns it with timestamps', async () => {
        const before = Date.now();
        const created = await store.accounts.create(newAccount());

        expect(created).toMatchObject(newAccount());
        expect(created.createdAt).toBeInstanceOf(Date);
        expect(created.updatedAt).toBeInstanceOf(Date);
        expect(created.createdAt.getTime()).toBeGreaterThanOrEqual(before - 1);
        expect(created.createdAt.getTime()).toBeLessThanOrEqual(Date.now() + 1);
        expect(await store.accounts.findById('acct-alice')).toEqual(created);
        expect(await store.accounts.findById('acct-unknown')).toBeUndefined();
      });

      it('keeps a null password hash, empty profile and no roles as they are', async () => {
        await store.accounts.create(newAccount({ id: 'acct-bare', email: 'bare@example.com', passwordHash: null, emailVerified: false, profile: {}, roles: [], disabled: true }));

        expect(await store.accounts.findById('acct-bare')).toMatchObject({
          passwordHash: null,
          emailVerified: false,
          profile: {},
          roles: [],
          disabled: true,
        });
      });

      it('finds an account by email case-insensitively and keeps the email as it was written', async () => {
        await store.accounts.create(newAccount({ email: 'Alice@Example.COM' }));

        for (const spelling of ['alice@example.com', 'ALICE@EXAMPLE.COM', 'Alice@Example.COM', 'aLiCe@eXaMpLe.CoM']) {
          const found = await store.accounts.findByEmail(spelling);
          expect(found?.id, spelling).toBe('acct-alice');
          expect(found?.email, spelling).toBe('Alice@Example.COM');
        }
        expect(await store.accounts.findByEmail('bob@example.com')).toBeUndefined();
      });

      it('rejects a second account with the same email in another case as a conflict', async () => {
        await store.accounts.create(newAccount({ id: 'acct-1', email: 'Alice@Example.COM' }));

        await expectGatehouseError(store.accounts.create(newAccount({ id: 'acct-2', email: 'alice@example.com' })), 'conflict');
        await expectGatehouseError(store.accounts.create(newAccount({ id: 'acct-3', email: 'ALICE@EXAMPLE.COM' })), 'conflict');

        expect(await store.accounts.findById('acct-2')).toBeUndefined();
        expect(await store.accounts.findById('acct-3')).toBeUndefined();
        expect((await store.accounts.list()).map((account) => account.id)).toEqual(['acct-1']);
      });

      it('update applies the patch, keeps the other fields and moves updatedAt', async () => {
        const created = await store.accounts.create(newAccount());
        await sleep(5);

        const updated = await store.accounts.update('acct-alice', { roles: ['viewer'], disabled: true, profile: { name: 'Alice L.' } });

        expect(updated).toMatchObject({
          id: 'acct-alice',
          email: 'Alice@Example.COM',
          passwordHash: created.passwordHash,
          emailVerified: true,
          profile: { name: 'Alice L.' },
          roles: ['viewer'],
          disabled: true,
        });
        expect(updated?.createdAt.getTime()).toBe(created.createdAt.getTime());
        expect(updated?.updatedAt.getTime()).toBeGreaterThan(created.updatedAt.getTime());
        expect(await store.accounts.findById('acct-alice')).toEqual(updated);
      });

      it('update can clear the password hash and returns undefined for an unknown account', async () => {
        await store.accounts.create(newAccount());

        expect((await store.accounts.update('acct-alice', { passwordHash: null }))?.passwordHash).toBeNull();
        expect(await store.accounts.update('acct-unknown', { disabled: true })).toBeUndefined();
        expect(await store.accounts.findById('acct-unknown')).toBeUndefined();
      });

      it('update ignores undefined fields in the patch', async () => {
        await store.accounts.create(newAccount());
        const updated = await store.accounts.update('acct-alice', { passwordHash: undefined, disabled: true });
        expect(updated).toMatchObject({ disabled: true, passwordHash: newAccount().passwordHash });
      });

      it('keeps the full standard profile: an address object, a boolean and text claims', async () => {
        const profile = {
          name: 'Alice Liddell', given_name: 'Alice', family_name: 'Liddell', middle_name: 'Pleasance', nickname: 'Al', preferred_username: 'alice',
          profile: 'https://alice.example/', picture: 'https://alice.example/me.png', website: 'https://alice.example/blog', gender: 'female',
          birthdate: '1852-05-04', zoneinfo: 'Europe/London', locale: 'en-GB', phone_number: '+441865270000', phone_number_verified: true,
          address: { formatted: '1 Rabbit Hole\nOxford OX1 1DP\nUK', street_address: '1 Rabbit Hole', locality: 'Oxford', region: 'Oxfordshire', postal_code: 'OX1 1DP', country: 'UK' },
        };
        await store.accounts.create(newAccount({ profile }));
        expect((await store.accounts.findById('acct-alice'))?.profile).toEqual(profile);
        const { address: _address, phone_number_verified: _verified, ...fewer } = profile;
        expect((await store.accounts.update('acct-alice', { profile: fewer }))?.profile).toEqual(fewer);
        expect((await store.accounts.findByEmail('alice@example.com'))?.profile).toEqual(fewer);
      });

      it('sets profileUpdatedAt at creation and moves it only when the profile or email_verified changes value', async () => {
        const created = await store.accounts.create(newAccount({ emailVerified: false }));
        expect(created.profileUpdatedAt).toBeInstanceOf(Date);
        expect(created.profileUpdatedAt.getTime()).toBe(created.createdAt.getTime());
        const pass = () => (opened.passTime ?? sleep)(5);

        // A password, roles, disabling, the same profile (keys in another order) or the same
        // email_verified: updatedAt moves, profileUpdatedAt does not.
        await pass();
        const unchanged = await store.accounts.update('acct-alice', {
          passwordHash: 'h-2', roles: ['viewer'], disabled: true, emailVerified: false,
          profile: { locale: 'en-GB', given_name: 'Alice', name: 'Alice Liddell' },
        });
        expect(unchanged?.updatedAt.getTime()).toBeGreaterThan(created.updatedAt.getTime());
        expect(unchanged?.profileUpdatedAt.getTime()).toBe(created.profileUpdatedAt.getTime());
        expect((await store.accounts.findById('acct-alice'))?.profileUpdatedAt.getTime()).toBe(created.profileUpdatedAt.getTime());

        await pass();
        const renamed = await store.accounts.update('acct-alice', { profile: { name: 'Alice L.', given_name: 'Alice', locale: 'en-GB' } });
        expect(renamed?.profileUpdatedAt.getTime()).toBeGreaterThan(created.profileUpdatedAt.getTime());
        expect(renamed?.profileUpdatedAt.getTime()).toBe(renamed?.updatedAt.getTime());

        await pass();
        const verified = await store.accounts.update('acct-alice', { emailVerified: true }, { passwordHash: 'h-2' });
        expect(verified?.profileUpdatedAt.getTime()).toBeGreaterThan(renamed!.profileUpdatedAt.getTime());

        // A compare-and-set that does not match changes nothing, profileUpdatedAt included.
        await pass();
        expect(await store.accounts.update('acct-alice', { profile: {} }, { passwordHash: 'not-it' })).toBeUndefined();
        expect(await store.accounts.findById('acct-alice')).toEqual(verified);
      });

      it('update with expected values is a compare-and-set', async () => {
        await store.accounts.create(newAccount());
        const original = newAccount().passwordHash;

        expect(await store.accounts.update('acct-alice', { passwordHash: 'h-new' }, { passwordHash: 'not-the-current-hash' })).toBeUndefined();
        expect((await store.accounts.findById('acct-alice'))?.passwordHash).toBe(original);

        expect((await store.accounts.update('acct-alice', { passwordHash: 'h-new' }, { passwordHash: original, disabled: false }))?.passwordHash).toBe('h-new');
        expect(await store.accounts.update('acct-unknown', { disabled: true }, { disabled: false })).toBeUndefined();
      });

      it('lets exactly one of many concurrent compare-and-set updates through', async () => {
        await store.accounts.create(newAccount());
        const original = newAccount().passwordHash;
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, attempt) => store.accounts.update('acct-alice', { passwordHash: `h-${attempt}` }, { passwordHash: original })),
        );
        const winners = results.filter((result) => result !== undefined);
        expect(winners).toHaveLength(1);
        expect((await store.accounts.findById('acct-alice'))?.passwordHash).toBe(winners[0]!.passwordHash);
      });

      it('lists accounts oldest first', async () => {
        // Ids deliberately not in creation order, so an id sort would show.
        for (const [id, email] of [['acct-c', 'carol@example.com'], ['acct-a', 'alice@example.com'], ['acct-b', 'bob@example.com']] as const) {
          await store.accounts.create(newAccount({ id, email }));
          await sleep(5);
        }

        const listed = await store.accounts.list();
        expect(listed.map((account) => account.id)).toEqual(['acct-c', 'acct-a', 'acct-b']);
        expect(listed.map((account) => account.email)).toEqual(['carol@example.com', 'alice@example.com', 'bob@example.com']);
      });

      it('lists nothing when there are no accounts', async () => {
        expect(await store.accounts.list()).toEqual([]);
      });
    });

    describe('clients', () => {
      it('creates and finds a confidential client with its metadata, secret and creation time', async () => {
        const client = newClient('web-app');
        await store.clients.create(client);

        expect(await store.clients.find('web-app')).toEqual(client);
        expect(await store.clients.find('unknown-app')).toBeUndefined();
      });

      it('stores a public client without a secret', async () => {
        const { encryptedSecret: _omitted, ...rest } = newClient('spa');
        await store.clients.create({ ...rest, metadata: { ...rest.metadata, token_endpoint_auth_method: 'none', pkce_exempt: false } });

        const found = await store.clients.find('spa');
        expect(found?.encryptedSecret).toBeUndefined();
        expect(found?.metadata.token_endpoint_auth_method).toBe('none');
        expect(found?.metadata.pkce_exempt).toBe(false);
      });

      it('lists clients oldest first', async () => {
        await store.clients.create(newClient('client-b', { createdAt: new Date('2024-01-02T00:00:00Z') }));
        await store.clients.create(newClient('client-a', { createdAt: new Date('2024-01-03T00:00:00Z') }));
        await store.clients.create(newClient('client-c', { createdAt: new Date('2024-01-01T00:00:00Z') }));

        expect((await store.clients.list()).map((client) => client.metadata.client_id)).toEqual(['client-c', 'client-b', 'client-a']);
      });

      it('rejects a duplicate client id as a conflict and keeps the first', async () => {
        await store.clients.create(newClient('web-app'));

        await expectGatehouseError(store.clients.create(newClient('web-app', { encryptedSecret: 'v1.other' })), 'conflict');
        expect((await store.clients.find('web-app'))?.encryptedSecret).toBe(newClient('web-app').encryptedSecret);
        expect(await store.clients.list()).toHaveLength(1);
      });

      it('remove deletes a client and reports whether it existed', async () => {
        await store.clients.create(newClient('web-app'));
        await store.clients.create(newClient('other-app'));

        expect(await store.clients.remove('web-app')).toBe(true);
        expect(await store.clients.find('web-app')).toBeUndefined();
        expect(await store.clients.remove('web-app')).toBe(false);
        expect(await store.clients.remove('never-existed')).toBe(false);
        expect((await store.clients.list()).map((client) => client.metadata.client_id)).toEqual(['other-app']);
      });

      it('creates an operator\'s client as not dynamic and never used when the record does not say', async () => {
        const { dynamic: _dynamic, lastUsedAt: _lastUsedAt, ...bare } = newClient('web-app');
        await store.clients.create(bare);

        expect(await store.clients.find('web-app')).toMatchObject({ dynamic: false, lastUsedAt: null });
      });

      it('save inserts a dynamic client, then replaces it whole (RFC 7592 update)', async () => {
        const client = newDynamicClient('agent-1');
        await store.clients.save(client);
        expect(await store.clients.find('agent-1')).toEqual(client);

        const updated = newDynamicClient('agent-1', {
          metadata: { ...client.metadata, client_name: 'Renamed agent', redirect_uris: ['https://agent.example/cb'], token_endpoint_auth_method: 'client_secret_basic' },
          encryptedSecret: 'v1.keyid.iv.tag.new-secret',
          lastUsedAt: new Date('2024-05-02T10:00:00.000Z'),
        });
        await store.clients.save(updated);
        expect(await store.clients.find('agent-1')).toEqual(updated);
        expect(await store.clients.list()).toHaveLength(1);

        // Back to a public client: the secret goes.
        const { encryptedSecret: _secret, ...publicAgain } = updated;
        await store.clients.save(publicAgain);
        expect((await store.clients.find('agent-1'))?.encryptedSecret).toBeUndefined();
      });

      it('save never replaces an operator\'s client (a conflict) and refuses a record not marked dynamic', async () => {
        const operators = newClient('web-app');
        await store.clients.create(operators);

        await expectGatehouseError(store.clients.save(newDynamicClient('web-app')), 'conflict');
        expect(await store.clients.find('web-app')).toEqual(operators);

        await expectGatehouseError(store.clients.save(newDynamicClient('agent-1', { dynamic: false })), 'internal');
        expect(await store.clients.find('agent-1')).toBeUndefined();
      });

      it('replace changes metadata and secrets, keeps creation time and last use, and removes what it is not given', async () => {
        const client = newClient('web-app');
        await store.clients.create(client);
        await store.clients.touch('web-app', new Date('2024-06-01T12:00:00.000Z'));
        const expiresAt = new Date('2024-07-01T00:00:00.000Z');
        const metadata = { ...client.metadata, client_name: 'Renamed', logo_uri: 'https://app.example/logo.png' };

        expect(await store.clients.replace('web-app', { metadata, encryptedSecret: 'v1.new', previousEncryptedSecret: client.encryptedSecret!, previousSecretExpiresAt: expiresAt })).toBe(true);
        expect(await store.clients.find('web-app')).toEqual({
          ...client, metadata, encryptedSecret: 'v1.new', previousEncryptedSecret: client.encryptedSecret, previousSecretExpiresAt: expiresAt,
          lastUsedAt: new Date('2024-06-01T12:00:00.000Z'),
        });

        // Without a previous secret (the overlap ended) and without a secret (now private_key_jwt): both go.
        expect(await store.clients.replace('web-app', { metadata: { ...metadata, token_endpoint_auth_method: 'private_key_jwt' } })).toBe(true);
        const found = await store.clients.find('web-app');
        expect(found).not.toHaveProperty('encryptedSecret');
        expect(found).not.toHaveProperty('previousEncryptedSecret');
        expect(found).not.toHaveProperty('previousSecretExpiresAt');
        expect(found?.metadata.token_endpoint_auth_method).toBe('private_key_jwt');

        expect(await store.clients.replace('never-existed', { metadata })).toBe(false);
        expect(await store.clients.find('never-existed')).toBeUndefined();
      });

      it('create refuses the id of a dynamic client as a conflict', async () => {
        await store.clients.save(newDynamicClient('agent-1'));

        await expectGatehouseError(store.clients.create(newClient('agent-1')), 'conflict');
        expect(await store.clients.find('agent-1')).toMatchObject({ dynamic: true });
      });

      it('touch records the last use, never moving it back, and says whether the client exists', async () => {
        await store.clients.create(newClient('web-app'));
        await store.clients.save(newDynamicClient('agent-1'));
        const later = new Date('2024-06-01T12:00:00.000Z');

        expect(await store.clients.touch('agent-1', later)).toBe(true);
        expect(await store.clients.touch('web-app', later)).toBe(true);
        expect((await store.clients.find('agent-1'))?.lastUsedAt).toEqual(later);
        expect((await store.clients.find('web-app'))?.lastUsedAt).toEqual(later);

        expect(await store.clients.touch('agent-1', new Date('2024-05-15T00:00:00.000Z'))).toBe(true);
        expect((await store.clients.find('agent-1'))?.lastUsedAt).toEqual(later);
        expect(await store.clients.touch('never-existed', later)).toBe(false);
        expect(await store.clients.find('never-existed')).toBeUndefined();
      });

      it('sweepUnusedDynamic deletes dynamic clients unused since before the cut-off (last use, else creation), and nothing else', async () => {
        const cutOff = new Date('2024-06-01T00:00:00.000Z');
        const before = new Date('2024-05-01T00:00:00.000Z');
        const after = new Date('2024-06-15T00:00:00.000Z');
        await store.clients.create(newClient('operator-old', { createdAt: before }));
        await store.clients.save(newDynamicClient('never-used-old', { createdAt: before }));
        await store.clients.save(newDynamicClient('used-long-ago', { createdAt: before, lastUsedAt: new Date('2024-05-20T00:00:00.000Z') }));
        await store.clients.save(newDynamicClient('used-lately', { createdAt: before, lastUsedAt: after }));
        await store.clients.save(newDynamicClient('new', { createdAt: after }));
        await store.clients.save(newDynamicClient('at-the-cut-off', { createdAt: cutOff }));

        expect(await store.clients.sweepUnusedDynamic(cutOff)).toBe(2);
        expect((await store.clients.list()).map((client) => client.metadata.client_id).sort())
          .toEqual(['at-the-cut-off', 'new', 'operator-old', 'used-lately']);
        expect(await store.clients.sweepUnusedDynamic(cutOff)).toBe(0);
      });

      it('sweepUnusedDynamic with a limit deletes at most that many per call; removeUnusedDynamic names them', async () => {
        const cutOff = new Date('2024-06-01T00:00:00.000Z');
        for (let index = 0; index < 5; index += 1) {
          await store.clients.save(newDynamicClient(`agent-${index}`, { createdAt: new Date('2024-05-01T00:00:00.000Z') }));
        }

        expect(await store.clients.sweepUnusedDynamic(cutOff, 2)).toBe(2);
        const removed = await store.clients.removeUnusedDynamic(cutOff, 2);
        expect(removed).toHaveLength(2);
        for (const id of removed) expect(await store.clients.find(id)).toBeUndefined();
        expect(await store.clients.sweepUnusedDynamic(cutOff, 2)).toBe(1);
        expect(await store.clients.sweepUnusedDynamic(cutOff, 2)).toBe(0);
        expect(await store.clients.removeUnusedDynamic(cutOff, 0)).toEqual([]);
        expect(await store.clients.list()).toEqual([]);
      });
    });

    describe('APIs', () => {
      it('creates and finds an API', async () => {
        const api = newApi('https://api.example.test/orders');
        await store.apis.create(api);

        expect(await store.apis.find('https://api.example.test/orders')).toEqual(api);
        expect(await store.apis.find('https://api.example.test/unknown')).toBeUndefined();
      });

      it('stores an API without a name', async () => {
        const { name: _omitted, ...api } = newApi('https://api.example.test/anonymous', { signingAlg: 'ES256', scopes: [] });
        await store.apis.create(api);

        const found = await store.apis.find('https://api.example.test/anonymous');
        expect(found).toEqual(api);
        expect(found?.name).toBeUndefined();
      });

      it('replace changes an API but its creation time, removes a name not given, and reports whether it existed', async () => {
        const api = newApi('https://api.example.test/orders');
        await store.apis.create(api);

        expect(await store.apis.replace({ identifier: api.identifier, scopes: ['orders:read'], signingAlg: 'ES256', accessTokenTtl: 120 })).toBe(true);
        expect(await store.apis.find(api.identifier)).toEqual({ identifier: api.identifier, scopes: ['orders:read'], signingAlg: 'ES256', accessTokenTtl: 120, createdAt: api.createdAt });
        expect(await store.apis.replace({ identifier: api.identifier, name: 'Orders', scopes: [], signingAlg: 'RS256', accessTokenTtl: 60 })).toBe(true);
        expect((await store.apis.find(api.identifier))?.name).toBe('Orders');
        expect(await store.apis.replace({ identifier: 'https://api.example.test/unknown', scopes: [], signingAlg: 'RS256', accessTokenTtl: 60 })).toBe(false);
        expect(await store.apis.find('https://api.example.test/unknown')).toBeUndefined();
      });

      it('lists APIs oldest first', async () => {
        await store.apis.create(newApi('https://b.example.test', { createdAt: new Date('2024-01-02T00:00:00Z') }));
        await store.apis.create(newApi('https://a.example.test', { createdAt: new Date('2024-01-03T00:00:00Z') }));
        await store.apis.create(newApi('https://c.example.test', { createdAt: new Date('2024-01-01T00:00:00Z') }));

        expect((await store.apis.list()).map((api) => api.identifier)).toEqual(['https://c.example.test', 'https://b.example.test', 'https://a.example.test']);
      });

      it('rejects a duplicate identifier as a conflict and keeps the first', async () => {
        await store.apis.create(newApi('https://api.example.test/orders'));

        await expectGatehouseError(store.apis.create(newApi('https://api.example.test/orders', { accessTokenTtl: 60 })), 'conflict');
        expect((await store.apis.find('https://api.example.test/orders'))?.accessTokenTtl).toBe(900);
        expect(await store.apis.list()).toHaveLength(1);
      });

      it('remove deletes an API and reports whether it existed', async () => {
        await store.apis.create(newApi('https://api.example.test/orders'));
        await store.apis.create(newApi('https://api.example.test/billing'));

        expect(await store.apis.remove('https://api.example.test/orders')).toBe(true);
        expect(await store.apis.find('https://api.example.test/orders')).toBeUndefined();
        expect(await store.apis.remove('https://api.example.test/orders')).toBe(false);
        expect(await store.apis.remove('https://api.example.test/never-existed')).toBe(false);
        expect((await store.apis.list()).map((api) => api.identifier)).toEqual(['https://api.example.test/billing']);
      });
    });

    describe('signing key ring', () => {
      it('starts empty at version 0 and stores a ring with every date and state', async () => {
        expect(await store.signingKeys.read()).toEqual({ version: 0, keys: [] });
        const ring = [
          newSigningKey('kid-current', { alg: 'RS256', activatedAt: new Date('2024-01-02T00:00:00Z') }),
          newSigningKey('kid-next', { state: 'next', activatesAt: new Date('2024-03-01T00:00:00.5Z') }),
          newSigningKey('kid-retired', { state: 'retired', activatedAt: new Date('2023-01-01T00:00:00Z'), retiredAt: new Date('2024-01-02T00:00:00Z') }),
        ];

        expect(await store.signingKeys.replace(0, ring)).toEqual({ version: 1, keys: ring });
        expect(await store.signingKeys.read()).toEqual({ version: 1, keys: ring });
      });

      it('replaces the ring only at the expected version (compare-and-set)', async () => {
        const first = [newSigningKey('kid-1')];
        const second = [newSigningKey('kid-2')];
        await store.signingKeys.replace(0, first);

        expect(await store.signingKeys.replace(0, second)).toBeUndefined();
        expect(await store.signingKeys.replace(2, second)).toBeUndefined();
        expect(await store.signingKeys.read()).toEqual({ version: 1, keys: first });
        expect(await store.signingKeys.replace(1, second)).toEqual({ version: 2, keys: second });
        expect(await store.signingKeys.replace(2, [])).toEqual({ version: 3, keys: [] });
      });

      it('lets exactly one of several concurrent replacements through', async () => {
        await store.signingKeys.replace(0, [newSigningKey('kid-start')]);
        // Instances deciding to rotate at the same moment, each from version 1.
        const results = await Promise.all(['a', 'b', 'c', 'd'].map((name) => store.signingKeys.replace(1, [newSigningKey(`kid-${name}`)])));
        const winners = results.filter((result) => result !== undefined);
        expect(winners).toHaveLength(1);
        expect(await store.signingKeys.read()).toEqual(winners[0]);
      });

      it('lets exactly one of several concurrent first writes through', async () => {
        // Instances starting together on an empty database: one ring, not several.
        const results = await Promise.all(['a', 'b', 'c'].map((name) => store.signingKeys.replace(0, [newSigningKey(`kid-${name}`)])));
        expect(results.filter((result) => result !== undefined)).toHaveLength(1);
        expect((await store.signingKeys.read()).version).toBe(1);
      });
    });

    describe('audit trail', () => {
      const event = (type: string, extra: Partial<AuditEvent> = {}): AuditEvent => ({
        at: new Date('2024-07-01T12:00:00.123Z'), type, actor: 'cli', details: {}, ...extra,
      });

      it('appends events and returns the newest, oldest first, with every field', async () => {
        expect(await store.audit.tail({ limit: 10 })).toEqual([]);
        const full = event('client_added', { clientId: 'web.app', accountId: 'acct-1', sourceAddress: '203.0.113.7', actor: 'user', details: { 'redirect.uris': ['https://a.example/cb'], nested: { n: 1 } } });
        await store.audit.append(event('first'));
        await store.audit.append(full);
        await store.audit.append(event('third', { at: new Date('2020-01-01T00:00:00Z') })); // order is write order, not clock order

        expect(await store.audit.tail({ limit: 10 })).toEqual([event('first'), full, event('third', { at: new Date('2020-01-01T00:00:00Z') })]);
        expect((await store.audit.tail({ limit: 2 })).map((each) => each.type)).toEqual(['client_added', 'third']);
      });

      it('filters by account', async () => {
        for (const [type, accountId] of [['a', 'acct-1'], ['b', 'acct-2'], ['c', 'acct-1'], ['d', undefined]] as const) {
          await store.audit.append(event(type, accountId ? { accountId } : {}));
        }
        expect((await store.audit.tail({ limit: 10, accountId: 'acct-1' })).map((each) => each.type)).toEqual(['a', 'c']);
        expect((await store.audit.tail({ limit: 1, accountId: 'acct-1' })).map((each) => each.type)).toEqual(['c']);
      });
    });

    describe('mail queue', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
      const message = (id: string, extra: Partial<MailMessage> = {}): MailMessage => ({
        id, to: `${id}@example.test`, subject: `Subject ${id}`, text: `Body of ${id}`, createdAt: t0, ...extra,
      });

      it('enqueues pending messages and claims them with every field, due first', async () => {
        await store.mail.enqueue(message('m-1', { html: '<p>Body of m-1</p>' }));
        await store.mail.enqueue(message('m-2', { createdAt: after(1) }));
        expect(await store.mail.claimDue(after(-1), 60, 10)).toEqual([]); // not due yet

        const claimed = await store.mail.claimDue(after(5), 60, 10);

        expect(claimed).toEqual([
          { ...message('m-1', { html: '<p>Body of m-1</p>' }), attempts: 0, status: 'pending', nextAttemptAt: t0 },
          { ...message('m-2', { createdAt: after(1) }), attempts: 0, status: 'pending', nextAttemptAt: after(1) },
        ]);
        expect(await store.mail.status()).toEqual({ pending: 2, sent: 0, failed: 0, oldestPendingAt: t0, recentFailures: [] });
      });

      it('respects the limit and leases claimed messages until the lease expires', async () => {
        for (const id of ['m-1', 'm-2', 'm-3']) await store.mail.enqueue(message(id));

        expect((await store.mail.claimDue(after(0), 60, 2)).map((each) => each.id)).toEqual(['m-1', 'm-2']);
        expect((await store.mail.claimDue(after(1), 60, 10)).map((each) => each.id)).toEqual(['m-3']);
        expect(await store.mail.claimDue(after(59), 60, 10)).toEqual([]);
        // The instance holding the lease died: after it expires the messages are claimable again.
        expect((await store.mail.claimDue(after(61), 60, 10)).map((each) => each.id).sort()).toEqual(['m-1', 'm-2', 'm-3']);
      });

      it('never hands the same message to two concurrent claims', async () => {
        const ids = Array.from({ length: 20 }, (_, index) => `m-${String(index).padStart(2, '0')}`);
        for (const id of ids) await store.mail.enqueue(message(id));

        const [first, second] = await Promise.all([store.mail.claimDue(after(1), 60, 15), store.mail.claimDue(after(1), 60, 15)]);

        const claimedIds = [...first, ...second].map((each) => each.id);
        expect(new Set(claimedIds).size).toBe(claimedIds.length);
        expect(claimedIds.sort()).toEqual(ids);
      });

      it('markSent takes a message out of the queue', async () => {
        await store.mail.enqueue(message('m-1'));
        await store.mail.claimDue(after(0), 60, 10);

        await store.mail.markSent('m-1', after(2));

        expect(await store.mail.claimDue(after(3600), 60, 10)).toEqual([]);
        expect(await store.mail.status()).toEqual({ pending: 0, sent: 1, failed: 0, oldestPendingAt: null, recentFailures: [] });
      });

      it('reports when the oldest pending message was queued, and moves on when it is sent', async () => {
        await store.mail.enqueue(message('m-1'));
        await store.mail.enqueue(message('m-2', { createdAt: after(7) }));
        expect((await store.mail.status()).oldestPendingAt).toEqual(t0);
        await store.mail.claimDue(after(8), 60, 1);
        await store.mail.markSent('m-1', after(9));
        expect((await store.mail.status()).oldestPendingAt).toEqual(after(7));
      });

      it('markFailed with nextAttemptAt keeps it pending until then, counting the attempt', async () => {
        await store.mail.enqueue(message('m-1'));
        await store.mail.claimDue(after(0), 60, 10);

        await store.mail.markFailed('m-1', { at: after(1), error: 'connect ECONNREFUSED', nextAttemptAt: after(31) });

        // The lease is released, but the message is not due before nextAttemptAt.
        expect(await store.mail.claimDue(after(30), 60, 10)).toEqual([]);
        expect(await store.mail.claimDue(after(31), 60, 10)).toEqual([
          { ...message('m-1'), attempts: 1, status: 'pending', nextAttemptAt: after(31), lastError: 'connect ECONNREFUSED' },
        ]);
        expect(await store.mail.status()).toEqual({ pending: 1, sent: 0, failed: 0, oldestPendingAt: t0, recentFailures: [] });
      });

      it('markFailed without nextAttemptAt fails it for good and reports it, newest first', async () => {
        await store.mail.enqueue(message('m-1'));
        await store.mail.enqueue(message('m-2'));
        await store.mail.enqueue(message('m-3'));
        await store.mail.claimDue(after(0), 60, 10);
        await store.mail.markFailed('m-1', { at: after(1), error: 'timeout', nextAttemptAt: after(31) });
        await store.mail.claimDue(after(31), 60, 10);
        await store.mail.markFailed('m-1', { at: after(32), error: '550 no such user' });
        await store.mail.markFailed('m-2', { at: after(40), error: '554 rejected' });

        expect(await store.mail.claimDue(after(86_400), 60, 10)).toEqual([expect.objectContaining({ id: 'm-3' })]);
        expect(await store.mail.status()).toEqual({
          pending: 1, sent: 0, failed: 2, oldestPendingAt: t0,
          recentFailures: [
            { id: 'm-2', to: 'm-2@example.test', subject: 'Subject m-2', attempts: 1, lastError: '554 rejected', at: after(40) },
            { id: 'm-1', to: 'm-1@example.test', subject: 'Subject m-1', attempts: 2, lastError: '550 no such user', at: after(32) },
          ],
        });
      });

      it('extendLease renews only the lease still held, and only while the message is pending', async () => {
        for (const id of ['m-1', 'm-2']) await store.mail.enqueue(message(id));
        await store.mail.claimDue(after(0), 60, 10); // both leased until after(60)

        // Renewed: nobody else can claim m-1 past the first lease.
        expect(await store.mail.extendLease('m-1', after(60), after(120))).toBe(true);
        expect((await store.mail.claimDue(after(61), 60, 10)).map((each) => each.id)).toEqual(['m-2']);
        // m-2's lease expired and another claim took it (until after(121)): the old lease is gone.
        expect(await store.mail.extendLease('m-2', after(60), after(180))).toBe(false);
        expect(await store.mail.claimDue(after(119), 60, 10)).toEqual([]);
        // A sent message has no lease to renew.
        await store.mail.markSent('m-1', after(100));
        expect(await store.mail.extendLease('m-1', after(120), after(240))).toBe(false);
        expect(await store.mail.claimDue(after(3600), 60, 10)).toEqual([expect.objectContaining({ id: 'm-2' })]);
      });
    });

    describe('back-channel logout deliveries', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
      const delivery = (id: string, extra: Partial<NewLogoutDelivery> = {}): NewLogoutDelivery => ({
        id, clientId: `client-${id}`, accountId: 'acct-alice', sid: `sid-${id}`, reason: 'rp_logout', createdAt: t0, ...extra,
      });

      it('enqueues one delivery per (client, sid) and claims them with every field, due first', async () => {
        expect(await store.logoutDeliveries.enqueue(delivery('d-1'))).toBe(true);
        expect(await store.logoutDeliveries.enqueue(delivery('d-2', { createdAt: after(1), reason: 'password_reset' }))).toBe(true);
        // The same session's end owed to the same client again: nothing new.
        expect(await store.logoutDeliveries.enqueue(delivery('d-1-again', { clientId: 'client-d-1', sid: 'sid-d-1' }))).toBe(false);
        // The same sid at another client is another delivery.
        expect(await store.logoutDeliveries.enqueue(delivery('d-3', { sid: 'sid-d-1', createdAt: after(2) }))).toBe(true);
        expect(await store.logoutDeliveries.claimDue(after(-1), 60, 10)).toEqual([]);

        const claimed = await store.logoutDeliveries.claimDue(after(5), 60, 10);

        expect(claimed).toEqual([
          { ...delivery('d-1'), status: 'pending', attempts: 0, nextAttemptAt: t0 },
          { ...delivery('d-2', { createdAt: after(1), reason: 'password_reset' }), status: 'pending', attempts: 0, nextAttemptAt: after(1) },
          { ...delivery('d-3', { sid: 'sid-d-1', createdAt: after(2) }), status: 'pending', attempts: 0, nextAttemptAt: after(2) },
        ]);
        expect(await store.logoutDeliveries.status(10)).toEqual({ pending: 3, delivered: 0, failed: 0, recentFailures: [] });
      });

      it('leases claimed deliveries until the lease expires, within the limit', async () => {
        for (const id of ['d-1', 'd-2', 'd-3']) await store.logoutDeliveries.enqueue(delivery(id));

        expect((await store.logoutDeliveries.claimDue(after(0), 60, 2)).map((each) => each.id)).toEqual(['d-1', 'd-2']);
        expect((await store.logoutDeliveries.claimDue(after(1), 60, 10)).map((each) => each.id)).toEqual(['d-3']);
        expect(await store.logoutDeliveries.claimDue(after(59), 60, 10)).toEqual([]);
        // The instance holding the lease died: once it expires the deliveries are claimable again.
        expect((await store.logoutDeliveries.claimDue(after(61), 60, 10)).map((each) => each.id).sort()).toEqual(['d-1', 'd-2', 'd-3']);
      });

      it('never hands one delivery to two concurrent claimers', async () => {
        const ids = Array.from({ length: 20 }, (_, index) => `d-${String(index).padStart(2, '0')}`);
        for (const id of ids) await store.logoutDeliveries.enqueue(delivery(id));

        const [first, second] = await Promise.all([store.logoutDeliveries.claimDue(after(1), 60, 15), store.logoutDeliveries.claimDue(after(1), 60, 15)]);

        const claimedIds = [...first, ...second].map((each) => each.id);
        expect(new Set(claimedIds).size).toBe(claimedIds.length);
        expect(claimedIds.sort()).toEqual(ids);
      });

      it('marks a delivery delivered: out of the queue, counted', async () => {
        await store.logoutDeliveries.enqueue(delivery('d-1'));
        await store.logoutDeliveries.claimDue(after(0), 60, 10);

        await store.logoutDeliveries.markDelivered('d-1', after(2));

        expect(await store.logoutDeliveries.claimDue(after(3600), 60, 10)).toEqual([]);
        expect(await store.logoutDeliveries.status(10)).toEqual({ pending: 0, delivered: 1, failed: 0, recentFailures: [] });
      });

      it('reschedules a failed attempt, counting it, and gives up when told to; failures newest first', async () => {
        await store.logoutDeliveries.enqueue(delivery('d-1'));
        await store.logoutDeliveries.enqueue(delivery('d-2'));
        await store.logoutDeliveries.claimDue(after(0), 60, 10);

        await store.logoutDeliveries.markFailed('d-1', { at: after(1), error: 'connect ECONNREFUSED', nextAttemptAt: after(31) });
        await store.logoutDeliveries.markFailed('d-2', { at: after(2), error: 'expected 200 OK, got: 500' });

        // The lease is released, but d-1 is not due before nextAttemptAt; d-2 is given up.
        expect(await store.logoutDeliveries.claimDue(after(30), 60, 10)).toEqual([]);
        const retried = { ...delivery('d-1'), status: 'pending', attempts: 1, nextAttemptAt: after(31), lastError: 'connect ECONNREFUSED', lastAttemptAt: after(1) };
        expect(await store.logoutDeliveries.status(10)).toEqual({
          pending: 1, delivered: 0, failed: 1,
          recentFailures: [
            { ...delivery('d-2'), status: 'failed', attempts: 1, nextAttemptAt: t0, lastError: 'expected 200 OK, got: 500', lastAttemptAt: after(2) },
            retried,
          ],
        });
        expect(await store.logoutDeliveries.claimDue(after(31), 60, 10)).toEqual([retried]);
        await store.logoutDeliveries.markDelivered('d-1', after(32));

        // Delivered in the end: no longer among the failures.
        const status = await store.logoutDeliveries.status(10);
        expect(status).toMatchObject({ pending: 0, delivered: 1, failed: 1 });
        expect(status.recentFailures.map((each) => each.id)).toEqual(['d-2']);
        expect((await store.logoutDeliveries.status(0)).recentFailures).toEqual([]);
      });

      it('prunes finished deliveries older than a date, in batches, never pending ones', async () => {
        for (const id of ['d-1', 'd-2', 'd-3', 'd-4']) await store.logoutDeliveries.enqueue(delivery(id));
        await store.logoutDeliveries.enqueue(delivery('d-new', { createdAt: after(100) }));
        await store.logoutDeliveries.claimDue(after(100), 60, 10);
        await store.logoutDeliveries.markDelivered('d-1', after(1));
        await store.logoutDeliveries.markDelivered('d-2', after(1));
        await store.logoutDeliveries.markFailed('d-3', { at: after(1), error: 'gone' });
        await store.logoutDeliveries.markDelivered('d-new', after(101));

        expect(await store.logoutDeliveries.prune(after(50), 2)).toBe(2);
        expect(await store.logoutDeliveries.prune(after(50), 2)).toBe(1);
        expect(await store.logoutDeliveries.prune(after(50), 2)).toBe(0);

        expect(await store.logoutDeliveries.status(10)).toMatchObject({ pending: 1, delivered: 1, failed: 0 });
      });
    });

    describe('webhooks and their deliveries', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
      const webhook = (id: string, extra: Partial<WebhookRecord> = {}): WebhookRecord => ({
        id, url: `https://hooks.example.com/${id}`, events: ['user.created', 'user.signed_in'], sealedSecret: `v1.sealed.${id}`, enabled: true, createdAt: t0, updatedAt: t0, ...extra,
      });
      const delivery = (id: string, extra: Partial<NewWebhookDelivery> = {}): NewWebhookDelivery => ({
        id, webhookId: 'wh-1', eventId: `event-${id}`, eventType: 'user.signed_in', payload: `{"id":"event-${id}"}`, accountId: 'acct-alice', createdAt: t0, ...extra,
      });

      it('adds, finds, lists, updates and removes webhooks; an id is taken once', async () => {
        await store.webhooks.add(webhook('wh-1'));
        await store.webhooks.add(webhook('wh-2', { events: ['*'], createdAt: after(1), updatedAt: after(1) }));
        const error = await rejection(store.webhooks.add(webhook('wh-1')));
        expect(error).toBeInstanceOf(GatehouseError);
        expect((error as GatehouseError).code).toBe('conflict');

        expect(await store.webhooks.find('wh-1')).toEqual(webhook('wh-1'));
        expect(await store.webhooks.find('nope')).toBeUndefined();
        expect((await store.webhooks.list()).map((each) => each.id)).toEqual(['wh-1', 'wh-2']);

        expect(await store.webhooks.update('wh-1', { enabled: false }, after(5))).toEqual(webhook('wh-1', { enabled: false, updatedAt: after(5) }));
        expect(await store.webhooks.update('wh-1', { sealedSecret: 'v1.other', events: ['client.created'] }, after(6)))
          .toEqual(webhook('wh-1', { enabled: false, sealedSecret: 'v1.other', events: ['client.created'], updatedAt: after(6) }));
        expect(await store.webhooks.update('nope', { enabled: true }, after(7))).toBeUndefined();

        expect(await store.webhooks.remove('wh-1')).toBe(true);
        expect(await store.webhooks.remove('wh-1')).toBe(false);
        expect((await store.webhooks.list()).map((each) => each.id)).toEqual(['wh-2']);
      });

      it('enqueues in one call, ignores an id queued already, and claims with every field, due first', async () => {
        expect(await store.webhookDeliveries.enqueue([])).toBe(0);
        expect(await store.webhookDeliveries.enqueue([delivery('d-1'), delivery('d-2', { webhookId: 'wh-2', createdAt: after(1) })])).toBe(2);
        const { accountId: _none, ...anonymous } = delivery('d-3', { createdAt: after(2), eventType: 'client.created' });
        expect(await store.webhookDeliveries.enqueue([delivery('d-1', { payload: 'changed' }), anonymous])).toBe(1);
        expect(await store.webhookDeliveries.claimDue(after(-1), 60, 10)).toEqual([]);

        const claimed = await store.webhookDeliveries.claimDue(after(5), 60, 10);

        expect(claimed).toEqual([
          { ...delivery('d-1'), status: 'pending', attempts: 0, nextAttemptAt: t0 },
          { ...delivery('d-2', { webhookId: 'wh-2', createdAt: after(1) }), status: 'pending', attempts: 0, nextAttemptAt: after(1) },
          { ...anonymous, status: 'pending', attempts: 0, nextAttemptAt: after(2) },
        ]);
        expect(await store.webhookDeliveries.status()).toEqual({ pending: 3, delivered: 0, failed: 0, oldestPendingAt: t0 });
      });

      it('leases claimed deliveries until the lease expires, within the limit', async () => {
        await store.webhookDeliveries.enqueue(['d-1', 'd-2', 'd-3'].map((id) => delivery(id)));

        expect((await store.webhookDeliveries.claimDue(after(0), 60, 2)).map((each) => each.id)).toEqual(['d-1', 'd-2']);
        expect((await store.webhookDeliveries.claimDue(after(1), 60, 10)).map((each) => each.id)).toEqual(['d-3']);
        expect(await store.webhookDeliveries.claimDue(after(59), 60, 10)).toEqual([]);
        expect((await store.webhookDeliveries.claimDue(after(61), 60, 10)).map((each) => each.id).sort()).toEqual(['d-1', 'd-2', 'd-3']);
      });

      it('never hands one delivery to two concurrent claimers', async () => {
        const ids = Array.from({ length: 20 }, (_, index) => `d-${String(index).padStart(2, '0')}`);
        await store.webhookDeliveries.enqueue(ids.map((id) => delivery(id)));

        const [first, second] = await Promise.all([store.webhookDeliveries.claimDue(after(1), 60, 15), store.webhookDeliveries.claimDue(after(1), 60, 15)]);

        const claimedIds = [...first, ...second].map((each) => each.id);
        expect(new Set(claimedIds).size).toBe(claimedIds.length);
        expect(claimedIds.sort()).toEqual(ids);
      });

      it('marks delivered, reschedules with backoff, gives up, and requeues', async () => {
        await store.webhookDeliveries.enqueue(['d-1', 'd-2', 'd-3'].map((id) => delivery(id)));
        await store.webhookDeliveries.claimDue(after(0), 60, 10);

        await store.webhookDeliveries.markDelivered('d-1', { at: after(1), statusCode: 204 });
        await store.webhookDeliveries.markFailed('d-2', { at: after(1), error: 'HTTP 503', statusCode: 503, nextAttemptAt: after(31) });
        await store.webhookDeliveries.markFailed('d-3', { at: after(2), error: 'connect ECONNREFUSED' });

        expect(await store.webhookDeliveries.find('d-1')).toEqual({
          ...delivery('d-1'), status: 'delivered', attempts: 1, nextAttemptAt: t0, lastStatusCode: 204, lastAttemptAt: after(1), deliveredAt: after(1),
        });
        expect(await store.webhookDeliveries.find('d-3')).toEqual({
          ...delivery('d-3'), status: 'failed', attempts: 1, nextAttemptAt: t0, lastError: 'connect ECONNREFUSED', lastAttemptAt: after(2),
        });
        // Not due before its next attempt, though its lease is gone.
        expect(await store.webhookDeliveries.claimDue(after(30), 60, 10)).toEqual([]);
        expect(await store.webhookDeliveries.status()).toEqual({ pending: 1, delivered: 1, failed: 1, oldestPendingAt: t0 });
        const [retried] = await store.webhookDeliveries.claimDue(after(31), 60, 10);
        expect(retried).toEqual({
          ...delivery('d-2'), status: 'pending', attempts: 1, nextAttemptAt: after(31), lastError: 'HTTP 503', lastStatusCode: 503, lastAttemptAt: after(1),
        });
        // A failure without an answer leaves no status code behind.
        await store.webhookDeliveries.markFailed('d-2', { at: after(32), error: 'timeout', nextAttemptAt: after(100) });
        expect(await store.webhookDeliveries.find('d-2')).toMatchObject({ attempts: 2, lastError: 'timeout', nextAttemptAt: after(100) });
        expect((await store.webhookDeliveries.find('d-2'))!.lastStatusCode).toBeUndefined();

        // A given-up delivery queued again: pending and due at once, with the same id.
        expect(await store.webhookDeliveries.requeue('d-3', after(40))).toBe(true);
        expect(await store.webhookDeliveries.requeue('nope', after(40))).toBe(false);
        expect((await store.webhookDeliveries.claimDue(after(40), 60, 10)).map((each) => [each.id, each.status, each.attempts])).toEqual([['d-3', 'pending', 1]]);
        expect(await store.webhookDeliveries.status()).toEqual({ pending: 2, delivered: 1, failed: 0, oldestPendingAt: t0 });
      });

      it('lists the newest first, by webhook and status', async () => {
        await store.webhookDeliveries.enqueue([
          delivery('d-1'), delivery('d-2', { createdAt: after(1), webhookId: 'wh-2' }), delivery('d-3', { createdAt: after(2) }),
        ]);
        await store.webhookDeliveries.claimDue(after(5), 60, 10);
        await store.webhookDeliveries.markDelivered('d-3', { at: after(6), statusCode: 200 });

        expect((await store.webhookDeliveries.list({ limit: 10 })).map((each) => each.id)).toEqual(['d-3', 'd-2', 'd-1']);
        expect((await store.webhookDeliveries.list({ limit: 2 })).map((each) => each.id)).toEqual(['d-3', 'd-2']);
        expect((await store.webhookDeliveries.list({ webhookId: 'wh-1', limit: 10 })).map((each) => each.id)).toEqual(['d-3', 'd-1']);
        expect((await store.webhookDeliveries.list({ webhookId: 'wh-1', status: 'pending', limit: 10 })).map((each) => each.id)).toEqual(['d-1']);
        expect((await store.webhookDeliveries.list({ status: 'failed', limit: 10 }))).toEqual([]);
      });

      it('prunes finished deliveries older than a date, a batch at a time, never pending ones', async () => {
        await store.webhookDeliveries.enqueue([...['d-1', 'd-2', 'd-3', 'd-4'].map((id) => delivery(id)), delivery('d-new', { createdAt: after(100) })]);
        await store.webhookDeliveries.claimDue(after(100), 60, 10);
        await store.webhookDeliveries.markDelivered('d-1', { at: after(1), statusCode: 200 });
        await store.webhookDeliveries.markDelivered('d-2', { at: after(1), statusCode: 200 });
        await store.webhookDeliveries.markFailed('d-3', { at: after(1), error: 'gone' });
        await store.webhookDeliveries.markDelivered('d-new', { at: after(101), statusCode: 200 });

        expect(await store.webhookDeliveries.prune(after(50), 2)).toBe(2);
        expect(await store.webhookDeliveries.prune(after(50), 2)).toBe(1);
        expect(await store.webhookDeliveries.prune(after(50), 2)).toBe(0);
        expect(await store.webhookDeliveries.status()).toEqual({ pending: 1, delivered: 1, failed: 0, oldestPendingAt: t0 });
      });
    });

    describe('dropped mail', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

      it('counts drops per day, kind and reason, also when they race, newest first', async () => {
        expect(await store.mail.drops(10)).toEqual({ dropped: 0, recent: [] });
        await Promise.all(Array.from({ length: 5 }, (_, i) => store.mail.recordDrop({ to: 'owner@example.com', kind: 'registration-attempt', reason: 'coalesced', at: after(i) })));
        await store.mail.recordDrop({ to: 'other@example.com', kind: 'reset-password', reason: 'budget', at: after(60) });
        await store.mail.recordDrop({ to: 'owner@example.com', kind: 'registration-attempt', reason: 'coalesced', at: after(86_400) });

        expect(await store.mail.drops(10)).toEqual({
          dropped: 7,
          recent: [
            { day: '2024-08-02', kind: 'registration-attempt', reason: 'coalesced', count: 1, lastAt: after(86_400), lastRecipient: 'owner@example.com' },
            { day: '2024-08-01', kind: 'reset-password', reason: 'budget', count: 1, lastAt: after(60), lastRecipient: 'other@example.com' },
            { day: '2024-08-01', kind: 'registration-attempt', reason: 'coalesced', count: 5, lastAt: after(4), lastRecipient: 'owner@example.com' },
          ],
        });
        expect((await store.mail.drops(1)).recent).toHaveLength(1);
      });
    });

    describe('one-time codes', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
      const code = (id: string, extra: Partial<OneTimeCodeRecord> = {}): Omit<OneTimeCodeRecord, 'attempts' | 'consumedAt'> => ({
        id, purpose: 'verify_email', email: 'alice@example.com', accountId: 'acct-alice', codeHash: `code-${id}`, linkHash: `link-${id}`,
        createdAt: t0, expiresAt: after(900), ...extra,
      });

      it('issues a code and finds it as the latest and by its link, with every field', async () => {
        await store.codes.issue(code('c-1'));

        const expected = { ...code('c-1'), attempts: 0, consumedAt: null };
        expect(await store.codes.latest('alice@example.com', 'verify_email')).toEqual(expected);
        expect(await store.codes.findByLinkHash('link-c-1')).toEqual(expected);
        expect(await store.codes.latest('alice@example.com', 'reset_password')).toBeUndefined();
        expect(await store.codes.latest('bob@example.com', 'verify_email')).toBeUndefined();
        expect(await store.codes.findByLinkHash('link-unknown')).toBeUndefined();
      });

      it('keeps decoys (no account) and reset links (no code)', async () => {
        await store.codes.issue(code('c-1', { accountId: null }));
        await store.codes.issue(code('r-1', { purpose: 'reset_password', codeHash: null }));

        expect(await store.codes.latest('alice@example.com', 'verify_email')).toMatchObject({ id: 'c-1', accountId: null });
        expect(await store.codes.latest('alice@example.com', 'reset_password')).toMatchObject({ id: 'r-1', codeHash: null, consumedAt: null });
      });

      it('a new code voids the earlier unconsumed ones of the same address and purpose only', async () => {
        await store.codes.issue(code('c-1'));
        await store.codes.issue(code('r-1', { purpose: 'reset_password' }));
        await store.codes.issue(code('b-1', { email: 'bob@example.com', accountId: 'acct-bob' }));

        await store.codes.issue(code('c-2', { createdAt: after(60), expiresAt: after(960) }));

        expect(await store.codes.findByLinkHash('link-c-1')).toMatchObject({ consumedAt: after(60) });
        expect(await store.codes.latest('alice@example.com', 'verify_email')).toMatchObject({ id: 'c-2', consumedAt: null });
        expect(await store.codes.findByLinkHash('link-r-1')).toMatchObject({ consumedAt: null });
        expect(await store.codes.findByLinkHash('link-b-1')).toMatchObject({ consumedAt: null });
      });

      it("finds a code by id, and the newest of one account; a decoy voids none of the owner's codes", async () => {
        await store.codes.issue(code('c-owner'));
        await store.codes.issue(code('c-decoy', { accountId: null, createdAt: after(10), expiresAt: after(910) }));

        expect(await store.codes.find('c-owner')).toMatchObject({ id: 'c-owner', consumedAt: null });
        expect(await store.codes.find('c-decoy')).toMatchObject({ id: 'c-decoy', accountId: null });
        expect(await store.codes.find('c-unknown')).toBeUndefined();
        expect(await store.codes.latest('alice@example.com', 'verify_email')).toMatchObject({ id: 'c-decoy' });
        expect(await store.codes.latest('alice@example.com', 'verify_email', 'acct-alice')).toMatchObject({ id: 'c-owner', consumedAt: null });
        expect(await store.codes.latest('alice@example.com', 'verify_email', 'acct-other')).toBeUndefined();

        // A real code still voids the earlier real one (and leaves decoys alone).
        await store.codes.issue(code('c-owner-2', { createdAt: after(20), expiresAt: after(920) }));
        expect(await store.codes.find('c-owner')).toMatchObject({ consumedAt: after(20) });
        expect(await store.codes.find('c-decoy')).toMatchObject({ consumedAt: null });
        expect(await store.codes.latest('alice@example.com', 'verify_email', 'acct-alice')).toMatchObject({ id: 'c-owner-2' });
      });

      it('counts wrong tries one by one, also when they race', async () => {
        await store.codes.issue(code('c-1'));

        expect(await store.codes.recordFailure('c-1')).toMatchObject({ id: 'c-1', attempts: 1 });
        await Promise.all(Array.from({ length: 4 }, () => store.codes.recordFailure('c-1')));

        expect(await store.codes.latest('alice@example.com', 'verify_email')).toMatchObject({ attempts: 5 });
        expect(await store.codes.recordFailure('c-unknown')).toBeUndefined();
      });

      it('consumes a code exactly once, even under concurrent attempts', async () => {
        await store.codes.issue(code('c-1'));

        const results = await Promise.all(Array.from({ length: 5 }, () => store.codes.consume('c-1', after(10))));

        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await store.codes.findByLinkHash('link-c-1')).toMatchObject({ consumedAt: after(10) });
        expect(await store.codes.consume('c-1', after(20))).toBe(false);
        expect(await store.codes.consume('c-unknown', after(20))).toBe(false);
      });

      it('sweeps codes that expired before the given time', async () => {
        await store.codes.issue(code('c-1', { expiresAt: after(900) }));
        await store.codes.issue(code('r-1', { purpose: 'reset_password', expiresAt: after(1800) }));

        expect(await store.codes.sweep(after(1000))).toBe(1);

        expect(await store.codes.findByLinkHash('link-c-1')).toBeUndefined();
        expect(await store.codes.findByLinkHash('link-r-1')).toMatchObject({ id: 'r-1' });
      });
    });

    describe('second factors', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

      it('begins enrolling, restarts enrolling with a new secret, and activates only the current secret', async () => {
        expect(await store.secondFactors.find('acct-1')).toBeUndefined();
        expect(await store.secondFactors.begin('acct-1', 'sealed-a', t0)).toBe(true);
        expect(await store.secondFactors.find('acct-1')).toEqual({
          accountId: 'acct-1', sealedSecret: 'sealed-a', activatedAt: null, lastTimeStep: 0, recoveryCodes: [], failedAttempts: 0, lastFailureAt: null, createdAt: t0,
        });
        expect(await store.secondFactors.begin('acct-1', 'sealed-b', after(10))).toBe(true);
        // A page still showing the first secret cannot activate it.
        expect(await store.secondFactors.activate('acct-1', 'sealed-a', 100, ['h1'], after(20))).toBe(false);
        expect(await store.secondFactors.activate('acct-1', 'sealed-b', 100, ['h1', 'h2'], after(20))).toBe(true);
        expect(await store.secondFactors.find('acct-1')).toEqual({
          accountId: 'acct-1', sealedSecret: 'sealed-b', activatedAt: after(20), lastTimeStep: 100,
          recoveryCodes: [{ hash: 'h1', usedAt: null }, { hash: 'h2', usedAt: null }], failedAttempts: 0, lastFailureAt: null, createdAt: after(10),
        });
        // Active: neither a new enrollment nor a second activation changes it.
        expect(await store.secondFactors.begin('acct-1', 'sealed-c', after(30))).toBe(false);
        expect(await store.secondFactors.activate('acct-1', 'sealed-b', 200, [], after(30))).toBe(false);
        expect(await store.secondFactors.find('acct-1')).toMatchObject({ sealedSecret: 'sealed-b', lastTimeStep: 100 });
      });

      it('accepts each time step once and only moving forward, one winner among racing requests', async () => {
        await store.secondFactors.begin('acct-1', 'sealed', t0);
        expect(await store.secondFactors.acceptTimeStep('acct-1', 101)).toBe(false); // not active yet
        await store.secondFactors.activate('acct-1', 'sealed', 100, [], t0);

        const racing = await Promise.all(Array.from({ length: 5 }, () => store.secondFactors.acceptTimeStep('acct-1', 101)));
        expect(racing.filter(Boolean)).toHaveLength(1);
        expect(await store.secondFactors.acceptTimeStep('acct-1', 101)).toBe(false);
        expect(await store.secondFactors.acceptTimeStep('acct-1', 100)).toBe(false);
        expect(await store.secondFactors.acceptTimeStep('acct-1', 103)).toBe(true);
        expect(await store.secondFactors.acceptTimeStep('acct-1', 102)).toBe(false);
        expect(await store.secondFactors.find('acct-1')).toMatchObject({ lastTimeStep: 103 });
        expect(await store.secondFactors.acceptTimeStep('acct-unknown', 1)).toBe(false);
      });

      it('uses each recovery code once, also under concurrent use, and replaces them all', async () => {
        await store.secondFactors.begin('acct-1', 'sealed', t0);
        await store.secondFactors.activate('acct-1', 'sealed', 1, ['h1', 'h2'], t0);

        const racing = await Promise.all(Array.from({ length: 4 }, () => store.secondFactors.useRecoveryCode('acct-1', 'h1', after(5))));
        expect(racing.filter(Boolean)).toHaveLength(1);
        expect(await store.secondFactors.useRecoveryCode('acct-1', 'h1', after(6))).toBe(false);
        expect(await store.secondFactors.useRecoveryCode('acct-1', 'nope', after(6))).toBe(false);
        expect((await store.secondFactors.find('acct-1'))?.recoveryCodes).toEqual([{ hash: 'h1', usedAt: after(5) }, { hash: 'h2', usedAt: null }]);

        expect(await store.secondFactors.replaceRecoveryCodes('acct-1', ['h3'])).toBe(true);
        expect(await store.secondFactors.useRecoveryCode('acct-1', 'h2', after(7))).toBe(false);
        expect(await store.secondFactors.useRecoveryCode('acct-1', 'h3', after(7))).toBe(true);
        expect(await store.secondFactors.replaceRecoveryCodes('acct-unknown', ['h4'])).toBe(false);
      });

      it('counts failures until cleared, and removes a factor', async () => {
        await store.secondFactors.begin('acct-1', 'sealed', t0);
        await store.secondFactors.activate('acct-1', 'sealed', 1, [], t0);
        await Promise.all([store.secondFactors.recordFailure('acct-1', after(1)), store.secondFactors.recordFailure('acct-1', after(1))]);
        expect(await store.secondFactors.recordFailure('acct-1', after(2))).toMatchObject({ failedAttempts: 3, lastFailureAt: after(2) });
        await store.secondFactors.clearFailures('acct-1');
        expect(await store.secondFactors.find('acct-1')).toMatchObject({ failedAttempts: 0, lastFailureAt: null });

        expect(await store.secondFactors.remove('acct-1')).toBe(true);
        expect(await store.secondFactors.remove('acct-1')).toBe(false);
        expect(await store.secondFactors.find('acct-1')).toBeUndefined();
        expect(await store.secondFactors.begin('acct-1', 'sealed-new', after(3))).toBe(true);
      });

      it('reserves a try with compare-and-set: of requests racing on one count exactly one wins', async () => {
        await store.secondFactors.begin('acct-1', 'sealed', t0);
        await store.secondFactors.activate('acct-1', 'sealed', 1, [], t0);
        const racing = await Promise.all(Array.from({ length: 6 }, () => store.secondFactors.reserveAttempt('acct-1', 0, after(1))));
        expect(racing.filter(Boolean)).toHaveLength(1);
        expect(await store.secondFactors.find('acct-1')).toMatchObject({ failedAttempts: 1, lastFailureAt: after(1) });
        expect(await store.secondFactors.reserveAttempt('acct-1', 0, after(2))).toBe(false);
        expect(await store.secondFactors.reserveAttempt('acct-1', 1, after(2))).toBe(true);
        expect(await store.secondFactors.find('acct-1')).toMatchObject({ failedAttempts: 2, lastFailureAt: after(2) });
        expect(await store.secondFactors.reserveAttempt('acct-unknown', 0, after(2))).toBe(false);
      });
    });

    describe('passkeys', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
      const passkey = (id: string, overrides: Partial<PasskeyRecord> = {}): PasskeyRecord => ({
        id,
        accountId: 'acct-1',
        publicKey: `pQECAyYgASFYI-public-key-of-${id}`,
        counter: 0,
        transports: ['internal', 'hybrid'],
        deviceType: 'multiDevice',
        backedUp: true,
        aaguid: 'ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4',
        name: `Passkey ${id}`,
        createdAt: t0,
        lastUsedAt: null,
        ...overrides,
      });

      it('stores a passkey whole, finds it by credential ID, and refuses a second with the same ID', async () => {
        const record = passkey('cred-1', { transports: [], deviceType: 'singleDevice', backedUp: false, counter: 7, name: 'YubiKey ✓ «5»' });
        expect(await store.passkeys.find('cred-1')).toBeUndefined();
        expect(await store.passkeys.create(record)).toBe(true);
        expect(await store.passkeys.find('cred-1')).toEqual(record);
        expect(await store.passkeys.create(passkey('cred-1', { accountId: 'acct-2', name: 'Taken over' }))).toBe(false);
        expect(await store.passkeys.find('cred-1')).toEqual(record);
        // Credential IDs are case-sensitive base64url.
        expect(await store.passkeys.find('CRED-1')).toBeUndefined();
        expect(await store.passkeys.create(passkey('CRED-1'))).toBe(true);
      });

      it('of concurrent creates with one credential ID, exactly one succeeds', async () => {
        const racing = await Promise.all(Array.from({ length: 8 }, (_, index) => store.passkeys.create(passkey('cred-race', { accountId: `acct-${index}` }))));
        expect(racing.filter(Boolean)).toHaveLength(1);
        const winner = racing.indexOf(true);
        expect(await store.passkeys.find('cred-race')).toMatchObject({ accountId: `acct-${winner}` });
      });

      it("lists an account's passkeys oldest first, counts them, and no one else's", async () => {
        await store.passkeys.create(passkey('cred-b', { createdAt: after(20) }));
        await store.passkeys.create(passkey('cred-a', { createdAt: after(10) }));
        await store.passkeys.create(passkey('cred-c', { createdAt: after(30), lastUsedAt: after(40) }));
        await store.passkeys.create(passkey('cred-other', { accountId: 'acct-2' }));
        expect((await store.passkeys.listForAccount('acct-1')).map((record) => record.id)).toEqual(['cred-a', 'cred-b', 'cred-c']);
        expect((await store.passkeys.listForAccount('acct-1'))[2]).toEqual(passkey('cred-c', { createdAt: after(30), lastUsedAt: after(40) }));
        expect(await store.passkeys.countForAccount('acct-1')).toBe(3);
        expect(await store.passkeys.countForAccount('acct-2')).toBe(1);
        expect(await store.passkeys.listForAccount('acct-none')).toEqual([]);
        expect(await store.passkeys.countForAccount('acct-none')).toBe(0);
      });

      it('records a use with compare-and-set on the counter: the counter, the backup state and the time', async () => {
        await store.passkeys.create(passkey('cred-1', { counter: 5, backedUp: false }));
        expect(await store.passkeys.recordUse('cred-1', 4, 6, true, after(1))).toBe(false);
        expect(await store.passkeys.find('cred-1')).toMatchObject({ counter: 5, backedUp: false, lastUsedAt: null });
        expect(await store.passkeys.recordUse('cred-1', 5, 6, true, after(1))).toBe(true);
        expect(await store.passkeys.find('cred-1')).toMatchObject({ counter: 6, backedUp: true, lastUsedAt: after(1) });
        expect(await store.passkeys.recordUse('cred-1', 5, 7, true, after(2))).toBe(false);
        expect(await store.passkeys.recordUse('cred-1', 6, 9, false, after(3))).toBe(true);
        expect(await store.passkeys.find('cred-1')).toMatchObject({ counter: 9, backedUp: false, lastUsedAt: after(3) });
        expect(await store.passkeys.recordUse('cred-unknown', 0, 1, true, after(3))).toBe(false);
        // An authenticator without a counter (0 each time) still records its uses.
        await store.passkeys.create(passkey('cred-zero'));
        expect(await store.passkeys.recordUse('cred-zero', 0, 0, true, after(4))).toBe(true);
        expect(await store.passkeys.recordUse('cred-zero', 0, 0, true, after(4))).toBe(true);
        expect(await store.passkeys.find('cred-zero')).toMatchObject({ counter: 0, lastUsedAt: after(4) });
      });

      it('of concurrent uses that saw the same counter (one assertion replayed in a burst), exactly one wins', async () => {
        await store.passkeys.create(passkey('cred-1', { counter: 41 }));
        const racing = await Promise.all(Array.from({ length: 10 }, (_, index) => store.passkeys.recordUse('cred-1', 41, 42, index % 2 === 0, after(index))));
        expect(racing.filter(Boolean)).toHaveLength(1);
        const winner = racing.indexOf(true);
        expect(await store.passkeys.find('cred-1')).toMatchObject({ counter: 42, backedUp: winner % 2 === 0, lastUsedAt: after(winner) });
      });

      it("renames and removes only the account's own passkey", async () => {
        await store.passkeys.create(passkey('cred-1'));
        expect(await store.passkeys.rename('acct-2', 'cred-1', 'Stolen')).toBe(false);
        expect(await store.passkeys.rename('acct-1', 'cred-unknown', 'Nothing')).toBe(false);
        expect(await store.passkeys.rename('acct-1', 'cred-1', 'Work laptop')).toBe(true);
        // The same name again is still the account's passkey, renamed.
        expect(await store.passkeys.rename('acct-1', 'cred-1', 'Work laptop')).toBe(true);
        expect(await store.passkeys.find('cred-1')).toMatchObject({ name: 'Work laptop' });

        expect(await store.passkeys.remove('acct-2', 'cred-1')).toBe(false);
        expect(await store.passkeys.find('cred-1')).toBeDefined();
        expect(await store.passkeys.remove('acct-1', 'cred-1')).toBe(true);
        expect(await store.passkeys.remove('acct-1', 'cred-1')).toBe(false);
        expect(await store.passkeys.find('cred-1')).toBeUndefined();
        // Its ID is free again.
        expect(await store.passkeys.create(passkey('cred-1'))).toBe(true);
      });

      it('removes every passkey of one account', async () => {
        for (const id of ['cred-1', 'cred-2', 'cred-3']) await store.passkeys.create(passkey(id));
        await store.passkeys.create(passkey('cred-other', { accountId: 'acct-2' }));
        expect(await store.passkeys.removeAllForAccount('acct-1')).toBe(3);
        expect(await store.passkeys.removeAllForAccount('acct-1')).toBe(0);
        expect(await store.passkeys.listForAccount('acct-1')).toEqual([]);
        expect(await store.passkeys.listForAccount('acct-2')).toHaveLength(1);
      });
    });

    describe('connections', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
      const connection = (id: string, overrides: Partial<ConnectionRecord> = {}): ConnectionRecord => ({
        id,
        type: 'oidc',
        name: `Acme ${id}`,
        issuer: 'https://sso.acme.example',
        tenant: null,
        clientId: `client-${id}`,
        sealedSecret: `v1.keyid.iv.tag.secret-of-${id}`,
        authorizationUrl: null,
        tokenUrl: null,
        apiUrl: null,
        scopes: ['openid', 'email', 'profile'],
        claimMapping: { name: 'name', given_name: 'given_name', picture: 'picture' },
        showOnLoginPage: true,
        allowNewAccounts: false,
        trustVerifiedEmails: false,
        trustUpstreamMfa: false,
        disabled: false,
        createdAt: t0,
        updatedAt: t0,
        ...overrides,
      });

      it('stores a connection whole, finds it by id, and refuses a second with the same id', async () => {
        const record = connection('acme', { name: 'Acme «SSO» ✓', claimMapping: { name: 'display.name', picture: '$avatar', nickname: 'a%2Eb' } });
        expect(await store.connections.find('acme')).toBeUndefined();
        await store.connections.create(record);
        expect(await store.connections.find('acme')).toEqual(record);
        await expectGatehouseError(store.connections.create(connection('acme', { name: 'Taken over' })), 'conflict');
        expect(await store.connections.find('acme')).toEqual(record);

        const github = connection('github', {
          type: 'github', issuer: null, sealedSecret: null, scopes: ['read:user', 'user:email'], claimMapping: {},
          authorizationUrl: 'http://127.0.0.1:9/login/oauth/authorize', tokenUrl: 'http://127.0.0.1:9/login/oauth/access_token', apiUrl: 'http://127.0.0.1:9/api',
          showOnLoginPage: false, allowNewAccounts: true, trustVerifiedEmails: true, trustUpstreamMfa: true, disabled: true,
        });
        await store.connections.create(github);
        expect(await store.connections.find('github')).toEqual(github);
        const microsoft = connection('work', { type: 'microsoft', tenant: 'organizations', issuer: 'https://login.microsoftonline.com/organizations/v2.0' });
        await store.connections.create(microsoft);
        expect(await store.connections.find('work')).toEqual(microsoft);
      });

      it('lists connections oldest first', async () => {
        await store.connections.create(connection('b', { createdAt: after(20) }));
        await store.connections.create(connection('a', { createdAt: after(30) }));
        await store.connections.create(connection('c', { createdAt: after(10), updatedAt: after(40) }));
        expect((await store.connections.list()).map((record) => record.id)).toEqual(['c', 'b', 'a']);
        expect((await store.connections.list())[0]).toEqual(connection('c', { createdAt: after(10), updatedAt: after(40) }));
      });

      it('updates the fields given (null included), leaves the others, and answers undefined for an unknown id', async () => {
        await store.connections.create(connection('acme'));
        const updated = await store.connections.update('acme', {
          name: 'Acme Corp', sealedSecret: null, scopes: ['openid'], claimMapping: { name: 'cn', 'x.y': 'z' },
          showOnLoginPage: false, allowNewAccounts: true, trustVerifiedEmails: true, trustUpstreamMfa: true, disabled: true, updatedAt: after(5),
          clientId: undefined,
        });
        const expected = connection('acme', {
          name: 'Acme Corp', sealedSecret: null, scopes: ['openid'], claimMapping: { name: 'cn', 'x.y': 'z' },
          showOnLoginPage: false, allowNewAccounts: true, trustVerifiedEmails: true, trustUpstreamMfa: true, disabled: true, updatedAt: after(5),
        });
        expect(updated).toEqual(expected);
        expect(await store.connections.find('acme')).toEqual(expected);
        expect(await store.connections.update('acme', { issuer: 'https://other.example', tenant: 'common', authorizationUrl: 'https://a', tokenUrl: 'https://t', apiUrl: 'https://api', disabled: false }))
          .toEqual({ ...expected, issuer: 'https://other.example', tenant: 'common', authorizationUrl: 'https://a', tokenUrl: 'https://t', apiUrl: 'https://api', disabled: false });
        // Nothing to change: the connection as it is.
        expect(await store.connections.update('acme', {})).toMatchObject({ id: 'acme', name: 'Acme Corp' });
        expect(await store.connections.update('unknown', { disabled: true })).toBeUndefined();
        expect(await store.connections.update('unknown', {})).toBeUndefined();
        expect(await store.connections.find('unknown')).toBeUndefined();
      });

      it('removes a connection once; its id is free again', async () => {
        await store.connections.create(connection('acme'));
        await store.connections.create(connection('other'));
        expect(await store.connections.remove('acme')).toBe(true);
        expect(await store.connections.remove('acme')).toBe(false);
        expect(await store.connections.find('acme')).toBeUndefined();
        expect((await store.connections.list()).map((record) => record.id)).toEqual(['other']);
        await store.connections.create(connection('acme'));
        expect(await store.connections.find('acme')).toBeDefined();
      });
    });

    describe('email changes (accounts.update with an email)', () => {
      it('changes the address, keeps it unique case-insensitively, and moves updated_at', async () => {
        const created = await store.accounts.create(newAccount({ id: 'acct-1', email: 'one@example.com' }));
        await store.accounts.create(newAccount({ id: 'acct-2', email: 'Two@Example.com' }));
        await new Promise((resolve) => setTimeout(resolve, 5));
        const changed = await store.accounts.update('acct-1', { email: 'New.One@Example.com', emailVerified: true }, { email: 'one@example.com' });
        expect(changed?.email).toBe('New.One@Example.com');
        expect(changed!.profileUpdatedAt.getTime()).toBeGreaterThan(created.profileUpdatedAt.getTime());
        expect((await store.accounts.findByEmail('new.one@example.com'))?.id).toBe('acct-1');
        expect(await store.accounts.findByEmail('one@example.com')).toBeUndefined();
        // The old address is free again: a new account may take it.
        await store.accounts.create(newAccount({ id: 'acct-3', email: 'ONE@example.com' }));
        // Another account's address, in any case, is a conflict, and nothing changes.
        await expect(store.accounts.update('acct-1', { email: 'two@EXAMPLE.com' })).rejects.toMatchObject({ code: 'conflict' });
        expect((await store.accounts.findById('acct-1'))?.email).toBe('New.One@Example.com');
        // Compare-and-set on the address: a change expecting the old one does nothing.
        expect(await store.accounts.update('acct-1', { email: 'other@example.com' }, { email: 'one@example.com' })).toBeUndefined();
      });

      it('of an email change and a registration of the same address at once, exactly one gets it', async () => {
        await store.accounts.create(newAccount({ id: 'acct-1', email: 'one@example.com' }));
        const results = await Promise.allSettled([
          store.accounts.update('acct-1', { email: 'race@example.com' }),
          store.accounts.create(newAccount({ id: 'acct-2', email: 'RACE@example.com' })),
        ]);
        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        expect(results.filter((result) => result.status === 'rejected').map((result) => (result as PromiseRejectedResult).reason)).toMatchObject([{ code: 'conflict' }]);
        const owners = (await store.accounts.list()).filter((account) => account.email.toLowerCase() === 'race@example.com');
        expect(owners).toHaveLength(1);
      });
    });

    describe('voiding an account\'s codes of one purpose', () => {
      it('voids every unused code of the account and purpose, whatever its address, and nothing else', async () => {
        const at = new Date('2024-09-01T09:00:00.000Z');
        const later = new Date(at.getTime() + 60_000);
        const code = (id: string, email: string, accountId: string | null, purpose: OneTimeCodePurpose = 'change_email') => ({
          id, purpose, email, accountId, codeHash: `c-${id}`, linkHash: `l-${id}`, createdAt: at, expiresAt: new Date(at.getTime() + 900_000),
        });
        await store.codes.issue(code('a', 'one@example.com', 'acct-1'));
        await store.codes.issue(code('b', 'two@example.com', 'acct-1'));
        await store.codes.issue(code('c', 'five@example.com', 'acct-2'));
        await store.codes.issue(code('d', 'three@example.com', 'acct-1', 'verify_email'));
        await store.codes.issue(code('e', 'four@example.com', null));
        expect(await store.codes.consume('b', at)).toBe(true);
        expect(await store.codes.voidForAccount('acct-1', 'change_email', later)).toBe(1);
        expect((await store.codes.find('a'))?.consumedAt).toEqual(later);
        expect((await store.codes.find('b'))?.consumedAt).toEqual(at);
        for (const untouched of ['c', 'd', 'e']) expect((await store.codes.find(untouched))?.consumedAt, untouched).toBeNull();
      });
    });

    describe('known devices', () => {
      const t0 = new Date('2024-09-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

      it('tells whether a device was known and how many others the account had, per account', async () => {
        expect(await store.knownDevices.remember('acct-1', 'device-a', t0)).toEqual({ known: false, others: 0 });
        expect(await store.knownDevices.remember('acct-1', 'device-a', after(60))).toEqual({ known: true, others: 0 });
        expect(await store.knownDevices.remember('acct-1', 'device-b', after(120))).toEqual({ known: false, others: 1 });
        expect(await store.knownDevices.remember('acct-1', 'device-a', after(30))).toEqual({ known: true, others: 1 });
        // Another account's devices are its own.
        expect(await store.knownDevices.remember('acct-2', 'device-a', after(10))).toEqual({ known: false, others: 0 });
        expect(await store.knownDevices.list('acct-1')).toEqual([
          { deviceHash: 'device-b', firstSeenAt: after(120), lastSeenAt: after(120) },
          // Last seen never moves back (a late write of an earlier sign-in).
          { deviceHash: 'device-a', firstSeenAt: t0, lastSeenAt: after(60) },
        ]);
        expect(await store.knownDevices.removeForAccount('acct-1')).toBe(2);
        expect(await store.knownDevices.list('acct-1')).toEqual([]);
        expect(await store.knownDevices.list('acct-2')).toHaveLength(1);
      });

      it('of concurrent first sign-ins from one device, exactly one finds it new', async () => {
        const results = await Promise.all(Array.from({ length: 5 }, () => store.knownDevices.remember('acct-1', 'device-a', t0)));
        expect(results.filter((result) => !result.known)).toHaveLength(1);
        expect(await store.knownDevices.list('acct-1')).toHaveLength(1);
      });
    });

    describe('session activity and remembered consent (account centre)', () => {
      const t0 = new Date('2024-10-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
      const seen = (sessionId: string, accountId: string, at: Date, overrides: Partial<SessionActivity> = {}): SessionActivity => ({
        sessionId, accountId, userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0', sourceAddress: '203.0.113.7', amr: ['pwd'],
        firstSeenAt: at, lastSeenAt: at, expiresAt: after(3600), ...overrides,
      });

      it('keeps a session first seen at its first write, lists the account live ones newest first, and removes them', async () => {
        await store.sessionActivity.recordSession(seen('s-1', 'acct-1', t0));
        await store.sessionActivity.recordSession(seen('s-1', 'acct-1', after(120), { amr: ['pwd', 'otp'], sourceAddress: '198.51.100.9', expiresAt: after(7200) }));
        await store.sessionActivity.recordSession(seen('s-2', 'acct-1', after(60), { userAgent: null, sourceAddress: null }));
        await store.sessionActivity.recordSession(seen('s-3', 'acct-2', t0));
        await store.sessionActivity.recordSession(seen('s-old', 'acct-1', t0, { expiresAt: after(10) }));

        expect(await store.sessionActivity.listSessions('acct-1', after(30))).toEqual([
          seen('s-1', 'acct-1', t0, { lastSeenAt: after(120), amr: ['pwd', 'otp'], sourceAddress: '198.51.100.9', expiresAt: after(7200) }),
          seen('s-2', 'acct-1', after(60), { userAgent: null, sourceAddress: null }),
        ]);
        expect(await store.sessionActivity.removeSession('acct-2', 's-1')).toBe(false);
        expect(await store.sessionActivity.removeSession('acct-1', 's-2')).toBe(true);
        expect(await store.sessionActivity.removeSessions('acct-1', 's-1')).toBe(1);
        expect((await store.sessionActivity.listSessions('acct-1', t0)).map((each) => each.sessionId)).toEqual(['s-1']);
        expect(await store.sessionActivity.removeSessions('acct-1')).toBe(1);
        expect(await store.sessionActivity.listSessions('acct-1', t0)).toEqual([]);
        expect(await store.sessionActivity.listSessions('acct-2', t0)).toHaveLength(1);
      });

      it('sweeps expired sessions in batches', async () => {
        for (const id of ['a', 'b', 'c']) await store.sessionActivity.recordSession(seen(id, 'acct-1', t0, { expiresAt: after(10) }));
        await store.sessionActivity.recordSession(seen('live', 'acct-1', t0));
        expect(await store.sessionActivity.sweepSessions(after(20), 2)).toBe(2);
        expect(await store.sessionActivity.sweepSessions(after(20), 2)).toBe(1);
        expect(await store.sessionActivity.sweepSessions(after(20), 2)).toBe(0);
        expect((await store.sessionActivity.listSessions('acct-1', t0)).map((each) => each.sessionId)).toEqual(['live']);
      });

      it('remembers consent per account and client, keeps when it was first given, and records use apart', async () => {
        await store.sessionActivity.recordAppUse('acct-1', 'first-party', after(5));
        await store.sessionActivity.rememberConsent({ accountId: 'acct-1', clientId: 'app', scope: 'openid email', claims: [], resourceScopes: {}, at: t0 });
        await store.sessionActivity.recordAppUse('acct-1', 'app', after(60));
        await store.sessionActivity.recordAppUse('acct-1', 'app', after(30)); // a late write never moves it back
        await store.sessionActivity.rememberConsent({
          accountId: 'acct-1', clientId: 'app', scope: 'openid email profile', claims: ['name'], resourceScopes: { 'https://api.example': 'orders:read' }, at: after(90),
        });
        await store.sessionActivity.rememberConsent({ accountId: 'acct-2', clientId: 'app', scope: 'openid', claims: [], resourceScopes: {}, at: after(200) });

        expect(await store.sessionActivity.findApp('acct-1', 'app')).toEqual({
          accountId: 'acct-1', clientId: 'app', remembered: true, scope: 'openid email profile', claims: ['name'],
          resourceScopes: { 'https://api.example': 'orders:read' }, grantedAt: t0, lastUsedAt: after(60),
        });
        expect(await store.sessionActivity.findApp('acct-1', 'first-party')).toEqual({
          accountId: 'acct-1', clientId: 'first-party', remembered: false, scope: '', claims: [], resourceScopes: {}, grantedAt: null, lastUsedAt: after(5),
        });
        expect(await store.sessionActivity.findApp('acct-1', 'other')).toBeUndefined();
        expect((await store.sessionActivity.listApps('acct-1', 10)).map((app) => app.clientId)).toEqual(['app', 'first-party']);
        expect(await store.sessionActivity.listApps('acct-1', 1)).toHaveLength(1);

        expect(await store.sessionActivity.forgetApp('acct-1', 'app')).toBe(true);
        expect(await store.sessionActivity.forgetApp('acct-1', 'app')).toBe(false);
        expect(await store.sessionActivity.findApp('acct-1', 'app')).toBeUndefined();
        expect(await store.sessionActivity.findApp('acct-2', 'app')).toMatchObject({ remembered: true, scope: 'openid' });
      });

      it('forgets everything of an account at once', async () => {
        await store.sessionActivity.recordSession(seen('s-1', 'acct-1', t0));
        await store.sessionActivity.rememberConsent({ accountId: 'acct-1', clientId: 'app', scope: 'openid', claims: [], resourceScopes: {}, at: t0 });
        await store.sessionActivity.rememberConsent({ accountId: 'acct-2', clientId: 'app', scope: 'openid', claims: [], resourceScopes: {}, at: t0 });
        expect(await store.sessionActivity.forgetAccount('acct-1')).toBe(2);
        expect(await store.sessionActivity.listApps('acct-1', 10)).toEqual([]);
        expect(await store.sessionActivity.listSessions('acct-1', t0)).toEqual([]);
        expect(await store.sessionActivity.listApps('acct-2', 10)).toHaveLength(1);
      });
    });

    describe('linked identities', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
      const identity = (connectionId: string, subject: string, overrides: Partial<LinkedIdentityRecord> = {}): LinkedIdentityRecord => ({
        connectionId,
        subject,
        accountId: 'acct-1',
        email: `${subject}@upstream.example`,
        linkedAt: t0,
        lastUsedAt: null,
        ...overrides,
      });

      it('links an identity once, to anyone: a second link of the same (connection, subject) is refused', async () => {
        const record = identity('acme', '248289761001', { email: null });
        expect(await store.linkedIdentities.find('acme', '248289761001')).toBeUndefined();
        expect(await store.linkedIdentities.link(record)).toBe(true);
        expect(await store.linkedIdentities.find('acme', '248289761001')).toEqual(record);
        expect(await store.linkedIdentities.link(identity('acme', '248289761001', { accountId: 'acct-2' }))).toBe(false);
        expect(await store.linkedIdentities.link(identity('acme', '248289761001'))).toBe(false);
        expect(await store.linkedIdentities.find('acme', '248289761001')).toEqual(record);
        // The same subject at another connection is another identity; subjects are case-sensitive.
        expect(await store.linkedIdentities.link(identity('github', '248289761001', { accountId: 'acct-2' }))).toBe(true);
        expect(await store.linkedIdentities.link(identity('acme', 'AbC'))).toBe(true);
        expect(await store.linkedIdentities.link(identity('acme', 'abc'))).toBe(true);
        // Pairs that would run together if simply joined stay apart.
        expect(await store.linkedIdentities.link(identity('a', 'b:c'))).toBe(true);
        expect(await store.linkedIdentities.link(identity('a:b', 'c'))).toBe(true);
        expect(await store.linkedIdentities.find('a', 'b:c')).toMatchObject({ connectionId: 'a', subject: 'b:c' });
      });

      it('of a burst of concurrent links of one identity, exactly one wins', async () => {
        const racing = await Promise.all(Array.from({ length: 10 }, (_, index) => store.linkedIdentities.link(identity('acme', 'sub-race', { accountId: `acct-${index}` }))));
        expect(racing.filter(Boolean)).toHaveLength(1);
        const winner = racing.indexOf(true);
        expect(await store.linkedIdentities.find('acme', 'sub-race')).toMatchObject({ accountId: `acct-${winner}` });
        expect(await store.linkedIdentities.countForConnection('acme')).toBe(1);
      });

      it("lists an account's identities oldest first, and no one else's", async () => {
        await store.linkedIdentities.link(identity('github', '17', { linkedAt: after(20) }));
        await store.linkedIdentities.link(identity('acme', 'sub-1', { linkedAt: after(10) }));
        await store.linkedIdentities.link(identity('google', 'g-1', { linkedAt: after(30), lastUsedAt: after(40) }));
        await store.linkedIdentities.link(identity('acme', 'sub-2', { accountId: 'acct-2' }));
        expect((await store.linkedIdentities.listForAccount('acct-1')).map((record) => `${record.connectionId}/${record.subject}`)).toEqual(['acme/sub-1', 'github/17', 'google/g-1']);
        expect((await store.linkedIdentities.listForAccount('acct-1'))[2]).toEqual(identity('google', 'g-1', { linkedAt: after(30), lastUsedAt: after(40) }));
        expect(await store.linkedIdentities.listForAccount('acct-none')).toEqual([]);
        expect(await store.linkedIdentities.countForConnection('acme')).toBe(2);
        expect(await store.linkedIdentities.countForConnection('none')).toBe(0);
      });

      it('records a use', async () => {
        await store.linkedIdentities.link(identity('acme', 'sub-1'));
        expect(await store.linkedIdentities.recordUse('acme', 'sub-1', after(5))).toBe(true);
        expect(await store.linkedIdentities.find('acme', 'sub-1')).toMatchObject({ lastUsedAt: after(5) });
        // The same time again is still a use.
        expect(await store.linkedIdentities.recordUse('acme', 'sub-1', after(5))).toBe(true);
        expect(await store.linkedIdentities.recordUse('acme', 'sub-unknown', after(6))).toBe(false);
        expect(await store.linkedIdentities.find('acme', 'sub-unknown')).toBeUndefined();
      });

      it("unlinks only the account's own identity; the identity may be linked again", async () => {
        await store.linkedIdentities.link(identity('acme', 'sub-1'));
        expect(await store.linkedIdentities.unlink('acct-2', 'acme', 'sub-1')).toBe(false);
        expect(await store.linkedIdentities.unlink('acct-1', 'acme', 'sub-unknown')).toBe(false);
        expect(await store.linkedIdentities.unlink('acct-1', 'other', 'sub-1')).toBe(false);
        expect(await store.linkedIdentities.find('acme', 'sub-1')).toBeDefined();
        expect(await store.linkedIdentities.unlink('acct-1', 'acme', 'sub-1')).toBe(true);
        expect(await store.linkedIdentities.unlink('acct-1', 'acme', 'sub-1')).toBe(false);
        expect(await store.linkedIdentities.find('acme', 'sub-1')).toBeUndefined();
        expect(await store.linkedIdentities.link(identity('acme', 'sub-1', { accountId: 'acct-2' }))).toBe(true);
      });

      it("removes every identity of one connection and no other's", async () => {
        await store.linkedIdentities.link(identity('acme', 'sub-1'));
        await store.linkedIdentities.link(identity('acme', 'sub-2', { accountId: 'acct-2' }));
        await store.linkedIdentities.link(identity('acme-2', 'sub-1'));
        expect(await store.linkedIdentities.removeForConnection('acme')).toBe(2);
        expect(await store.linkedIdentities.removeForConnection('acme')).toBe(0);
        expect(await store.linkedIdentities.find('acme', 'sub-1')).toBeUndefined();
        expect(await store.linkedIdentities.listForAccount('acct-1')).toEqual([identity('acme-2', 'sub-1')]);
        expect(await store.linkedIdentities.countForConnection('acme')).toBe(0);
      });
    });

    describe('rate limit counters', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

      it('adds points within the window and restarts after it', async () => {
        expect(await store.rateLimits.get('login:a', t0)).toBeUndefined();
        expect(await store.rateLimits.add('login:a', 1, 60_000, t0, false)).toEqual({ points: 1, expiresAt: after(60) });
        expect(await store.rateLimits.add('login:a', 2, 60_000, after(10), false)).toEqual({ points: 3, expiresAt: after(60) });
        expect(await store.rateLimits.get('login:a', after(59))).toEqual({ points: 3, expiresAt: after(60) });
        expect(await store.rateLimits.get('login:a', after(60))).toBeUndefined();
        expect(await store.rateLimits.add('login:a', 1, 60_000, after(61), false)).toEqual({ points: 1, expiresAt: after(121) });
        expect(await store.rateLimits.add('login:b', 5, 60_000, t0, false)).toEqual({ points: 5, expiresAt: after(60) });
      });

      it('never loses a point to concurrent additions', async () => {
        await Promise.all(Array.from({ length: 25 }, () => store.rateLimits.add('register:1.2.3.4', 1, 60_000, t0, false)));
        expect(await store.rateLimits.get('register:1.2.3.4', t0)).toEqual({ points: 25, expiresAt: after(60) });
      });

      it('forceExpire sets points and expiry; a zero duration never expires; delete and sweep remove', async () => {
        await store.rateLimits.add('block:a', 3, 60_000, t0, false);
        expect(await store.rateLimits.add('block:a', 101, 300_000, after(1), true)).toEqual({ points: 101, expiresAt: after(301) });
        expect(await store.rateLimits.add('forever:a', 1, 0, t0, false)).toEqual({ points: 1, expiresAt: null });
        expect(await store.rateLimits.get('forever:a', after(10 ** 9))).toEqual({ points: 1, expiresAt: null });

        expect(await store.rateLimits.delete('block:a')).toBe(true);
        expect(await store.rateLimits.delete('block:a')).toBe(false);
        await store.rateLimits.add('short:a', 1, 1_000, t0, false);
        expect(await store.rateLimits.sweep(after(2))).toBe(1);
        expect(await store.rateLimits.get('forever:a', after(2))).toBeTruthy();
      });
    });

    it('keeps everything across a close and reopen', async () => {
      await store.oidc.model('Session').upsert('sess-1', { uid: 'uid-1', accountId: 'acct-alice' }, 3600);
      await store.oidc.model('RefreshToken').upsert('rt-1', { grantId: 'grant-1', accountId: 'acct-alice' });
      await store.oidc.model('DeviceCode').upsert('dc-1', { userCode: 'WDJB-MJHT' }, 600);
      const account = await store.accounts.create(newAccount());
      await store.clients.create(newClient('web-app'));
      await store.apis.create(newApi('https://api.example.test/orders'));
      await store.signingKeys.replace(0, [newSigningKey('kid-1')]);
      const passkey: PasskeyRecord = {
        id: 'cred-1', accountId: account.id, publicKey: 'pQECAyYgAS', counter: 3, transports: ['usb'], deviceType: 'singleDevice', backedUp: false,
        aaguid: '00000000-0000-0000-0000-000000000000', name: 'Key', createdAt: new Date('2024-05-01T10:00:00.000Z'), lastUsedAt: new Date('2024-05-02T10:00:00.000Z'),
      };
      await store.passkeys.create(passkey);
      await store.close();

      const reopened = await opened.reopen();

      expect(await reopened.oidc.model('Session').find('sess-1')).toEqual({ uid: 'uid-1', accountId: 'acct-alice' });
      expect(await reopened.oidc.model('Session').findByUid('uid-1')).toEqual({ uid: 'uid-1', accountId: 'acct-alice' });
      expect(await reopened.oidc.model('RefreshToken').find('rt-1')).toEqual({ grantId: 'grant-1', accountId: 'acct-alice' });
      expect(await reopened.oidc.model('DeviceCode').findByUserCode('WDJB-MJHT')).toEqual({ userCode: 'WDJB-MJHT' });
      expect(await reopened.accounts.findByEmail('alice@example.com')).toEqual(account);
      expect(await reopened.clients.find('web-app')).toEqual(newClient('web-app'));
      expect(await reopened.apis.find('https://api.example.test/orders')).toEqual(newApi('https://api.example.test/orders'));
      expect(await reopened.signingKeys.read()).toEqual({ version: 1, keys: [newSigningKey('kid-1')] });
      expect(await reopened.passkeys.listForAccount(account.id)).toEqual([passkey]);
      // The unique email survives too.
      await expectGatehouseError(reopened.accounts.create(newAccount({ id: 'acct-other', email: 'ALICE@example.com' })), 'conflict');
    });

    describe('account deletion and erasure', () => {
      const t0 = new Date('2024-09-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
      const subject = { accountId: 'acct-alice', email: 'Alice@Example.COM', pseudonym: 'erased:pseudonym-of-alice' };

      it('schedules a deletion, finds it once due, and clears it, without moving updatedAt', async () => {
        const created = await store.accounts.create(newAccount());
        await store.accounts.create(newAccount({ id: 'acct-bob', email: 'bob@example.com' }));
        expect(created.deleteAfter).toBeUndefined();

        const scheduled = await store.accounts.scheduleDeletion('acct-alice', after(60));
        expect(scheduled?.deleteAfter).toEqual(after(60));
        expect(scheduled?.updatedAt).toEqual(created.updatedAt);
        expect((await store.accounts.findByEmail('alice@example.com'))?.deleteAfter).toEqual(after(60));
        expect(await store.accounts.dueForDeletion(after(59), 10)).toEqual([]);
        expect(await store.accounts.dueForDeletion(after(60), 10)).toEqual(['acct-alice']);
        await store.accounts.scheduleDeletion('acct-bob', after(30));
        expect(await store.accounts.dueForDeletion(after(600), 10)).toEqual(['acct-bob', 'acct-alice']);
        expect(await store.accounts.dueForDeletion(after(600), 1)).toEqual(['acct-bob']);

        const cleared = await store.accounts.scheduleDeletion('acct-alice', null);
        expect(cleared).not.toHaveProperty('deleteAfter');
        expect(await store.accounts.dueForDeletion(after(600), 10)).toEqual(['acct-bob']);
        expect(await store.accounts.scheduleDeletion('acct-nobody', after(1))).toBeUndefined();
      });

      /** Alice with a record in every table that keeps one about an account, and Bob with the same, who must be left alone. */
      async function everythingAbout(id: string, email: string) {
        await store.accounts.create(newAccount({ id, email }));
        for (const model of ['Session', 'Grant', 'AccessToken', 'RefreshToken', 'Interaction']) {
          await store.oidc.model(model).upsert(`${model}-${id}`, { accountId: id, grantId: `Grant-${id}` }, 3600);
        }
        await store.secondFactors.begin(id, `sealed-${id}`, t0);
        await store.passkeys.create({
          id: `pk-${id}`, accountId: id, publicKey: 'public', counter: 0, transports: [], deviceType: 'multiDevice', backedUp: true,
          aaguid: '00000000-0000-0000-0000-000000000000', name: 'Phone', createdAt: t0, lastUsedAt: null,
        });
        await store.linkedIdentities.link({ connectionId: 'acme', subject: `sub-${id}`, accountId: id, email: `upstream-${email}`, linkedAt: t0, lastUsedAt: null });
        await store.codes.issue({
          id: `code-${id}`, purpose: 'verify_email', email: email.toLowerCase(), accountId: id, codeHash: 'h', linkHash: `link-${id}`, createdAt: t0, expiresAt: after(900),
        });
        // A decoy to the address (no account): it names the address too.
        await store.codes.issue({
          id: `decoy-${id}`, purpose: 'reset_password', email: email.toLowerCase(), accountId: null, codeHash: null, linkHash: `decoy-${id}`, createdAt: t0, expiresAt: after(900),
        });
        await store.mail.enqueue({ id: `mail-${id}`, to: email, subject: 'Your code', text: 'code 123456', createdAt: t0 });
        await store.mail.recordDrop({ to: email, kind: `budget-${id}`, reason: 'budget', at: t0 });
        const delivery = (did: string, sid: string) => ({ id: did, clientId: 'app', accountId: id, sid, reason: 'account_deleted', createdAt: t0 });
        await store.logoutDeliveries.enqueue(delivery(`pending-${id}`, `sid-1-${id}`));
        await store.logoutDeliveries.enqueue(delivery(`done-${id}`, `sid-2-${id}`));
        await store.logoutDeliveries.markDelivered(`done-${id}`, after(1));
        await store.rateLimits.add(`password:${email.toLowerCase()}|203.0.113.9`, 1, 60_000, t0, false);
        await store.rateLimits.add(`account:${id}`, 1, 60_000, t0, false);
        await store.audit.append({ at: t0, type: 'login', actor: 'user', accountId: id, clientId: 'app', sourceAddress: '203.0.113.9', details: { email, method: 'pwd' } });
        await store.audit.append({ at: after(1), type: 'login_failed', actor: 'user', sourceAddress: '203.0.113.9', details: { email: email.toUpperCase(), reason: 'wrong_password' } });
        // The account centre's tables (0018, 0019).
        await store.sessionActivity.recordSession({
          sessionId: `Session-${id}`, accountId: id, userAgent: 'Firefox', sourceAddress: '203.0.113.9', amr: ['pwd'], firstSeenAt: t0, lastSeenAt: t0, expiresAt: after(3600),
        });
        await store.sessionActivity.recordAppUse(id, 'app', t0);
        await store.knownDevices.remember(id, `device-of-${id}`, t0);
      }

      it('erases the account and every record about it, leaves the audit trail pseudonymous, and frees the address', async () => {
        await everythingAbout('acct-alice', 'Alice@Example.COM');
        await everythingAbout('acct-bob', 'bob@example.com');
        const bobBefore = await store.audit.tail({ limit: 10, accountId: 'acct-bob' });

        const counts = await store.accountErasure.erase(subject);
        expect(counts.accounts).toBe(1);

        expect(await store.accounts.findById('acct-alice')).toBeUndefined();
        expect(await store.accounts.findByEmail('alice@example.com')).toBeUndefined();
        for (const model of ['Session', 'Grant', 'AccessToken', 'RefreshToken', 'Interaction']) {
          expect(await store.oidc.model(model).find(`${model}-acct-alice`)).toBeUndefined();
          expect(await store.oidc.model(model).find(`${model}-acct-bob`)).toBeDefined();
        }
        expect(await store.secondFactors.find('acct-alice')).toBeUndefined();
        expect(await store.passkeys.listForAccount('acct-alice')).toEqual([]);
        expect(await store.linkedIdentities.listForAccount('acct-alice')).toEqual([]);
        expect(await store.codes.find('code-acct-alice')).toBeUndefined();
        expect(await store.codes.find('decoy-acct-alice')).toBeUndefined();
        const queued = await store.mail.claimDue(after(10), 60, 100);
        expect(queued.map((mail) => mail.to)).toEqual(['bob@example.com']);
        const drops = await store.mail.drops(10);
        expect(drops.recent.map((drop) => drop.lastRecipient).sort()).toEqual(['', 'bob@example.com']);
        expect(drops.dropped).toBe(2);
        // The pending logout is still owed to the application; the finished one is gone.
        const logouts = await store.logoutDeliveries.status(10);
        expect(logouts).toMatchObject({ pending: 2, delivered: 1 });
        expect(await store.rateLimits.get('password:alice@example.com|203.0.113.9', after(1))).toBeUndefined();
        expect(await store.rateLimits.get('account:acct-alice', after(1))).toBeUndefined();
        expect(await store.rateLimits.get('account:acct-bob', after(1))).toBeDefined();
        expect(await store.sessionActivity.listSessions('acct-alice', t0)).toEqual([]);
        expect(await store.sessionActivity.listApps('acct-alice', 10)).toEqual([]);
        expect(await store.knownDevices.list('acct-alice')).toEqual([]);
        expect(await store.sessionActivity.listSessions('acct-bob', t0)).toHaveLength(1);
        expect(await store.sessionActivity.listApps('acct-bob', 10)).toHaveLength(1);
        expect(await store.knownDevices.list('acct-bob')).toHaveLength(1);

        // The events stay, counted under the pseudonym, with nothing that names the person.
        expect(await store.audit.tail({ limit: 10, accountId: 'acct-alice' })).toEqual([]);
        const erased = await store.audit.tail({ limit: 10, accountId: subject.pseudonym });
        expect(erased).toEqual([{ at: t0, type: 'login', actor: 'user', accountId: subject.pseudonym, clientId: 'app', details: { erased: true } }]);
        const all = await store.audit.tail({ limit: 100 });
        expect(JSON.stringify(all).toLowerCase()).not.toContain('alice@example.com');
        expect(all.find((event) => event.type === 'login_failed' && event.details.erased)).toMatchObject({ actor: 'user', details: { erased: true } });
        expect(await store.audit.tail({ limit: 10, accountId: 'acct-bob' })).toEqual(bobBefore);

        // The address is free again at once.
        const again = await store.accounts.create(newAccount({ id: 'acct-alice-2' }));
        expect(again.email).toBe('Alice@Example.COM');
        expect(again.deleteAfter).toBeUndefined();
      });

      it('can run again over an erased account (an erasure cut short is finished by the next)', async () => {
        await everythingAbout('acct-alice', 'Alice@Example.COM');
        await store.accountErasure.erase(subject);
        const second = await store.accountErasure.erase(subject);
        expect(second.accounts).toBe(0);
        expect(await store.accounts.findByEmail('alice@example.com')).toBeUndefined();
        expect(await store.audit.tail({ limit: 10, accountId: subject.pseudonym })).toHaveLength(1);
      });
    });

    describe('migrations', () => {
      it('lists what a new database is missing until migrate applies it; migrate is idempotent', async () => {
        // The store handed over is migrated (development and test migrate when they start).
        expect(await store.pendingMigrations()).toEqual([]);
        const fresh = await opened.openUnmigrated('fresh');
        // `db status` pings before it asks.
        await fresh.ping();

        const pending = await fresh.pendingMigrations();
        expect(pending.length).toBeGreaterThan(0);
        expect(new Set(pending).size).toBe(pending.length);
        // Names, one line each: start-up prints them in one line.
        for (const step of pending) expect(step).toMatch(/^\S+$/);
        expect(await fresh.pendingMigrations()).toEqual(pending);

        await fresh.migrate();
        expect(await fresh.pendingMigrations()).toEqual([]);
        await fresh.migrate();
        expect(await fresh.pendingMigrations()).toEqual([]);
        await fresh.accounts.create(newAccount());
        await expectGatehouseError(fresh.accounts.create(newAccount({ id: 'acct-other', email: 'ALICE@example.com' })), 'conflict');
      });

      it('serves a store opened before another process migrated the database, with the new schema', async () => {
        const early = await opened.openUnmigrated('shared');
        const migrator = await opened.openUnmigrated('shared');
        const pending = await early.pendingMigrations();
        expect(pending).not.toEqual([]);
        expect(await migrator.pendingMigrations()).toEqual(pending);

        await migrator.migrate();

        expect(await early.pendingMigrations()).toEqual([]);
        const account = await early.accounts.create(newAccount());
        expect(await migrator.accounts.findByEmail('alice@example.com')).toEqual(account);
        await expectGatehouseError(migrator.accounts.create(newAccount({ id: 'acct-other', email: 'ALICE@example.com' })), 'conflict');
      });

      it('lets two processes migrate one new database at once', async () => {
        const [first, second] = [await opened.openUnmigrated('together'), await opened.openUnmigrated('together')];
        expect(await first.pendingMigrations()).not.toEqual([]);

        await Promise.all([first.migrate(), second.migrate()]);

        expect(await first.pendingMigrations()).toEqual([]);
        expect(await second.pendingMigrations()).toEqual([]);
        await first.clients.create(newClient('web-app'));
        expect(await second.clients.find('web-app')).toEqual(newClient('web-app'));
      });
    });

    describe('revoking all but one session', () => {
      /** Alice in two browsers: this one (signed in to the account page and an app) and another. */
      async function twoBrowsers() {
        const sessions = store.oidc.model('Session');
        const grants = store.oidc.model('Grant');
        const accessTokens = store.oidc.model('AccessToken');
        const refreshTokens = store.oidc.model('RefreshToken');
        const codes = store.oidc.model('AuthorizationCode');
        await sessions.upsert('sess-here', { uid: 'uid-here', accountId: 'acct-alice', authorizations: { account: { grantId: 'grant-here-account' }, web: { grantId: 'grant-here-web' } } }, 3600);
        await grants.upsert('grant-here-account', { accountId: 'acct-alice', clientId: 'account' }, 3600);
        await grants.upsert('grant-here-web', { accountId: 'acct-alice', clientId: 'web' }, 3600);
        await accessTokens.upsert('at-here-web', { accountId: 'acct-alice', grantId: 'grant-here-web' }, 3600);
        await refreshTokens.upsert('rt-here-web', { accountId: 'acct-alice', grantId: 'grant-here-web' });
        await sessions.upsert('sess-there', { uid: 'uid-there', accountId: 'acct-alice' }, 3600);
        await grants.upsert('grant-there', { accountId: 'acct-alice', clientId: 'web' }, 3600);
        await accessTokens.upsert('at-there', { accountId: 'acct-alice', grantId: 'grant-there' }, 3600);
        await refreshTokens.upsert('rt-there', { accountId: 'acct-alice', grantId: 'grant-there' });
        await codes.upsert('code-there', { accountId: 'acct-alice', grantId: 'grant-there' }, 60);
        // Offline access outlives the session it was granted in.
        await grants.upsert('grant-offline', { accountId: 'acct-alice', clientId: 'cli' }, 3600);
        await refreshTokens.upsert('rt-offline', { accountId: 'acct-alice', grantId: 'grant-offline' });
        await sessions.upsert('sess-bob', { uid: 'uid-bob', accountId: 'acct-bob' }, 3600);
        await refreshTokens.upsert('rt-bob', { accountId: 'acct-bob', grantId: 'grant-bob' });
        return { sessions, grants, accessTokens, refreshTokens, codes };
      }

      it('keeps the session and the grants named, with their tokens, and removes the rest of the account', async () => {
        const { sessions, grants, accessTokens, refreshTokens, codes } = await twoBrowsers();

        const removed = await store.oidc.revokeByAccountId('acct-alice', { sessionId: 'sess-here', grantIds: ['grant-here-account', 'grant-here-web'] });

        expect(removed).toBe(7);
        expect(await sessions.find('sess-here')).toMatchObject({ uid: 'uid-here' });
        expect(await sessions.findByUid('uid-here')).toMatchObject({ accountId: 'acct-alice' });
        expect(await grants.find('grant-here-account')).toMatchObject({ clientId: 'account' });
        expect(await grants.find('grant-here-web')).toMatchObject({ clientId: 'web' });
        expect(await accessTokens.find('at-here-web')).toMatchObject({ grantId: 'grant-here-web' });
        expect(await refreshTokens.find('rt-here-web')).toMatchObject({ grantId: 'grant-here-web' });
        for (const [model, id] of [[sessions, 'sess-there'], [grants, 'grant-there'], [accessTokens, 'at-there'], [refreshTokens, 'rt-there'], [codes, 'code-there'], [grants, 'grant-offline'], [refreshTokens, 'rt-offline']] as const) {
          expect(await model.find(id), id).toBeUndefined();
        }
        expect(await sessions.findByUid('uid-there')).toBeUndefined();
        // Other accounts are untouched.
        expect(await sessions.find('sess-bob')).toMatchObject({ accountId: 'acct-bob' });
        expect(await refreshTokens.find('rt-bob')).toMatchObject({ accountId: 'acct-bob' });
        expect(await store.oidc.revokeByAccountId('acct-alice', { sessionId: 'sess-here', grantIds: ['grant-here-account', 'grant-here-web'] })).toBe(0);
      });

      it('with only a session kept, revokes every grant and token (the session stays)', async () => {
        const { sessions, grants, refreshTokens } = await twoBrowsers();

        expect(await store.oidc.revokeByAccountId('acct-alice', { sessionId: 'sess-here' })).toBe(11);

        expect(await sessions.find('sess-here')).toMatchObject({ uid: 'uid-here' });
        expect(await grants.find('grant-here-web')).toBeUndefined();
        expect(await refreshTokens.find('rt-here-web')).toBeUndefined();
        expect(await refreshTokens.find('rt-bob')).toMatchObject({ accountId: 'acct-bob' });
      });

      it('with an empty exception list, removes everything of the account like a plain revocation', async () => {
        const { sessions } = await twoBrowsers();

        expect(await store.oidc.revokeByAccountId('acct-alice', {})).toBe(12);

        expect(await sessions.find('sess-here')).toBeUndefined();
        expect(await sessions.find('sess-bob')).toMatchObject({ accountId: 'acct-bob' });
      });
    });

    describe('write probe', () => {
      it('resolves undefined while the store takes writes, every time', async () => {
        expect(await store.probeWrite()).toBeUndefined();
        expect(await store.probeWrite()).toBeUndefined();
      });

      it('answers "unreachable" once the store is closed, instead of throwing', async () => {
        await store.close();

        expect(await store.probeWrite()).toMatchObject({ reason: 'unreachable', message: expect.any(String) });
      });
    });

    describe('sweeping in batches', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

      /** Calls `sweep(limit)` until it returns less than the limit; the counts of every call. */
      async function batches(sweep: (limit: number) => Promise<number>, limit: number): Promise<number[]> {
        const counts: number[] = [];
        for (;;) {
          const count = await sweep(limit);
          counts.push(count);
          if (count < limit) return counts;
        }
      }

      it('sweepExpired with a limit removes at most that many expired records per call, across models', async () => {
        const tokens = store.oidc.model('AccessToken');
        const sessions = store.oidc.model('Session');
        for (const id of ['t-1', 't-2', 't-3']) await tokens.upsert(id, { grantId: 'grant-1' }, 1);
        for (const id of ['s-1', 's-2']) await sessions.upsert(id, { uid: `uid-${id}`, accountId: 'acct-1' }, 1);
        await tokens.upsert('live', { grantId: 'grant-2' }, 3600);
        await tokens.upsert('forever', { grantId: 'grant-3' });

        await (opened.passTime ?? sleep)(pastOneSecond);

        const counts = await batches((limit) => store.oidc.sweepExpired(limit), 2);
        // MongoDB's TTL monitor may have removed some already (see sweepExpired above).
        if (store.kind === 'sqlite') expect(counts).toEqual([2, 2, 1]);
        expect(counts.every((count) => count <= 2)).toBe(true);
        expect(await store.oidc.sweepExpired()).toBe(0);
        expect(await tokens.find('live')).toEqual({ grantId: 'grant-2' });
        expect(await tokens.find('forever')).toEqual({ grantId: 'grant-3' });
      });

      it('codes.sweep with a limit removes at most that many codes expired before the time given', async () => {
        for (let index = 1; index <= 5; index += 1) {
          await store.codes.issue({
            id: `c-${index}`, purpose: 'verify_email', email: `p${index}@example.com`, accountId: `acct-${index}`, codeHash: null,
            linkHash: `link-${index}`, createdAt: t0, expiresAt: after(100 * index),
          });
        }
        await store.codes.issue({
          id: 'c-live', purpose: 'verify_email', email: 'live@example.com', accountId: 'acct-live', codeHash: null,
          linkHash: 'link-live', createdAt: t0, expiresAt: after(2000),
        });

        expect(await batches((limit) => store.codes.sweep(after(1000), limit), 2)).toEqual([2, 2, 1]);
        expect(await store.codes.sweep(after(1000))).toBe(0);
        expect(await store.codes.find('c-live')).toMatchObject({ id: 'c-live' });
      });

      it('rateLimits.sweep with a limit removes at most that many expired counters', async () => {
        for (let index = 1; index <= 5; index += 1) await store.rateLimits.add(`short:${index}`, 1, 1_000 * index, t0, false);
        await store.rateLimits.add('long:a', 1, 3_600_000, t0, false);
        await store.rateLimits.add('forever:a', 1, 0, t0, false);

        expect(await batches((limit) => store.rateLimits.sweep(after(10), limit), 2)).toEqual([2, 2, 1]);
        expect(await store.rateLimits.sweep(after(10))).toBe(0);
        expect(await store.rateLimits.get('long:a', after(10))).toEqual({ points: 1, expiresAt: after(3600) });
        expect(await store.rateLimits.get('forever:a', after(10))).toEqual({ points: 1, expiresAt: null });
      });

      it('without a limit, every expired record goes, however many batches it takes', async () => {
        for (let index = 0; index < 1_203; index += 1) await store.rateLimits.add(`many:${index}`, 1, 1_000, t0, false);
        await store.rateLimits.add('long:a', 1, 3_600_000, t0, false);

        expect(await store.rateLimits.sweep(after(10))).toBe(1_203);
        expect(await store.rateLimits.get('long:a', after(10))).toBeTruthy();
      });
    });

    describe('leases', () => {
      const t0 = new Date('2024-08-01T09:00:00.000Z');
      const after = (seconds: number) => new Date(t0.getTime() + seconds * 1000);

      it('is held by one holder until it expires, renewed by that holder, then taken over', async () => {
        expect(await store.leases.acquire('sweeper', 'a', t0, after(60))).toBe(true);
        expect(await store.leases.acquire('sweeper', 'b', after(10), after(70))).toBe(false);
        // Renewing moves the expiry: b is still refused after the first one would have ended.
        expect(await store.leases.acquire('sweeper', 'a', after(30), after(90))).toBe(true);
        expect(await store.leases.acquire('sweeper', 'b', after(60), after(120))).toBe(false);
        // Another lease is another name.
        expect(await store.leases.acquire('other', 'b', after(60), after(120))).toBe(true);

        expect(await store.leases.acquire('sweeper', 'b', after(90), after(150))).toBe(true);
        expect(await store.leases.acquire('sweeper', 'a', after(100), after(160))).toBe(false);
      });

      it('is released only by its holder', async () => {
        await store.leases.acquire('sweeper', 'a', t0, after(60));
        await store.leases.release('sweeper', 'b');
        expect(await store.leases.acquire('sweeper', 'b', after(1), after(61))).toBe(false);

        await store.leases.release('sweeper', 'a');
        expect(await store.leases.acquire('sweeper', 'b', after(1), after(61))).toBe(true);
      });

      it('goes to exactly one of several holders asking at once', async () => {
        const results = await Promise.all(Array.from({ length: 8 }, (_, index) => store.leases.acquire('sweeper', `holder-${index}`, t0, after(60))));
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });
  });
}
