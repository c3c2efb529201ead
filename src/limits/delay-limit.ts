import { setTimeout as sleep } from 'node:timers/promises';

import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { RateLimitStore } from '../store/types.ts';
import { doublingDelay } from './backoff.ts';

/**
 * A limit on guesses (passwords, client secrets): some free failures, then one try per wait, the
 * wait doubling after each further failure up to a cap; optionally a most-failures lock.
 *
 * It cannot be raced: an attempt is *reserved* before anything is evaluated, in one atomic store
 * statement each (RateLimitStore.add), and given back when it was not evaluated or turned out
 * right. Two counters per key:
 *
 * - `count`: failures so far plus attempts being evaluated now. Adding 1 numbers this attempt; the
 *   number alone decides whether it is free (its failure would start no wait) or needs the gate.
 * - `gate`: live while a wait runs, and while the one attempt allowed past the free ones is being
 *   evaluated. Adding 1 to an expired (or missing) gate restarts it at 1: that request, and only
 *   that one, holds it. A failure then sets the gate to the wait that follows; a right answer
 *   clears both counters.
 *
 * So a burst of any size gets exactly the free attempts, plus at most one per wait that is over.
 *
 * A third counter, `failures`, holds only the attempts that turned out wrong. When an attempt is
 * past the free ones only because others are still being evaluated (not because of failures), it
 * is not refused: it gives its number back and tries again a moment later, so a busy client or a
 * shared address with many right answers at once is never told to slow down.
 * The decisions are pure functions below; the store only counts.
 */

/** Failures before each further try must wait, the first wait, and where doubling stops. */
export type DelayPolicy = { freeFailures: number; firstDelaySeconds: number; maxDelaySeconds: number };

/** The wait imposed after the `failures`-th consecutive failure: none, then doubling, capped. */
export function failureDelaySeconds(failures: number, policy: DelayPolicy): number {
  return doublingDelay({ free: policy.freeFailures, first: policy.firstDelaySeconds, max: policy.maxDelaySeconds }, failures);
}

/**
 * How long the one attempt past the free ones keeps the gate while it is evaluated (if the process
 * dies meanwhile, the gate opens again after this): at least the wait its failure would start.
 */
export const minimumHoldSeconds = 10;

export type Admission = 'free' | 'gate' | 'locked';

/**
 * What the attempt numbered `reserved` (failures + attempts in flight, this one included) needs.
 * `maxFailures`: beyond it the key is locked (only clearing it unlocks).
 */
export function admission(reserved: number, policy: DelayPolicy, maxFailures?: number): Admission {
  if (maxFailures !== undefined && reserved > maxFailures) return 'locked';
  return failureDelaySeconds(reserved, policy) > 0 ? 'gate' : 'free';
}

/** Seconds the gate holder keeps it: the wait its failure would start, and never less than the minimum. */
export function holdSeconds(reserved: number, policy: DelayPolicy): number {
  return Math.max(failureDelaySeconds(reserved, policy), minimumHoldSeconds);
}

/** The counter after adding 1 to the gate: held by this attempt only when it restarted at 1. */
export function gateTaken(gatePoints: number): boolean {
  return gatePoints === 1;
}

/**
 * Whether an attempt past the free ones should wait for the attempts in flight rather than be
 * refused: the failures so far alone would not make anyone wait (nor lock the key).
 */
export function crowdedNotFailing(failures: number, policy: DelayPolicy, maxFailures?: number): boolean {
  return admission(failures + 1, policy, maxFailures) === 'free';
}

/** How long an attempt crowded out by attempts in flight keeps trying, and between tries. */
export const crowdedRetry = { totalMs: 2_000, minPauseMs: 5, maxPauseMs: 25 };

/** Whole seconds until `expiresAt` (at least 1). */
export function secondsUntil(expiresAt: Date | null, now: Date, fallbackSeconds: number): number {
  if (!expiresAt) return Math.max(1, fallbackSeconds);
  return Math.max(1, Math.ceil((expiresAt.getTime() - now.getTime()) / 1000));
}

export type Reservation =
  | { ok: true; held: boolean; reserved: number }
  | { ok: false; reason: 'slow_down' | 'locked'; retryAfterSeconds: number };

export type DelayLimit = {
  /** Reserves an attempt for `key` (see above). A refused attempt leaves no trace. */
  reserve(key: string): Promise<Reservation>;
  /** The reserved attempt was wrong: it stays counted, and the wait that follows starts now. */
  failed(key: string, reservation: { held: boolean }): Promise<void>;
  /** The reserved attempt was not evaluated (another limit refused it, an error): it is given back. */
  cancel(key: string): Promise<void>;
  /** A right answer (or a reset): failures start again from none. */
  clear(key: string): Promise<void>;
  /** Counts a failure that was not reserved, and starts the wait that follows. */
  recordFailure(key: string): Promise<void>;
  /**
   * Whether an attempt already known to be right would be free now: one read, nothing written. True
   * while the failures and attempts in flight leave the next attempt free (then a reservation would
   * only be given back); otherwise the caller reserves as usual.
   */
  admitsFreely(key: string): Promise<boolean>;
  /** What a reservation would be told now, without reserving anything. */
  peek(key: string): Promise<{ ok: true } | { ok: false; reason: 'slow_down' | 'locked'; retryAfterSeconds: number }>;
};

