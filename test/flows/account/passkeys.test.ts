import { describe, expect, it } from 'vitest';

import {
  freshSignInSeconds, isFreshSignIn, maxPasskeyNameLength, maxResponseLength, needsFreshSignIn, newPendingPasskey, passkeyChallengeSeconds, passkeyId,
  passkeyName, passwordFormKind, pendingPasskeySchema, pendingPasskeyVerdict, registrationResponse, removalVerdict,
} from '../../../src/flows/account/passkeys.ts';
import { message } from '../../../src/messages/messages.ts';
import { passkeyRows } from '../../../src/flows/account/view.ts';
import { ceremonyTimeoutMs } from '../../../src/libraries/passkeys.ts';

/** The account page's decisions about passkeys (src/flows/account/passkeys.ts), without a server. */

const at = (seconds: number) => new Date(seconds * 1000);
const session = { sub: 'account-1', sid: 'sid-1', authTime: 1_000_000 };

describe('the freshness rule (the second factor and passkeys share it)', () => {
  it('is fresh up to and including five minutes after the sign-in, stale a second later', () => {
    expect(freshSignInSeconds).toBe(300);
    expect(isFreshSignIn(1_000_000, at(1_000_000))).toBe(true);
    expect(isFreshSignIn(1_000_000, at(1_000_300))).toBe(true);
    expect(isFreshSignIn(1_000_000, new Date(1_000_300_999))).toBe(true);
    expect(isFreshSignIn(1_000_000, at(1_000_301))).toBe(false);
    expect(isFreshSignIn(1_000_000, at(1_100_000))).toBe(false);
  });

  it('applies to adding and removing a passkey, not to renaming one', () => {
    expect(needsFreshSignIn('add')).toBe(true);
    expect(needsFreshSignIn('remove')).toBe(true);
    expect(needsFreshSignIn('rename')).toBe(false);
  });
});

describe('a passkey name', () => {
  it('is trimmed, its white space collapsed, its control characters and bidi overrides gone', () => {
    expect(passkeyName('  My   laptop ', { required: true })).toEqual({ ok: true, name: 'My laptop' });
    expect(passkeyName('Blue\nkey\u0007\ttwo', { required: true })).toEqual({ ok: true, name: 'Blue key two' });
    expect(passkeyName('\u202Eyek eulB', { required: true })).toEqual({ ok: true, name: 'yek eulB' });
    expect(passkeyName('Téléphone 📱', { required: true })).toEqual({ ok: true, name: 'Téléphone 📱' });
  });

  it('may be left out or empty when adding (the library names it), not when renaming', () => {
    expect(passkeyName(undefined, { required: false })).toEqual({ ok: true, name: undefined });
    expect(passkeyName('   ', { required: false })).toEqual({ ok: true, name: undefined });
    expect(passkeyName('', { required: true })).toEqual({ ok: false, reason: 'empty' });
    expect(passkeyName(' \n ', { required: true })).toEqual({ ok: false, reason: 'empty' });
    expect(passkeyName(undefined, { required: true })).toEqual({ ok: false, reason: 'not_text' });
  });

  it('has at most 64 characters (counted as people see them), and is text', () => {
    expect(maxPasskeyNameLength).toBe(64);
    expect(passkeyName('a'.repeat(64), { required: true })).toEqual({ ok: true, name: 'a'.repeat(64) });
    expect(passkeyName('😀'.repeat(64), { required: true })).toEqual({ ok: true, name: '😀'.repeat(64) });
    expect(passkeyName('a'.repeat(65), { required: true })).toEqual({ ok: false, reason: 'too_long' });
    expect(passkeyName('a'.repeat(100_000), { required: false })).toEqual({ ok: false, reason: 'too_long' });
    for (const value of [['a', 'b'], { a: '1' }, 42, null]) {
      expect(passkeyName(value, { required: false })).toEqual({ ok: false, reason: 'not_text' });
    }
  });
});

describe('a passkey id as the page posts it back', () => {
  it('is base64url (a credential id) or a UUID, bounded', () => {
    expect(passkeyId('AbC-_09')).toBe('AbC-_09');
    expect(passkeyId('0f8fad5b-d9cb-469f-a165-70867728950e')).toBe('0f8fad5b-d9cb-469f-a165-70867728950e');
    expect(passkeyId('x'.repeat(1400))).toBe('x'.repeat(1400));
    for (const value of ['', 'x'.repeat(1401), 'a b', 'a/b', 'a+b==', ['a'], undefined, 7]) expect(passkeyId(value)).toBeUndefined();
  });
});

describe("the browser's answer to navigator.credentials.create", () => {
  const answer = {
    id: 'Y3JlZA', rawId: 'Y3JlZA', type: 'public-key',
    response: { clientDataJSON: 'e30', attestationObject: 'o2Nm', transports: ['internal'] },
    clientExtensionResults: {}, authenticatorAttachment: 'platform',
  };

  it('is the JSON of a public-key credential with client data and an attestation object', () => {
    expect(registrationResponse(JSON.stringify(answer))).toEqual({ ok: true, response: answer });
  });

  it('is refused when missing, too large, not JSON, or of another shape', () => {
    const refused = [
      undefined, '', ['{}'], 'not json', '{"id":', 'null', '[]', '"text"',
      JSON.stringify({ ...answer, type: 'password' }),
      JSON.stringify({ ...answer, response: { clientDataJSON: 'e30' } }),
      JSON.stringify({ ...answer, id: '' }),
      JSON.stringify({ ...answer, response: 'nope' }),
      JSON.stringify({ ...answer, padding: 'x'.repeat(maxResponseLength) }),
    ];
    for (const value of refused) expect(registrationResponse(value), String(value).slice(0, 60)).toEqual({ ok: false });
  });
});

