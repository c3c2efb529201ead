import type { Config } from '../config/load-config.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { RateLimitStore } from '../store/types.ts';
import { StoreRateLimiter } from './store-rate-limiter.ts';

/**
 * The limits against guessing and flooding, shared by every instance through the store. Keys use
 * the address typed (normalized), never whether an account exists, so a limited answer reveals
 * nothing about accounts.
 */

/** Failures before each further try must wait, the first wait, and where doubling stops. */
export type DelayPolicy = { freeFailures: number; firstDelaySeconds: number; maxDelaySeconds: number };

/** The wait imposed after the `failures`-th consecutive failure: none, then doubling, capped. */
export function failureDelaySeconds(failures: number, policy: DelayPolicy): number {
  if (failures < policy.freeFailures) return 0;
  return Math.min(policy.firstDelaySeconds * 2 ** (failures - policy.freeFailures), policy.maxDelaySeconds);
}

export type Verdict = { ok: true } | { ok: false; retryAfterSeconds: number; reason: 'slow_down' | 'locked' };

export type LimitsSettings = Config['limits'];

export type AbuseLimits = {
  /** Whether a password may be checked now for this address typed, from this source. */
  beforePassword(email: string, sourceAddress: string): Promise<Verdict>;
  /** Counts a wrong password (also for an address without an account) and sets the next wait. */
  passwordFailed(email: string, sourceAddress: string): Promise<void>;
  /** A right password, or a new one set by reset: the consecutive failures start again (unlocking it). */
  clearPasswordFailures(email: string): Promise<void>;
  /** Counts a registration from this source. */
  registration(sourceAddress: string): Promise<Verdict>;
  /** Counts a password reset request from this source. */
  resetRequest(sourceAddress: string): Promise<Verdict>;
  /** Counts a typed email verification code for this address. */
  emailCode(email: string): Promise<Verdict>;
  /** Whether another mail may go to this recipient now (counts it when it may). */
  mailTo(recipient: string): Promise<boolean>;
  /** Whether this source may authenticate as a client now (token, introspection, revocation). */
  beforeClientAuth(sourceAddress: string): Promise<Verdict>;
  /** Counts a failed client authentication (a guessed client secret) and sets the next wait. */
  clientAuthFailed(sourceAddress: string): Promise<void>;
};

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function createAbuseLimits(store: RateLimitStore, settings: LimitsSettings, clock?: () => Date): AbuseLimits {
  const limiter = (keyPrefix: string, points: number, duration: number) => new StoreRateLimiter({ store, keyPrefix, points, duration, ...(clock ? { clock } : {}) });
  const { password } = settings;

  // Consecutive failures per address typed: kept until a success (duration 0: no expiry), at most
  // maxConsecutiveFailures (NIST SP 800-63B: no more than 100), then only a reset unlocks.
  const accountFailures = limiter('pw-fail-account', password.maxConsecutiveFailures, 0);
  // Failures per source address: forgotten a day after the first.
  const sourceFailures = limiter('pw-fail-source', Number.MAX_SAFE_INTEGER, 86_400);
  // The current wait of each, as a blocked key that expires when the wait is over.
  const accountWait = limiter('pw-wait-account', 1, 1);
  const sourceWait = limiter('pw-wait-source', 1, 1);
  const registrations = limiter('register-source', settings.registrationsPerHour, 3600);
  const resets = limiter('reset-source', settings.resetRequestsPerHour, 3600);
  const emailCodes = limiter('email-code', settings.emailCodesPerHour, 3600);
  const mails = limiter('mail-recipient', settings.mailsPerRecipient.count, settings.mailsPerRecipient.seconds);
  const clientFailures = limiter('client-auth-fail', Number.MAX_SAFE_INTEGER, 86_400);
  const clientWait = limiter('client-auth-wait', 1, 1);

  async function counted(rateLimiter: StoreRateLimiter, key: string): Promise<Verdict> {
    try {
      await rateLimiter.consume(key);
      return { ok: true };
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      return { ok: false, reason: 'slow_down', retryAfterSeconds: seconds((rejection as { msBeforeNext: number }).msBeforeNext) };
    }
  }

  return {
    async beforePassword(email, sourceAddress) {
      const key = normalizeEmail(email);
      const [failures, accountBlocked, sourceBlocked] = await Promise.all([accountFailures.get(key), accountWait.get(key), sourceWait.get(sourceAddress)]);
      if (failures && failures.consumedPoints >= password.maxConsecutiveFailures) return { ok: false, reason: 'locked', retryAfterSeconds: password.account.maxDelaySeconds };
      const waitMs = Math.max(accountBlocked?.msBeforeNext ?? 0, sourceBlocked?.msBeforeNext ?? 0);
      return waitMs > 0 ? { ok: false, reason: 'slow_down', retryAfterSeconds: seconds(waitMs) } : { ok: true };
    },
    async passwordFailed(email, sourceAddress) {
      const key = normalizeEmail(email);
      const [account, source] = await Promise.all([accountFailures.penalty(key), sourceFailures.penalty(sourceAddress)]);
      const accountDelay = failureDelaySeconds(account.consumedPoints, password.account);
      const sourceDelay = failureDelaySeconds(source.consumedPoints, password.source);
      await Promise.all([
        accountDelay > 0 ? accountWait.block(key, accountDelay) : undefined,
        sourceDelay > 0 ? sourceWait.block(sourceAddress, sourceDelay) : undefined,
      ]);
    },
    async clearPasswordFailures(email) {
      const key = normalizeEmail(email);
      await Promise.all([accountFailures.delete(key), accountWait.delete(key)]);
    },
    registration: (sourceAddress) => counted(registrations, sourceAddress),
    resetRequest: (sourceAddress) => counted(resets, sourceAddress),
    emailCode: (email) => counted(emailCodes, normalizeEmail(email)),
    async mailTo(recipient) {
      return (await counted(mails, normalizeEmail(recipient))).ok;
    },
    async beforeClientAuth(sourceAddress) {
      const blocked = await clientWait.get(sourceAddress);
      return blocked && blocked.msBeforeNext > 0 ? { ok: false, reason: 'slow_down', retryAfterSeconds: seconds(blocked.msBeforeNext) } : { ok: true };
    },
    async clientAuthFailed(sourceAddress) {
      const failures = await clientFailures.penalty(sourceAddress);
      const delay = failureDelaySeconds(failures.consumedPoints, settings.clientAuthentication);
      if (delay > 0) await clientWait.block(sourceAddress, delay);
    },
  };
}
