import { RateLimiterRes } from 'rate-limiter-flexible';
import RateLimiterStoreAbstract from 'rate-limiter-flexible/lib/RateLimiterStoreAbstract.js';

import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { RateLimitCounter, RateLimitStore } from '../store/types.ts';

/**
 * rate-limiter-flexible on Gatehouse's own store (SQLite or MongoDB), so every instance counts in
 * the same place. The library does the limiting (consume, penalty, block, …); the store keeps the
 * counters, each change in one atomic statement.
 */
export class StoreRateLimiter extends RateLimiterStoreAbstract {
  readonly #store: RateLimitStore;
  readonly #clock: Clock;

  constructor(options: { store: RateLimitStore; keyPrefix: string; points: number; duration: number; clock?: Clock }) {
    super({ storeClient: options.store, keyPrefix: options.keyPrefix, points: options.points, duration: options.duration });
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
  }

  // The four methods the library's store base class calls.

  _getRateLimiterRes(_rlKey: string, changedPoints: number, counter: RateLimitCounter): RateLimiterRes {
    const msBeforeNext = counter.expiresAt ? Math.max(counter.expiresAt.getTime() - this.#clock().getTime(), 0) : -1;
    return new RateLimiterRes(Math.max(this.points - counter.points, 0), msBeforeNext, counter.points, counter.points === changedPoints);
  }

  _upsert(rlKey: string, points: number, msDuration: number, forceExpire = false): Promise<RateLimitCounter> {
    return this.#store.add(rlKey, points, msDuration, this.#clock(), forceExpire);
  }

  async _get(rlKey: string): Promise<RateLimitCounter | null> {
    return (await this.#store.get(rlKey, this.#clock())) ?? null;
  }

  _delete(rlKey: string): Promise<boolean> {
    return this.#store.delete(rlKey);
  }
}
