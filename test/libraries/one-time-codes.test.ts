import { describe, expect, it } from 'vitest';

import { codeState, createCodeHasher, generateCode, generateLinkToken, judgeTypedCode, resendWait } from '../../src/libraries/one-time-codes.ts';
import type { CodeState } from '../../src/libraries/one-time-codes.ts';
import type { OneTimeCodeRecord } from '../../src/store/types.ts';

const t0 = new Date('2025-03-01T12:00:00.000Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const hash = createCodeHasher(Buffer.alloc(32, 7));
const rules = { ttlSeconds: 900, maxAttempts: 5, resendCooldownSeconds: 60 };

function record(overrides: Partial<OneTimeCodeRecord> = {}): OneTimeCodeRecord {
  return {
    id: 'code-1', purpose: 'verify_email', email: 'a@example.com', accountId: 'acct-1',
    codeHash: hash('verify_email', 'code', '123456'), linkHash: hash('verify_email', 'link', 'token'),
    attempts: 0, createdAt: t0, expiresAt: at(900), consumedAt: null, ...overrides,
  };
}

describe('codeState', () => {
  // Every combination of the three conditions, with the one state each must give.
  const cases: Array<[string, OneTimeCodeRecord | undefined, number, CodeState]> = [
    ['no record', undefined, 0, 'missing'],
    ['fresh', record(), 0, 'usable'],
    ['one second before expiry', record(), 899, 'usable'],
    ['at expiry', record(), 900, 'expired'],
    ['after expiry', record(), 5000, 'expired'],
    ['4 wrong tries', record({ attempts: 4 }), 0, 'usable'],
    ['5 wrong tries', record({ attempts: 5 }), 0, 'exhausted'],
    ['used', record({ consumedAt: at(10) }), 20, 'used'],
    ['used and expired', record({ consumedAt: at(10) }), 5000, 'used'],
    ['used and exhausted', record({ consumedAt: at(10), attempts: 5 }), 20, 'used'],
    ['expired and exhausted', record({ attempts: 5 }), 5000, 'expired'],
  ];
  for (const [name, given, seconds, expected] of cases) {
    it(`${name} → ${expected}`, () => {
      expect(codeState(given, at(seconds), rules)).toBe(expected);
    });
  }
});

describe('judgeTypedCode', () => {
  const right = hash('verify_email', 'code', '123456');
  const wrong = hash('verify_email', 'code', '654321');

  it('accepts the right code while usable', () => {
    expect(judgeTypedCode(record(), right, at(1), rules)).toEqual({ ok: true, record: record() });
  });

  it('counts down the tries left on a wrong code', () => {
    expect([0, 1, 2, 3, 4].map((attempts) => judgeTypedCode(record({ attempts }), wrong, at(1), rules))).toEqual([
      { ok: false, reason: 'wrong', attemptsLeft: 4 },
      { ok: false, reason: 'wrong', attemptsLeft: 3 },
      { ok: false, reason: 'wrong', attemptsLeft: 2 },
      { ok: false, reason: 'wrong', attemptsLeft: 1 },
      { ok: false, reason: 'wrong', attemptsLeft: 0 },
    ]);
  });

  it('refuses even the right code once the record is not usable, saying why', () => {
    expect(judgeTypedCode(undefined, right, at(1), rules)).toEqual({ ok: false, reason: 'missing' });
    expect(judgeTypedCode(record({ attempts: 5 }), right, at(1), rules)).toEqual({ ok: false, reason: 'exhausted' });
    expect(judgeTypedCode(record(), right, at(900), rules)).toEqual({ ok: false, reason: 'expired' });
    expect(judgeTypedCode(record({ consumedAt: at(2) }), right, at(3), rules)).toEqual({ ok: false, reason: 'used' });
  });

  it('never accepts a decoy or a record without a code, whatever is typed', () => {
    expect(judgeTypedCode(record({ accountId: null }), right, at(1), rules)).toEqual({ ok: false, reason: 'wrong', attemptsLeft: 4 });
    expect(judgeTypedCode(record({ codeHash: null }), right, at(1), rules)).toEqual({ ok: false, reason: 'wrong', attemptsLeft: 4 });
  });
});

describe('resendWait', () => {
  it('is zero without an earlier code and counts down the cooldown after one, rounding up', () => {
    expect(resendWait(undefined, t0, rules)).toBe(0);
    expect(resendWait(record(), at(0), rules)).toBe(60);
    expect(resendWait(record(), at(59.5), rules)).toBe(1);
    expect(resendWait(record(), at(60), rules)).toBe(0);
    expect(resendWait(record(), at(3600), rules)).toBe(0);
    expect(resendWait(record(), at(10), { resendCooldownSeconds: 0 })).toBe(0);
  });
});

describe('generated secrets and their hashes', () => {
  it('codes are six digits with leading zeros kept, and spread over the range', () => {
    const codes = Array.from({ length: 2000 }, generateCode);
    for (const code of codes) expect(code).toMatch(/^\d{6}$/);
    expect(new Set(codes).size).toBeGreaterThan(1990);
    expect(codes.some((code) => Number(code) < 500_000)).toBe(true);
    expect(codes.some((code) => Number(code) >= 500_000)).toBe(true);
  });

  it('link tokens carry 256 bits', () => {
    expect(Buffer.from(generateLinkToken(), 'base64url')).toHaveLength(32);
    expect(generateLinkToken()).not.toBe(generateLinkToken());
  });

  it('hashes depend on the key, the purpose and the kind, not only on the secret', () => {
    const other = createCodeHasher(Buffer.alloc(32, 8));
    expect(hash('verify_email', 'code', '123456')).toBe(hash('verify_email', 'code', ' 123456 '));
    expect(hash('verify_email', 'code', '123456')).not.toBe(other('verify_email', 'code', '123456'));
    expect(hash('verify_email', 'code', '123456')).not.toBe(hash('reset_password', 'code', '123456'));
    expect(hash('verify_email', 'code', '123456')).not.toBe(hash('verify_email', 'link', '123456'));
    expect(hash('verify_email', 'code', '123456')).not.toContain('123456');
  });
});
