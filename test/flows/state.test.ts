import { describe, expect, it } from 'vitest';

import type { FlowState } from '../../src/flows/state.ts';
import { flowStateAt, flowStateKey, flowStateOf } from '../../src/flows/state.ts';

const registration: FlowState = { step: 'registration', email: 'new@example.com', accountId: 'acct-1', codeId: 'code-1', credentialStamp: 'stamp' };

describe('flowStateOf', () => {
  it('reads each well-formed step under the one key, and nothing else', () => {
    const steps: FlowState[] = [
      registration,
      { ...registration, accountId: null, credentialStamp: null, mailboxProvedAt: 5 },
      { step: 'second_factor', accountId: 'acct-1', passwordAt: 100 },
      { step: 'sign_in_code', email: 'a@example.com', accountId: null, codeId: 'c', credentialStamp: null },
      { step: 'mfa_enrolled', accountId: 'acct-1' },
      { ...registration, credential: 'passkey' },
      { step: 'passkey_registration', email: 'new@example.com', accountId: 'acct-1', credentialStamp: 'stamp', mailboxProvedAt: 5 },
      { step: 'link_identity', connectionId: 'acme', subject: 'upstream-1', email: 'a@example.com', accountId: 'acct-1', issuedAt: 5 },
      { step: 'link_identity', connectionId: 'acme', subject: 'upstream-1', email: 'a@example.com', accountId: 'acct-1', issuedAt: 5, code: { codeId: 'c', credentialStamp: null } },
      { step: 'second_factor', accountId: 'acct-1', passwordAt: 100, first: 'federated' },
      { step: 'second_factor', accountId: 'acct-1', passwordAt: 100, link: { connectionId: 'acme', subject: 'upstream-1', email: 'a@example.com', accountId: 'acct-1', issuedAt: 5 } },
      { step: 'sign_in_code', email: 'a@example.com', accountId: 'acct-1', codeId: 'c', credentialStamp: 's', link: { connectionId: 'acme', subject: 'u', email: 'a@example.com', accountId: 'acct-1', issuedAt: 5 } },
    ];
    for (const state of steps) expect(flowStateOf({ [flowStateKey]: state })).toEqual(state);
    expect(flowStateOf(undefined)).toBeUndefined();
    expect(flowStateOf({})).toBeUndefined();
    // The loose keys of older versions do not count.
    expect(flowStateOf({ registration })).toBeUndefined();
    expect(flowStateOf({ passwordVerified: { accountId: 'acct-1', at: 1 } })).toBeUndefined();
  });

  it('refuses a malformed state rather than guessing', () => {
    expect(flowStateOf({ [flowStateKey]: { ...registration, mailboxProvedAt: 'yes' } })).toBeUndefined();
    expect(flowStateOf({ [flowStateKey]: { email: 'new@example.com', accountId: 'acct-1' } })).toBeUndefined();
    expect(flowStateOf({ [flowStateKey]: { step: 'second_factor', accountId: 'acct-1' } })).toBeUndefined();
    expect(flowStateOf({ [flowStateKey]: { step: 'elsewhere', accountId: 'acct-1' } })).toBeUndefined();
    expect(flowStateOf({ [flowStateKey]: { ...registration, credential: 'magic' } })).toBeUndefined();
    // A passkey registration goes on only with the account and the moment its mailbox was proved.
    expect(flowStateOf({ [flowStateKey]: { step: 'passkey_registration', email: 'new@example.com', accountId: null, credentialStamp: 'stamp', mailboxProvedAt: 5 } })).toBeUndefined();
    expect(flowStateOf({ [flowStateKey]: { step: 'passkey_registration', email: 'new@example.com', accountId: 'acct-1', credentialStamp: 'stamp' } })).toBeUndefined();
    // An identity link names its connection, subject, email, account and time; the first step is the password's or another provider's.
    const link = { step: 'link_identity', connectionId: 'acme', subject: 'upstream-1', email: 'a@example.com', accountId: 'acct-1', issuedAt: 5 };
    for (const missing of ['connectionId', 'subject', 'email', 'accountId', 'issuedAt']) {
      const { [missing]: _left, ...rest } = link as Record<string, unknown>;
      expect(flowStateOf({ [flowStateKey]: rest }), missing).toBeUndefined();
    }
    expect(flowStateOf({ [flowStateKey]: { ...link, subject: 'x'.repeat(256) } })).toBeUndefined();
    expect(flowStateOf({ [flowStateKey]: { step: 'second_factor', accountId: 'acct-1', passwordAt: 100, first: 'magic' } })).toBeUndefined();
  });
});

describe('flowStateAt', () => {
  it('gives the state only at the step asked for', () => {
    expect(flowStateAt({ [flowStateKey]: registration }, 'registration')).toEqual(registration);
    expect(flowStateAt({ [flowStateKey]: registration }, 'second_factor')).toBeUndefined();
  });
});
