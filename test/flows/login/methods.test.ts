import { describe, expect, it } from 'vitest';

import type { FirstStep, SecondStep } from '../../../src/flows/login/methods.ts';
import {
  firstStepAllowed, firstStepsFor, passkeyAssertion, passkeysPossible, passwordAssertion, secondStepAssertion, secondStepNeeded, secondStepsOffered,
} from '../../../src/flows/login/methods.ts';
import type { Level } from '../../../src/oidc/levels.ts';
import { levelOf, satisfies } from '../../../src/oidc/levels.ts';

const levels: Level[] = ['password', 'mfa', 'phishing_resistant'];
const firstSteps: FirstStep[] = ['password', 'mailed_code', 'passkey'];
const acr = { password: 'urn:gatehouse:loa:pwd', mfa: 'urn:gatehouse:loa:mfa', phishing_resistant: 'urn:gatehouse:loa:phr' };

describe('which first steps each level allows', () => {
  const allowed: Record<Level, Record<FirstStep, boolean>> = {
    password: { password: true, mailed_code: true, passkey: true },
    mfa: { password: true, mailed_code: true, passkey: true },
    phishing_resistant: { password: false, mailed_code: false, passkey: true },
  };
  it.each(levels.flatMap((level) => firstSteps.map((step) => ({ level, step }))))('$step at level $level', ({ level, step }) => {
    expect(firstStepAllowed(step, level)).toBe(allowed[level][step]);
  });

  it.each(levels.flatMap((level) => [true, false].map((possible) => ({ level, possible }))))('the login page at level $level, passkeys possible: $possible', ({ level, possible }) => {
    expect(firstStepsFor(level, possible)).toEqual({ password: level !== 'phishing_resistant', passkey: possible });
  });
});

describe('whether the login asks for a second step', () => {
  type Case = { first: FirstStep; required: Level; totpActive: boolean; passkeys: number };
  const cases: Case[] = firstSteps.flatMap((first) => levels.flatMap((required) => [false, true].flatMap((totpActive) => [0, 2].map((passkeys) => ({ first, required, totpActive, passkeys })))));
  /** The rule, spelled out: a passkey is complete; the app always follows; a passkey follows only when a second factor is needed. */
  const expected = ({ first, required, totpActive, passkeys }: Case) => {
    if (first === 'passkey') return false;
    if (totpActive) return true;
    return passkeys > 0 && (required === 'mfa' || required === 'phishing_resistant');
  };
  it.each(cases)('$first, level $required, app $totpActive, passkeys $passkeys', (input) => {
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

  it('each assertion reaches the level it names, and only a passkey alone the phishing-resistant one', () => {
    const assertions = [
      passwordAssertion(),
      secondStepAssertion('otp'),
      secondStepAssertion('passkey', ['hwk', 'user']),
      ...levels.map((required) => passkeyAssertion({ amr: ['swk', 'user'], userVerified: true }, required)!),
    ];
    const reached = assertions.map((assertion) => levelOf(assertion));
    expect(reached).toEqual(['password', 'mfa', 'mfa', 'mfa', 'mfa', 'phishing_resistant']);
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
