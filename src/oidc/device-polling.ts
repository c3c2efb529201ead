import { createHash } from 'node:crypto';

import type { Context, Middleware } from 'koa';
import Provider, { errors } from 'oidc-provider';

import type { Clock } from '../clock.ts';
import { deviceCodeGrantType } from '../libraries/clients.ts';
import type { RateLimitStore } from '../store/types.ts';

/**
 * How often a device may poll the token endpoint in the device flow (RFC 8628 §3.4, §3.5), and
 * what it is told when its code has expired.
 *
 * oidc-provider answers `authorization_pending` however fast a device polls; it never says
 * `slow_down`, and it names no `interval` in the device authorization response. Both are added
 * here:
 *
 * - The device authorization response names `interval` (5 s, the RFC's default), and its device
 *   code is recorded (`issued`) with its expiry, judged by Gatehouse's clock like the code itself.
 * - Each poll of a pending code is judged by `judgePoll` (a pure rule, below) against the last
 *   poll of that code, kept in the rate-limits store, never in process memory, so every instance
 *   of a cluster judges alike. Too early: `slow_down`, and the code's interval grows by 5 s for
 *   this and every later poll (§3.5).
 * - A code past its expiry gets `expired_token` (§3.5). The store hides an expired code from the
 *   provider, which would otherwise say `invalid_grant`.
 *
 * Where: the poll is judged inside the provider, where it looks the device code up for the
 * device_code grant (DeviceCode.find, wrapped like the client secret comparison in
 * client-secret-guesses.ts). There the request's body is parsed, the client authenticated and the
 * code found, so only pending codes of real devices are counted: a random device_code costs the
 * store one read and gets the provider's own invalid_grant. A middleware in front of the token
 * endpoint would have to read the body before the provider does.
 *
 * Keys hold a SHA-256 of the device code, never the code itself.
 */

/** The polling interval a device is told (RFC 8628's default), in seconds. */
export const pollIntervalSeconds = 5;

/** What each `slow_down` adds to a code's interval (RFC 8628 §3.5). */
export const slowDownStepSeconds = 5;

/**
 * How much earlier than its interval a poll may arrive and still count as on time: a device that
 * waits exactly the interval after each answer sees requests arrive early by the network's jitter,
 * and an honest device must never be told to slow down. A device that abuses it gains a second.
 */
export const pollToleranceMs = 1_000;

/** What the store keeps of one device code's polls. */
export type PollState = {
  /** Until when (ms since the epoch) a further poll is too early: the last on-time poll plus the interval, less the tolerance. */
  windowEndsAt: number;
  /** Seconds added to the interval by `slow_down` answers so far. */
  extraSeconds: number;
};

export type PollJudgement = { answer: 'go_on' | 'slow_down'; intervalSeconds: number; state: PollState };

/** The window a poll on time opens: the current interval, less the tolerance. */
export function pollWindowMs(baseSeconds: number, extraSeconds: number): number {
  return Math.max(0, (baseSeconds + extraSeconds) * 1000 - pollToleranceMs);
}

/**
 * One poll of a pending device code, at `now`: on time when no poll window is open (the first
 * poll, or the interval since the last on-time poll has passed); it opens the next window. Early:
 * `slow_down`, and the interval grows by 5 s (the open window stays as it is, so a device that
 * waits its new interval after the answer is on time).
 */
export function judgePoll(previous: PollState | undefined, now: number, baseSeconds = pollIntervalSeconds): PollJudgement {
  const extraSeconds = previous?.extraSeconds ?? 0;
  if (previous && now < previous.windowEndsAt) {
    const grown = extraSeconds + slowDownStepSeconds;
    return { answer: 'slow_down', intervalSeconds: baseSeconds + grown, state: { windowEndsAt: previous.windowEndsAt, extraSeconds: grown } };
  }
  return { answer: 'go_on', intervalSeconds: baseSeconds + extraSeconds, state: { windowEndsAt: now + pollWindowMs(baseSeconds, extraSeconds), extraSeconds } };
}

export type DevicePolling = {
  /** A device code was just issued, expiring in `expiresInSeconds`. */
  issued(deviceCode: string, expiresInSeconds: number): Promise<void>;
  /** Whether this device code was issued and has expired (by this clock). */
  expired(deviceCode: string): Promise<boolean>;
  /** Judges a poll of this pending device code now (see judgePoll), and keeps what it decided. */
  poll(deviceCode: string): Promise<{ answer: 'go_on' | 'slow_down'; intervalSeconds: number }>;
};

/** How long the records of a code outlive it: long enough to answer expired_token to a device still polling. */
const keptAfterExpiryMs = 3_600_000;

/**
 * judgePoll on the rate-limits store, each decision one atomic statement: the poll window is a
 * counter that expires at the window's end. Adding 1 to it is the poll: 1 means no window was open
 * (on time, and this poll opened the next one), more means early. Concurrent polls of one code, on
 * any instance, get exactly one `go_on`. The added seconds are a second counter, kept as long as
 * the code.
 */
