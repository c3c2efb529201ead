import { describe, expect, it } from 'vitest';

import type { AccountFacts, UpstreamDecision, UpstreamDecisionInput, UpstreamProblem } from '../../../src/flows/login/connection-rules.ts';
import {
  connectionIdFrom, decideUpstreamSignIn, isRegisteredCallback, keptIdentity, keptProfile, linkToMake, pendingLinkOf, pendingVerdict, problemPage,
  upstreamAmr, upstreamLifetimeSeconds, verifiedVerdict,
} from '../../../src/flows/login/connection-rules.ts';
import type { FlowState } from '../../../src/flows/state.ts';
import type { Level } from '../../../src/oidc/levels.ts';
import { message } from '../../../src/messages/messages.ts';

const now = 1_800_000_000;
const levels: Level[] = ['password', 'mfa', 'phishing_resistant'];

describe('the upstream request kept in the interaction', () => {
  const pending = { phase: 'pending', connectionId: 'acme', state: 'state-1234567890', nonce: 'nonce-1234567890', codeVerifier: 'v'.repeat(43), issuedAt: now };
  const verified = {
    phase: 'verified', connectionId: 'acme', verifiedAt: now,
    identity: { subject: 'u1', email: 'a@example.com', emailVerified: true, profile: { name: 'A' }, amr: null, acr: null },
  };

  it('lets the first callback of its connection use a pending request for exactly upstreamLifetimeSeconds', () => {
    expect(pendingVerdict(pending, 'acme', now)).toEqual({ ok: true, entry: pending });
    expect(pendingVerdict(pending, 'acme', now + upstreamLifetimeSeconds).ok).toBe(true);
    expect(pendingVerdict(pending, 'acme', now + upstreamLifetimeSeconds + 1)).toEqual({ ok: false, reason: 'expired' });
    // Issued in the future (a clock gone backwards, or a forged entry): no.
    expect(pendingVerdict({ ...pending, issuedAt: now + 3600 }, 'acme', now)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses another connection, a taken (absent), malformed or already verified entry', () => {
    expect(pendingVerdict(pending, 'other', now)).toEqual({ ok: false, reason: 'other_connection' });
    expect(pendingVerdict(undefined, 'acme', now)).toEqual({ ok: false, reason: 'missing' });
    expect(pendingVerdict({ ...pending, state: '' }, 'acme', now)).toEqual({ ok: false, reason: 'missing' });
    expect(pendingVerdict({ ...pending, phase: 'other' }, 'acme', now)).toEqual({ ok: false, reason: 'missing' });
    expect(pendingVerdict(verified, 'acme', now)).toEqual({ ok: false, reason: 'missing' });
    expect(pendingVerdict({ ...pending, nonce: null }, 'acme', now).ok).toBe(true);
  });

  it('hands the verified identity to the return address once, for upstreamLifetimeSeconds', () => {
    expect(verifiedVerdict(verified, now)).toEqual({ ok: true, entry: verified });
    expect(verifiedVerdict(verified, now + upstreamLifetimeSeconds).ok).toBe(true);
    expect(verifiedVerdict(verified, now + upstreamLifetimeSeconds + 1)).toEqual({ ok: false, reason: 'expired' });
    expect(verifiedVerdict(pending, now)).toEqual({ ok: false, reason: 'missing' });
    expect(verifiedVerdict(undefined, now)).toEqual({ ok: false, reason: 'missing' });
    expect(verifiedVerdict({ ...verified, identity: { ...verified.identity, subject: '' } }, now)).toEqual({ ok: false, reason: 'missing' });
  });
});

describe('the callback address', () => {
  const registered = 'https://id.example.com/connections/acme/callback';
  it.each([
    ['https://id.example.com/connections/acme/callback?code=1&state=2', true],
    ['https://id.example.com/connections/acme/callback', true],
    ['https://id.example.com/connections/other/callback?code=1', false],
    ['http://id.example.com/connections/acme/callback?code=1', false],
    ['https://id.example.com:8443/connections/acme/callback?code=1', false],
    ['https://evil.example/connections/acme/callback?code=1', false],
    ['https://id.example.com/connections/acme/callback/?code=1', false],
    ['https://user:pw@id.example.com/connections/acme/callback?code=1', false],
    ['https://id.example.com/connections/acme/callback?code=1#fragment', false],
  ])('%s', (url, expected) => {
    expect(isRegisteredCallback(new URL(url), registered)).toBe(expected);
  });

  it('takes only slugs as connection ids from an address', () => {
    expect(connectionIdFrom('acme-sso')).toBe('acme-sso');
    for (const bad of [undefined, '', 'a/b', '../x', 'x'.repeat(65), ['acme'], 'acme sso', 'é']) expect(connectionIdFrom(bad), String(bad)).toBeUndefined();
  });
});

describe('what is kept of an upstream identity', () => {
  const identity = { subject: 'u1', email: 'Person@Example.com', emailVerified: true, profile: { name: 'Person' }, amr: ['pwd', 'mfa'], acr: 'urn:x' };

  it('keeps the subject, an email that is an address, whether it is verified, the profile, amr and acr', () => {
    expect(keptIdentity(identity)).toEqual({ subject: 'u1', email: 'Person@Example.com', emailVerified: true, profile: { name: 'Person' }, amr: ['pwd', 'mfa'], acr: 'urn:x' });
  });

  it('drops an email that is no address (and its verification), and refuses a subject it cannot keep', () => {
    for (const email of ['not an email', 'a@', 'x'.repeat(250) + '@example.com', 42, null, undefined]) {
      expect(keptIdentity({ ...identity, email }), String(email)).toMatchObject({ email: null, emailVerified: false });
    }
    expect(keptIdentity({ ...identity, emailVerified: 'true' })).toMatchObject({ emailVerified: false });
    expect(keptIdentity({ ...identity, subject: '' })).toBeUndefined();
    expect(keptIdentity({ ...identity, subject: 's'.repeat(256) })).toBeUndefined();
    expect(keptIdentity({ ...identity, subject: 42 })).toBeUndefined();
    expect(keptIdentity({ ...identity, acr: 'x'.repeat(257) })).toMatchObject({ acr: null });
    expect(keptIdentity({ ...identity, amr: 'pwd' })).toMatchObject({ amr: null });
  });

  it('keeps only profile claims an account has, as clean text', () => {
    expect(keptProfile({
      name: '  Ada\u0000 Lovelace\n ', given_name: 'Ada', picture: 'https://example.com/a.png', locale: 'en',
      roles: 'admin', sub: 'x', email: 'a@example.com', nickname: 7, family_name: '', middle_name: '\u202Egnirts',
      website: 'w'.repeat(2049),
    })).toEqual({ name: 'Ada Lovelace', given_name: 'Ada', picture: 'https://example.com/a.png', locale: 'en', middle_name: 'gnirts' });
    expect(keptProfile({})).toEqual({});
    expect(keptProfile(Object.create({ name: 'inherited' }) as Record<string, unknown>)).toEqual({});
  });

  it('keeps amr values that are short tokens, each once, at most 16', () => {
    expect(upstreamAmr(null)).toBeNull();
    expect(upstreamAmr(undefined)).toBeNull();
    expect(upstreamAmr(['pwd', 'mfa', 'pwd', 7, 'a b', '', 'x'.repeat(65), 'urn:x:y'])).toEqual(['pwd', 'mfa', 'urn:x:y']);
    expect(upstreamAmr(Array.from({ length: 40 }, (_, index) => `m${index}`))).toHaveLength(16);
  });
});

describe('what a verified upstream identity leads to', () => {
  const account: AccountFacts = { id: 'acct', disabled: false };
  const disabledAccount: AccountFacts = { id: 'acct', disabled: true };
  type Linked = 'not_linked' | 'linked' | 'linked_disabled' | 'linked_gone';
  type SameEmail = 'none' | 'exists' | 'exists_disabled';
  const linkedStates: Linked[] = ['not_linked', 'linked', 'linked_disabled', 'linked_gone'];
  const sameEmailStates: SameEmail[] = ['none', 'exists', 'exists_disabled'];
  const emails: Array<string | null> = ['a@example.com', null];
  const flags = [false, true];

  type Case = {
    linked: Linked; sameEmail: SameEmail; email: string | null; emailVerified: boolean;
    allowNewAccounts: boolean; trustVerifiedEmails: boolean; disabled: boolean; required: Level;
  };
  const cases: Case[] = linkedStates.flatMap((linked) => sameEmailStates.flatMap((sameEmail) => emails.flatMap((email) => flags.flatMap((emailVerified) => flags.flatMap((allowNewAccounts) =>
    flags.flatMap((trustVerifiedEmails) => flags.flatMap((disabled) => levels.map((required) => ({
      linked, sameEmail, email, emailVerified, allowNewAccounts, trustVerifiedEmails, disabled, required,
    })))))))));

  function input(c: Case): UpstreamDecisionInput {
    const linked = { not_linked: undefined, linked: account, linked_disabled: disabledAccount, linked_gone: null }[c.linked];
    // The account with the email is asked for only when the identity is not linked, and only with an email.
    const sameEmail = c.linked === 'not_linked' && c.email ? { none: undefined, exists: account, exists_disabled: disabledAccount }[c.sameEmail] : undefined;
    return {
      connection: { allowNewAccounts: c.allowNewAccounts, trustVerifiedEmails: c.trustVerifiedEmails, disabled: c.disabled },
      identity: { email: c.email, emailVerified: c.emailVerified && c.email !== null },
      linked, sameEmail, required: c.required,
    };
  }

  /** The rule, spelled out as the table in connection-rules.ts has it. */
  function expected(c: Case): UpstreamDecision {
    if (c.disabled) return { kind: 'refuse', reason: 'connection_disabled' };
    if (c.required === 'phishing_resistant') return { kind: 'refuse', reason: 'phishing_resistant_required' };
    if (c.linked === 'linked_gone') return { kind: 'refuse', reason: 'linked_account_missing' };
    if (c.linked === 'linked_disabled') return { kind: 'refuse', reason: 'account_disabled' };
    if (c.linked === 'linked') return { kind: 'sign_in', accountId: 'acct' };
    if (c.email === null) return { kind: 'refuse', reason: 'no_email' };
    const trusted = c.trustVerifiedEmails && c.emailVerified;
    if (c.sameEmail === 'exists') return trusted ? { kind: 'link_trusted', accountId: 'acct' } : { kind: 'prove', accountId: 'acct' };
    if (c.sameEmail === 'exists_disabled') return trusted ? { kind: 'refuse', reason: 'account_disabled' } : { kind: 'prove', accountId: 'acct' };
    return c.allowNewAccounts ? { kind: 'create', emailVerified: trusted } : { kind: 'refuse', reason: 'no_account' };
  }

  it.each(cases)('$linked, email $email ($sameEmail, verified $emailVerified), new accounts $allowNewAccounts, trusted $trustVerifiedEmails, disabled $disabled, level $required', (c) => {
    expect(decideUpstreamSignIn(input(c))).toEqual(expected(c));
  });

  it('never links an existing account without a proof unless the connection trusts a verified email', () => {
    for (const c of cases) {
      const decision = decideUpstreamSignIn(input(c));
      if (decision.kind === 'link_trusted') expect(c.trustVerifiedEmails && c.emailVerified && c.linked === 'not_linked').toBe(true);
      // A new account only where nobody has the address, and only when the connection allows it.
      if (decision.kind === 'create') expect(c.allowNewAccounts && c.sameEmail === 'none' && c.linked === 'not_linked' && c.email !== null).toBe(true);
    }
  });
});

describe('the identity link a finished sign-in makes', () => {
  const link = { connectionId: 'acme', subject: 'u1', email: 'a@example.com', accountId: 'acct', issuedAt: now };
  const states: Array<[string, FlowState | undefined, boolean]> = [
    ['none', undefined, false],
    ['the proof page', { step: 'link_identity', ...link }, true],
    ['the proof page with a mailed code', { step: 'link_identity', ...link, code: { codeId: 'c', credentialStamp: null } }, true],
    ['the second step carrying it', { step: 'second_factor', accountId: 'acct', passwordAt: now, link }, true],
    ['the mailed code carrying it', { step: 'sign_in_code', email: 'a@example.com', accountId: 'acct', codeId: 'c', credentialStamp: 's', link }, true],
    ['a second step without one', { step: 'second_factor', accountId: 'acct', passwordAt: now }, false],
    ['a registration', { step: 'registration', email: 'a@example.com', accountId: 'acct', codeId: 'c', credentialStamp: 's' }, false],
    ['mfa enrolled', { step: 'mfa_enrolled', accountId: 'acct' }, false],
  ];

  it.each(states)('%s', (_name, state, has) => {
    expect(pendingLinkOf(state)).toEqual(has ? link : undefined);
    expect(linkToMake(state, 'acct', now)).toEqual(has ? link : undefined);
    expect(linkToMake(state, 'acct', now + upstreamLifetimeSeconds)).toEqual(has ? link : undefined);
    // Only for the account it was asked for, and not after the proof page's time.
    expect(linkToMake(state, 'someone-else', now)).toBeUndefined();
    expect(linkToMake(state, 'acct', now + upstreamLifetimeSeconds + 1)).toBeUndefined();
  });
});

describe('the page of each problem', () => {
  const problems: UpstreamProblem[] = [
    'unknown_connection', 'no_cookie', 'interaction_gone', 'missing', 'other_connection', 'expired', 'wrong_callback',
    'upstream_unavailable', 'upstream_refused', 'upstream_invalid', 'conflict',
    'connection_disabled', 'phishing_resistant_required', 'account_disabled', 'no_account', 'no_email', 'linked_account_missing',
  ];
  const statuses: Record<UpstreamProblem, number> = {
    unknown_connection: 404, connection_disabled: 404, no_cookie: 400, interaction_gone: 400, missing: 400, other_connection: 400, expired: 400,
    wrong_callback: 400, upstream_unavailable: 502, upstream_refused: 403, upstream_invalid: 400, conflict: 409, phishing_resistant_required: 403,
    account_disabled: 403, no_account: 403, no_email: 403, linked_account_missing: 403,
  };

  it.each(problems)('%s: a 4xx (502 for an upstream that cannot be reached), never a 500, with words of its own', (problem) => {
    const page = problemPage(problem);
    expect(page.status).toBe(statuses[problem]);
    expect((page.status >= 400 && page.status < 500) || (problem === 'upstream_unavailable' && page.status === 502)).toBe(true);
    expect(message(page.title)).not.toBe(page.title);
    expect(message(page.text, { email: 'a@example.com' })).not.toBe(page.text);
    // Only "no account" offers to create one.
    expect(page.offerRegistration).toBe(problem === 'no_account');
  });
});
