import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

import { doublingDelay } from '../limits/backoff.ts';

/**
 * How a webhook delivery is signed (docs/webhooks.md#verifying-a-delivery), as pure functions:
 *
 *   Gatehouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 * The timestamp is the attempt's, so each retry carries a fresh one; a receiver refuses a
 * signature older than its replay window (5 minutes suggested) and a delivery id it has seen.
 */

export const signatureHeader = 'gatehouse-signature';
export const deliveryHeader = 'gatehouse-delivery';
export const eventHeader = 'gatehouse-event';

/** A new signing secret: `whsec_` and 32 random bytes, base64url. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}

/** The hex HMAC-SHA256 of "<timestamp>.<body>" under the secret (the secret's own bytes, whsec_ prefix included). */
export function signatureOf(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The Gatehouse-Signature header of `body` signed at `at`. */
export function signatureHeaderValue(secret: string, at: Date, body: string): string {
  const timestamp = Math.floor(at.getTime() / 1000);
  return `t=${timestamp},v1=${signatureOf(secret, timestamp, body)}`;
}

/**
 * A receiver's check (what docs/webhooks.md shows): the header parses, its timestamp is within
 * `toleranceSeconds` of `now`, and one of its v1 signatures matches (several are allowed, for a
 * future rotation with overlap).
 */
export function verifySignature(secret: string, header: string, body: string, now: Date, toleranceSeconds = 300): boolean {
  const parts = header.split(',').map((part) => part.trim().split('='));
  const timestamps = parts.filter(([key]) => key === 't').map(([, value]) => Number(value));
  const signatures = parts.filter(([key, value]) => key === 'v1' && value !== undefined && /^[0-9a-f]{64}$/.test(value)).map(([, value]) => value!);
  const timestamp = timestamps[0];
  if (timestamps.length !== 1 || timestamp === undefined || !Number.isInteger(timestamp) || !signatures.length) return false;
  if (Math.abs(now.getTime() / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signatureOf(secret, timestamp, body), 'hex');
  return signatures.some((signature) => timingSafeEqual(Buffer.from(signature, 'hex'), expected));
}

/** The retry schedule (config webhooks). */
export type WebhookRetryPolicy = { firstRetrySeconds: number; maxRetrySeconds: number; maxAttempts: number };

/**
 * Seconds to wait after the `attempts`-th failed attempt: `firstRetrySeconds`, doubling after each
 * further failure, at most `maxRetrySeconds`, less a jitter of up to a quarter (`random` in [0, 1)),
 * so that deliveries failing together do not all come back at one instant. Never longer than the
 * schedule without jitter: a delivery is always due once that much time has passed.
 */
export function webhookRetryDelaySeconds(policy: Pick<WebhookRetryPolicy, 'firstRetrySeconds' | 'maxRetrySeconds'>, attempts: number, random: number = Math.random()): number {
  const base = doublingDelay({ free: 1, first: policy.firstRetrySeconds, max: policy.maxRetrySeconds }, Math.max(1, attempts));
  const jitter = Math.min(Math.max(random, 0), 1);
  return base * (1 - 0.25 * jitter);
}
