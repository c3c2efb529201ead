import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import type { PasskeysLibrary } from '../../src/libraries/passkeys.ts';
import { maxPasskeysPerAccount, passkeyAmr, passkeyUserHandle, relyingPartyOf } from '../../src/libraries/passkeys.ts';
import type { AuditSource } from '../../src/libraries/audit.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { AccountRecord, AuditEvent, Store } from '../../src/store/types.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';
import type { AuthenticatorOptions } from '../helpers/software-authenticator.ts';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.ts';

const issuer = 'https://id.example.test:8443';
const origin = issuer;
const rpId = 'id.example.test';
const person: AuditSource = { actor: 'user', sourceAddress: '203.0.113.9' };

async function rejection(promise: Promise<unknown>): Promise<GatehouseError> {
  const error = await promise.then(() => new Error('expected a rejection, but it resolved'), (caught: unknown) => caught);
  expect(error).toBeInstanceOf(GatehouseError);
  return error as GatehouseError;
}

describe('passkeyAmr', () => {
  it('names a synced passkey swk and a device-bound one hwk, with user when the person was verified (RFC 8176)', () => {
    expect(passkeyAmr({ deviceType: 'multiDevice', userVerified: true })).toEqual(['swk', 'user']);
    expect(passkeyAmr({ deviceType: 'multiDevice', userVerified: false })).toEqual(['swk']);
    expect(passkeyAmr({ deviceType: 'singleDevice', userVerified: true })).toEqual(['hwk', 'user']);
    expect(passkeyAmr({ deviceType: 'singleDevice', userVerified: false })).toEqual(['hwk']);
  });
});

describe('the relying party', () => {
  it('is the issuer: its hostname the RP id, its origin (with a port) the one origin, never a request header', () => {
    expect(relyingPartyOf('https://id.example.test:8443')).toEqual({ id: 'id.example.test', origin: 'https://id.example.test:8443', name: 'Gatehouse' });
    expect(relyingPartyOf('https://login.example.com/tenant')).toEqual({ id: 'login.example.com', origin: 'https://login.example.com', name: 'Gatehouse' });
    expect(relyingPartyOf('http://localhost:3000', 'Acme')).toEqual({ id: 'localhost', origin: 'http://localhost:3000', name: 'Acme' });
  });

  it('the user handle is opaque: neither the email nor the account id, and the same for one account', () => {
    const handle = passkeyUserHandle('acct-1');
    expect(Buffer.from(handle, 'base64url')).toHaveLength(32);
    expect(handle).toBe(passkeyUserHandle('acct-1'));
    expect(handle).not.toBe(passkeyUserHandle('acct-2'));
    expect(Buffer.from(handle, 'base64url').toString('latin1')).not.toContain('acct-1');
  });
});

