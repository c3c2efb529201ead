import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import type { AbuseLimits, LimitsSettings } from '../../src/limits/abuse-limits.ts';
import { createAbuseLimits, failureDelaySeconds } from '../../src/limits/abuse-limits.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { RateLimitStore, Store } from '../../src/store/types.ts';

describe('failureDelaySeconds', () => {
  it('is free for the first failures, then doubles up to the cap', () => {
    const policy = { freeFailures: 5, firstDelaySeconds: 2, maxDelaySeconds: 900 };
    expect([1, 4, 5, 6, 7, 8, 12, 13, 14, 100].map((failures) => failureDelaySeconds(failures, policy))).toEqual([0, 0, 2, 4, 8, 16, 256, 512, 900, 900]);
  });
});

describe('abuse limits on the store', () => {
  let dir: string;
  let store: Store;
  let now: Date;
  let limits: AbuseLimits;
  const defaults: LimitsSettings = loadConfig({}).limits;
  const tick = (seconds: number) => {
    now = new Date(now.getTime() + seconds * 1000);
  };
  const open = (settings: LimitsSettings = defaults) => createAbuseLimits(store.rateLimits, settings, () => now);

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-limits-'));
    store = openSqliteStore(join(dir, 'limits.db'));
    now = new Date('2025-02-01T08:00:00Z');
    limits = open();
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets 4 wrong passwords through freely, then waits 2 s, 4 s, 8 s … for the address typed', async () => {
    for (let failure = 1; failure <= 4; failure += 1) {
      expect(await limits.beforePassword('Ada@Example.com', '10.0.0.1')).toEqual({ ok: true });
      await limits.passwordFailed('ada@example.com', '10.0.0.1');
    }
    expect(await limits.beforePassword('ada@example.com', '10.0.0.1')).toEqual({ ok: true });
    await limits.passwordFailed('ada@example.com', '10.0.0.1'); // the 5th
    expect(await limits.beforePassword('ada@example.com', '10.0.0.2')).toEqual({ ok: false, reason: 'slow_down', retryAfterSeconds: 2 });
    tick(2);
    expect(await limits.beforePassword('ada@example.com', '10.0.0.2')).toEqual({ ok: true });
    await limits.passwordFailed('ada@example.com', '10.0.0.2'); // the 6th
    expect(await limits.beforePassword('ADA@example.com', '10.0.0.3')).toEqual({ ok: false, reason: 'slow_down', retryAfterSeconds: 4 });
    // Another address is not affected.
    expect(await limits.beforePassword('bob@example.com', '10.0.0.3')).toEqual({ ok: true });
  });

  it('a right password starts the count again; never more than maxConsecutiveFailures, then only a reset unlocks', async () => {
    limits = open({ ...defaults, password: { ...defaults.password, maxConsecutiveFailures: 8, account: { freeFailures: 5, firstDelaySeconds: 1, maxDelaySeconds: 1 } } });
    for (let failure = 0; failure < 7; failure += 1) {
      await limits.passwordFailed('ada@example.com', `10.0.1.${failure}`);
      tick(1);
    }
    await limits.clearPasswordFailures('ada@example.com');
    for (let failure = 0; failure < 7; failure += 1) {
      expect((await limits.beforePassword('ada@example.com', '10.0.2.1')).ok).toBe(true);
      await limits.passwordFailed('ada@example.com', `10.0.2.${failure}`);
      tick(1);
    }
    await limits.passwordFailed('ada@example.com', '10.0.2.9'); // the 8th in a row
    tick(3600);
    expect(await limits.beforePassword('ada@example.com', '10.0.3.1')).toEqual({ ok: false, reason: 'locked', retryAfterSeconds: 1 });
    await limits.clearPasswordFailures('ada@example.com');
    expect(await limits.beforePassword('ada@example.com', '10.0.3.1')).toEqual({ ok: true });
  });

  it('slows a source that tries many addresses, apart from the addresses themselves', async () => {
    for (let failure = 0; failure < 20; failure += 1) await limits.passwordFailed(`user${failure}@example.com`, '10.9.9.9');
    expect(await limits.beforePassword('fresh@example.com', '10.9.9.9')).toEqual({ ok: false, reason: 'slow_down', retryAfterSeconds: 2 });
    expect(await limits.beforePassword('fresh@example.com', '10.9.9.10')).toEqual({ ok: true });
  });

  it('counts registrations, reset requests and codes per hour, and mail per recipient', async () => {
    for (let request = 0; request < 10; request += 1) expect(await limits.registration('10.1.1.1')).toEqual({ ok: true });
    expect(await limits.registration('10.1.1.1')).toEqual({ ok: false, reason: 'slow_down', retryAfterSeconds: 3600 });
    expect(await limits.registration('10.1.1.2')).toEqual({ ok: true });
    for (let request = 0; request < 10; request += 1) await limits.resetRequest('10.1.1.1');
    expect((await limits.resetRequest('10.1.1.1')).ok).toBe(false);
    for (let code = 0; code < 30; code += 1) await limits.emailCode('ada@example.com');
    expect((await limits.emailCode('ADA@example.com')).ok).toBe(false);

    const sent = [];
    for (let mail = 0; mail < 12; mail += 1) sent.push(await limits.mailTo('ada@example.com', 'reset-password', false));
    expect(sent.filter((admission) => admission.ok)).toHaveLength(10);
    expect(sent.at(-1)).toEqual({ ok: false, reason: 'budget' });
    // Every kind has its own budget, and notices caused by others are coalesced: one per window.
    expect(await limits.mailTo('ADA@example.com', 'verify-email', false)).toEqual({ ok: true });
    expect(await limits.mailTo('ada@example.com', 'registration-attempt', true)).toEqual({ ok: true });
    expect(await limits.mailTo('ada@example.com', 'registration-attempt', true)).toEqual({ ok: false, reason: 'coalesced' });
    expect(await limits.mailTo('bob@example.com', 'registration-attempt', true)).toEqual({ ok: true });
    tick(600);
    expect(await limits.mailTo('ada@example.com', 'reset-password', false)).toEqual({ ok: true });
    expect(await limits.mailTo('ada@example.com', 'registration-attempt', true)).toEqual({ ok: false, reason: 'coalesced' });
    tick(3000);
    expect(await limits.mailTo('ada@example.com', 'registration-attempt', true)).toEqual({ ok: true });
  });

  it('two instances on one database share the counters', async () => {
    const other = openSqliteStore(join(dir, 'limits.db'));
    try {
      const elsewhere = createAbuseLimits(other.rateLimits, defaults, () => now);
      for (let failure = 0; failure < 3; failure += 1) await limits.passwordFailed('ada@example.com', '10.0.0.1');
      for (let failure = 0; failure < 2; failure += 1) await elsewhere.passwordFailed('ada@example.com', '10.0.0.1');
      expect((await limits.beforePassword('ada@example.com', '10.0.0.1')).ok).toBe(false);
      expect((await elsewhere.beforePassword('ada@example.com', '10.0.0.1')).ok).toBe(false);
    } finally {
      await other.close();
    }
  });
  describe('client secrets, counted where they are compared', () => {
    const settings = () => ({ ...defaults, clientAuthentication: { freeFailures: 3, firstDelaySeconds: 4, maxDelaySeconds: 60 } });

    it('a right secret within the free failures is one read: nothing is written', async () => {
      const calls = { add: 0, delete: 0, get: 0 };
      const counting: RateLimitStore = {
        add: (...args) => { calls.add += 1; return store.rateLimits.add(...args); },
        delete: (key) => { calls.delete += 1; return store.rateLimits.delete(key); },
        get: (key, at) => { calls.get += 1; return store.rateLimits.get(key, at); },
        sweep: (...args) => store.rateLimits.sweep(...args),
      };
      const client = createAbuseLimits(counting, settings(), () => now);
      await client.clientSecretChecked('10.0.0.7', false);
      const written = calls.add + calls.delete;
      expect(written).toBeGreaterThan(0);
      for (let i = 0; i < 20; i += 1) expect(await client.clientSecretChecked('10.0.0.7', true)).toEqual({ ok: true });
      expect(calls.add + calls.delete).toBe(written);
      expect(calls.get).toBeGreaterThanOrEqual(20);
    });

    it('wrong secrets get the free answers, then wait; a right one during the wait is refused too, and answered after it', async () => {
      const client = open(settings());
      // Two free failures; the 3rd wrong one takes the gate, fails, and starts a 4 s wait.
      for (let i = 0; i < 3; i += 1) expect(await client.clientSecretChecked('10.0.0.8', false)).toEqual({ ok: true });
      expect(await client.clientSecretChecked('10.0.0.8', false)).toEqual({ ok: false, reason: 'slow_down', retryAfterSeconds: 4 });
      expect(await client.clientSecretChecked('10.0.0.8', true)).toEqual({ ok: false, reason: 'slow_down', retryAfterSeconds: 4 });
      tick(4);
      expect(await client.clientSecretChecked('10.0.0.8', true)).toEqual({ ok: true });
      // A right secret gives back only its own attempt: the failures stay counted for their day.
      expect((await store.rateLimits.get('client-auth-failures:10.0.0.8', now))?.points).toBe(3);
      // Another source is not affected.
      expect(await client.clientSecretChecked('10.0.0.9', true)).toEqual({ ok: true });
    });

    it('a concurrent burst of wrong secrets gets exactly the free answers and the one holding the gate', async () => {
      const client = open(settings());
      const verdicts = await Promise.all(Array.from({ length: 40 }, () => client.clientSecretChecked('10.0.0.10', false)));
      expect(verdicts.filter((verdict) => verdict.ok)).toHaveLength(3);
    });

    it('right secrets mixed into a burst of wrong ones are answered only while the failures leave them free', async () => {
      const client = open(settings());
      const verdicts = await Promise.all(Array.from({ length: 40 }, (_, i) => client.clientSecretChecked('10.0.0.11', i % 4 === 3)));
      const answeredWrong = verdicts.filter((verdict, i) => verdict.ok && i % 4 !== 3).length;
      expect(answeredWrong).toBeLessThanOrEqual(3);
      expect((await store.rateLimits.get('client-auth-failures:10.0.0.11', now))?.points).toBe(answeredWrong);
    });
  });
});
