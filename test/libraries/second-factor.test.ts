import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { generate } from 'otplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  activateEnrollment, beginEnrollment, delayAfterFailures, generateRecoveryCode, looksLikeTotp, normalizeRecoveryCode, otpauthUri,
  pendingEnrollment, regenerateRecoveryCodes, removeSecondFactor, verifySecondFactor, waitBeforeNextTry,
} from '../../src/libraries/second-factor.ts';
import type { SecondFactorDependencies } from '../../src/libraries/second-factor.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';
import { base32Decode, hotp } from '../helpers/totp.ts';

const totpAt = (secret: string, seconds: number) => hotp(base32Decode(secret), Math.floor(seconds / 30));

describe('TOTP against RFC 6238', () => {
  // Appendix B, SHA-1 rows: the seed is the ASCII string "12345678901234567890".
  const seed = Buffer.from('12345678901234567890');
  const vectors: Array<[number, string]> = [
    [59, '94287082'], [1111111109, '07081804'], [1111111111, '14050471'], [1234567890, '89005924'], [2000000000, '69279037'], [20000000000, '65353130'],
  ];

  it('the independent implementation reproduces the RFC test vectors', () => {
    for (const [time, code] of vectors) expect(hotp(seed, Math.floor(time / 30), 8)).toBe(code);
  });

  it('otplib computes the same codes for the RFC vectors', async () => {
    const secret = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ'; // base32 of the seed
    for (const [time, code] of vectors) expect(await generate({ secret, epoch: time, digits: 8, algorithm: 'sha1', period: 30 })).toBe(code);
  });
});

