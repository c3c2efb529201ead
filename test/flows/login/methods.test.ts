import { describe, expect, it } from 'vitest';

import type { FirstStep, SecondStep } from '../../../src/flows/login/methods.ts';
import {
  federatedAssertion, firstFactorOf, firstStepAllowed, firstStepsFor, passkeyAssertion, passkeysPossible, passwordAssertion, secondStepAssertion, secondStepNeeded,
  secondStepsOffered,
} from '../../../src/flows/login/methods.ts';
import type { Level } from '../../../src/oidc/levels.ts';
import { levelOf, satisfies } from '../../../src/oidc/levels.ts';

const levels: Level[] = ['password', 'mfa', 'phishing_resistant'];
const firstSteps: FirstStep[] = ['password', 'mailed_code', 'passkey', 'federated'];
const acr = { password: 'urn:gatehouse:loa:pwd', mfa: 'urn:gatehouse:loa:mfa', phishing_resistant: 'urn:gatehouse:loa:phr' };

describe('which first steps each level allows', () => {
  const allowed: Record<Level, Record<FirstStep, boolean>> = {
    password: { password: true, mailed_code: true, passkey: true, federated: true },
    mfa: { password: true, mailed_code: true, passkey: true, federated: true },
    phishing_resistant: { password: false, mailed_code: false, passkey: true, federated: false },
  };
  it.each(levels.flatMap((level) => firstSteps.map((step) => ({ level, step }))))('$step at level $level', ({ level, step }) => {
    expect(firstStepAllowed(step, level)).toBe(allowed[level][step]);
  });

  it.each(levels.flatMap((level) => [true, false].map((possible) => ({ level, possible }))))('the login page at level $level, passkeys possible: $possible', ({ level, possible }) => {
    expect(firstStepsFor(level, possible)).toEqual({ password: level !== 'phishing_resistant', passkey: possible, federated: level !== 'phishing_resistant' });
  });
});

describe('whether the login asks for a second step', () => {
  type Case = { first: FirstStep; required: Level; totpActive: boolean; passkeys: number; firstMultiFactor: boolean };
  const cases: Case[] = firstSteps.flatMap((first) => levels.flatMap((required) => [false, true].flatMap((totpActive) => [0, 2].flatMap((passkeys) => [false, true].map((firstMultiFactor) => ({
    first, required, totpActive, passkeys, firstMultiFactor,
  }))))));
  /**
   * The rule, spelled out: a passkey is complete, and so is a first step that was multi-factor
   * already (another provider whose MFA is trusted); the app always follows; a passkey follows only
   * when a second factor is needed.
   */
  const expected = ({ first, required, totpActive, passkeys, firstMultiFactor }: Case) => {
    if (first === 'passkey' || firstMultiFactor) return false;
    if (totpActive) return true;
    return passkeys > 0 && (required === 'mfa' || required === 'phishing_resistant');
  };
  it.each(cases)('$first, level $required, app $totpActive, passkeys $passkeys, multi-factor already $firstMultiFactor', (input) => {
    expect(secondStepNeeded(input)).toBe(expected(input));
  });

  it('offers the code when the app is set up, a passkey when there is one and passkeys work here, and both to a person with both', () => {
    for (const totpActive of [false, true]) {
      for (const passkeys of [0, 1, 3]) {
        for (const passkeysPossibleHere of [false, true]) {
          expect(secondStepsOffered({ totpActive, passkeys, passkeysPossible: passkeysPossibleHere })).toEqual({ code: totpActive, passkey: passkeysPossibleHere && passkeys > 0 });
        }
      }
    }
  });
});

