import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { cachedRead, createMetrics, keyAges, nextRotations } from '../../src/observability/metrics.ts';
import { signInOf } from '../../src/observability/sign-ins.ts';
import { observeStore } from '../../src/observability/store.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { KeyRing } from '../../src/store/types.ts';
import { histogramCount, parseScrape, total } from './scrape.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the store, observed', () => {
  it('times each call by table and method, and counts the calls that fail', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-observed-store-'));
    dirs.push(dir);
    const metrics = createMetrics({ defaultMetrics: false });
    const audits: string[] = [];
    const store = observeStore(await openStore(`sqlite:${join(dir, 'gatehouse.db')}`, { env: 'test' }), { metrics, onAudit: (event) => audits.push(event.type) });
    await store.migrate();
    expect(await store.accounts.findByEmail('nobody@example.com')).toBeUndefined();
    await store.audit.append({ at: new Date(), type: 'login_failed', actor: 'user', details: { reason: 'invalid_credentials' } });
    expect(audits).toEqual(['login_failed']);
    expect(store.kind).toBe('sqlite');
    await store.close();
    // A closed database refuses: the call fails as before, and is counted.
    await expect(Promise.resolve().then(() => store.accounts.findByEmail('nobody@example.com'))).rejects.toThrow();
    const result = parseScrape(await metrics.registry.metrics());
    expect(histogramCount(result, 'gatehouse_store_operation_duration_seconds', { table: 'accounts', method: 'findByEmail' })).toBe(2);
    expect(histogramCount(result, 'gatehouse_store_operation_duration_seconds', { table: 'store', method: 'migrate' })).toBe(1);
    expect(total(result, 'gatehouse_store_operation_errors_total', { table: 'accounts', method: 'findByEmail' })).toBe(1);
    expect(total(result, 'gatehouse_store_operation_errors_total', { table: 'audit', method: 'append' })).toBe(0);
  });
});

describe('sign-ins from audit events', () => {
  it.each([
    [{ type: 'login', details: { amr: ['pwd'] } }, { method: 'password', outcome: 'success' }],
    [{ type: 'login', details: { amr: ['pwd', 'otp'], secondFactor: 'totp' } }, { method: 'password', outcome: 'success' }],
    [{ type: 'login', details: { amr: ['pwd'], mailedCode: true } }, { method: 'mailed_code', outcome: 'success' }],
    [{ type: 'login', details: { amr: ['hwk', 'user', 'mfa'], passkeyId: 'p1' } }, { method: 'passkey', outcome: 'success' }],
    [{ type: 'login', details: { amr: ['fed'], connectionId: 'google' } }, { method: 'federated', outcome: 'success' }],
    [{ type: 'login_failed', details: { reason: 'invalid_credentials' } }, { method: 'password', outcome: 'failure' }],
    [{ type: 'login_failed', details: { reason: 'invalid_credentials', addressLimited: true } }, { method: 'password', outcome: 'failure' }],
    [{ type: 'login_failed', details: { reason: 'rate_limited' } }, { method: 'password', outcome: 'limited' }],
    [{ type: 'login_failed', details: { reason: 'locked' } }, { method: 'password', outcome: 'limited' }],
    [{ type: 'login_failed', details: { reason: 'rate_limited', method: 'passkey' } }, { method: 'passkey', outcome: 'limited' }],
    [{ type: 'login_failed', details: { reason: 'upstream_refused', method: 'connection' } }, { method: 'federated', outcome: 'failure' }],
    [{ type: 'login_second_factor_failed', details: { reason: 'wrong' } }, { method: 'second_factor', outcome: 'failure' }],
    [{ type: 'login_second_factor_failed', details: { reason: 'wait' } }, { method: 'second_factor', outcome: 'limited' }],
    [{ type: 'upstream_sign_in_failed', details: { reason: 'state_mismatch' } }, { method: 'federated', outcome: 'failure' }],
  ])('%o → %o', (event, expected) => {
    expect(signInOf(event)).toEqual(expected);
  });

  it('other events are not sign-ins', () => {
    for (const type of ['login_code_requested', 'consent_given', 'password_reset', 'key_ring_changed']) expect(signInOf({ type, details: {} })).toBeUndefined();
  });
});

describe('signing key gauges', () => {
  const day = 86_400_000;
  const schedule = { jwksCacheSeconds: 900, marginSeconds: 300, rotationIntervalSeconds: 90 * 86_400, maxTokenLifetimeSeconds: 86_400 };
  const key = (kid: string, state: 'current' | 'next' | 'retired', dates: Partial<Record<'createdAt' | 'activatedAt' | 'activatesAt' | 'retiredAt', Date>>) => ({
    kid, alg: 'RS256', state, createdAt: dates.createdAt!, ...dates, publicJwk: {}, encryptedPrivateJwk: '',
  });
  const now = new Date('2026-06-01T00:00:00Z');
  const ago = (days: number) => new Date(now.getTime() - days * day);

  it('a current key alone: replaced a rotation interval after it started signing', () => {
    const ring: KeyRing = { version: 3, keys: [key('a', 'current', { createdAt: ago(40), activatedAt: ago(30) })] };
    expect(nextRotations(ring, schedule, now)).toEqual([['RS256', 60 * 86_400]]);
    expect(keyAges(ring, now)).toEqual([[{ alg: 'RS256', state: 'current' }, 40 * 86_400]]);
  });

  it('a next key published: it signs a cache lifetime plus margin after publication, not before its planned time', () => {
    const planned = new Date(now.getTime() + 3 * day);
    const ring: KeyRing = { version: 4, keys: [key('a', 'current', { createdAt: ago(89), activatedAt: ago(89) }), key('b', 'next', { createdAt: ago(0), activatesAt: planned })] };
    expect(nextRotations(ring, schedule, now)).toEqual([['RS256', 3 * 86_400]]);
    const early: KeyRing = { version: 5, keys: [key('b', 'next', { createdAt: now, activatesAt: ago(1) })] };
    expect(nextRotations(early, schedule, now)).toEqual([['RS256', 1200]]);
  });

  it('overdue shows as negative; the oldest of several retired keys is the one aged', () => {
    const ring: KeyRing = { version: 6, keys: [
      key('a', 'current', { createdAt: ago(100), activatedAt: ago(95) }),
      key('r1', 'retired', { createdAt: ago(300), retiredAt: ago(100) }), key('r2', 'retired', { createdAt: ago(200), retiredAt: ago(95) }),
    ] };
    expect(nextRotations(ring, schedule, now)).toEqual([['RS256', -5 * 86_400]]);
    expect(keyAges(ring, now)).toContainEqual([{ alg: 'RS256', state: 'retired' }, 300 * 86_400]);
  });
});

describe('cachedRead', () => {
  it('reads at most once per interval, shares a read in flight, and does not keep a failure', async () => {
    let at = 0;
    let reads = 0;
    let fail = false;
    const read = cachedRead(async () => {
      reads += 1;
      if (fail) throw new Error('store down');
      return reads;
    }, 5000, () => at);
    expect(await Promise.all([read(), read()])).toEqual([1, 1]);
    at = 4999;
    expect(await read()).toBe(1);
    at = 5000;
    fail = true;
    await expect(read()).rejects.toThrow('store down');
    fail = false;
    expect(await read()).toBe(3);
    expect(reads).toBe(3);
  });
});