describe('the pending challenge of "Add a passkey"', () => {
  it('lasts as long as the browser offers the ceremony, five minutes, and is bound to the sign-in', () => {
    expect(passkeyChallengeSeconds).toBe(ceremonyTimeoutMs / 1000);
    expect(passkeyChallengeSeconds).toBe(300);
    const pending = newPendingPasskey(session, 'c'.repeat(43), at(2_000_000));
    expect(pending).toEqual({ challenge: 'c'.repeat(43), sub: 'account-1', sid: 'sid-1', authTime: 1_000_000, exp: 2_000_300 });
    expect(pendingPasskeySchema.parse(pending)).toEqual(pending);
  });

  it('may be used by the same sign-in before it expires', () => {
    const pending = newPendingPasskey(session, 'c'.repeat(43), at(2_000_000));
    expect(pendingPasskeyVerdict(pending, session, at(2_000_000))).toEqual({ ok: true, challenge: 'c'.repeat(43) });
    expect(pendingPasskeyVerdict(pending, session, new Date(2_000_299_999))).toEqual({ ok: true, challenge: 'c'.repeat(43) });
  });

  it('is refused when there is none, when it expired, or when it was handed to another sign-in', () => {
    const pending = newPendingPasskey(session, 'c'.repeat(43), at(2_000_000));
    expect(pendingPasskeyVerdict(undefined, session, at(2_000_000))).toEqual({ ok: false, reason: 'missing' });
    expect(pendingPasskeyVerdict(pending, session, at(2_000_300))).toEqual({ ok: false, reason: 'expired' });
    expect(pendingPasskeyVerdict(pending, { ...session, sub: 'account-2' }, at(2_000_000))).toEqual({ ok: false, reason: 'other_session' });
    expect(pendingPasskeyVerdict(pending, { ...session, sid: 'sid-2' }, at(2_000_000))).toEqual({ ok: false, reason: 'other_session' });
    // Signing in again (a new auth_time) starts over.
    expect(pendingPasskeyVerdict(pending, { ...session, authTime: 1_000_100 }, at(2_000_000))).toEqual({ ok: false, reason: 'other_session' });
  });
});

describe('removing a passkey', () => {
  it('is allowed for a passkey of the account, unless it is the last way in of an account without a password', () => {
    expect(removalVerdict({ otherWayIn: true, passkeyIds: ['a'], id: 'a' })).toEqual({ ok: true });
    expect(removalVerdict({ otherWayIn: false, passkeyIds: ['a', 'b'], id: 'a' })).toEqual({ ok: true });
    expect(removalVerdict({ otherWayIn: false, passkeyIds: ['a'], id: 'a' })).toEqual({ ok: false, reason: 'last_way_in' });
    expect(removalVerdict({ otherWayIn: true, passkeyIds: ['a'], id: 'b' })).toEqual({ ok: false, reason: 'unknown' });
    expect(removalVerdict({ otherWayIn: false, passkeyIds: [], id: 'a' })).toEqual({ ok: false, reason: 'unknown' });
  });
});

describe('the password form', () => {
  it('changes the password an account has, and sets one for an account without', () => {
    expect(passwordFormKind({ passwordHash: '$argon2id$…' })).toBe('change');
    expect(passwordFormKind({ passwordHash: null })).toBe('set');
  });
});

describe('the passkeys as the page lists them', () => {
  it('newest first, with when each was added and last used, and whether it is synced', () => {
    const rows = passkeyRows([
      { id: 'old', name: 'Blue key', createdAt: new Date('2025-01-02T03:04:05Z'), lastUsedAt: new Date('2025-02-03T04:05:06Z'), backedUp: false },
      { id: 'new', name: 'Phone', createdAt: new Date('2025-03-01T10:00:00Z'), lastUsedAt: null, backedUp: true },
    ], 'en');
    expect(rows.map((row) => row.id)).toEqual(['new', 'old']);
    expect(rows[0]).toMatchObject({
      name: 'Phone', synced: true, state: 'Synced',
      added: { iso: '2025-03-01T10:00:00.000Z' },
      lastUsed: { iso: undefined, text: 'never used' },
    });
    expect(rows[0]!.added.text).toMatch(/^Added Mar 1, 2025, 10:00\sAM UTC$/);
    expect(rows[1]).toMatchObject({ name: 'Blue key', synced: false, state: 'This device only', lastUsed: { iso: '2025-02-03T04:05:06.000Z' } });
    expect(rows[1]!.lastUsed.text).toMatch(/^last used Feb 3, 2025, 4:05\sAM UTC$/);
    // In German, the dates are German ones (the words come from the catalog, translated or not).
    const german = passkeyRows([{ id: 'x', name: 'Key', createdAt: new Date('2025-03-01T10:00:00Z'), lastUsedAt: null, backedUp: false }], 'de');
    expect(german[0]!.added.text).toBe(message('account.passkey_added_at', { when: '1. März 2025, 10:00 UTC' }, 'de'));
  });
});