describe('what a sign-in asserts', () => {
  it('a password (or the mailed code standing in for it): pwd at the password level', () => {
    expect(passwordAssertion()).toEqual({ amr: ['pwd'], acr: acr.password });
  });

  it.each(levels)('a verified passkey alone at level %s: its amr and mfa, at the mfa level or the phishing-resistant one when asked', (required) => {
    expect(passkeyAssertion({ amr: ['hwk', 'user'], userVerified: true }, required)).toEqual({
      amr: ['hwk', 'user', 'mfa'],
      acr: required === 'phishing_resistant' ? acr.phishing_resistant : acr.mfa,
    });
    expect(passkeyAssertion({ amr: ['swk', 'user'], userVerified: true }, required)?.amr).toEqual(['swk', 'user', 'mfa']);
  });

  it('never lets an unverified passkey stand alone', () => {
    for (const required of levels) expect(passkeyAssertion({ amr: ['hwk'], userVerified: false }, required)).toBeUndefined();
  });

  it('a second step: pwd otp for the app and a recovery code (as always), pwd with the passkey and mfa for a passkey', () => {
    const expected: Record<SecondStep, string[]> = { otp: ['pwd', 'otp'], recovery: ['pwd', 'otp'], passkey: ['pwd', 'swk', 'mfa'] };
    for (const step of ['otp', 'recovery', 'passkey'] as const) {
      expect(secondStepAssertion(step, step === 'passkey' ? ['swk'] : [])).toEqual({ amr: expected[step], acr: acr.mfa });
    }
    expect(secondStepAssertion('passkey', ['hwk', 'user'])).toEqual({ amr: ['pwd', 'hwk', 'user', 'mfa'], acr: acr.mfa });
  });

  it('after another provider, fed stands where pwd would in a second step', () => {
    expect(secondStepAssertion('otp', [], 'federated')).toEqual({ amr: ['fed', 'otp'], acr: acr.mfa });
    expect(secondStepAssertion('recovery', [], 'federated')).toEqual({ amr: ['fed', 'otp'], acr: acr.mfa });
    expect(secondStepAssertion('passkey', ['hwk', 'user'], 'federated')).toEqual({ amr: ['fed', 'hwk', 'user', 'mfa'], acr: acr.mfa });
    expect(secondStepAssertion('otp', [], 'password')).toEqual(secondStepAssertion('otp'));
  });

  it('reads the first step of a session from its amr (for a second step at the mfa prompt)', () => {
    expect(firstFactorOf(undefined)).toBe('password');
    expect(firstFactorOf([])).toBe('password');
    expect(firstFactorOf(['pwd'])).toBe('password');
    expect(firstFactorOf(['fed'])).toBe('federated');
    expect(firstFactorOf(['fed', 'pwd', 'mfa'])).toBe('federated');
  });

  describe('another provider', () => {
    type Case = { amr: string[] | null; trustUpstreamMfa: boolean };
    const upstreamAmrs: Array<string[] | null> = [null, [], ['pwd'], ['pwd', 'mfa'], ['otp'], ['pwd', 'otp'], ['hwk', 'mfa'], ['fed'], ['mfa']];
    const cases: Case[] = upstreamAmrs.flatMap((amr) => [false, true].map((trustUpstreamMfa) => ({ amr, trustUpstreamMfa })));
    /** The rule, spelled out: fed alone at the password level unless trusted; trusted, fed then the upstream's, mfa when they say mfa or otp. */
    const expected = ({ amr, trustUpstreamMfa }: Case) => {
      if (!trustUpstreamMfa || amr === null) return { amr: ['fed'], acr: acr.password };
      const multi = amr.includes('mfa') || amr.includes('otp');
      return { amr: [...new Set(['fed', ...amr])], acr: multi ? acr.mfa : acr.password };
    };
    it.each(cases)('upstream amr $amr, trusted: $trustUpstreamMfa', (input) => {
      const assertion = federatedAssertion(input);
      expect(assertion).toEqual(expected(input));
      // What the session then reaches, as the provider's prompt checks read it: never phishing-resistant.
      expect(levelOf(assertion)).toBe(assertion.acr === acr.mfa ? 'mfa' : 'password');
      expect(assertion.amr[0]).toBe('fed');
    });

    it('never says phishing-resistant, even when a trusted upstream says a hardware key was used', () => {
      const assertion = federatedAssertion({ amr: ['hwk', 'user', 'mfa'], trustUpstreamMfa: true });
      expect(assertion.acr).toBe(acr.mfa);
      expect(levelOf(assertion)).toBe('mfa');
      expect(satisfies(levelOf(assertion), 'phishing_resistant')).toBe(false);
    });
  });

  it('each assertion reaches the level it names, and only a passkey alone the phishing-resistant one', () => {
    const assertions = [
      passwordAssertion(),
      secondStepAssertion('otp'),
      secondStepAssertion('passkey', ['hwk', 'user']),
      ...levels.map((required) => passkeyAssertion({ amr: ['swk', 'user'], userVerified: true }, required)!),
      federatedAssertion({ amr: ['pwd', 'mfa'], trustUpstreamMfa: false }),
      federatedAssertion({ amr: ['pwd', 'mfa'], trustUpstreamMfa: true }),
      secondStepAssertion('otp', [], 'federated'),
    ];
    const reached = assertions.map((assertion) => levelOf(assertion));
    expect(reached).toEqual(['password', 'mfa', 'mfa', 'mfa', 'mfa', 'phishing_resistant', 'password', 'mfa', 'mfa']);
    for (const [index, assertion] of assertions.entries()) {
      const named = (Object.entries(acr).find(([, value]) => value === assertion.acr)![0]) as Level;
      expect(satisfies(reached[index]!, named), assertion.acr).toBe(true);
    }
  });
});

describe('whether passkeys can work with the issuer', () => {
  it.each([
    ['https://id.example.com', 'id.example.com', true],
    ['https://login.example.co.uk:8443', 'login.example.co.uk', true],
    ['http://localhost:3000', 'localhost', true],
    ['http://gatehouse.localhost:3000', 'gatehouse.localhost', true],
    // Not a secure context.
    ['http://id.example.com', 'id.example.com', false],
    // An IP address is never a relying party ID.
    ['http://127.0.0.1:3000', '127.0.0.1', false],
    ['https://10.0.0.5', '10.0.0.5', false],
    ['http://[::1]:3000', '[::1]', false],
  ])('%s', (origin, id, possible) => {
    expect(passkeysPossible({ origin, id })).toBe(possible);
  });
});
