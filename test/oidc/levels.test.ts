import { describe, expect, it } from 'vitest';

import type { Level } from '../../src/oidc/levels.ts';
import { acr, acrValues, isMultiFactor, levelOf, requiredLevel, satisfies, usedPasskey } from '../../src/oidc/levels.ts';
import { sessionTtl } from '../../src/oidc/configuration.ts';

const levels: Level[] = ['password', 'mfa', 'phishing_resistant'];

describe('levels', () => {
  it('publishes the three acr values, weakest first', () => {
    expect(acrValues).toEqual(['urn:gatehouse:loa:pwd', 'urn:gatehouse:loa:mfa', 'urn:gatehouse:loa:phr']);
  });

  it('orders them: each includes the ones before it', () => {
    for (const [i, reached] of levels.entries()) {
      for (const [j, required] of levels.entries()) expect(satisfies(reached, required), `${reached} ⊇ ${required}`).toBe(i >= j);
    }
  });

  it('reads what a session reached from its amr and acr', () => {
    expect(levelOf({})).toBe('password');
    expect(levelOf({ amr: ['pwd'], acr: acr.password })).toBe('password');
    expect(levelOf({ amr: ['pwd', 'otp'], acr: acr.mfa })).toBe('mfa');
    expect(levelOf({ amr: ['pwd', 'hwk', 'mfa'], acr: acr.mfa })).toBe('mfa');
    expect(levelOf({ amr: ['swk', 'user', 'mfa'], acr: acr.mfa })).toBe('mfa');
    expect(levelOf({ amr: ['swk', 'user', 'mfa'], acr: acr.phishingResistant })).toBe('phishing_resistant');
    // An acr without a passkey behind it (never issued) counts for what the amr shows.
    expect(levelOf({ amr: ['pwd'], acr: acr.phishingResistant })).toBe('password');
    expect(levelOf({ amr: ['pwd', 'otp'], acr: acr.phishingResistant })).toBe('mfa');
    // Another provider: fed alone is worth a password; with a second factor, or a trusted upstream MFA, mfa.
    expect(levelOf({ amr: ['fed'], acr: acr.password })).toBe('password');
    expect(levelOf({ amr: ['fed', 'otp'], acr: acr.mfa })).toBe('mfa');
    expect(levelOf({ amr: ['fed', 'pwd', 'mfa'], acr: acr.mfa })).toBe('mfa');
    // Never phishing-resistant without Gatehouse's own passkey (a federated acr is never phr; if it were, fed has no hwk/swk).
    expect(levelOf({ amr: ['fed', 'mfa'], acr: acr.phishingResistant })).toBe('mfa');
  });

  it('says which amr are multi-factor and which used a passkey', () => {
    expect([['pwd'], ['pwd', 'otp'], ['hwk', 'user', 'mfa'], ['swk'], []].map((amr) => isMultiFactor(amr))).toEqual([false, true, true, false, false]);
    expect([['pwd'], ['pwd', 'otp'], ['hwk', 'user', 'mfa'], ['swk'], []].map((amr) => usedPasskey(amr))).toEqual([false, false, true, true, false]);
    expect(isMultiFactor(undefined)).toBe(false);
  });

  it('reads what an authorization needs from the configuration, the client and acr_values', () => {
    const cases: Array<[Parameters<typeof requiredLevel>[0], Level]> = [
      [{ mfaEverywhere: false, client: {}, acrValues: undefined }, 'password'],
      [{ mfaEverywhere: false, client: undefined, acrValues: acr.password }, 'password'],
      [{ mfaEverywhere: true, client: {}, acrValues: undefined }, 'mfa'],
      [{ mfaEverywhere: false, client: { require_mfa: true }, acrValues: undefined }, 'mfa'],
      [{ mfaEverywhere: false, client: {}, acrValues: `${acr.password} ${acr.mfa}` }, 'mfa'],
      [{ mfaEverywhere: false, client: { gatehouse_require_phishing_resistant: true }, acrValues: undefined }, 'phishing_resistant'],
      [{ mfaEverywhere: true, client: { require_mfa: true }, acrValues: acr.phishingResistant }, 'phishing_resistant'],
      [{ mfaEverywhere: false, client: {}, acrValues: `${acr.mfa} ${acr.phishingResistant}` }, 'phishing_resistant'],
      // Only `true` counts; anything else in the metadata is not a flag.
      [{ mfaEverywhere: false, client: { gatehouse_require_phishing_resistant: 'yes', require_mfa: 1 }, acrValues: ['x'] }, 'password'],
    ];
    for (const [input, level] of cases) expect(requiredLevel(input), JSON.stringify(input)).toBe(level);
  });

  it('gives a passkey sign-in the lifetimes of a sign-in with a second factor', () => {
    const sessions = { withSecondFactor: { idleSeconds: 1000, absoluteSeconds: 5000 }, passwordOnly: { idleSeconds: 100, absoluteSeconds: 500 } };
    const now = 1_800_000_000;
    expect(sessionTtl({ sessions }, { amr: ['pwd'], loginTs: now }, now)).toBe(100);
    expect(sessionTtl({ sessions }, { amr: ['pwd', 'otp'], loginTs: now }, now)).toBe(1000);
    expect(sessionTtl({ sessions }, { amr: ['swk', 'user', 'mfa'], loginTs: now }, now)).toBe(1000);
    expect(sessionTtl({ sessions }, { amr: ['pwd', 'hwk', 'mfa'], loginTs: now }, now)).toBe(1000);
    // Another provider: the password lifetimes, unless a second factor (or a trusted upstream MFA) made it multi-factor.
    expect(sessionTtl({ sessions }, { amr: ['fed'], loginTs: now }, now)).toBe(100);
    expect(sessionTtl({ sessions }, { amr: ['fed', 'otp'], loginTs: now }, now)).toBe(1000);
  });
});