export function createDevicePolling(options: { store: RateLimitStore; clock: Clock; intervalSeconds?: number }): DevicePolling {
  const { store, clock } = options;
  const base = options.intervalSeconds ?? pollIntervalSeconds;
  const id = (deviceCode: string) => createHash('sha256').update(deviceCode).digest('base64url');
  const issuedKey = (deviceCode: string) => `device-issued:${id(deviceCode)}`;
  const windowKey = (deviceCode: string) => `device-poll:${id(deviceCode)}`;
  const extraKey = (deviceCode: string) => `device-slow:${id(deviceCode)}`;

  return {
    async issued(deviceCode, expiresInSeconds) {
      const now = clock();
      // The counter's points are the code's expiry, in seconds since the epoch.
      const expiresAt = Math.floor(now.getTime() / 1000) + expiresInSeconds;
      await store.add(issuedKey(deviceCode), expiresAt, expiresInSeconds * 1000 + keptAfterExpiryMs, now, true);
    },
    async expired(deviceCode) {
      const now = clock();
      const issued = await store.get(issuedKey(deviceCode), now);
      return issued !== undefined && issued.points * 1000 <= now.getTime();
    },
    async poll(deviceCode) {
      const now = clock();
      const extra = (await store.get(extraKey(deviceCode), now))?.points ?? 0;
      const window = await store.add(windowKey(deviceCode), 1, pollWindowMs(base, extra), now, false);
      // The counters stand for the state judgePoll reads: the window was open when this poll's 1
      // was added to a live counter (points > 1), until the counter's expiry; else it had closed
      // (and the add opened the next one, as judgePoll does). The seconds added so far either way.
      const open = window.points > 1;
      const previous: PollState = { windowEndsAt: open ? window.expiresAt?.getTime() ?? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY, extraSeconds: extra };
      const judged = judgePoll(previous, now.getTime(), base);
      if (judged.answer === 'slow_down') {
        const issued = await store.get(issuedKey(deviceCode), now);
        const keepMs = issued ? Math.max(issued.points * 1000 - now.getTime(), 0) + keptAfterExpiryMs : keptAfterExpiryMs;
        const grown = await store.add(extraKey(deviceCode), slowDownStepSeconds, keepMs, now, false);
        return { answer: 'slow_down', intervalSeconds: base + grown.points };
      }
      return { answer: judged.answer, intervalSeconds: judged.intervalSeconds };
    },
  };
}

/** The request the provider is serving now (it keeps it in an AsyncLocalStorage; untyped upstream). */
const currentRequest = (): (Context & { oidc?: { route?: string; params?: Record<string, unknown> } }) | undefined => (Provider as unknown as { ctx?: Context }).ctx;

type DeviceCodeModel = { accountId?: string; error?: string; isExpired?: boolean; consumed?: unknown };
type DeviceCodeClass = { find(id: string, options?: unknown): Promise<DeviceCodeModel | undefined> };

/**
 * Wraps the provider's device code lookup at the token endpoint: an expired code is answered
 * `expired_token`, a pending one polled too early `slow_down`. Elsewhere (the verification pages)
 * the lookup is left alone.
 */
export function limitDevicePolling(provider: Provider, polling: DevicePolling): void {
  const DeviceCode = (provider as unknown as { DeviceCode: DeviceCodeClass }).DeviceCode;
  const find = DeviceCode.find.bind(DeviceCode);
  DeviceCode.find = async function findPolled(id: string, options?: unknown) {
    const ctx = currentRequest();
    const found = await find(id, options);
    if (ctx?.oidc?.route !== 'token' || ctx.oidc.params?.grant_type !== deviceCodeGrantType || typeof id !== 'string') return found;
    if (!found || found.isExpired) {
      if (found?.isExpired || await polling.expired(id)) throw new errors.ExpiredToken('device code is expired');
      return found;
    }
    const pending = !found.accountId && !found.error && !found.consumed;
    if (!pending) return found;
    const judged = await polling.poll(id);
    if (judged.answer === 'slow_down') {
      throw new errors.SlowDown(`polling faster than every ${judged.intervalSeconds} seconds; wait ${judged.intervalSeconds} seconds between requests`);
    }
    return found;
  };
}

/**
 * The device authorization endpoint's answer gets `interval` (RFC 8628 §3.2; the provider leaves
 * it out), and the issued code is recorded for `expired_token`.
 */
export function deviceAuthorizationAnswers(polling: DevicePolling, path = '/device/auth'): Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.method !== 'POST' || ctx.path !== path || ctx.status !== 200) return;
    const body = ctx.body as { device_code?: unknown; expires_in?: unknown; interval?: unknown } | undefined;
    if (!body || typeof body.device_code !== 'string' || typeof body.expires_in !== 'number') return;
    await polling.issued(body.device_code, body.expires_in);
    ctx.body = { ...body, interval: pollIntervalSeconds };
  };
}
