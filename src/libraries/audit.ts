import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { AuditEvent, AuditStore, Store } from '../store/types.ts';

export type AuditInput = Omit<AuditEvent, 'at'> & { at?: Date };

/**
 * Who does an action, and from where: every library function that changes something takes one and
 * records it on the action's audit event, so an action is recorded alike whoever calls it (the CLI,
 * a page, Gatehouse itself). `sourceAddress` is the person's address, `clientId` the application a
 * sign-in page serves; `via` names a tool acting for an operator (details.via, e.g. "npm run demo").
 */
export type AuditSource = { actor: AuditEvent['actor']; sourceAddress?: string; clientId?: string; via?: string };

/** An operator at the command line. */
export const cliSource: AuditSource = { actor: 'cli' };
/**
 * A machine client of the management API (src/web/management-api/), acting for an operator: the
 * event's clientId is that client unless the event is about another client; details.actorClientId
 * always names it (see auditEvent).
 */
export function apiSource(clientId: string, sourceAddress?: string): AuditSource {
  return { actor: 'api', clientId, ...(sourceAddress ? { sourceAddress } : {}) };
}

/** Gatehouse itself (schedules, the sweeper). */
export const systemSource: AuditSource = { actor: 'system' };

/** The event of an action: what happened (`type`, whom it concerns, the details) and who did it (`source`). */
export function auditEvent(
  type: string,
  source: AuditSource,
  event: { accountId?: string; clientId?: string; details?: Record<string, unknown> } = {},
): AuditInput {
  const clientId = event.clientId ?? source.clientId;
  return {
    type,
    actor: source.actor,
    ...(event.accountId ? { accountId: event.accountId } : {}),
    ...(clientId ? { clientId } : {}),
    ...(source.sourceAddress ? { sourceAddress: source.sourceAddress } : {}),
    // A management API client is recorded as the actor even when the event is about another client.
    details: { ...event.details, ...(source.via ? { via: source.via } : {}), ...(source.actor === 'api' && source.clientId ? { actorClientId: source.clientId } : {}) },
  };
}

/**
 * Records an event in the audit trail (the store, so every instance and the CLI see one trail)
 * and, when a logger is given, in the log. Callers pass curated details: never a password, code,
 * token or secret.
 */
export async function recordAudit(store: AuditStore, event: AuditInput, logger?: Logger, clock: Clock = systemClock): Promise<void> {
  const entry: AuditEvent = { ...event, at: event.at ?? clock() };
  logger?.info(`audit: ${entry.type}`, { audit: entry });
  await store.append(entry);
}

/** Told of each audit event once it is in the trail (webhooks queue their deliveries: src/libraries/webhooks.ts). */
export type AuditObserver = (event: AuditEvent) => void | Promise<void>;

/**
 * The store with its audit trail observed: `append` records the event, then tells `observer`. The
 * action is done and recorded by then, so an observer's failure is logged, not thrown: the caller's
 * request goes on. Everything else is the store's own.
 */
export function observeAuditTrail(store: Store, observer: AuditObserver, logger?: Pick<Logger, 'error'>): Store {
  const append = async (event: AuditEvent): Promise<void> => {
    await store.audit.append(event);
    try {
      await observer(event);
    } catch (error) {
      logger?.error('observing an audit event failed (its webhook deliveries are not queued)', { type: event.type, error });
    }
  };
  const audit = new Proxy(store.audit, { get: (target, key, receiver) => (key === 'append' ? append : Reflect.get(target, key, receiver)) });
  return new Proxy(store, { get: (target, key, receiver) => (key === 'audit' ? audit : Reflect.get(target, key, receiver)) });
}

/** The audit trail: what the libraries record, and what flows record of sign-ins (logins, consent). */
export type AuditLibrary = {
  /** Records an event of `type` by `source` (see auditEvent), at the time of the start-up clock. */
  record(type: string, source: AuditSource, event?: { accountId?: string; clientId?: string; details?: Record<string, unknown> }): Promise<void>;
  /** The newest `limit` events (optionally of one account), oldest first. */
  tail(options: { limit: number; accountId?: string }): Promise<AuditEvent[]>;
};

export function auditLibrary(deps: { store: { audit: AuditStore }; clock: Clock; logger?: Logger }): AuditLibrary {
  return {
    record: (type, source, event) => recordAudit(deps.store.audit, auditEvent(type, source, event), deps.logger, deps.clock),
    tail: (options) => deps.store.audit.tail(options),
  };
}
