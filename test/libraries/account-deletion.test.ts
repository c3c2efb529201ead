import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import { auditPseudonym } from '../../src/libraries/account-deletion.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import type { Outbox } from '../../src/mail/outbox.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';
import { createSweeper } from '../../src/sweeper.ts';
import { movableClock } from '../helpers/clock.ts';
import type { MovableClock } from '../helpers/clock.ts';
import { cheapPasswordHashing, testEnvironment } from '../helpers/gatehouse.ts';

/** The account deletion library on a real SQLite store: request, cancel, erase, the sweep, the export. */

const day = 86_400_000;
const person = { actor: 'user' as const, sourceAddress: '198.51.100.7' };

let dir: string;
let store: Store;
let clock: MovableClock;
let config: Config;
let libraries: Libraries;
const key = randomBytes(32);
const mailed: string[] = [];

function build(overrides: Partial<Config['accounts']> = {}) {
  config = cheapPasswordHashing(loadConfig(testEnvironment(dir)));
  config = { ...config, accounts: { ...config.accounts, ...overrides } };
  const outbox = { send: async (mail: { to: string }) => void mailed.push(mail.to) } as unknown as Outbox;
  libraries = createLibraries({ store, config, clock, outbox, keyEncryptionKey: key });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-account-deletion-'));
  clock = movableClock();
  store = openSqliteStore(join(dir, 'gatehouse.db'), () => clock().getTime());
  build();
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function alice() {
  const account = await libraries.accounts.create({ email: 'Alice@Example.com', password: 'a long enough password', name: 'Alice' }, { actor: 'cli' });
  // Signed in twice, to an app that takes back-channel logouts.
  await store.clients.create({
    metadata: {
      client_id: 'notified', redirect_uris: ['https://app.example.test/cb'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      token_endpoint_auth_method: 'none', backchannel_logout_uri: 'https://app.example.test/bcl', backchannel_logout_session_required: true,
    },
    createdAt: clock(), dynamic: false, lastUsedAt: null,
  });
  for (const id of ['s-1', 's-2']) {
    await store.oidc.model('Session').upsert(id, { jti: id, uid: `uid-${id}`, accountId: account.id, loginTs: 1_700_000_000, amr: ['pwd'], authorizations: { notified: { sid: `sid-${id}`, grantId: `g-${id}` } } }, 3600);
    await store.oidc.model('Grant').upsert(`g-${id}`, { jti: `g-${id}`, accountId: account.id, clientId: 'notified', iat: 1_700_000_000, openid: { scope: 'openid email' } }, 3600);
    await store.oidc.model('RefreshToken').upsert(`rt-${id}`, { jti: `rt-${id}`, accountId: account.id, grantId: `g-${id}`, clientId: 'notified' }, 3600);
  }
  return account;
}

describe('request and cancel', () => {
  it('schedules the erasure after the grace period, ends every session (telling the app), and is audited; cancel keeps the account', async () => {
    const account = await alice();
    const { deleteAfter } = await libraries.accountDeletion.request(account.id, person);

    expect(Math.abs(deleteAfter.getTime() - (clock().getTime() + 7 * day))).toBeLessThan(1000);
    expect((await libraries.accounts.findById(account.id))?.deleteAfter).toEqual(deleteAfter);
    expect(await store.oidc.listByAccountId('Session', account.id, 10)).toEqual([]);
    expect(await store.oidc.model('RefreshToken').find('rt-s-1')).toBeUndefined();
    const owed = await store.logoutDeliveries.claimDue(clock(), 60, 10);
    expect(owed.map((delivery) => [delivery.sid, delivery.reason]).sort()).toEqual([['sid-s-1', 'account_deleted'], ['sid-s-2', 'account_deleted']]);
    const events = await libraries.audit.tail({ limit: 20, accountId: account.id });
    expect(events.find((event) => event.type === 'account_deletion_requested')).toMatchObject({
      actor: 'user', sourceAddress: '198.51.100.7', details: { deleteAfter: deleteAfter.toISOString(), graceDays: 7 },
    });
    expect(await libraries.accountDeletion.due(new Date(deleteAfter.getTime() - 1))).toEqual([]);
    expect(await libraries.accountDeletion.due(deleteAfter)).toEqual([account.id]);

    expect(await libraries.accountDeletion.cancel(account.id, person)).toBe(true);
    expect((await libraries.accounts.findById(account.id))?.deleteAfter).toBeUndefined();
    expect(await libraries.accountDeletion.due(new Date(deleteAfter.getTime() + day))).toEqual([]);
    expect(await libraries.accountDeletion.cancel(account.id, person)).toBe(false);
    const types = (await libraries.audit.tail({ limit: 20, accountId: account.id })).map((event) => event.type);
    expect(types.filter((type) => type.startsWith('account_deletion'))).toEqual(['account_deletion_requested', 'account_deletion_cancelled']);
  });

  it('with a grace period of 0, erases at once', async () => {
    build({ deletionGraceDays: 0 });
    const account = await alice();
    await libraries.accountDeletion.request(account.id, person);
    expect(await libraries.accounts.findById(account.id)).toBeUndefined();
  });

  it('refuses an unknown account (not_found)', async () => {
    for (const call of [
      libraries.accountDeletion.request('nobody', person), libraries.accountDeletion.cancel('nobody', person),
      libraries.accountDeletion.deleteNow('nobody', person), libraries.accountDeletion.exportData('nobody'),
    ]) {
      await expect(call).rejects.toSatisfy((error) => error instanceof GatehouseError && error.code === 'not_found');
    }
  });
});

describe('deleteNow', () => {
  it('tells the apps, erases everything, keeps a pseudonymous audit trail, and frees the address', async () => {
    const account = await alice();
    await libraries.passkeys.list(account.id);
    await store.passkeys.create({
      id: 'pk-1', accountId: account.id, publicKey: 'public', counter: 0, transports: [], deviceType: 'multiDevice', backedUp: true,
      aaguid: '00000000-0000-0000-0000-000000000000', name: 'Phone', createdAt: clock(), lastUsedAt: null,
    });
    const before = await libraries.audit.tail({ limit: 50, accountId: account.id });
    expect(before.length).toBeGreaterThan(0);

    const deleted = await libraries.accountDeletion.deleteNow(account.id, { actor: 'cli' });

    expect(deleted.pseudonym).toBe(auditPseudonym(key, account.id));
    expect(deleted.pseudonym).not.toContain(account.id);
    expect(deleted).toMatchObject({ email: 'Alice@Example.com', sessions: 2, logoutsQueued: 2 });
    expect(await libraries.accounts.findByEmail('alice@example.com')).toBeUndefined();
    expect(await store.passkeys.listForAccount(account.id)).toEqual([]);
    expect(await store.oidc.model('Grant').find('g-s-1')).toBeUndefined();
    // The applications are still owed their logout tokens.
    expect((await store.logoutDeliveries.status(10)).pending).toBe(2);
    expect(await libraries.audit.tail({ limit: 50, accountId: account.id })).toEqual([]);
    const kept = await libraries.audit.tail({ limit: 50, accountId: deleted.pseudonym });
    // Every earlier event is still there to count, under the pseudonym, details gone (the logouts
    // queued for the apps too); then account_erasure_started (for webhooks) and account_deleted.
    expect(kept.map((event) => event.type)).toEqual([...before.map((event) => event.type), 'backchannel_logout.queued', 'backchannel_logout.queued', 'account_erasure_started', 'account_deleted']);
    for (const event of kept.slice(0, -1)) {
      expect(event.details).toEqual({ erased: true });
      expect(event.sourceAddress).toBeUndefined();
    }
    expect(kept.at(-1)).toMatchObject({ type: 'account_deleted', actor: 'cli', details: { scheduled: false, sessions: 2, logoutsQueued: 2 } });
    expect(JSON.stringify(await libraries.audit.tail({ limit: 200 })).toLowerCase()).not.toContain('alice@example.com');

    // A pseudonym is stable per account and differs between accounts and keys.
    expect(libraries.accountDeletion.pseudonymFor(account.id)).toBe(deleted.pseudonym);
    expect(auditPseudonym(key, 'another')).not.toBe(deleted.pseudonym);
    expect(auditPseudonym(randomBytes(32), account.id)).not.toBe(deleted.pseudonym);

    // Registering the address again works at once, through the registration flow's library.
    const registered = await libraries.registration.register({ email: 'alice@example.com', password: 'another long password', name: 'Alice again' }, person);
    expect(registered.account?.id ?? (await libraries.accounts.findByEmail('alice@example.com'))?.id).toBeDefined();
    expect((await libraries.accounts.findByEmail('alice@example.com'))?.id).not.toBe(account.id);
  });
});

describe('the sweep', () => {
  it('erases the accounts whose grace period has passed, on the sweeper, and no others', async () => {
    const account = await alice();
    const bob = await libraries.accounts.create({ email: 'bob@example.com', password: 'a long enough password' }, { actor: 'cli' });
    await libraries.accountDeletion.request(account.id, person);
    clock.advance(day);
    await libraries.accountDeletion.request(bob.id, person);
    const sweeper = createSweeper({ store, logger: { warn: () => undefined }, clock, deleteDueAccounts: (limit) => libraries.accountDeletion.sweep(limit) });

    clock.advance(6 * day - 60_000);
    expect((await sweeper.sweep()).deleted.accounts).toBe(0);
    expect(await libraries.accounts.findById(account.id)).toBeDefined();

    clock.advance(120_000);
    expect((await sweeper.sweep()).deleted.accounts).toBe(1);
    expect(await libraries.accounts.findById(account.id)).toBeUndefined();
    expect(await libraries.accounts.findById(bob.id)).toBeDefined();
    const deleted = await libraries.audit.tail({ limit: 5, accountId: libraries.accountDeletion.pseudonymFor(account.id) });
    expect(deleted.at(-1)).toMatchObject({ type: 'account_deleted', actor: 'system', details: { scheduled: true } });

    clock.advance(day);
    expect(await libraries.accountDeletion.sweep()).toBe(1);
    expect(await libraries.accounts.findById(bob.id)).toBeUndefined();
  });
});

describe('exportData', () => {
  it('describes everything about the person, never a hash, secret, code or token', async () => {
    const account = await alice();
    const enrollment = await libraries.secondFactor.enrollment(account);
    const { generateSync } = await import('otplib');
    const activated = await libraries.secondFactor.activate(account.id, generateSync({ secret: enrollment.secret }), person);
    expect(activated.ok).toBe(true);
    await store.passkeys.create({
      id: 'credential-id-1', accountId: account.id, publicKey: 'the-public-key', counter: 3, transports: ['internal'], deviceType: 'multiDevice', backedUp: true,
      aaguid: '00000000-0000-0000-0000-000000000000', name: 'Phone', createdAt: clock(), lastUsedAt: null,
    });
    await store.linkedIdentities.link({ connectionId: 'acme', subject: 'upstream-1', accountId: account.id, email: 'alice@acme.example', linkedAt: clock(), lastUsedAt: null });

    const exported = await libraries.accountDeletion.exportData(account.id);
    const text = JSON.stringify(exported);

    expect(exported.account).toMatchObject({ id: account.id, email: 'Alice@Example.com', profile: { name: 'Alice' }, emailVerified: false });
    expect(exported.factors.password).toEqual({ set: true });
    expect(exported.factors.authenticatorApp).toEqual({ enabledSince: expect.any(String), recoveryCodesLeft: 10 });
    expect(exported.factors.passkeys).toEqual([{ name: 'Phone', createdAt: expect.any(String), lastUsedAt: null, synced: true, deviceType: 'multiDevice' }]);
    expect(exported.linkedIdentities).toEqual([{ connection: 'acme', connectionName: null, subject: 'upstream-1', email: 'alice@acme.example', linkedAt: expect.any(String), lastUsedAt: null }]);
    expect(exported.sessions).toHaveLength(2);
    expect(exported.sessions[0]).toEqual({ signedInAt: '2023-11-14T22:13:20.000Z', expiresAt: expect.any(String), methods: ['pwd'], applications: ['notified'] });
    expect(exported.grants[0]).toMatchObject({ clientId: 'notified', scopes: ['openid', 'email'], grantedAt: '2023-11-14T22:13:20.000Z' });
    expect(exported.auditEvents.map((event) => event.type)).toEqual(expect.arrayContaining(['account_created', 'mfa_enabled']));
    // No hash, secret, code, id of a session, grant, token or credential.
    for (const secret of [account.passwordHash!, enrollment.secret, ...(activated.ok ? activated.recoveryCodes : []), 's-1', 'g-s-1', 'rt-s-1', 'credential-id-1', 'the-public-key', 'uid-s-1']) {
      expect(text).not.toContain(secret);
    }
  });
});
