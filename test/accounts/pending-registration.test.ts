import { describe, expect, it } from 'vitest';

import type { PendingRegistration } from '../../src/accounts/pending-registration.ts';
import { credentialStamp, pendingRegistrationOf, registrationProgress } from '../../src/accounts/pending-registration.ts';

const key = Buffer.alloc(32, 7);
const account = { id: 'acct-1', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', disabled: false, emailVerified: false };
const stamp = credentialStamp(key, account);
const pending = (extra: Partial<PendingRegistration> = {}): PendingRegistration => ({
  email: 'new@example.com', accountId: 'acct-1', codeId: 'code-1', credentialStamp: stamp, ...extra,
});

describe('credentialStamp', () => {
  it('changes with the password hash and the account, and is not the hash itself', () => {
    expect(credentialStamp(key, account)).toBe(stamp);
    expect(credentialStamp(key, { ...account, passwordHash: `${account.passwordHash}x` })).not.toBe(stamp);
    expect(credentialStamp(key, { ...account, id: 'acct-2' })).not.toBe(stamp);
    expect(credentialStamp(key, { ...account, passwordHash: null })).not.toBe(stamp);
    expect(credentialStamp(Buffer.alloc(32, 8), account)).not.toBe(stamp);
    expect(stamp).not.toContain(account.passwordHash);
  });
});

describe('registrationProgress', () => {
  const verified = { ...account, emailVerified: true };

  it('waits for the mailbox while the address is unconfirmed', () => {
    expect(registrationProgress(pending(), account, stamp)).toBe('awaiting_mailbox');
  });

  it('continues once this browser proved the mailbox and the address is confirmed', () => {
    expect(registrationProgress(pending({ mailboxProvedAt: 1 }), verified, stamp)).toBe('continue');
    // Proved here, but the confirmation did not land (yet): still waiting.
    expect(registrationProgress(pending({ mailboxProvedAt: 1 }), account, stamp)).toBe('awaiting_mailbox');
  });

  it('starts again when the address was confirmed by another browser', () => {
    expect(registrationProgress(pending(), verified, stamp)).toBe('start_again');
  });

  it('starts again when the credentials are no longer the ones it set', () => {
    const changed = credentialStamp(key, { ...account, passwordHash: 'reset' });
    for (const mailboxProvedAt of [undefined, 1]) {
      const state = pending(mailboxProvedAt === undefined ? {} : { mailboxProvedAt });
      expect(registrationProgress(state, verified, changed)).toBe('start_again');
      expect(registrationProgress(state, account, changed)).toBe('start_again');
      expect(registrationProgress(state, verified, undefined)).toBe('start_again');
      expect(registrationProgress({ ...state, credentialStamp: null }, verified, stamp)).toBe('start_again');
    }
  });

  it('starts again when the account is gone, disabled or another one', () => {
    for (const mailboxProvedAt of [undefined, 1]) {
      const state = pending(mailboxProvedAt === undefined ? {} : { mailboxProvedAt });
      expect(registrationProgress(state, undefined, undefined)).toBe('start_again');
      expect(registrationProgress(state, { ...verified, disabled: true }, stamp)).toBe('start_again');
      expect(registrationProgress(state, { ...verified, id: 'acct-2' }, stamp)).toBe('start_again');
    }
  });

  it('keeps a decoy waiting forever, whatever happens to the address', () => {
    const decoy = pending({ accountId: null, credentialStamp: null });
    for (const current of [undefined, account, verified]) {
      expect(registrationProgress(decoy, current, stamp)).toBe('awaiting_mailbox');
      expect(registrationProgress({ ...decoy, mailboxProvedAt: 1 }, current, stamp)).toBe('awaiting_mailbox');
    }
  });
});

describe('pendingRegistrationOf', () => {
  it('reads a well-formed registration and nothing else', () => {
    expect(pendingRegistrationOf({ registration: pending() })).toEqual(pending());
    expect(pendingRegistrationOf({ registration: pending({ accountId: null, credentialStamp: null }) })).toMatchObject({ accountId: null });
    expect(pendingRegistrationOf(undefined)).toBeUndefined();
    expect(pendingRegistrationOf({})).toBeUndefined();
    // The shape of older versions (no code, no stamp) does not count.
    expect(pendingRegistrationOf({ registration: { email: 'new@example.com', accountId: 'acct-1' } })).toBeUndefined();
    expect(pendingRegistrationOf({ registration: { ...pending(), mailboxProvedAt: 'yes' } })).toBeUndefined();
  });
});
