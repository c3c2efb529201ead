import { describe, expect, it } from 'vitest';

import { admission, crowdedNotFailing, gateTaken, holdSeconds, minimumHoldSeconds, secondsUntil } from '../../src/limits/delay-limit.ts';

const policy = { freeFailures: 5, firstDelaySeconds: 2, maxDelaySeconds: 900 };

describe('admission of the attempt numbered n (failures + attempts in flight, this one included)', () => {
  it('is free while its failure would start no wait, then needs the gate, then is locked past the most failures', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 99, 100, 101].map((n) => admission(n, policy, 100))).toEqual(['free', 'free', 'free', 'free', 'free', 'gate', 'gate', 'gate', 'gate', 'locked']);
    expect(admission(10_000, policy)).toBe('gate');
    expect(admission(1, { ...policy, freeFailures: 0 })).toBe('gate');
    expect(admission(999_999, { ...policy, freeFailures: 1_000_000 })).toBe('free');
  });

  it('holds the gate for the wait its failure would start, never less than the minimum', () => {
    expect([5, 8, 12, 20].map((n) => holdSeconds(n, policy))).toEqual([minimumHoldSeconds, 16, 256, 900]);
    expect(holdSeconds(5, { ...policy, firstDelaySeconds: 1, maxDelaySeconds: 1 })).toBe(minimumHoldSeconds);
  });

  it('only the request that restarted the gate at 1 holds it', () => {
    expect([1, 2, 3, 150].map(gateTaken)).toEqual([true, false, false, false]);
  });

  it('waits for attempts in flight, instead of refusing, while the failures alone leave the next attempt free', () => {
    // 5 free: with 0 to 3 failures the next attempt is free, so being past the free ones means others are in flight.
    expect([0, 1, 2, 3, 4, 5, 50].map((failures) => crowdedNotFailing(failures, policy))).toEqual([true, true, true, true, false, false, false]);
    expect(crowdedNotFailing(0, { ...policy, freeFailures: 0 })).toBe(false);
    expect(crowdedNotFailing(3, policy, 3)).toBe(false);
  });

  it('rounds what is left of a wait up to whole seconds, at least 1', () => {
    const now = new Date('2025-01-01T00:00:00Z');
    expect(secondsUntil(new Date(now.getTime() + 1_200), now, 2)).toBe(2);
    expect(secondsUntil(new Date(now.getTime() - 5), now, 2)).toBe(1);
    expect(secondsUntil(null, now, 7)).toBe(7);
  });
});
