import { describe, expect, it } from 'vitest';

import type { InteractionDetails } from '../../src/flows/interaction.ts';
import type { StoredChallenge } from '../../src/flows/passkey-ceremony.ts';
import {
  challengeLifetimeSeconds, challengeVerdict, passkeyChallengeKey, rememberChallenge, submittedResponse, takeChallenge,
} from '../../src/flows/passkey-ceremony.ts';
import { flowStateKey } from '../../src/flows/state.ts';

const now = 1_800_000_000;
const challenge = 'c2l4dGVlbiBieXRlcyBvZiByYW5kb20';
const signIn: StoredChallenge = { purpose: 'sign_in', challenge, accountId: null, issuedAt: now };
const secondStep: StoredChallenge = { purpose: 'second_factor', challenge, accountId: 'acct-1', issuedAt: now };

describe('challengeVerdict', () => {
  it('accepts the challenge of the same purpose and account up to its lifetime', () => {
    expect(challengeLifetimeSeconds).toBe(300);
    expect(challengeVerdict(signIn, { purpose: 'sign_in', accountId: null }, now)).toEqual({ ok: true, challenge });
    expect(challengeVerdict(signIn, { purpose: 'sign_in', accountId: null }, now + challengeLifetimeSeconds)).toEqual({ ok: true, challenge });
    expect(challengeVerdict(secondStep, { purpose: 'second_factor', accountId: 'acct-1' }, now + 10)).toEqual({ ok: true, challenge });
  });

  it('calls it expired one second after that', () => {
    expect(challengeVerdict(signIn, { purpose: 'sign_in', accountId: null }, now + challengeLifetimeSeconds + 1)).toEqual({ ok: false, reason: 'expired' });
  });

  it('finds none for another purpose, another account, or anything malformed', () => {
    const missing = { ok: false, reason: 'missing' };
    expect(challengeVerdict(undefined, { purpose: 'sign_in', accountId: null }, now)).toEqual(missing);
    expect(challengeVerdict(signIn, { purpose: 'second_factor', accountId: null }, now)).toEqual(missing);
    expect(challengeVerdict(signIn, { purpose: 'registration', accountId: null }, now)).toEqual(missing);
    expect(challengeVerdict(secondStep, { purpose: 'second_factor', accountId: 'acct-2' }, now)).toEqual(missing);
    // A discoverable sign-in's challenge cannot finish one account's second step, nor the reverse.
    expect(challengeVerdict(secondStep, { purpose: 'second_factor', accountId: null }, now)).toEqual(missing);
    expect(challengeVerdict({ ...signIn, accountId: 'acct-1' }, { purpose: 'sign_in', accountId: null }, now)).toEqual(missing);
    for (const malformed of [{ ...signIn, challenge: 'short' }, { ...signIn, issuedAt: 'now' }, { ...signIn, purpose: 'other' }, 'text', null]) {
      expect(challengeVerdict(malformed, { purpose: 'sign_in', accountId: null }, now)).toEqual(missing);
    }
  });
});

/**
 * An interaction as the provider stores it (its result, and saving it) and the request's own copy
 * of it, read when the request began: the ceremony reads and writes the stored one.
 */
function interaction(result?: Record<string, unknown>) {
  const saved: unknown[] = [];
  const stored = {
    uid: 'uid-1',
    result,
    async persist() {
      saved.push(structuredClone(stored.result));
      return 'uid-1';
    },
  };
  const deps = { provider: () => ({ Interaction: { find: async (uid: string) => (uid === 'uid-1' ? stored : undefined) } }) } as never;
  const details = { uid: 'uid-1', result: structuredClone(result) } as unknown as InteractionDetails;
  return { deps, details, stored, saved };
}

describe('remembering and taking a challenge', () => {
  it('keeps it next to the flow state, and replaces an earlier one', async () => {
    const state = { step: 'second_factor', accountId: 'acct-1', passwordAt: now };
    const { deps, details, saved } = interaction({ [flowStateKey]: state });
    await rememberChallenge(deps, details, signIn);
    await rememberChallenge(deps, details, secondStep);
    expect(saved.at(-1)).toEqual({ [flowStateKey]: state, [passkeyChallengeKey]: secondStep });
    expect(details.result).toEqual(saved.at(-1));
  });

  it('never writes back a flow state the request read before it was saved again', async () => {
    const { deps, details, stored } = interaction({ [flowStateKey]: { step: 'registration' } });
    // The request cleared the flow state through the provider (saveFlowState), then draws a page.
    stored.result = {};
    await rememberChallenge(deps, details, signIn);
    expect(stored.result).toEqual({ [passkeyChallengeKey]: signIn });
  });

  it('removes it before answering, right or wrong: the first attempt uses it up', async () => {
    const { deps, details, saved, stored } = interaction();
    await rememberChallenge(deps, details, signIn);
    // Asked for the wrong purpose: no challenge, and it is gone all the same.
    expect(await takeChallenge(deps, details, { purpose: 'second_factor', accountId: null }, now)).toEqual({ ok: false, reason: 'missing' });
    expect(saved.at(-1)).toEqual({});
    expect(await takeChallenge(deps, details, { purpose: 'sign_in', accountId: null }, now)).toEqual({ ok: false, reason: 'missing' });

    await rememberChallenge(deps, details, signIn);
    expect(await takeChallenge(deps, details, { purpose: 'sign_in', accountId: null }, now + 1)).toEqual({ ok: true, challenge });
    expect(await takeChallenge(deps, details, { purpose: 'sign_in', accountId: null }, now + 1)).toEqual({ ok: false, reason: 'missing' });

    await rememberChallenge(deps, details, signIn);
    expect(await takeChallenge(deps, details, { purpose: 'sign_in', accountId: null }, now + challengeLifetimeSeconds + 1)).toEqual({ ok: false, reason: 'expired' });
    expect(stored.result).toEqual({});
  });

  it('refuses to store a malformed challenge, and needs the interaction to exist', async () => {
    const { deps, details } = interaction();
    await expect(rememberChallenge(deps, details, { ...signIn, challenge: '' })).rejects.toThrow();
    const gone = { uid: 'uid-2', result: {} } as unknown as InteractionDetails;
    await expect(takeChallenge(deps, gone, { purpose: 'sign_in', accountId: null }, now)).rejects.toMatchObject({ code: 'invalid_input' });
  });
});

describe('submittedResponse', () => {
  it('reads a JSON object from the form, and nothing else', () => {
    expect(submittedResponse('{"id":"x"}')).toEqual({ id: 'x' });
    for (const value of [undefined, '', 'not json', '[]', '"text"', 'null', '42', ['{}', '{}'], { id: 'x' }, `{"id":"${'x'.repeat(12_000)}"}`]) {
      expect(submittedResponse(value), String(value).slice(0, 20)).toBeUndefined();
    }
  });
});
