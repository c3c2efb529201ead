import type { Context } from 'koa';
import Provider from 'oidc-provider';

import type { Logger } from '../logger.ts';
import type { LogoutAttemptOutcome, SessionsLibrary } from '../libraries/sessions.ts';
import type { LogoutDelivery } from '../store/types.ts';

/**
 * OpenID Connect Back-Channel Logout 1.0, made durable.
 *
 * oidc-provider signs a logout token and POSTs it to each client's `backchannel_logout_uri` once,
 * fire-and-forget, and only from its own end_session: a receiver that is down never hears of it,
 * and sessions ending elsewhere (a password reset, a disabled account) tell nobody. Here:
 *
 * - the provider's `Client.prototype.backchannelLogout` is replaced (as client-secret-guesses.ts
 *   replaces compareClientSecret) by one that queues the notification in the store
 *   (libraries.sessions.queueLogout: client, account, sid; audited backchannel_logout.queued), so
 *   end_session (RP-initiated logout, the account page's sign-out) queues instead of sending;
 * - sessions ending outside end_session go through libraries.sessions.endSessions, which queues the
 *   same notifications from the stored sessions before revoking them;
 * - the worker below (`createLogoutDeliveryWorker`, run by src/server.ts on every instance) claims
 *   due deliveries with a lease and calls the provider's own `backchannelLogout` for each: it signs
 *   a fresh logout token with the provider's current keys (`typ: logout+jwt`, `events`, `sid` when
 *   the client requires it, a new `jti`, no `nonce`) and POSTs it through the provider's `fetch`
 *   (outgoing-requests.ts: the address policy, no redirects, bounded time). A failure is retried
 *   with backoff and given up after config backchannelLogout.maxAttempts (libraries.sessions
 *   .recordAttempt audits and logs each).
 *
 * Every ID token carries the session's `sid` (the provider adds it only for clients with a
 * back-channel receiver unless told otherwise), so any client can match a logout token to the
 * session it started.
 */

type ProviderClient = InstanceType<Provider['Client']>;
type Send = (this: ProviderClient, sub: string, sid: string) => Promise<void>;

/** The provider's own sender, per provider (it is rebuilt when the key ring changes). */
const senders = new WeakMap<Provider, Send>();

/** The request the provider is serving now (it keeps it in an AsyncLocalStorage; untyped upstream). */
const currentRequest = (): Context | undefined => (Provider as unknown as { ctx?: Context }).ctx;

/** Makes end_session queue its back-channel logouts, and every ID token carry its session's sid. */
export function queueBackchannelLogouts(provider: Provider, sessions: Pick<SessionsLibrary, 'queueLogout'>, logger: Pick<Logger, 'error'>): void {
  const { prototype } = provider.Client as unknown as { prototype: ProviderClient & { backchannelLogout: Send; includeSid(): boolean } };
  senders.set(provider, prototype.backchannelLogout);
  prototype.backchannelLogout = async function backchannelLogout(this: ProviderClient, sub: string, sid: string): Promise<void> {
    const ip = currentRequest()?.ip;
    await sessions.queueLogout({ clientId: this.clientId, accountId: sub, sid, reason: 'rp_logout' }, { actor: 'user', ...(ip ? { sourceAddress: ip } : {}) });
  };
  prototype.includeSid = () => true;
  // end_session goes on when queueing fails (the store): the session still ends, the client is not told.
  provider.on('backchannel.error', (_ctx: unknown, error: unknown, client: { clientId?: string } | undefined, accountId: unknown, sid: unknown) => {
    logger.error('queueing a back-channel logout failed; the client is not told', { clientId: client?.clientId, accountId, sid, error });
  });
}

export type LogoutDeliveryWorker = {
  /** Claims the due deliveries (at most `batchSize`) and delivers them at once; failures are recorded for a retry. */
  deliverDue(): Promise<Record<LogoutAttemptOutcome, number>>;
};

export type LogoutDeliveryWorkerOptions = {
  /** The provider serving now (its keys sign the logout tokens). */
  provider: () => Provider;
  sessions: Pick<SessionsLibrary, 'claimDue' | 'recordAttempt'>;
  logger: Pick<Logger, 'warn'>;
  /** Deliveries claimed per round; delivered side by side (each POST is bounded in time). */
  batchSize?: number;
};

/** A failure the next attempt would meet again: the client is gone, or no longer has a receiver. */
class Undeliverable extends Error {
  override name = 'Undeliverable';
}

export function createLogoutDeliveryWorker(options: LogoutDeliveryWorkerOptions): LogoutDeliveryWorker {
  const { sessions, logger } = options;
  const batchSize = options.batchSize ?? 20;

  async function attempt(provider: Provider, delivery: LogoutDelivery): Promise<void> {
    const send = senders.get(provider);
    if (!send) throw new Error('the provider does not queue back-channel logouts');
    const client = await provider.Client.find(delivery.clientId);
    if (!client) throw new Undeliverable('the client no longer exists');
    if (!(client as unknown as { backchannelLogoutUri?: string }).backchannelLogoutUri) throw new Undeliverable('the client has no backchannel_logout_uri any more');
    await send.call(client, delivery.accountId, delivery.sid);
  }

  async function deliver(provider: Provider, delivery: LogoutDelivery): Promise<LogoutAttemptOutcome> {
    try {
      await attempt(provider, delivery);
    } catch (error) {
      return sessions.recordAttempt(delivery, { ok: false, error: describeCause(error), permanent: error instanceof Undeliverable });
    }
    return sessions.recordAttempt(delivery, { ok: true });
  }

  return {
    async deliverDue() {
      const result: Record<LogoutAttemptOutcome, number> = { delivered: 0, retried: 0, given_up: 0 };
      const due = await sessions.claimDue(batchSize);
      if (!due.length) return result;
      const provider = options.provider();
      const outcomes = await Promise.allSettled(due.map((delivery) => deliver(provider, delivery)));
      for (const outcome of outcomes) {
        if (outcome.status === 'fulfilled') result[outcome.value] += 1;
        // Recording the outcome failed (the store): the lease runs out and the delivery is tried again.
        else logger.warn('recording a back-channel logout attempt failed', { error: outcome.reason });
      }
      return result;
    },
  };
}

/** The error with what caused it (fetch's "fetch failed" says little; its cause says ECONNREFUSED). */
function describeCause(error: unknown): Error {
  if (!(error instanceof Error)) return new Error(String(error));
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error && cause.message && !error.message.includes(cause.message)) return new Error(`${error.message}: ${cause.message}`);
  return error;
}
