import type { Clock } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { MailDropReason, RateLimitStore } from '../store/types.ts';
import { createDelayLimit } from './delay-limit.ts';
import { sourceKey } from './source-key.ts';
import { StoreRateLimiter } from './store-rate-limiter.ts';

/**
 * The limits against guessing and flooding, shared by every instance through the store. Keys use
 * the address typed (normalized), never whether an account exists, so a limited answer reveals
 * nothing about accounts.
 */

export type { DelayPolicy } from './delay-limit.ts';
export { failureDelaySeconds } from './delay-limit.ts';

/** Whether a message may be queued now, or why it is dropped (what the outbox's `admit` answers). */
export type MailAdmission = { ok: true } | { ok: false; reason: MailDropReason };

export type Verdict = { ok: true } | { ok: false; retryAfterSeconds: number; reason: 'slow_down' | 'locked' };

export type LimitsSettings = Config['limits'];

/** A reserved attempt (see delay-limit.ts): say how it ended, exactly once. */
export type ReservedAttempt = {
  /** It was wrong: it counts as a failure. */
  failed(): Promise<void>;
  /** It was right. */
  succeeded(): Promise<void>;
  /** It was not evaluated (a disabled account, an error): as if it never came. */
  cancel(): Promise<void>;
};

/**
 * `stepUp`: the address is limited as a whole (waiting, or locked), but not for this source: the
 * attempt is reserved against this source only, and a right password must be confirmed with a
 * mailed code (src/accounts/sign-in-code.ts) instead of signing in.
 */
export type Admission = { ok: true; attempt: ReservedAttempt; stepUp?: boolean } | { ok: false; retryAfterSeconds: number; reason: 'slow_down' | 'locked' };

export type AbuseLimits = {
  /**
   * Reserves a password attempt for this address typed, from this source, before the password is
   * checked: per address (with the consecutive-failure lock), per address and source, and per
   * source. Refused when any of them is waiting; no burst gets more than the free attempts.
   */
  passwordAttempt(email: string, sourceAddress: string): Promise<Admission>;
  /** Whether a password attempt would be admitted now (reserves nothing). */
  beforePassword(email: string, sourceAddress: string): Promise<Verdict>;
  /** Counts a wrong password that was not reserved, and sets the next wait. */
  passwordFailed(email: string, sourceAddress: string): Promise<void>;
  /**
   * A right password, or a new one set by reset: the consecutive failures start again (unlocking
   * it); with `sourceAddress`, that source's failures on this address too.
   */
  clearPasswordFailures(email: string, sourceAddress?: string): Promise<void>;
  /** Counts a registration from this source. */
  registration(sourceAddress: string): Promise<Verdict>;
  /** Counts a password reset request from this source. */
  resetRequest(sourceAddress: string): Promise<Verdict>;
  /** Counts a typed email verification code for this address. */
  emailCode(email: string): Promise<Verdict>;
  /**
   * Whether a message of this kind may go to this recipient now (counts it when it may). Each kind
   * has its own budget; with `coalesce` (notices other people's actions cause), one per window.
   */
  mailTo(recipient: string, kind: string, coalesce: boolean): Promise<MailAdmission>;
  /** Counts an authorization request (GET/POST /auth, PAR) from this source. */
  authorizationRequest(sourceAddress: string): Promise<Verdict>;
  /**
   * Counts a submitted new-password form (the reset link's, the account page's) from this source
   * and for this account or link; both must allow it.
   */
  passwordForm(sourceAddress: string, subject: string): Promise<Verdict>;
  /** Counts an email change request (the account page mails the new address) from this source and for this account; both must allow it. */
  emailChangeRequest(sourceAddress: string, accountId: string): Promise<Verdict>;
  /**
   * A client secret was just compared, at the provider's one point where it evaluates secrets
   * (src/oidc/client-secret-guesses.ts): may this answer be given? Counted as if the attempt had been
   * reserved before the comparison, so a burst gets no more answers than the free ones. A right
   * secret costs one read while the source is within its free failures (no write: a busy client
   * costs the store nothing); a wrong one is reserved and counted as a failure.
   */
  clientSecretChecked(sourceAddress: string, right: boolean): Promise<Verdict>;
  /**
   * Reserves a passkey answer from this source before it is verified (a passkey sign-in, a passkey
   * as the second step, a new account's passkey), with the delays of passwords from one source. A
   * passkey cannot be guessed, but each answer costs a signature check and store reads, and a run of
   * refused ones is someone trying passkeys that are not theirs.
   */
  passkeyAttempt(sourceAddress: string): Promise<Admission>;
  /**
   * Reserves a typed device-flow user code from this source before the provider looks it up
   * (src/oidc/device-sign-in.ts), with the delays of passwords from one source: a code that was
   * not found is a failure, any other answer gives the attempt back.
   */
  userCodeAttempt(sourceAddress: string): Promise<Admission>;
  /** Whether this source may authenticate as a client now (reserves nothing). */
  beforeClientAuth(sourceAddress: string): Promise<Verdict>;
  /** Counts a failed client authentication that was not reserved, and sets the next wait. */
  clientAuthFailed(sourceAddress: string): Promise<void>;
  /**
   * Counts a dynamic client registration (POST /reg, RFC 7591) from this source, before the
   * provider looks at it: at most `perHour` (config.dynamicClients.registrationsPerHour).
   */
  clientRegistration(sourceAddress: string, perHour: number): Promise<Verdict>;
  /** Counts a management API request (/api/v1) by this machine client: at most limits.managementApi. */
  managementRequest(clientId: string): Promise<Verdict>;
};

