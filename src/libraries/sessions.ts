import { randomUUID } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { GatehouseError } from '../errors.ts';
import { systemClock } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import { doublingDelay } from '../limits/backoff.ts';
import type { Logger } from '../logger.ts';
import type { LogoutDelivery, LogoutQueueStatus, RevocationExceptions, Store } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit, systemSource } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';

/**
 * Ending people's sessions, and telling the applications they were signed in to (OpenID Connect
 * Back-Channel Logout 1.0).
 *
 * Every way a session ends on purpose goes through here: RP-initiated logout and the account page's
 * "sign out" (oidc-provider's end_session, whose notifications src/oidc/backchannel-logout.ts
 * routes to `queueLogout`), and every session of an account ending at once (`endSessions`: a
 * password reset, a password change with "sign out of my other sessions", an account disabled, an
 * operator's `gatehouse users sign-out`, and account deletion when it comes, which must call
 * `endSessions` before it removes the account).
 *
 * A notification is not sent here: it is queued in the store (logout_deliveries), one per client
 * and session (`sid`), and a worker on every instance delivers the queue with retries and backoff
 * (src/oidc/backchannel-logout.ts; it signs each logout token with the provider's keys at the
 * attempt). This library records the queue's audit events: backchannel_logout.queued, .delivered,
 * .failed (each failed attempt, with its reason) and .given_up.
 */

/** What ended a session (kept with each delivery and in its audit events). */
export type SessionEndReason = 'rp_logout' | 'sign_out' | 'password_reset' | 'password_change' | 'account_disabled' | 'account_deleted' | 'email_changed';

/** What the functions here need: the store, the clock, the log, and the queue's settings. */
export type SessionsDependencies = {
  store: Pick<Store, 'oidc' | 'clients' | 'logoutDeliveries' | 'audit'> & Partial<Pick<Store, 'sessionActivity'>>;
  clock?: Clock;
  logger?: Logger;
  config?: Pick<Config, 'backchannelLogout'>;
};

/** The sessions of one account read before they end; more than this many live sessions of one account are ended without notice. */
const sessionsReadLimit = 1000;

/** A client's registered back-channel logout receiver, if it has one. */
export function backchannelLogoutUri(metadata: Record<string, unknown> | undefined): string | undefined {
  const uri = metadata?.backchannel_logout_uri;
  return typeof uri === 'string' && uri.length > 0 ? uri : undefined;
}

/**
 * Wakes this process's delivery workers when something was queued (src/server.ts registers its
 * worker); a delivery queued by another process (the CLI) waits for the workers' next poll.
 */
const queuedListeners = new Set<() => void>();

export function onLogoutQueued(listener: () => void): () => void {
  queuedListeners.add(listener);
  return () => queuedListeners.delete(listener);
}

function wakeWorkers(): void {
  for (const listener of queuedListeners) listener();
}

/** One notification owed: to `clientId`, about its session `sid` of `accountId`. */
export type LogoutNotice = { clientId: string; accountId: string; sid: string; reason: SessionEndReason };

async function enqueue(deps: SessionsDependencies, notice: LogoutNotice, source: AuditSource): Promise<boolean> {
  const clock = deps.clock ?? systemClock;
  const id = randomUUID();
  const queued = await deps.store.logoutDeliveries.enqueue({ id, ...notice, createdAt: clock() });
  if (!queued) return false;
  await recordAudit(deps.store.audit, auditEvent('backchannel_logout.queued', source, {
    accountId: notice.accountId, clientId: notice.clientId, details: { deliveryId: id, sid: notice.sid, reason: notice.reason },
  }), deps.logger, clock);
  return true;
}

/**
 * Queues one back-channel logout notification (a session ended at the provider's end_session) and
 * wakes the workers. False when this (client, sid) was queued already: a session's end is told once.
 */
export async function queueLogout(deps: SessionsDependencies, notice: LogoutNotice, source: AuditSource): Promise<boolean> {
  const queued = await enqueue(deps, notice, source);
  if (queued) wakeWorkers();
  return queued;
}

export type EndSessionsOptions = {
  /** Who ends them (recorded on the queued notifications). */
  source: AuditSource;
  reason: SessionEndReason;
  /** Spares one session (by id) and the grants given, with everything bound to them ("sign out of my other sessions"). */
  keep?: RevocationExceptions;
};

export type EndedSessions = {
  /** Records revoked: sessions, grants, tokens, pending interactions (as OidcStore.revokeByAccountId counts them). */
  revoked: number;
  /** Sessions that were live and ended. */
  sessions: number;
  /** Back-channel logout notifications queued. */
  queued: number;
};

