import type { Clock } from '../../src/clock.ts';

/** A clock a test moves forward instead of sleeping: the system clock plus what the test added. */
export type MovableClock = Clock & {
  /** Moves this clock `ms` milliseconds ahead (it keeps running with the system clock from there). */
  advance(ms: number): void;
  /**
   * Back to the system clock. For a test that measures from a timestamp oidc-provider took from the
   * system clock (a session's login time) after an earlier test moved this clock ahead.
   */
  rewind(): void;
};

/**
 * For startGatehouse({ clock }): the server reads the time from it for everything that decides
 * with the time (limits and their Retry-After, codes, links, sessions in the store, mail retries).
 * What reads the system clock instead (oidc-provider's own timestamps, cookie expiry in a browser,
 * a relying party's caches) does not move with it: tests of those still wait in real time.
 */
export function movableClock(): MovableClock {
  let offset = 0;
  const clock = (() => new Date(Date.now() + offset)) as MovableClock;
  clock.advance = (ms: number) => {
    offset += ms;
  };
  clock.rewind = () => {
    offset = 0;
  };
  return clock;
}
