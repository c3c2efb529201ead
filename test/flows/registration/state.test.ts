import { describe, expect, it } from 'vitest';

import type { PasskeyRegistration, PendingRegistration } from '../../../src/flows/registration/state.ts';
import { credentialStamp } from '../../../src/libraries/credential-stamp.ts';
import { passkeyRegistrationProgress, registrationProgress } from '../../../src/flows/registration/state.ts';

const key = Buffer.alloc(32, 7);
const account = { id: 'acct-1', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', disabled: false, emailVerified: false };
const stamp = credentialStamp(key, account);
const pending = (extra: Partial<PendingRegistration> = {}): PendingRegistration => ({
  step: 'registration', email: 'new@example.com', accountId: 'acct-1', codeId: 'code-1', credentialStamp: stamp, ...extra,
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

describe('passkeyRegistrationProgress', () => {
  const waiting: PasskeyRegistration = { step: 'passkey_registration', email: 'new@example.com', accountId: 'acct-1', credentialStamp: stamp, mailboxProvedAt: 1 };
  const verified = { ...account, emailVerified: true };

  it('lets the registration create its passkey while nothing changed', () => {
    expect(passkeyRegistrationProgress(waiting, verified, stamp)).toBe('continue');
  });

  it('starts again when the account is gone, another, disabled, unconfirmed, or its credentials changed', () => {
    expect(passkeyRegistrationProgress(waiting, undefined, undefined)).toBe('start_again');
    expect(passkeyRegistrationProgress(waiting, { ...verified, id: 'acct-2' }, stamp)).toBe('start_again');
    expect(passkeyRegistrationProgress(waiting, { ...verified, disabled: true }, stamp)).toBe('start_again');
    expect(passkeyRegistrationProgress(waiting, account, stamp)).toBe('start_again');
    // The owner reset the password meanwhile.
    expect(passkeyRegistrationProgress(waiting, verified, credentialStamp(key, { ...account, passwordHash: 'another' }))).toBe('start_again');
  });
});
