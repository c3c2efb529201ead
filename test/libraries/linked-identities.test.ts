import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import type { AuditSource } from '../../src/libraries/audit.ts';
import { cliSource } from '../../src/libraries/audit.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import type { IdentitiesLibrary } from '../../src/libraries/linked-identities.ts';
import { InvalidInputError } from '../../src/libraries/validation.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { AccountRecord, AuditEvent, PasskeyRecord, Store } from '../../src/store/types.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';

const person: AuditSource = { actor: 'user', sourceAddress: '203.0.113.9' };

let dir: string;
let store: Store;
let now: Date;
let libraries: Libraries;
let identities: IdentitiesLibrary;
let ada: AccountRecord;
let bob: AccountRecord;
let mailed: Array<{ to: string; template: string; values: Record<string, unknown> }>;

async function account(id: string, passwordHash: string | null): Promise<AccountRecord> {
  return store.accounts.create({ id, email: `${id}@example.com`, passwordHash, emailVerified: true, profile: {}, roles: [], disabled: false });
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-identities-'));
  store = openSqliteStore(join(dir, 'test.db'), () => now.getTime());
  now = new Date('2025-06-01T10:00:00.000Z');
  mailed = [];
  const outbox = { send: async (to: string, template: string, values: Record<string, unknown>) => { mailed.push({ to, template, values }); } };
  libraries = createLibraries({ store, config: loadConfig(testEnvironment(dir)), clock: () => now, outbox, keyEncryptionKey: Buffer.alloc(32, 3) });
  identities = libraries.identities;
  await libraries.connections.add({ type: 'oidc', name: 'Acme', issuer: 'https://sso.acme.example', clientId: 'x' }, cliSource);
  now = new Date(now.getTime() + 1000);
  await libraries.connections.add({ type: 'github', name: 'GitHub', clientId: 'y' }, cliSource);
  // A password: hashes are never read here, only whether there is one.
  ada = await account('acct-ada', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g');
  bob = await account('acct-bob', null);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>): Promise<GatehouseError> {
  const error = await promise.then(() => new Error('expected a rejection, but it resolved'), (caught: unknown) => caught);
  expect(error).toBeInstanceOf(GatehouseError);
  return error as GatehouseError;
}

const events = async (type?: string): Promise<AuditEvent[]> => (await store.audit.tail({ limit: 100 })).filter((event) => !type || event.type === type);

function passkey(accountId: string): PasskeyRecord {
  return {
    id: `cred-${accountId}`, accountId, publicKey: 'pQECAyYgASFY', counter: 0, transports: [], deviceType: 'multiDevice', backedUp: true,
    aaguid: '00000000-0000-0000-0000-000000000000', name: 'Phone', createdAt: now, lastUsedAt: null,
  };
}

describe('linking', () => {
  it('links an identity to an account and records identity_linked with how', async () => {
    await identities.link({ accountId: ada.id, connectionId: 'acme', subject: 'sub-ada', email: 'ada@acme.example', how: 'proof' }, person);
    expect(await identities.find('acme', 'sub-ada')).toEqual({ connectionId: 'acme', subject: 'sub-ada', accountId: ada.id, email: 'ada@acme.example', linkedAt: now, lastUsedAt: null });
    expect(await events('identity_linked')).toEqual([{
      at: now, type: 'identity_linked', actor: 'user', accountId: ada.id, sourceAddress: '203.0.113.9', details: { connectionId: 'acme', subject: 'sub-ada', how: 'proof' },
    }]);
    for (const how of ['trusted_email', 'created'] as const) {
      await identities.link({ accountId: bob.id, connectionId: 'acme', subject: `sub-${how}`, email: null, how }, person);
      expect((await events('identity_linked')).at(-1)!.details).toMatchObject({ how });
    }
  });

  it('mails the owner when an identity is linked on a trusted email, and only then', async () => {
    await identities.link({ accountId: ada.id, connectionId: 'acme', subject: 'sub-proof', email: 'ada@acme.example', how: 'proof' }, person);
    await identities.link({ accountId: bob.id, connectionId: 'acme', subject: 'sub-created', email: null, how: 'created' }, person);
    expect(mailed).toEqual([]);
    await identities.link({ accountId: ada.id, connectionId: 'github', subject: '42', email: 'ada@example.com', how: 'trusted_email' }, person);
    expect(mailed).toEqual([{ to: ada.email, template: 'identity-linked', values: expect.objectContaining({ email: ada.email, connection: 'GitHub' }) }]);
  });

  it('says whether an account signs in through a linked identity: only through an enabled connection', async () => {
    expect(await identities.signsInThrough(bob.id)).toBe(false);
    await identities.link({ accountId: bob.id, connectionId: 'acme', subject: 'sub-bob', email: null, how: 'created' }, person);
    expect(await identities.signsInThrough(bob.id)).toBe(true);
    await libraries.connections.setDisabled('acme', true, cliSource);
    expect(await identities.signsInThrough(bob.id)).toBe(false);
  });

  it('lists an account\'s identities oldest first with the connection\'s name (null once it is removed)', async () => {
    await identities.link({ accountId: ada.id, connectionId: 'github', subject: '583231', email: null, how: 'proof' }, person);
    now = new Date(now.getTime() + 1000);
    await identities.link({ accountId: ada.id, connectionId: 'acme', subject: 'sub-ada', email: 'ada@acme.example', how: 'proof' }, person);
    await identities.link({ accountId: bob.id, connectionId: 'acme', subject: 'sub-bob', email: null, how: 'created' }, person);
    expect((await identities.listForAccount(ada.id)).map((identity) => [identity.connectionId, identity.subject, identity.connectionName])).toEqual([
      ['github', '583231', 'GitHub'], ['acme', 'sub-ada', 'Acme'],
    ]);
    expect(await identities.listForAccount('acct-nobody')).toEqual([]);
    // An identity whose connection is gone (left by a removal that stopped halfway) is listed without a name.
    await store.connections.remove('github');
    expect((await identities.listForAccount(ada.id)).map((identity) => identity.connectionName)).toEqual([null, 'Acme']);
  });

  it('refuses an identity already linked, to this account or another: conflict, nothing changed', async () => {
    await identities.link({ accountId: ada.id, connectionId: 'acme', subject: 'sub-1', email: null, how: 'proof' }, person);
    for (const accountId of [bob.id, ada.id]) {
      const error = await refusal(identities.link({ accountId, connectionId: 'acme', subject: 'sub-1', email: null, how: 'trusted_email' }, person));
      expect(error.code).toBe('conflict');
      expect(error.status).toBe(409);
      expect(error.message).toBe('This identity is already linked to an account.');
    }
    expect(await identities.find('acme', 'sub-1')).toMatchObject({ accountId: ada.id });
    expect(await events('identity_linked')).toHaveLength(1);
  });

  it('of a burst of concurrent links of one identity to different accounts, exactly one is made', async () => {
    const accounts = [ada, bob, ...(await Promise.all(Array.from({ length: 6 }, (_, index) => account(`acct-${index}`, null))))];
    const results = await Promise.allSettled(accounts.map((each) => identities.link({ accountId: each.id, connectionId: 'acme', subject: 'contested', email: null, how: 'created' }, person)));
    const won = results.filter((result) => result.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const result of results) {
      if (result.status === 'rejected') expect((result.reason as GatehouseError).code).toBe('conflict');
    }
    const winner = accounts[results.indexOf(won[0]!)]!;
    expect(await identities.find('acme', 'contested')).toMatchObject({ accountId: winner.id });
    expect(await events('identity_linked')).toEqual([expect.objectContaining({ accountId: winner.id })]);
  });

  it('refuses an unknown connection or account (not_found) and malformed input', async () => {
    expect((await refusal(identities.link({ accountId: ada.id, connectionId: 'nope', subject: 's', email: null, how: 'proof' }, person))).code).toBe('not_found');
    expect((await refusal(identities.link({ accountId: 'acct-nobody', connectionId: 'acme', subject: 's', email: null, how: 'proof' }, person))).code).toBe('not_found');
    for (const input of [
      { accountId: ada.id, connectionId: 'acme', subject: '', email: null, how: 'proof' as const },
      { accountId: ada.id, connectionId: 'acme', subject: 's'.repeat(256), email: null, how: 'proof' as const },
      { accountId: ada.id, connectionId: 'acme', subject: 's', email: null, how: 'silently' as 'proof' },
    ]) {
      expect(await refusal(identities.link(input, person))).toBeInstanceOf(InvalidInputError);
    }
    expect(await store.linkedIdentities.listForAccount(ada.id)).toEqual([]);
    // An email longer than any address is not kept; the link is made.
    await identities.link({ accountId: ada.id, connectionId: 'acme', subject: 's', email: `${'x'.repeat(300)}@example.com`, how: 'proof' }, person);
    expect(await identities.find('acme', 's')).toMatchObject({ email: null });
  });

  it('undoes a link whose connection was removed meanwhile', async () => {
    const real = store.linkedIdentities.link.bind(store.linkedIdentities);
    // The connection goes between the link and the check after it.
    store.linkedIdentities.link = async (record) => {
      const linked = await real(record);
      await store.connections.remove(record.connectionId);
      return linked;
    };
    try {
      expect((await refusal(identities.link({ accountId: ada.id, connectionId: 'acme', subject: 's', email: null, how: 'proof' }, person))).code).toBe('not_found');
    } finally {
      store.linkedIdentities.link = real;
    }
    expect(await identities.find('acme', 's')).toBeUndefined();
    expect(await events('identity_linked')).toEqual([]);
  });

  it('records uses', async () => {
    await identities.link({ accountId: ada.id, connectionId: 'acme', subject: 'sub-1', email: null, how: 'proof' }, person);
    now = new Date(now.getTime() + 60_000);
    await identities.recordUse('acme', 'sub-1');
    expect(await identities.find('acme', 'sub-1')).toMatchObject({ lastUsedAt: now });
    await identities.recordUse('acme', 'unknown');
  });
});

describe('unlinking', () => {
  const link = (accountId: string, connectionId: string, subject: string) => identities.link({ accountId, connectionId, subject, email: null, how: 'proof' }, person);

  it('is allowed while a password remains', async () => {
    await link(ada.id, 'acme', 'sub-ada');
    expect(await identities.canUnlink(ada.id, 'acme', 'sub-ada')).toBe(true);
    await identities.unlink(ada.id, 'acme', 'sub-ada', person);
    expect(await identities.find('acme', 'sub-ada')).toBeUndefined();
    expect((await events('identity_unlinked'))).toEqual([{
      at: now, type: 'identity_unlinked', actor: 'user', accountId: ada.id, sourceAddress: '203.0.113.9', details: { connectionId: 'acme', subject: 'sub-ada' },
    }]);
    // The identity is free again.
    await link(bob.id, 'acme', 'sub-ada');
  });

  it('is allowed while a passkey remains', async () => {
    await link(bob.id, 'acme', 'sub-bob');
    expect(await identities.canUnlink(bob.id, 'acme', 'sub-bob')).toBe(false);
    await store.passkeys.create(passkey(bob.id));
    expect(await identities.canUnlink(bob.id, 'acme', 'sub-bob')).toBe(true);
    await identities.unlink(bob.id, 'acme', 'sub-bob', person);
  });

  it('is allowed while another identity remains, through a connection that exists and is enabled', async () => {
    await link(bob.id, 'acme', 'sub-bob');
    await link(bob.id, 'github', '1001');
    expect(await identities.canUnlink(bob.id, 'acme', 'sub-bob')).toBe(true);
    expect(await identities.canUnlink(bob.id, 'github', '1001')).toBe(true);
    await libraries.connections.setDisabled('github', true, cliSource);
    expect(await identities.canUnlink(bob.id, 'acme', 'sub-bob')).toBe(false);
    // The disabled connection's own identity may go: the other one signs in.
    expect(await identities.canUnlink(bob.id, 'github', '1001')).toBe(true);
    await libraries.connections.setDisabled('github', false, cliSource);
    await store.connections.remove('github');
    expect(await identities.canUnlink(bob.id, 'acme', 'sub-bob')).toBe(false);
  });

  it('refuses the last way to sign in: conflict, in words, nothing unlinked', async () => {
    await link(bob.id, 'acme', 'sub-bob');
    expect(await identities.canUnlink(bob.id, 'acme', 'sub-bob')).toBe(false);
    const error = await refusal(identities.unlink(bob.id, 'acme', 'sub-bob', person));
    expect(error.code).toBe('conflict');
    expect(error.messageId).toBe('libraries.identity_last_way_in');
    expect(error.message).toMatch(/the last way to sign in/);
    expect(await identities.find('acme', 'sub-bob')).toBeDefined();
    expect(await events('identity_unlinked')).toEqual([]);
  });

  it("refuses someone else's identity, or one not linked: not_found", async () => {
    await link(ada.id, 'acme', 'sub-ada');
    for (const [accountId, connectionId, subject] of [[bob.id, 'acme', 'sub-ada'], [ada.id, 'acme', 'other'], [ada.id, 'github', 'sub-ada']] as const) {
      const error = await refusal(identities.unlink(accountId, connectionId, subject, person));
      expect(error.code).toBe('not_found');
      expect(error.message).toBe('There is no such linked identity on this account.');
    }
    expect(await identities.find('acme', 'sub-ada')).toMatchObject({ accountId: ada.id });
    expect(await identities.canUnlink('acct-nobody', 'acme', 'sub-ada')).toBe(false);
  });

  it('two unlinks at once never leave an account without a way in', async () => {
    await link(bob.id, 'acme', 'sub-bob');
    await link(bob.id, 'github', '1001');
    const results = await Promise.allSettled([
      identities.unlink(bob.id, 'acme', 'sub-bob', person),
      identities.unlink(bob.id, 'github', '1001', person),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled').length).toBeLessThanOrEqual(1);
    expect(await store.linkedIdentities.listForAccount(bob.id)).not.toEqual([]);
    for (const result of results) {
      if (result.status === 'rejected') expect((result.reason as GatehouseError).code).toBe('conflict');
    }
  });

  it("ends the account's half-finished sign-ins", async () => {
    await link(ada.id, 'acme', 'sub-ada');
    await store.oidc.model('Interaction').upsert('int-1', { accountId: ada.id, uid: 'int-1' }, 600);
    await identities.unlink(ada.id, 'acme', 'sub-ada', person);
    expect(await store.oidc.model('Interaction').find('int-1')).toBeUndefined();
  });
});
