import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import type { AbuseLimits, LimitsSettings } from '../../src/limits/abuse-limits.ts';
import { createAbuseLimits, failureDelaySeconds } from '../../src/limits/abuse-limits.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';

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
});
