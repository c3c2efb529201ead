import { describe, expect, it } from 'vitest';

import type { FlowAction, FlowPage, FlowPosition } from '../../src/flows/engine.ts';
import { accepts, pageFor } from '../../src/flows/engine.ts';
import { upstreamLifetimeSeconds } from '../../src/flows/login/connection-rules.ts';
import { passwordValidSeconds } from '../../src/flows/second-factor/state.ts';
import type { FlowState } from '../../src/flows/state.ts';

const now = 1_800_000_000;
const states = {
  none: undefined,
  registration: { step: 'registration', email: 'new@example.com', accountId: 'a1', codeId: 'c1', credentialStamp: 's' },
  passkeyRegistration: { step: 'passkey_registration', email: 'new@example.com', accountId: 'a1', credentialStamp: 's', mailboxProvedAt: now - 60 },
  secondFactorFresh: { step: 'second_factor', accountId: 'a1', passwordAt: now - passwordValidSeconds },
  secondFactorStale: { step: 'second_factor', accountId: 'a1', passwordAt: now - passwordValidSeconds - 1 },
  signInCode: { step: 'sign_in_code', email: 'a@example.com', accountId: null, codeId: 'c1', credentialStamp: null },
  enrolled: { step: 'mfa_enrolled', accountId: 'a1' },
  linkFresh: { step: 'link_identity', connectionId: 'acme', subject: 's1', email: 'a@example.com', accountId: 'a1', issuedAt: now - upstreamLifetimeSeconds },
  linkStale: { step: 'link_identity', connectionId: 'acme', subject: 's1', email: 'a@example.com', accountId: 'a1', issuedAt: now - upstreamLifetimeSeconds - 1 },
  secondFactorFederated: {
    step: 'second_factor', accountId: 'a1', passwordAt: now, first: 'federated',
    link: { connectionId: 'acme', subject: 's1', email: 'a@example.com', accountId: 'a1', issuedAt: now },
  },
} satisfies Record<string, FlowState | undefined>;
type StateName = keyof typeof states;
const prompts = ['login', 'verify_email', 'mfa', 'pending_deletion', 'consent', 'none', 'select_account'] as const;

/** The same page whatever the flow state. */
function everywhere(page: FlowPage): Record<StateName, FlowPage> {
  return Object.fromEntries((Object.keys(states) as StateName[]).map((state) => [state, page])) as Record<StateName, FlowPage>;
}

/** The whole table: every prompt against every state. Anything not listed is a mistake. */
const expectedPage: Record<(typeof prompts)[number], Record<StateName, FlowPage>> = {
  login: {
    none: 'login', registration: 'verification', passkeyRegistration: 'passkey_registration', secondFactorFresh: 'second_factor', secondFactorStale: 'login', signInCode: 'sign_in_code', enrolled: 'login',
    linkFresh: 'link_identity', linkStale: 'login', secondFactorFederated: 'second_factor',
  },
  verify_email: everywhere('verification'),
  mfa: everywhere('second_factor'),
  pending_deletion: everywhere('pending_deletion'),
  consent: everywhere('consent'),
  none: everywhere('unsupported'),
  select_account: everywhere('unsupported'),
};

const position = (prompt: string, state: StateName): FlowPosition => ({ prompt, state: states[state], now });
const everyPosition = prompts.flatMap((prompt) => (Object.keys(states) as StateName[]).map((state) => ({ prompt, state })));

describe('pageFor', () => {
  it.each(everyPosition)('shows the right page at prompt $prompt with state $state', ({ prompt, state }) => {
    expect(pageFor(position(prompt, state))).toBe(expectedPage[prompt][state]);
  });

  it('keeps the proof page of an identity link exactly upstreamLifetimeSeconds', () => {
    const waiting: FlowState = { step: 'link_identity', connectionId: 'acme', subject: 's1', email: 'a@example.com', accountId: 'a1', issuedAt: now };
    expect(pageFor({ prompt: 'login', state: waiting, now: now + upstreamLifetimeSeconds })).toBe('link_identity');
    expect(pageFor({ prompt: 'login', state: waiting, now: now + upstreamLifetimeSeconds + 1 })).toBe('login');
  });

  it('keeps a checked password waiting exactly passwordValidSeconds for its code', () => {
    const waiting: FlowState = { step: 'second_factor', accountId: 'a1', passwordAt: now };
    expect(pageFor({ prompt: 'login', state: waiting, now: now + passwordValidSeconds })).toBe('second_factor');
    expect(pageFor({ prompt: 'login', state: waiting, now: now + passwordValidSeconds + 1 })).toBe('login');
  });
});

describe('accepts', () => {
  const actions: FlowAction[] = [
    'login', 'passkey', 'connection', 'register', 'forgot_password', 'abort', 'verification', 'passkey_registration', 'second_factor', 'sign_in_code', 'link_identity', 'mfa_setup', 'pending_deletion', 'consent',
  ];

  it.each(everyPosition)('accepts exactly the forms of its page at prompt $prompt with state $state', ({ prompt, state }) => {
    const here = position(prompt, state);
    const page = expectedPage[prompt][state];
    const accepted = actions.filter((action) => accepts(action, here));
    const expected = [
      // The login page's own forms, the passkey and other providers among them, work throughout the login prompt.
      ...(prompt === 'login' ? ['login', 'passkey', 'connection', 'register', 'forgot_password'] : []),
      'abort',
      ...(['verification', 'passkey_registration', 'second_factor', 'sign_in_code', 'link_identity', 'pending_deletion', 'consent'].includes(page) ? [page] : []),
      ...(prompt === 'mfa' ? ['mfa_setup'] : []),
    ];
    expect(accepted.sort()).toEqual(expected.sort());
  });
});