/**
 * Ends every session of an account (but `keep`'s) and revokes its grants and tokens: first reads
 * the live sessions and the clients signed in within each (the session's authorizations: client →
 * sid), queues a notification for each client that registered a `backchannel_logout_uri`, then
 * revokes. The revocation happens even when queueing fails (the failure is thrown afterwards):
 * ending the sessions matters more than telling about it.
 */
export async function endSessions(deps: SessionsDependencies, accountId: string, options: EndSessionsOptions): Promise<EndedSessions> {
  const { store } = deps;
  let queued = 0;
  let sessions = 0;
  let failure: unknown;
  try {
    const live = await store.oidc.listByAccountId('Session', accountId, sessionsReadLimit);
    const receivers = new Map<string, boolean>();
    const hasReceiver = async (clientId: string) => {
      let known = receivers.get(clientId);
      if (known === undefined) {
        known = backchannelLogoutUri((await store.clients.find(clientId))?.metadata) !== undefined;
        receivers.set(clientId, known);
      }
      return known;
    };
    for (const session of live) {
      if (options.keep?.sessionId !== undefined && session.id === options.keep.sessionId) continue;
      sessions += 1;
      const authorizations = session.payload.authorizations;
      if (!authorizations || typeof authorizations !== 'object') continue;
      for (const [clientId, authorization] of Object.entries(authorizations as Record<string, { sid?: unknown } | null>)) {
        const sid = authorization?.sid;
        if (typeof sid !== 'string' || !(await hasReceiver(clientId))) continue;
        if (await enqueue(deps, { clientId, accountId, sid, reason: options.reason }, options.source)) queued += 1;
      }
    }
  } catch (error) {
    failure = error;
  }
  const revoked = await store.oidc.revokeByAccountId(accountId, options.keep);
  // What the account centre saw of the ended sessions goes with them.
  await store.sessionActivity?.removeSessions(accountId, options.keep?.sessionId);
  if (failure !== undefined) throw failure;
  if (queued) wakeWorkers();
  return { revoked, sessions, queued };
}

