/**
 * The one way Gatehouse reads the time. Start-up passes a clock down to everything that decides
 * with the time (codes, limits, sessions, mail retries, keys); tests pass one they can move.
 */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();

/** Whole seconds since the epoch, as JWTs and oidc-provider count. */
export function epochSeconds(clock: Clock): number {
  return Math.floor(clock().getTime() / 1000);
}