export function createDelayLimit(options: {
  store: RateLimitStore;
  name: string;
  policy: DelayPolicy;
  /** How long failures are remembered after the first (0: until cleared). */
  windowSeconds: number;
  maxFailures?: number;
  clock?: Clock;
}): DelayLimit {
  const { store, name, policy, windowSeconds, maxFailures } = options;
  const clock = options.clock ?? systemClock;
  const countKey = (key: string) => `${name}:${key}`;
  const gateKey = (key: string) => `${name}-gate:${key}`;
  const failuresKey = (key: string) => `${name}-failures:${key}`;
  const windowMs = windowSeconds * 1000;
  const lockedFor = policy.maxDelaySeconds;

  async function startWait(key: string, failures: number, held: boolean, now: Date) {
    const wait = failureDelaySeconds(failures, policy);
    if (wait > 0) await store.add(gateKey(key), 1, wait * 1000, now, true);
    // Fewer failures than the gate asked for (others were right meanwhile): no wait, so open it.
    else if (held) await store.delete(gateKey(key));
  }

  return {
    async reserve(key) {
      const deadline = performance.now() + crowdedRetry.totalMs;
      for (;;) {
        const outcome = await reserveOnce(key);
        if (outcome !== 'crowded') return outcome;
        // Past the free ones only because of attempts still in flight: wait for them, not the caller.
        if (performance.now() >= deadline) return { ok: false, reason: 'slow_down', retryAfterSeconds: 1 };
        await sleep(crowdedRetry.minPauseMs + Math.random() * (crowdedRetry.maxPauseMs - crowdedRetry.minPauseMs));
      }
    },
    async failed(key, reservation) {
      const now = clock();
      const [count] = await Promise.all([store.get(countKey(key), now), store.add(failuresKey(key), 1, windowMs, now, false)]);
      await startWait(key, count?.points ?? 1, reservation.held, now);
    },
    async cancel(key) {
      // The gate, if this attempt held it, is left to expire: opening it could cut short a wait
      // that another attempt's failure started meanwhile.
      await store.add(countKey(key), -1, windowMs, clock(), false);
    },
    async clear(key) {
      await Promise.all([store.delete(countKey(key)), store.delete(gateKey(key)), store.delete(failuresKey(key))]);
    },
    async recordFailure(key) {
      const now = clock();
      const [count] = await Promise.all([store.add(countKey(key), 1, windowMs, now, false), store.add(failuresKey(key), 1, windowMs, now, false)]);
      await startWait(key, count.points, false, now);
    },
    async admitsFreely(key) {
      const count = await store.get(countKey(key), clock());
      return admission((count?.points ?? 0) + 1, policy, maxFailures) === 'free';
    },
    async peek(key) {
      const now = clock();
      const [failures, gate] = await Promise.all([store.get(failuresKey(key), now), store.get(gateKey(key), now)]);
      if (maxFailures !== undefined && (failures?.points ?? 0) >= maxFailures) return { ok: false, reason: 'locked', retryAfterSeconds: lockedFor };
      if (gate) return { ok: false, reason: 'slow_down', retryAfterSeconds: secondsUntil(gate.expiresAt, now, policy.firstDelaySeconds) };
      return { ok: true };
    },
  };

  /** One try at a reservation; 'crowded' when only attempts still in flight stand in the way. */
  async function reserveOnce(key: string): Promise<Reservation | 'crowded'> {
    const now = clock();
    const count = await store.add(countKey(key), 1, windowMs, now, false);
    const needs = admission(count.points, policy, maxFailures);
    if (needs === 'free') return { ok: true, held: false, reserved: count.points };
    const failures = (await store.get(failuresKey(key), now))?.points ?? 0;
    if (needs === 'locked' || crowdedNotFailing(failures, policy, maxFailures)) {
      await store.add(countKey(key), -1, windowMs, now, false);
      if (needs !== 'locked' || maxFailures === undefined || failures < maxFailures) return 'crowded';
      return { ok: false, reason: 'locked', retryAfterSeconds: lockedFor };
    }
    const gate = await store.add(gateKey(key), 1, holdSeconds(count.points, policy) * 1000, now, false);
    if (gateTaken(gate.points)) return { ok: true, held: true, reserved: count.points };
    await store.add(countKey(key), -1, windowMs, now, false);
    return { ok: false, reason: 'slow_down', retryAfterSeconds: secondsUntil(gate.expiresAt, now, policy.firstDelaySeconds) };
  }
}