/** The provider's models bound to a grant (besides the Grant itself, whose id is the grant's). */
const grantBoundModels = ['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const;

/** Removes a grant and every token, code and pending request issued under it. */
export async function revokeGrant(store: Pick<Store, 'oidc'>, grantId: string): Promise<void> {
  for (const model of grantBoundModels) await store.oidc.model(model).revokeByGrantId(grantId);
  await store.oidc.model('Grant').destroy(grantId);
}

/** Queues a logout notice for every client signed in within a session that has a receiver; returns how many were queued. */
async function noticeClientsOf(
  deps: SessionsDependencies, accountId: string, authorizations: unknown, reason: SessionEndReason, source: AuditSource, only?: string,
): Promise<number> {
  if (!authorizations || typeof authorizations !== 'object') return 0;
  let queued = 0;
  for (const [clientId, authorization] of Object.entries(authorizations as Record<string, { sid?: unknown } | null>)) {
    if (only !== undefined && clientId !== only) continue;
    const sid = authorization?.sid;
    if (typeof sid !== 'string') continue;
    if (backchannelLogoutUri((await deps.store.clients.find(clientId))?.metadata) === undefined) continue;
    if (await enqueue(deps, { clientId, accountId, sid, reason }, source)) queued += 1;
  }
  return queued;
}

export type EndedSession = { ended: boolean; queued: number };

/**
 * Ends one session of an account (the account centre's "sign out of this device"): tells its
 * clients (back-channel logout), revokes the grants given within it with their tokens, removes the
 * session and what was seen of it. `ended` is false when the account has no such live session.
 */
export async function endSession(deps: SessionsDependencies, accountId: string, sessionId: string, source: AuditSource): Promise<EndedSession> {
  const { store } = deps;
  const live = await store.oidc.listByAccountId('Session', accountId, sessionsReadLimit);
  const session = live.find((each) => each.id === sessionId);
  if (!session) {
    await store.sessionActivity?.removeSession(accountId, sessionId);
    return { ended: false, queued: 0 };
  }
  let queued = 0;
  let failure: unknown;
  try {
    queued = await noticeClientsOf(deps, accountId, session.payload.authorizations, 'sign_out', source);
  } catch (error) {
    failure = error;
  }
  const authorizations = (session.payload.authorizations ?? {}) as Record<string, { grantId?: unknown } | null>;
  for (const authorization of Object.values(authorizations)) {
    if (typeof authorization?.grantId === 'string') await revokeGrant(store, authorization.grantId);
  }
  await store.oidc.model('Session').destroy(sessionId);
  await store.sessionActivity?.removeSession(accountId, sessionId);
  await recordAudit(store.audit, auditEvent('session_ended', source, { accountId, details: { sessionId, queued } }), deps.logger, deps.clock ?? systemClock);
  if (failure !== undefined) throw failure;
  if (queued) wakeWorkers();
  return { ended: true, queued };
}

/**
 * Takes one client out of every session of an account (an app removed on the account centre):
 * tells the client about each session it was signed in within (back-channel logout, when it has a
 * receiver), and drops its authorization from the session, so that the session no longer vouches
 * for it. Returns the grant ids the sessions held for it and how many notices were queued.
 */
export async function signClientOut(
  deps: SessionsDependencies, accountId: string, clientId: string, source: AuditSource,
): Promise<{ grantIds: string[]; queued: number }> {
  const { store } = deps;
  const clock = deps.clock ?? systemClock;
  const live = await store.oidc.listByAccountId('Session', accountId, sessionsReadLimit);
  const grantIds: string[] = [];
  let queued = 0;
  for (const session of live) {
    const authorizations = session.payload.authorizations as Record<string, { grantId?: unknown } | null> | undefined;
    const authorization = authorizations?.[clientId];
    if (!authorizations || authorization === undefined) continue;
    queued += await noticeClientsOf(deps, accountId, authorizations, 'sign_out', source, clientId);
    if (typeof authorization?.grantId === 'string') grantIds.push(authorization.grantId);
    const { [clientId]: _removed, ...rest } = authorizations;
    const remaining = session.expiresAt ? Math.ceil((session.expiresAt.getTime() - clock().getTime()) / 1000) : undefined;
    if (remaining !== undefined && remaining <= 0) continue;
    await store.oidc.model('Session').upsert(session.id, { ...session.payload, authorizations: rest }, remaining);
  }
  if (queued) wakeWorkers();
  return { grantIds, queued };
}

/** The retry schedule and limits of the queue (config backchannelLogout). */
export type LogoutRetryPolicy = { firstRetrySeconds: number; maxRetrySeconds: number; maxAttempts: number };

/** Seconds to wait after the `attempts`-th failed attempt: first, twice as long after each further one, at most max. */
export function logoutRetryDelaySeconds(policy: LogoutRetryPolicy, attempts: number): number {
  return doublingDelay({ free: 1, first: policy.firstRetrySeconds, max: policy.maxRetrySeconds }, Math.max(1, attempts));
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s+/g, ' ').trim().slice(0, 500) || 'unknown error';
}

export type LogoutAttemptOutcome = 'delivered' | 'retried' | 'given_up';

/** Sessions and the back-channel logout queue, as the pages, the CLI and the delivery worker use them. */
export type SessionsLibrary = {
  /** See `endSessions`. */
  endSessions(accountId: string, options: EndSessionsOptions): Promise<EndedSessions>;
  /** See `endSession`: one session of the account, audited as `session_ended`. */
  endSession(accountId: string, sessionId: string, source: AuditSource): Promise<EndedSession>;
  /**
   * Ends every session of the account but `keep`'s (the account centre's "sign out of all other
   * sessions"), as `endSessions` does; audited as `sessions_ended`.
   */
  endOtherSessions(accountId: string, keep: RevocationExceptions, source: AuditSource): Promise<EndedSessions>;
  /** See `signClientOut`. */
  signClientOut(accountId: string, clientId: string, source: AuditSource): Promise<{ grantIds: string[]; queued: number }>;
  /**
   * Ends every session of a person (an account id, or an email): an operator's revocation
   * (`gatehouse users sign-out`). Audited as `account_signed_out`; `not_found` for no such account.
   */
  signOut(idOrEmail: string, source: AuditSource): Promise<EndedSessions & { accountId: string; email: string }>;
  /** See `queueLogout`. */
  queueLogout(notice: LogoutNotice, source: AuditSource): Promise<boolean>;
  /** Leases the due deliveries for this instance (config backchannelLogout.leaseSeconds). */
  claimDue(limit: number): Promise<LogoutDelivery[]>;
  /**
   * Records an attempt's outcome: delivered; or failed (`error`), retried later with backoff, or
   * given up after maxAttempts or when `permanent` (the client is gone, or has no receiver any
   * more). Audited (delivered, failed, given_up) and logged.
   */
  recordAttempt(delivery: LogoutDelivery, outcome: { ok: true } | { ok: false; error: unknown; permanent?: boolean }): Promise<LogoutAttemptOutcome>;
  /** Pending, delivered and given-up counts, and the newest failures. */
  status(recentLimit?: number): Promise<LogoutQueueStatus>;
  /** Deletes up to `limit` finished deliveries older than retentionDays (the sweeper's); returns how many. */
  prune(limit: number): Promise<number>;
};

