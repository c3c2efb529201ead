import { describe, expect, it } from 'vitest';

import { doublingDelay } from '../../src/limits/backoff.ts';
import { failureDelaySeconds } from '../../src/limits/delay-limit.ts';
import { restartDelay, defaultBackoff } from '../../src/cluster.ts';
import { retryDelaySeconds } from '../../src/mail/mailer.ts';

describe('doublingDelay', () => {
  const policy = { free: 5, first: 2, max: 900 };

  it('costs nothing while failures are free', () => {
    for (let n = 0; n < policy.free; n += 1) expect(doublingDelay(policy, n)).toBe(0);
  });

  it('waits the first delay at the first failure past the free ones, then doubles', () => {
    expect([5, 6, 7, 8, 9, 10].map((n) => doublingDelay(policy, n))).toEqual([2, 4, 8, 16, 32, 64]);
  });

  it('stops doubling at the cap, exactly at it, and stays there', () => {
    expect(doublingDelay(policy, 13)).toBe(512);
    expect(doublingDelay(policy, 14)).toBe(900);
    expect(doublingDelay(policy, 100)).toBe(900);
    expect(doublingDelay({ free: 0, first: 1, max: 8 }, 3)).toBe(8);
  });

  it('counts from the first failure with nothing free', () => {
    expect([0, 1, 2, 3].map((n) => doublingDelay({ free: 0, first: 3, max: 100 }, n))).toEqual([3, 6, 12, 24]);
  });

  it('counts attempts made with one free (the first failed attempt waits the first delay)', () => {
    expect([0, 1, 2, 3, 4].map((n) => doublingDelay({ free: 1, first: 30, max: 3600 }, n))).toEqual([0, 30, 60, 120, 240]);
  });

  it('never overflows: huge and infinite counts give the cap, not Infinity or NaN', () => {
    expect(doublingDelay(policy, 1_000_000)).toBe(900);
    expect(doublingDelay(policy, Number.MAX_SAFE_INTEGER)).toBe(900);
    expect(doublingDelay(policy, Number.POSITIVE_INFINITY)).toBe(900);
    expect(doublingDelay({ free: 0, first: 1e300, max: 5 }, 10)).toBe(5);
  });

  it('gives no wait for a zero first delay, however many failures', () => {
    expect(doublingDelay({ free: 0, first: 0, max: 10 }, 0)).toBe(0);
    expect(doublingDelay({ free: 0, first: 0, max: 10 }, 5000)).toBe(0);
  });

  it('caps a first delay already above the cap', () => {
    expect(doublingDelay({ free: 0, first: 50, max: 10 }, 0)).toBe(10);
  });

  it('keeps fractional delays', () => {
    expect([1, 2, 3].map((n) => doublingDelay({ free: 1, first: 0.5, max: 1.5 }, n))).toEqual([0.5, 1, 1.5]);
  });

  it('gives no wait for counts that are not counts (negative, NaN)', () => {
    expect(doublingDelay(policy, -1)).toBe(0);
    expect(doublingDelay({ free: 0, first: 1, max: 2 }, -1)).toBe(0);
    expect(doublingDelay(policy, Number.NaN)).toBe(0);
  });

  it('is what every backoff of Gatehouse computes', () => {
    const guesses = { freeFailures: 5, firstDelaySeconds: 2, maxDelaySeconds: 900 };
    for (let n = 0; n < 40; n += 1) {
      expect(failureDelaySeconds(n, guesses)).toBe(doublingDelay({ free: 5, first: 2, max: 900 }, n));
      expect(retryDelaySeconds(n + 1)).toBe(doublingDelay({ free: 1, first: 30, max: 3600 }, n + 1));
      expect(restartDelay(n + 1)).toBe(doublingDelay({ free: 1, first: defaultBackoff.initialMs, max: defaultBackoff.maxMs }, n + 1));
    }
    // A count of zero (or less) means the first retry or restart, as before.
    expect(retryDelaySeconds(0)).toBe(30);
    expect(restartDelay(0)).toBe(defaultBackoff.initialMs);
  });
});