describe('pure rules', () => {
  it('delays grow after 5 failures, doubling, capped at 15 minutes', () => {
    expect([0, 1, 4, 5, 6, 7, 8, 9, 10, 20].map(delayAfterFailures)).toEqual([0, 0, 0, 30, 60, 120, 240, 480, 900, 900]);
  });

  it('the wait counts from the last failure', () => {
    const last = new Date('2025-01-01T00:00:00Z');
    const after = (seconds: number) => new Date(last.getTime() + seconds * 1000);
    expect(waitBeforeNextTry({ failedAttempts: 4, lastFailureAt: last }, after(0))).toBe(0);
    expect(waitBeforeNextTry({ failedAttempts: 5, lastFailureAt: last }, after(0))).toBe(30);
    expect(waitBeforeNextTry({ failedAttempts: 5, lastFailureAt: last }, after(29.2))).toBe(1);
    expect(waitBeforeNextTry({ failedAttempts: 5, lastFailureAt: last }, after(30))).toBe(0);
    expect(waitBeforeNextTry({ failedAttempts: 6, lastFailureAt: last }, after(30))).toBe(30);
    expect(waitBeforeNextTry({ failedAttempts: 6, lastFailureAt: null }, after(0))).toBe(0);
  });

  it('recovery codes are readable, varied and forgiving to type', () => {
    const codes = Array.from({ length: 500 }, generateRecoveryCode);
    for (const code of codes) expect(code).toMatch(/^[a-z2-9]{5}-[a-z2-9]{5}$/);
    expect(new Set(codes).size).toBe(500);
    expect(codes.join('')).not.toMatch(/[01ilo]/);
    expect(normalizeRecoveryCode(' ABCDE-fghjk ')).toBe('abcdefghjk');
    expect(looksLikeTotp('123 456')).toBe(true);
    expect(looksLikeTotp('abcde-fghjk')).toBe(false);
    expect(looksLikeTotp('1234567')).toBe(false);
  });

  it('the otpauth URI names the issuer, the account and the standard parameters', () => {
    const uri = new URL(otpauthUri('JBSWY3DPEHPK3PXP', 'ada@example.com'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Gatehouse:ada@example.com');
    expect(Object.fromEntries(uri.searchParams)).toMatchObject({ secret: 'JBSWY3DPEHPK3PXP', issuer: 'Gatehouse', algorithm: 'SHA1', digits: '6', period: '30' });
  });
});

describe('enrollment and verification', () => {
  let dir: string;
  let store: Store;
  let clock: Date;
  let deps: SecondFactorDependencies;
  const account = { id: 'acct-1', email: 'ada@example.com' };
  const seconds = () => clock.getTime() / 1000;
  const tick = (by: number) => {
    clock = new Date(clock.getTime() + by * 1000);
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-mfa-'));
    store = openSqliteStore(join(dir, 'test.db'));
    // The middle of a 30-second step, so ±1 step is unambiguous.
    clock = new Date('2025-06-01T10:00:15.000Z');
    deps = { store, keyEncryptionKey: Buffer.alloc(32, 3), clock: () => clock };
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function enrolled(): Promise<{ secret: string; recoveryCodes: string[] }> {
    const { secret } = await beginEnrollment(deps, account);
    const activated = await activateEnrollment(deps, account.id, totpAt(secret, seconds()));
    if (!activated.ok) throw new Error('activation failed');
    // Two steps on: the step used to activate is behind, and so is the one before the current.
    tick(60);
    return { secret, recoveryCodes: activated.recoveryCodes };
  }

  it('keeps the secret sealed in the database and activates only with a right code', async () => {
    const { secret, uri } = await beginEnrollment(deps, account);
    expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
    expect(uri).toContain(`secret=${secret}`);
    expect(await pendingEnrollment(deps, account)).toEqual({ secret, uri });
    expect(readFileSync(join(dir, 'test.db')).includes(secret)).toBe(false);
    expect((await store.secondFactors.find(account.id))?.sealedSecret).toMatch(/^v1\./);

    const wrong = totpAt(secret, seconds() + 300);
    expect(await activateEnrollment(deps, account.id, wrong)).toEqual({ ok: false, reason: 'wrong' });
    const activated = await activateEnrollment(deps, account.id, totpAt(secret, seconds()));
    expect(activated.ok && activated.recoveryCodes).toHaveLength(10);
    expect(await pendingEnrollment(deps, account)).toBeUndefined();
    await expect(beginEnrollment(deps, account)).rejects.toMatchObject({ code: 'conflict' });
    // Only hashes of the recovery codes are stored.
    const stored = JSON.stringify(await store.secondFactors.find(account.id));
    for (const code of activated.ok ? activated.recoveryCodes : []) expect(stored).not.toContain(code);
  });

  it('accepts the current step and one either side, never two away', async () => {
    const { secret } = await enrolled();
    expect(await verifySecondFactor(deps, account.id, totpAt(secret, seconds() - 60))).toMatchObject({ ok: false, reason: 'wrong' });
    expect(await verifySecondFactor(deps, account.id, totpAt(secret, seconds() + 60))).toMatchObject({ ok: false, reason: 'wrong' });
    expect(await verifySecondFactor(deps, account.id, totpAt(secret, seconds() - 30))).toMatchObject({ ok: true, method: 'otp' });
    expect(await verifySecondFactor(deps, account.id, totpAt(secret, seconds()))).toMatchObject({ ok: true, method: 'otp' });
    expect(await verifySecondFactor(deps, account.id, totpAt(secret, seconds() + 30))).toMatchObject({ ok: true, method: 'otp' });
  });

  it('refuses a replayed code and a code older than the last accepted one', async () => {
    const { secret } = await enrolled();
    const code = totpAt(secret, seconds());
    expect(await verifySecondFactor(deps, account.id, code)).toMatchObject({ ok: true });
    expect(await verifySecondFactor(deps, account.id, code)).toEqual({ ok: false, reason: 'replayed' });
    expect(await verifySecondFactor(deps, account.id, totpAt(secret, seconds() + 30))).toMatchObject({ ok: true });
    expect(await verifySecondFactor(deps, account.id, totpAt(secret, seconds()))).toEqual({ ok: false, reason: 'replayed' });
  });

  it('lets exactly one of two concurrent submissions of one code through', async () => {
    const { secret } = await enrolled();
    const code = totpAt(secret, seconds());
    const results = await Promise.all([verifySecondFactor(deps, account.id, code), verifySecondFactor(deps, account.id, code)]);
    expect(results.filter((result) => result.ok)).toHaveLength(1);
  });

  it('accepts each recovery code once, however it is typed, and regenerating replaces them', async () => {
    const { recoveryCodes } = await enrolled();
    const [first, second] = recoveryCodes as [string, string];
    expect(await verifySecondFactor(deps, account.id, ` ${first.toUpperCase()} `)).toEqual({ ok: true, method: 'recovery', recoveryCodesLeft: 9 });
    expect(await verifySecondFactor(deps, account.id, first)).toEqual({ ok: false, reason: 'wrong' });
    expect(await verifySecondFactor(deps, account.id, 'zzzzz-zzzzz')).toEqual({ ok: false, reason: 'wrong' });

    const fresh = await regenerateRecoveryCodes(deps, account.id);
    expect(fresh).toHaveLength(10);
    expect(await verifySecondFactor(deps, account.id, second)).toEqual({ ok: false, reason: 'wrong' });
    expect(await verifySecondFactor(deps, account.id, fresh[0]!)).toMatchObject({ ok: true, method: 'recovery' });
  });

  it('after 5 wrong codes makes each further try wait, longer each time, and a right code resets it', async () => {
    const { secret } = await enrolled();
    for (let failure = 0; failure < 5; failure += 1) {
      expect(await verifySecondFactor(deps, account.id, '000000')).toMatchObject({ ok: false });
    }
    // Even the right code waits now.
    expect(await verifySecondFactor(deps, account.id, totpAt(secret, seconds()))).toEqual({ ok: false, reason: 'wait', waitSeconds: 30 });
    tick(30);
    expect(await verifySecondFactor(deps, account.id, '000001')).toMatchObject({ ok: false, reason: 'wrong' });
    expect(await verifySecondFactor(deps, account.id, totpAt(secret, seconds()))).toEqual({ ok: false, reason: 'wait', waitSeconds: 60 });
    tick(60);
    expect(await verifySecondFactor(deps, account.id, totpAt(secret, seconds()))).toMatchObject({ ok: true });
    expect((await store.secondFactors.find(account.id))?.failedAttempts).toBe(0);
  });

  it('reports a missing factor, and removal is audited', async () => {
    expect(await verifySecondFactor(deps, account.id, '123456')).toEqual({ ok: false, reason: 'missing' });
    await enrolled();
    expect(await removeSecondFactor(deps, account.id, { actor: 'cli' })).toBe(true);
    expect(await removeSecondFactor(deps, account.id, { actor: 'cli' })).toBe(false);
    expect(await store.audit.tail({ limit: 10, accountId: account.id })).toEqual([
      expect.objectContaining({ type: 'mfa_enabled', actor: 'user' }),
      expect.objectContaining({ type: 'mfa_removed', actor: 'cli' }),
    ]);
  });
});