/** A reserved attempt whose outcome is settled once: later calls (a second outcome) do nothing. */
function settledOnce(outcomes: Record<keyof ReservedAttempt, () => Promise<unknown>>): ReservedAttempt {
  let settled = false;
  const once = (settle: () => Promise<unknown>) => async () => {
    if (settled) return;
    settled = true;
    await settle();
  };
  return { failed: once(outcomes.failed), succeeded: once(outcomes.succeeded), cancel: once(outcomes.cancel) };
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function createAbuseLimits(store: RateLimitStore, settings: LimitsSettings, clock?: Clock): AbuseLimits {
  const limiter = (keyPrefix: string, points: number, duration: number) => new StoreRateLimiter({ store, keyPrefix, points, duration, ...(clock ? { clock } : {}) });
  const delays = (name: string, policy: LimitsSettings['clientAuthentication'], windowSeconds: number, maxFailures?: number) => createDelayLimit({
    store, name, policy, windowSeconds, ...(maxFailures !== undefined ? { maxFailures } : {}), ...(clock ? { clock } : {}),
  });
  const { password } = settings;

  // Consecutive failures per address typed: kept until a success (no expiry), at most
  // maxConsecutiveFailures (NIST SP 800-63B: no more than 100), then only a reset unlocks.
  const accountPasswords = delays('pw-account', password.account, 0, password.maxConsecutiveFailures);
  // Per address typed and source, with the address's delays: a day.
  const pairPasswords = delays('pw-pair', password.account, 86_400);
  // Per source, whatever the address: a day.
  const sourcePasswords = delays('pw-source', password.source, 86_400);
  const clients = delays('client-auth', settings.clientAuthentication, 86_400);
  // Refused passkey answers per source: a day, with the password delays per source.
  const sourcePasskeys = delays('passkey-source', password.source, 86_400);
  // Wrong device-flow user codes per source: a day, with the password delays per source.
  const sourceUserCodes = delays('user-code-source', password.source, 86_400);
  const registrations = limiter('register-source', settings.registrationsPerHour, 3600);
  const resets = limiter('reset-source', settings.resetRequestsPerHour, 3600);
  const emailCodes = limiter('email-code', settings.emailCodesPerHour, 3600);
  const mails = limiter('mail-recipient', settings.mailsPerRecipient.count, settings.mailsPerRecipient.seconds);
  const notices = limiter('mail-notice', 1, settings.noticeCoalesceSeconds);
  const authorizations = limiter('authorize-source', settings.authorizationRequests.count, settings.authorizationRequests.seconds);
  const formsBySource = limiter('pw-form-source', settings.passwordForms.perSourcePerHour, 3600);
  const formsBySubject = limiter('pw-form-subject', settings.passwordForms.perAccountPerHour, 3600);
  const emailChangesBySource = limiter('email-change-source', settings.emailChanges.perSourcePerHour, 3600);
  const emailChangesByAccount = limiter('email-change-account', settings.emailChanges.perAccountPerHour, 3600);
  const managementRequests = limiter('management-client', settings.managementApi.count, settings.managementApi.seconds);
  // Dynamic client registrations per source, one limiter per hourly budget asked for.
  const clientRegistrations = new Map<number, StoreRateLimiter>();
  const clientRegistrationLimiter = (perHour: number) => {
    let found = clientRegistrations.get(perHour);
    if (!found) {
      found = limiter('client-register-source', perHour, 3600);
      clientRegistrations.set(perHour, found);
    }
    return found;
  };

  // consume() is one atomic add: a burst is counted exactly, whatever its size.
  // A key already over its limit is refused on a read, without a write: a flood of refused
  // requests costs no disk (counters only grow within their window, so the read cannot be wrong).
  async function counted(rateLimiter: StoreRateLimiter, key: string): Promise<Verdict> {
    const seen = await rateLimiter.get(key);
    if (seen && seen.consumedPoints >= rateLimiter.points && seen.msBeforeNext > 0) {
      return { ok: false, reason: 'slow_down', retryAfterSeconds: seconds(seen.msBeforeNext) };
    }
    try {
      await rateLimiter.consume(key);
      return { ok: true };
    } catch (rejection) {
      if (rejection instanceof Error) throw rejection;
      return { ok: false, reason: 'slow_down', retryAfterSeconds: seconds((rejection as { msBeforeNext: number }).msBeforeNext) };
    }
  }

  const pairKey = (email: string, source: string) => `${email}|${source}`;
  const worst = (verdicts: Verdict[]): Verdict => {
    const refused = verdicts.filter((verdict) => !verdict.ok);
    if (refused.length === 0) return { ok: true };
    return refused.find((verdict) => verdict.reason === 'locked') ?? refused.reduce((a, b) => (a.retryAfterSeconds >= b.retryAfterSeconds ? a : b));
  };

  return {
    async passwordAttempt(email, sourceAddress) {
      const key = normalizeEmail(email);
      const source = sourceKey(sourceAddress);
      const pair = pairKey(key, source);
      const bySource = await sourcePasswords.reserve(source);
      if (!bySource.ok) return bySource;
      const byPair = await pairPasswords.reserve(pair);
      if (!byPair.ok) {
        await sourcePasswords.cancel(source);
        // Tell this source the address is locked, when it is: “Forgot password?” is the way out.
        const account = await accountPasswords.peek(key);
        return !account.ok && account.reason === 'locked' ? account : byPair;
      }
      const byAccount = await accountPasswords.reserve(key);
      if (!byAccount.ok && byPair.held) {
        // This source has been failing on this address itself: it waits like everyone (or is told
        // the address is locked).
        await Promise.all([sourcePasswords.cancel(source), pairPasswords.cancel(pair)]);
        return byAccount;
      }
      if (!byAccount.ok) {
        // Others failed on this address, not this source (it is within its free attempts): an
        // anonymous attacker must not be able to lock the owner out. This source may still try,
        // counted against itself only; a right password is confirmed with a mailed code instead of
        // signing in.
        return {
          ok: true,
          stepUp: true,
          attempt: settledOnce({
            failed: () => Promise.all([pairPasswords.failed(pair, byPair), sourcePasswords.failed(source, bySource)]),
            succeeded: () => Promise.all([pairPasswords.clear(pair), sourcePasswords.cancel(source)]),
            cancel: () => Promise.all([pairPasswords.cancel(pair), sourcePasswords.cancel(source)]),
          }),
        };
      }
      return {
        ok: true,
        attempt: settledOnce({
          failed: () => Promise.all([accountPasswords.failed(key, byAccount), pairPasswords.failed(pair, byPair), sourcePasswords.failed(source, bySource)]),
          // A right password is not a failure of the source: its attempt is given back.
          succeeded: () => Promise.all([accountPasswords.clear(key), pairPasswords.clear(pair), sourcePasswords.cancel(source)]),
          cancel: () => Promise.all([accountPasswords.cancel(key), pairPasswords.cancel(pair), sourcePasswords.cancel(source)]),
        }),
      };
    },
    async beforePassword(email, sourceAddress) {
      const key = normalizeEmail(email);
      const source = sourceKey(sourceAddress);
      return worst(await Promise.all([accountPasswords.peek(key), pairPasswords.peek(pairKey(key, source)), sourcePasswords.peek(source)]));
    },
    async passwordFailed(email, sourceAddress) {
      const key = normalizeEmail(email);
      const source = sourceKey(sourceAddress);
      await Promise.all([accountPasswords.recordFailure(key), pairPasswords.recordFailure(pairKey(key, source)), sourcePasswords.recordFailure(source)]);
    },
    async clearPasswordFailures(email, sourceAddress) {
      const key = normalizeEmail(email);
      await Promise.all([accountPasswords.clear(key), sourceAddress ? pairPasswords.clear(pairKey(key, sourceKey(sourceAddress))) : undefined]);
    },
    registration: (sourceAddress) => counted(registrations, sourceKey(sourceAddress)),
    resetRequest: (sourceAddress) => counted(resets, sourceKey(sourceAddress)),
    emailCode: (email) => counted(emailCodes, normalizeEmail(email)),
    async mailTo(recipient, kind, coalesce) {
      const verdict = await counted(coalesce ? notices : mails, `${kind}|${normalizeEmail(recipient)}`);
      return verdict.ok ? { ok: true } : { ok: false, reason: coalesce ? 'coalesced' : 'budget' };
    },
    authorizationRequest: (sourceAddress) => counted(authorizations, sourceKey(sourceAddress)),
    async emailChangeRequest(sourceAddress, accountId) {
      const bySource = await counted(emailChangesBySource, sourceKey(sourceAddress));
      if (!bySource.ok) return bySource;
      return counted(emailChangesByAccount, accountId);
    },
    async passwordForm(sourceAddress, subject) {
      const bySource = await counted(formsBySource, sourceKey(sourceAddress));
      if (!bySource.ok) return bySource;
      return counted(formsBySubject, subject);
    },
    async clientSecretChecked(sourceAddress, right) {
      const source = sourceKey(sourceAddress);
      if (right && await clients.admitsFreely(source)) return { ok: true };
      const reservation = await clients.reserve(source);
      if (!reservation.ok) return { ok: false, reason: reservation.reason, retryAfterSeconds: reservation.retryAfterSeconds };
      // Failures per source are kept for their day whatever else happens: a right secret gives back
      // only its own attempt.
      await (right ? clients.cancel(source) : clients.failed(source, reservation));
      return { ok: true };
    },
    async passkeyAttempt(sourceAddress) {
      const source = sourceKey(sourceAddress);
      const reservation = await sourcePasskeys.reserve(source);
      if (!reservation.ok) return reservation;
      // A passkey that verifies is not a failure of the source: its attempt is given back.
      return { ok: true, attempt: settledOnce({ failed: () => sourcePasskeys.failed(source, reservation), succeeded: () => sourcePasskeys.cancel(source), cancel: () => sourcePasskeys.cancel(source) }) };
    },
    async userCodeAttempt(sourceAddress) {
      const source = sourceKey(sourceAddress);
      const reservation = await sourceUserCodes.reserve(source);
      if (!reservation.ok) return reservation;
      // A code that exists is not a failure of the source: its attempt is given back.
      return { ok: true, attempt: settledOnce({ failed: () => sourceUserCodes.failed(source, reservation), succeeded: () => sourceUserCodes.cancel(source), cancel: () => sourceUserCodes.cancel(source) }) };
    },
    beforeClientAuth: (sourceAddress) => clients.peek(sourceKey(sourceAddress)),
    clientAuthFailed: (sourceAddress) => clients.recordFailure(sourceKey(sourceAddress)),
    clientRegistration: (sourceAddress, perHour) => counted(clientRegistrationLimiter(perHour), sourceKey(sourceAddress)),
    managementRequest: (clientId) => counted(managementRequests, clientId),
  };
}
