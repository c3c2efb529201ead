/**
 * The one exponential backoff Gatehouse uses: password and client-secret guessing, second-factor
 * codes, mail retries and worker restarts all wait `first`, then twice as long after each further
 * failure, never longer than `max`, once `free` failures have gone by without any wait.
 */
export type DoublingPolicy = {
  /** Failures that cost no wait: the `free`-th failure (counting from 0) is the first to wait. */
  free: number;
  /** The first wait, in whatever unit the caller counts (seconds, milliseconds). */
  first: number;
  /** Where doubling stops. */
  max: number;
};

/**
 * The wait after `n` failures: 0 while `n < free`, then `first`, `2 × first`, `4 × first`, … up to
 * `max`. With `free: 1`, `n` counts attempts made (the first failed attempt waits `first`).
 */
export function doublingDelay(policy: DoublingPolicy, n: number): number {
  const { free, first, max } = policy;
  if (!(n >= free)) return 0;
  // 2 ** 1024 is Infinity (and 0 × Infinity is NaN); past ~1000 doublings any wait is at the cap.
  return Math.min(first * 2 ** Math.min(n - free, 1023), max);
}