export function sessionsLibrary(deps: Pick<LibraryDependencies, 'store' | 'clock' | 'logger' | 'config'>): SessionsLibrary {
  const { store, clock, logger, config } = deps;
  const settings = config.backchannelLogout;
  const bound: SessionsDependencies = { store, clock, ...(logger ? { logger } : {}), config };
  const audit = (type: string, delivery: LogoutDelivery, details: Record<string, unknown>) =>
    recordAudit(store.audit, auditEvent(type, systemSource, {
      accountId: delivery.accountId, clientId: delivery.clientId, details: { deliveryId: delivery.id, sid: delivery.sid, reason: delivery.reason, ...details },
    }), logger, clock);
  return {
    endSessions: (accountId, options) => endSessions(bound, accountId, options),
    endSession: (accountId, sessionId, source) => endSession(bound, accountId, sessionId, source),
    async endOtherSessions(accountId, keep, source) {
      const ended = await endSessions(bound, accountId, { source, reason: 'sign_out', keep });
      await recordAudit(store.audit, auditEvent('sessions_ended', source, {
        accountId, details: { sessions: ended.sessions, revoked: ended.revoked, queued: ended.queued },
      }), logger, clock);
      return ended;
    },
    signClientOut: (accountId, clientId, source) => signClientOut(bound, accountId, clientId, source),
    async signOut(idOrEmail, source) {
      // As accounts.get finds one (not imported from accounts.ts, which imports this file).
      const account = idOrEmail.includes('@') ? await store.accounts.findByEmail(idOrEmail) : await store.accounts.findById(idOrEmail);
      if (!account) throw new GatehouseError('not_found', 'libraries.no_account', { who: idOrEmail });
      const ended = await endSessions(bound, account.id, { source, reason: 'sign_out' });
      await recordAudit(store.audit, auditEvent('account_signed_out', source, {
        accountId: account.id, details: { email: account.email, sessions: ended.sessions, revoked: ended.revoked, queued: ended.queued },
      }), logger, clock);
      return { ...ended, accountId: account.id, email: account.email };
    },
    queueLogout: (notice, source) => queueLogout(bound, notice, source),
    // The lease outlasts one POST (dynamicClients.fetchTimeoutSeconds) several times over.
    claimDue: (limit) => store.logoutDeliveries.claimDue(clock(), Math.max(settings.leaseSeconds, Math.ceil(config.dynamicClients.fetchTimeoutSeconds * 3)), limit),
    async recordAttempt(delivery, outcome) {
      const attempt = delivery.attempts + 1;
      const at = clock();
      if (outcome.ok) {
        await store.logoutDeliveries.markDelivered(delivery.id, at);
        await audit('backchannel_logout.delivered', delivery, { attempt });
        return 'delivered';
      }
      const reason = describe(outcome.error);
      if (outcome.permanent || attempt >= settings.maxAttempts) {
        await store.logoutDeliveries.markFailed(delivery.id, { at, error: reason });
        await audit('backchannel_logout.failed', delivery, { attempt, error: reason });
        await audit('backchannel_logout.given_up', delivery, { attempts: attempt, error: reason });
        logger?.error('back-channel logout given up', { deliveryId: delivery.id, clientId: delivery.clientId, attempts: attempt, error: reason });
        return 'given_up';
      }
      const nextAttemptAt = new Date(at.getTime() + logoutRetryDelaySeconds(settings, attempt) * 1000);
      await store.logoutDeliveries.markFailed(delivery.id, { at, error: reason, nextAttemptAt });
      await audit('backchannel_logout.failed', delivery, { attempt, error: reason, nextAttemptAt: nextAttemptAt.toISOString() });
      logger?.warn('back-channel logout failed; will retry', { deliveryId: delivery.id, clientId: delivery.clientId, attempt, nextAttemptAt: nextAttemptAt.toISOString(), error: reason });
      return 'retried';
    },
    status: (recentLimit = 10) => store.logoutDeliveries.status(recentLimit),
    prune: (limit) => store.logoutDeliveries.prune(new Date(clock().getTime() - settings.retentionDays * 86_400_000), limit),
  };
}