describe('passkey ceremonies', () => {
  let dir: string;
  let store: Store;
  let libraries: Libraries;
  let passkeys: PasskeysLibrary;
  let now: Date;
  let ada: AccountRecord;
  let bob: AccountRecord;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-passkeys-'));
    store = openSqliteStore(join(dir, 'test.db'));
    now = new Date('2025-06-01T10:00:00.000Z');
    const config = loadConfig({ ...testEnvironment(dir), ISSUER: issuer });
    libraries = createLibraries({ store, config, clock: () => now, outbox: { send: async () => undefined }, keyEncryptionKey: Buffer.alloc(32, 5) });
    passkeys = libraries.passkeys;
    const account = (id: string, email: string) => store.accounts.create({ id, email, passwordHash: null, emailVerified: true, profile: {}, roles: [], disabled: false });
    ada = await account('acct-ada', 'ada@example.com');
    bob = await account('acct-bob', 'bob@example.com');
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const tick = (seconds: number) => {
    now = new Date(now.getTime() + seconds * 1000);
  };

  const authenticator = (options: Partial<AuthenticatorOptions> = {}) => new SoftwareAuthenticator({ origin, ...options });

  /** Registers a passkey of `device` to `account`, as the account page does. */
  async function register(device: SoftwareAuthenticator, account: AccountRecord = ada, name?: string) {
    const options = await passkeys.registrationOptions(account);
    return passkeys.finishRegistration({ accountId: account.id, response: device.register(options), expectedChallenge: options.challenge, ...(name !== undefined ? { name } : {}) }, person);
  }

  /** A fresh assertion by `device` for a ceremony, with the challenge it answers. */
  async function assertion(device: SoftwareAuthenticator, input: { accountId?: string; userVerification?: 'required' | 'preferred' } = {}, lie = {}) {
    const options = await passkeys.authenticationOptions({ userVerification: input.userVerification ?? 'required', ...(input.accountId ? { accountId: input.accountId } : {}) });
    return { response: device.authenticate(options, lie), expectedChallenge: options.challenge, options };
  }

  const events = async (type?: string): Promise<AuditEvent[]> => (await store.audit.tail({ limit: 1000 })).filter((event) => !type || event.type === type);

  it('offers options for a discoverable credential with user verification required, attestation none, the user named by an opaque handle', async () => {
    const options = await passkeys.registrationOptions(ada);
    expect(passkeys.relyingParty).toEqual({ id: rpId, name: 'Gatehouse', origin });
    expect(options.rp).toEqual({ id: rpId, name: 'Gatehouse' });
    expect(options.user).toEqual({ id: passkeyUserHandle(ada.id), name: ada.email, displayName: ada.email });
    expect(options.authenticatorSelection).toMatchObject({ residentKey: 'required', requireResidentKey: true, userVerification: 'required' });
    expect(options.attestation).toBe('none');
    expect(options.excludeCredentials).toEqual([]);
    expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect((await passkeys.registrationOptions(ada)).challenge).not.toBe(options.challenge);
    expect(options.pubKeyCredParams.map((param) => param.alg)).toEqual([-8, -7, -257]);

    const added = await register(authenticator());
    expect((await passkeys.registrationOptions(ada)).excludeCredentials).toEqual([{ id: added.id, type: 'public-key', transports: ['internal', 'hybrid'] }]);
  });

  it('registers a passkey and signs in with it, discoverable: the account found by the credential, the use recorded and audited', async () => {
    const device = authenticator();
    const added = await register(device);
    expect(added).toEqual({
      id: expect.stringMatching(/^[A-Za-z0-9_-]+$/), name: 'Passkey added 2025-06-01', createdAt: now, lastUsedAt: null, backedUp: true, deviceType: 'multiDevice', transports: ['internal', 'hybrid'],
    });
    const stored = await store.passkeys.find(added.id);
    expect(stored).toMatchObject({ accountId: ada.id, counter: 0, aaguid: '00000000-0000-0000-0000-000000000000' });
    // Only the public key: the COSE key of an EC2 P-256 key, nothing private.
    expect(Buffer.from(stored!.publicKey, 'base64url')[0]).toBe(0xa5);

    tick(60);
    const { response, expectedChallenge, options } = await assertion(device);
    expect(options).toMatchObject({ rpId, allowCredentials: [], userVerification: 'required' });
    const used = await passkeys.finishAuthentication({ response, expectedChallenge, userVerification: 'required' }, person);
    expect(used).toEqual({ accountId: ada.id, passkeyId: added.id, userVerified: true, amr: ['swk', 'user'] });
    expect(await passkeys.list(ada.id)).toEqual([{ ...added, lastUsedAt: now }]);
    expect((await store.passkeys.find(added.id))?.counter).toBe(1);

    const trail = await events();
    expect(trail.map((event) => event.type)).toEqual(['passkey_added', 'passkey_used']);
    expect(trail[0]).toMatchObject({ actor: 'user', accountId: ada.id, sourceAddress: person.sourceAddress, details: { passkey_id: added.id, name: added.name, device_type: 'multiDevice', backed_up: true } });
    expect(trail[1]).toMatchObject({ actor: 'user', accountId: ada.id, details: { passkey_id: added.id, user_verified: true, amr: ['swk', 'user'] } });
    // Nothing of the ceremony's secrets in the trail.
    expect(JSON.stringify(trail)).not.toContain(expectedChallenge);
  });

  it('as the second step, offers only the account\'s passkeys and accepts them without a user handle', async () => {
    const first = await register(authenticator(), ada, 'Laptop');
    tick(1);
    const device = authenticator();
    const second = await register(device, ada, 'Phone');
    await register(authenticator(), bob);
    const { options } = await assertion(device, { accountId: ada.id });
    expect(options.allowCredentials?.map((each) => each.id)).toEqual([first.id, second.id]);
    expect(options.userVerification).toBe('required');
    expect((await passkeys.authenticationOptions({ accountId: ada.id, userVerification: 'preferred' })).userVerification).toBe('preferred');

    const { response, expectedChallenge } = await assertion(device, { accountId: ada.id }, { userHandle: null });
    expect(await passkeys.finishAuthentication({ response, expectedChallenge, accountId: ada.id, userVerification: 'required' }, person)).toMatchObject({ accountId: ada.id, passkeyId: second.id });
    // An authenticator keeping no handle for the credential sends an empty one.
    const empty = await assertion(device, { accountId: ada.id }, { userHandle: '' });
    expect(await passkeys.finishAuthentication({ ...empty, accountId: ada.id, userVerification: 'required' }, person)).toMatchObject({ accountId: ada.id, passkeyId: second.id });
  });

  it('refuses an answer to another challenge, from another origin or for another RP, at registration and at sign-in', async () => {
    const device = authenticator();
    const options = await passkeys.registrationOptions(ada);
    for (const lie of [{ challenge: 'c29tZSBvdGhlciBjaGFsbGVuZ2U' }, { origin: 'https://evil.example.test' }, { origin: 'https://id.example.test' }, { rpId: 'example.test' }, { type: 'webauthn.get' }]) {
      const error = await rejection(passkeys.finishRegistration({ accountId: ada.id, response: device.register(options, lie), expectedChallenge: options.challenge }, person));
      expect(error).toMatchObject({ code: 'passkey_invalid', status: 400, messageId: 'libraries.passkey_invalid' });
    }
    expect(await passkeys.list(ada.id)).toEqual([]);

    const added = await register(device);
    for (const lie of [{ challenge: 'c29tZSBvdGhlciBjaGFsbGVuZ2U' }, { origin: 'https://evil.example.test' }, { origin: 'http://id.example.test:8443' }, { rpId: 'evil.example.test' }, { type: 'webauthn.create' }]) {
      const { response, expectedChallenge } = await assertion(device, {}, lie);
      const error = await rejection(passkeys.finishAuthentication({ response, expectedChallenge, userVerification: 'required' }, person));
      expect(error).toMatchObject({ code: 'passkey_invalid', status: 400 });
      expect(error.message).toBe('Your passkey could not be checked. Try again.');
    }
    const refused = await events('passkey_refused');
    expect(refused).toHaveLength(5);
    for (const event of refused) expect(event).toMatchObject({ accountId: ada.id, sourceAddress: person.sourceAddress, details: { reason: 'verification_failed', passkey_id: added.id } });
    expect((await store.passkeys.find(added.id))?.lastUsedAt).toBeNull();
  });

  it('refuses an unknown passkey, and another account\'s when the account is given, both as unknown, audited apart', async () => {
    const stranger = authenticator();
    stranger.register(await passkeys.registrationOptions(ada)); // never sent to Gatehouse
    const unknown = await assertion(stranger);
    const error = await rejection(passkeys.finishAuthentication({ ...unknown, userVerification: 'required' }, person));
    expect(error).toMatchObject({ code: 'passkey_unknown', status: 400, messageId: 'libraries.passkey_unknown' });

    const bobs = authenticator();
    const bobsPasskey = await register(bobs, bob);
    await register(authenticator(), ada);
    const other = await assertion(bobs);
    const wrong = await rejection(passkeys.finishAuthentication({ ...other, accountId: ada.id, userVerification: 'required' }, person));
    expect(wrong).toMatchObject({ code: 'passkey_unknown', message: error.message });

    const refused = await events('passkey_refused');
    expect(refused.map((event) => [event.accountId, event.details.reason])).toEqual([[undefined, 'unknown_credential'], [ada.id, 'wrong_account']]);
    expect(refused[1]!.details.passkey_id).toBe(bobsPasskey.id);
    // Bob's passkey still works for Bob: the refusal used nothing up.
    expect(await passkeys.finishAuthentication({ ...other, userVerification: 'required' }, person)).toMatchObject({ accountId: bob.id });
  });

  it('refuses a user handle that is not the account\'s, and a discoverable sign-in without one', async () => {
    const device = authenticator();
    await register(device);
    const mismatch = await assertion(device, {}, { userHandle: passkeyUserHandle(bob.id) });
    expect(await rejection(passkeys.finishAuthentication({ ...mismatch, userVerification: 'required' }, person))).toMatchObject({ code: 'passkey_invalid' });
    const missing = await assertion(device, {}, { userHandle: null });
    expect(await rejection(passkeys.finishAuthentication({ ...missing, userVerification: 'required' }, person))).toMatchObject({ code: 'passkey_invalid' });
    expect((await events('passkey_refused')).map((event) => event.details.reason)).toEqual(['user_handle_mismatch', 'user_handle_missing']);
  });

  it('refuses a replayed assertion and a cloned authenticator by the sign counter', async () => {
    const device = authenticator();
    const added = await register(device);
    const first = await assertion(device);
    await passkeys.finishAuthentication({ ...first, userVerification: 'required' }, person);
    const replayed = await rejection(passkeys.finishAuthentication({ ...first, userVerification: 'required' }, person));
    expect(replayed).toMatchObject({ code: 'passkey_invalid' });

    // The clone signs with the same key, its counter behind the original's once that moved on.
    const clone = device.clone();
    await passkeys.finishAuthentication({ ...(await assertion(device)), userVerification: 'required' }, person);
    await passkeys.finishAuthentication({ ...(await assertion(device)), userVerification: 'required' }, person);
    const cloned = await rejection(passkeys.finishAuthentication({ ...(await assertion(clone)), userVerification: 'required' }, person));
    expect(cloned).toMatchObject({ code: 'passkey_invalid' });
    expect((await store.passkeys.find(added.id))?.counter).toBe(3);
    expect((await events('passkey_refused')).map((event) => event.details.reason)).toEqual(['counter_not_increased', 'counter_not_increased']);
  });

  it('of a burst of one assertion submitted at once, exactly one signs in', async () => {
    const device = authenticator();
    const added = await register(device);
    const { response, expectedChallenge } = await assertion(device);
    const results = await Promise.allSettled(Array.from({ length: 12 }, () => passkeys.finishAuthentication({ response, expectedChallenge, userVerification: 'required' }, person)));
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    for (const result of results) {
      if (result.status === 'rejected') expect(result.reason).toMatchObject({ code: 'passkey_invalid' });
    }
    expect(await events('passkey_used')).toHaveLength(1);
    expect(await events('passkey_refused')).toHaveLength(11);
    expect((await store.passkeys.find(added.id))?.counter).toBe(1);
  });

  it('accepts an authenticator that keeps no counter (0 each time), relying on the single-use challenge', async () => {
    const device = authenticator({ counts: false });
    const added = await register(device);
    for (let round = 0; round < 3; round += 1) {
      await passkeys.finishAuthentication({ ...(await assertion(device)), userVerification: 'required' }, person);
    }
    expect(await store.passkeys.find(added.id)).toMatchObject({ counter: 0, lastUsedAt: now });
  });

  it('requires user verification when asked: refused without it; preferred accepts presence alone, without "user" in amr', async () => {
    // A security key: bound to its device, no PIN asked at sign-in.
    const key = authenticator({ backupEligible: false, backedUp: false, transports: ['usb', 'nfc'] });
    const added = await register(key);
    expect(added).toMatchObject({ deviceType: 'singleDevice', backedUp: false, transports: ['usb', 'nfc'] });
    const unverified = await assertion(key, {}, { userVerified: false });
    const error = await rejection(passkeys.finishAuthentication({ ...unverified, userVerification: 'required' }, person));
    expect(error).toMatchObject({ code: 'passkey_invalid', messageId: 'libraries.passkey_user_not_verified' });
    expect((await events('passkey_refused')).map((event) => event.details.reason)).toEqual(['user_not_verified']);

    const presence = await assertion(key, { userVerification: 'preferred' }, { userVerified: false });
    expect(presence.options.userVerification).toBe('preferred');
    expect(await passkeys.finishAuthentication({ ...presence, userVerification: 'preferred' }, person)).toMatchObject({ userVerified: false, amr: ['hwk'] });
    const verified = await assertion(key, { userVerification: 'preferred' });
    expect(await passkeys.finishAuthentication({ ...verified, userVerification: 'preferred' }, person)).toMatchObject({ userVerified: true, amr: ['hwk', 'user'] });

    // Without presence, nothing is accepted.
    const absent = await assertion(key, { userVerification: 'preferred' }, { userPresent: false });
    expect(await rejection(passkeys.finishAuthentication({ ...absent, userVerification: 'preferred' }, person))).toMatchObject({ code: 'passkey_invalid' });
  });

  it('registers only with user verification', async () => {
    const options = await passkeys.registrationOptions(ada);
    const error = await rejection(passkeys.finishRegistration({ accountId: ada.id, response: authenticator().register(options, { userVerified: false }), expectedChallenge: options.challenge }, person));
    expect(error).toMatchObject({ code: 'passkey_invalid', messageId: 'libraries.passkey_user_not_verified' });
    expect(await passkeys.list(ada.id)).toEqual([]);
  });

  it('updates the backup state at each use', async () => {
    const device = authenticator({ backedUp: false });
    const added = await register(device);
    expect(added).toMatchObject({ deviceType: 'multiDevice', backedUp: false });
    const synced = new SoftwareAuthenticator({ origin, backedUp: true });
    synced.credentials.push(...device.credentials);
    await passkeys.finishAuthentication({ ...(await assertion(synced)), userVerification: 'required' }, person);
    expect((await passkeys.list(ada.id))[0]).toMatchObject({ backedUp: true });
    expect((await events('passkey_used'))[0]!.details).toMatchObject({ backed_up: true });
  });

  it('refuses the same credential registered twice, and passkeys beyond the limit', async () => {
    const device = authenticator();
    const options = await passkeys.registrationOptions(ada);
    const response = device.register(options);
    await passkeys.finishRegistration({ accountId: ada.id, response, expectedChallenge: options.challenge }, person);
    const again = await rejection(passkeys.finishRegistration({ accountId: bob.id, response, expectedChallenge: options.challenge }, person));
    expect(again).toMatchObject({ code: 'conflict', status: 409, messageId: 'libraries.passkey_already_registered' });
    expect(await passkeys.list(bob.id)).toEqual([]);

    for (let count = 1; count < maxPasskeysPerAccount; count += 1) await register(authenticator());
    expect(await passkeys.list(ada.id)).toHaveLength(maxPasskeysPerAccount);
    expect(await rejection(passkeys.registrationOptions(ada))).toMatchObject({ code: 'conflict', messageId: 'libraries.passkey_limit' });
  });

  it('refuses a valid passkey of a disabled account, after checking it', async () => {
    const device = authenticator();
    await register(device);
    await store.accounts.update(ada.id, { disabled: true });
    const error = await rejection(passkeys.finishAuthentication({ ...(await assertion(device)), userVerification: 'required' }, person));
    expect(error).toMatchObject({ code: 'account_disabled', status: 403 });
    expect((await events('passkey_refused')).map((event) => event.details.reason)).toEqual(['account_disabled']);
  });

  it('answers malformed input with a GatehouseError, never a TypeError, at registration and at sign-in', async () => {
    const device = authenticator();
    const options = await passkeys.registrationOptions(ada);
    const good = device.register(options);
    const garbage = 'A'.repeat(120);
    const registrations: unknown[] = [
      undefined, null, 'text', 42, [], {}, { ...good, id: 5 }, { ...good, type: 'password' }, { ...good, rawId: 'other' }, { ...good, response: null },
      { ...good, response: { ...good.response, clientDataJSON: '!!!' } }, { ...good, response: { ...good.response, clientDataJSON: garbage } },
      { ...good, response: { ...good.response, attestationObject: garbage } }, { ...good, response: { ...good.response, attestationObject: 'x'.repeat(200_000) } },
      { ...good, response: { ...good.response, clientDataJSON: Buffer.from('{"type":"webauthn.create"}').toString('base64url') } },
      { ...good, response: { ...good.response, clientDataJSON: Buffer.from('[1,2').toString('base64url') } },
      { ...good, response: { ...good.response, transports: 'usb' } }, { ...good, clientExtensionResults: 'none' },
    ];
    for (const response of registrations) {
      const error = await rejection(passkeys.finishRegistration({ accountId: ada.id, response, expectedChallenge: options.challenge }, person));
      expect(error.code, JSON.stringify(response)?.slice(0, 200)).toBe('passkey_invalid');
    }
    expect(await rejection(passkeys.finishRegistration({ accountId: ada.id, response: good, expectedChallenge: '' }, person))).toMatchObject({ code: 'passkey_invalid' });
    expect(await passkeys.list(ada.id)).toEqual([]);

    await passkeys.finishRegistration({ accountId: ada.id, response: good, expectedChallenge: options.challenge }, person);
    const { response: assertionGood, expectedChallenge } = await assertion(device);
    const assertions: unknown[] = [
      undefined, null, 'text', [], {}, { ...assertionGood, id: ['x'] }, { ...assertionGood, rawId: 'other' }, { ...assertionGood, response: 'x' },
      { ...assertionGood, response: { ...assertionGood.response, signature: undefined } },
      { ...assertionGood, response: { ...assertionGood.response, authenticatorData: garbage.slice(0, 8) } },
      { ...assertionGood, response: { ...assertionGood.response, authenticatorData: garbage } },
      { ...assertionGood, response: { ...assertionGood.response, signature: garbage } },
      { ...assertionGood, response: { ...assertionGood.response, clientDataJSON: garbage } },
      { ...assertionGood, response: { ...assertionGood.response, userHandle: 42 } },
      { ...assertionGood, id: 'x'.repeat(5000), rawId: 'x'.repeat(5000) },
    ];
    for (const response of assertions) {
      const error = await rejection(passkeys.finishAuthentication({ response, expectedChallenge, userVerification: 'required' }, person));
      expect(['passkey_invalid', 'passkey_unknown'], JSON.stringify(response)?.slice(0, 200)).toContain(error.code);
    }
    // The good one still works afterwards: nothing above used the passkey up.
    expect(await passkeys.finishAuthentication({ response: assertionGood, expectedChallenge, userVerification: 'required' }, person)).toMatchObject({ accountId: ada.id });
    // Every refusal is in the trail.
    expect(await events('passkey_refused')).toHaveLength(assertions.length);
  });

  it('renames and removes a passkey of the account only, audited; names are trimmed, 1-64 characters, no control characters', async () => {
    const device = authenticator();
    const added = await register(device, ada, '  Work laptop  ');
    expect(added.name).toBe('Work laptop');
    await passkeys.rename(ada.id, added.id, '  Old laptop ', person);
    expect((await passkeys.list(ada.id))[0]!.name).toBe('Old laptop');
    await passkeys.rename(ada.id, added.id, 'Old laptop', person);
    await passkeys.rename(ada.id, added.id, 'é'.repeat(64), person);

    for (const name of ['', '   ', 'x'.repeat(65), 'line\nbreak', 'bidi\u202Eoverride']) {
      const error = await rejection(passkeys.rename(ada.id, added.id, name, person));
      expect(error.code).toBe('invalid_input');
      expect(error.message).toMatch(/^name: /);
    }
    expect(await rejection(register(authenticator(), ada, 'x'.repeat(65)))).toMatchObject({ code: 'invalid_input' });
    expect(await rejection(passkeys.rename(bob.id, added.id, 'Mine now', person))).toMatchObject({ code: 'not_found', status: 404, messageId: 'libraries.no_passkey' });
    expect(await rejection(passkeys.rename(ada.id, 'unknown', 'Name', person))).toMatchObject({ code: 'not_found' });
    expect(await rejection(passkeys.remove(bob.id, added.id, person))).toMatchObject({ code: 'not_found' });

    await passkeys.remove(ada.id, added.id, person);
    expect(await passkeys.list(ada.id)).toEqual([]);
    expect(await rejection(passkeys.remove(ada.id, added.id, person))).toMatchObject({ code: 'not_found' });
    // A removed passkey signs nobody in.
    expect(await rejection(passkeys.finishAuthentication({ ...(await assertion(device)), userVerification: 'required' }, person))).toMatchObject({ code: 'passkey_unknown' });

    const trail = await events();
    expect(trail.filter((event) => event.type === 'passkey_renamed').map((event) => event.details)).toEqual([
      { passkey_id: added.id, name: 'Old laptop' }, { passkey_id: added.id, name: 'Old laptop' }, { passkey_id: added.id, name: 'é'.repeat(64) },
    ]);
    expect(trail.filter((event) => event.type === 'passkey_removed')).toEqual([
      expect.objectContaining({ actor: 'user', accountId: ada.id, details: { passkey_id: added.id, name: 'é'.repeat(64) } }),
    ]);
  });

  it('ends the account\'s half-finished sign-ins when a passkey is removed', async () => {
    const added = await register(authenticator());
    await store.oidc.model('Interaction').upsert('int-1', { accountId: ada.id, uid: 'int-1' }, 600);
    await passkeys.remove(ada.id, added.id, person);
    expect(await store.oidc.model('Interaction').find('int-1')).toBeUndefined();
  });

  it('stores public keys only: nothing of the private key reaches the database', async () => {
    const device = authenticator();
    await register(device);
    const privateKey = device.credentials[0]!.privateKey.export({ format: 'jwk' }).d!;
    await store.close();
    const bytes = [readFileSync(join(dir, 'test.db')), ...(() => {
      try {
        return [readFileSync(join(dir, 'test.db-wal'))];
      } catch {
        return [];
      }
    })()];
    for (const file of bytes) {
      expect(file.includes(Buffer.from(privateKey, 'base64url'))).toBe(false);
      expect(file.includes(privateKey)).toBe(false);
    }
    store = openSqliteStore(join(dir, 'test.db'));
  });
});
