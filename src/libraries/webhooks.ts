import { randomBytes, randomUUID } from 'node:crypto';

import { GatehouseError } from '../errors.ts';
import { open, seal } from '../keys/encryption.ts';
import type { AuditEvent, WebhookDelivery, WebhookDeliveryStatus, WebhookQueueStatus, WebhookRecord } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { checkWebhookUrl } from './webhook-destination.ts';
import type { DestinationPolicy } from './webhook-destination.ts';
import { subscribes, webhookEventOf, webhookEventTypes, webhookPayload } from './webhook-events.ts';
import { newWebhookSecret, webhookRetryDelaySeconds } from './webhook-signature.ts';

/**
 * Webhooks: operators register endpoints (`gatehouse webhooks add`) for public events
 * (webhook-events.ts maps audit events to them), and each event recorded in the audit trail is
 * queued for every enabled webhook subscribed to it (`observe`, hooked into the audit trail by
 * createLibraries (src/libraries/index.ts), so the pages, the CLI and the management API all produce deliveries). A
 * worker on every instance (webhook-delivery.ts, started by src/server.ts) POSTs them signed
 * (webhook-signature.ts), with retries, through the queue in the store (webhook_deliveries).
 *
 * This library records its own audit events (webhook_added, webhook_updated, webhook_removed,
 * webhook_delivery_requeued); delivery attempts are not audited (the delivery rows are their record,
 * `webhooks deliveries`), so deliveries never set off more deliveries. webhook.* events go only to
 * webhooks that name them (not to `*`).
 */

/** A webhook as shown: never its secret. */
export type Webhook = Omit<WebhookRecord, 'sealedSecret'>;

export type WebhookAttemptOutcome = 'delivered' | 'retried' | 'given_up';

export type WebhooksLibrary = {
  /** Registers a webhook (URL checked against the outgoing-request policy); the secret is returned this once. Audited webhook_added. */
  add(input: { url: string; events: string[] }, source: AuditSource): Promise<{ webhook: Webhook; secret: string }>;
  list(): Promise<Webhook[]>;
  get(id: string): Promise<Webhook>;
  /** Audited webhook_removed; its pending deliveries are given up by the worker. */
  remove(id: string, source: AuditSource): Promise<Webhook>;
  /** Audited webhook_updated (changed: enabled). */
  setEnabled(id: string, enabled: boolean, source: AuditSource): Promise<Webhook>;
  /** A new secret, returned this once; deliveries from now on are signed with it. Audited webhook_updated (changed: secret). */
  rotateSecret(id: string, source: AuditSource): Promise<{ webhook: Webhook; secret: string }>;
  /** The newest deliveries first. */
  deliveries(filter: { webhookId?: string; status?: WebhookDeliveryStatus; limit: number }): Promise<WebhookDelivery[]>;
  /** Queues a delivery again, due now, with the same id (the receiver's idempotency key). Audited webhook_delivery_requeued. */
  redeliver(deliveryId: string, source: AuditSource): Promise<WebhookDelivery>;
  /** The audit trail's observer: queues the event for every enabled webhook subscribed to it (one store write). */
  observe(event: AuditEvent): Promise<void>;
  /** Leases the due deliveries for this instance. */
  claimDue(limit: number): Promise<WebhookDelivery[]>;
  /** Where a delivery goes and the secret it is signed with; undefined when the webhook is gone or disabled. */
  target(webhookId: string): Promise<{ url: string; secret: string } | undefined>;
  /** Records an attempt: delivered; or failed, retried with backoff, given up after maxAttempts or when `permanent`. */
  recordAttempt(delivery: WebhookDelivery, outcome: { ok: true; statusCode: number } | { ok: false; error: string; statusCode?: number; permanent?: boolean }): Promise<WebhookAttemptOutcome>;
  status(): Promise<WebhookQueueStatus>;
  /** Deletes up to `limit` finished deliveries older than retentionDays (the sweeper's); returns how many. */
  prune(limit: number): Promise<number>;
};

/** How long this process trusts its list of webhooks (the hot sign-in path reads no table while it is fresh). */
export const subscriptionCacheMs = 1000;

/** Wakes this process's delivery worker when something was queued (src/server.ts registers it). */
const queuedListeners = new Set<() => void>();

export function onWebhookQueued(listener: () => void): () => void {
  queuedListeners.add(listener);
  return () => queuedListeners.delete(listener);
}

const sealContext = (id: string) => `webhook-secret:${id}`;

function shown({ sealedSecret: _sealed, ...webhook }: WebhookRecord): Webhook {
  return webhook;
}

/** The events asked for: known names, or exactly ['*']. */
function checkEvents(events: string[]): string[] {
  const unique = [...new Set(events.map((event) => event.trim()).filter(Boolean))];
  if (!unique.length) throw new GatehouseError('invalid_input', 'webhooks.events_required');
  if (unique.includes('*')) return ['*'];
  for (const name of unique) {
    if (!(webhookEventTypes as readonly string[]).includes(name)) throw new GatehouseError('invalid_input', 'webhooks.unknown_event', { name, known: webhookEventTypes.join(', ') });
  }
  return unique;
}

export type WebhooksDependencies = Pick<LibraryDependencies, 'store' | 'config' | 'clock' | 'logger' | 'keyEncryptionKey'> & {
  /** DNS for the URL check, for tests. */
  lookup?: DestinationPolicy['lookup'];
  /** [0, 1) for the retry jitter, for tests. */
  random?: () => number;
};

export function webhooksLibrary(deps: WebhooksDependencies): WebhooksLibrary {
  const { store, config, clock, logger, keyEncryptionKey } = deps;
  const settings = config.webhooks;
  const random = deps.random ?? Math.random;
  const audit = (type: string, source: AuditSource, details: Record<string, unknown>) => recordAudit(store.audit, auditEvent(type, source, { details }), logger, clock);

  let cached: { at: number; webhooks: Promise<WebhookRecord[]> } | undefined;
  function subscriptions(): Promise<WebhookRecord[]> {
    const now = clock().getTime();
    if (!cached || now - cached.at >= subscriptionCacheMs || now < cached.at) {
      const webhooks = store.webhooks.list().then((all) => all.filter((webhook) => webhook.enabled));
      cached = { at: now, webhooks };
      // A failed read is not kept.
      webhooks.catch(() => {
        if (cached?.webhooks === webhooks) cached = undefined;
      });
    }
    return cached.webhooks;
  }

  async function existing(id: string): Promise<WebhookRecord> {
    const record = await store.webhooks.find(id);
    if (!record) throw new GatehouseError('not_found', 'webhooks.no_webhook', { id });
    return record;
  }

  async function change(id: string, patch: Parameters<typeof store.webhooks.update>[1]): Promise<WebhookRecord> {
    const record = await store.webhooks.update(id, patch, clock());
    if (!record) throw new GatehouseError('not_found', 'webhooks.no_webhook', { id });
    cached = undefined;
    return record;
  }

  return {
    async add(input, source) {
      const url = await checkWebhookUrl(input.url, { production: config.env === 'production', ...(deps.lookup ? { lookup: deps.lookup } : {}) });
      const events = checkEvents(input.events);
      const id = `wh_${randomBytes(9).toString('base64url')}`;
      const secret = newWebhookSecret();
      const at = clock();
      const record: WebhookRecord = { id, url, events, sealedSecret: seal(secret, keyEncryptionKey, sealContext(id)), enabled: true, createdAt: at, updatedAt: at };
      await store.webhooks.add(record);
      cached = undefined;
      await audit('webhook_added', source, { webhookId: id, url, events });
      return { webhook: shown(record), secret };
    },
    list: async () => (await store.webhooks.list()).map(shown),
    get: async (id) => shown(await existing(id)),
    async remove(id, source) {
      const record = await existing(id);
      if (!(await store.webhooks.remove(id))) throw new GatehouseError('not_found', 'webhooks.no_webhook', { id });
      cached = undefined;
      await audit('webhook_removed', source, { webhookId: id, url: record.url });
      return shown(record);
    },
    async setEnabled(id, enabled, source) {
      const record = await change(id, { enabled });
      await audit('webhook_updated', source, { webhookId: id, changed: ['enabled'], enabled });
      return shown(record);
    },
    async rotateSecret(id, source) {
      await existing(id);
      const secret = newWebhookSecret();
      const record = await change(id, { sealedSecret: seal(secret, keyEncryptionKey, sealContext(id)) });
      await audit('webhook_updated', source, { webhookId: id, changed: ['secret'] });
      return { webhook: shown(record), secret };
    },
    deliveries: (filter) => store.webhookDeliveries.list(filter),
    async redeliver(deliveryId, source) {
      if (!(await store.webhookDeliveries.requeue(deliveryId, clock()))) throw new GatehouseError('not_found', 'webhooks.no_delivery', { id: deliveryId });
      const delivery = (await store.webhookDeliveries.find(deliveryId))!;
      await audit('webhook_delivery_requeued', source, { webhookId: delivery.webhookId, deliveryId, eventType: delivery.eventType });
      for (const listener of queuedListeners) listener();
      return delivery;
    },
    async observe(event) {
      const type = webhookEventOf(event.type);
      if (!type) return;
      const webhooks = (await subscriptions()).filter((webhook) => subscribes(webhook.events, type));
      if (!webhooks.length) return;
      let email = typeof event.details.email === 'string' ? event.details.email : undefined;
      if (!email && event.accountId && type.startsWith('user.')) email = (await store.accounts.findById(event.accountId))?.email;
      const eventId = randomUUID();
      const payload = JSON.stringify(webhookPayload(eventId, type, event, email));
      const createdAt = clock();
      await store.webhookDeliveries.enqueue(webhooks.map((webhook) => ({
        id: randomUUID(), webhookId: webhook.id, eventId, eventType: type, payload, ...(event.accountId ? { accountId: event.accountId } : {}), createdAt,
      })));
      for (const listener of queuedListeners) listener();
    },
    // The lease outlasts one POST (timeoutSeconds) several times over.
    claimDue: (limit) => store.webhookDeliveries.claimDue(clock(), Math.max(settings.leaseSeconds, Math.ceil(settings.timeoutSeconds * 3)), limit),
    async target(webhookId) {
      const record = await store.webhooks.find(webhookId);
      if (!record?.enabled) return undefined;
      return { url: record.url, secret: open(record.sealedSecret, keyEncryptionKey, sealContext(record.id)) };
    },
    async recordAttempt(delivery, outcome) {
      const attempt = delivery.attempts + 1;
      const at = clock();
      if (outcome.ok) {
        await store.webhookDeliveries.markDelivered(delivery.id, { at, statusCode: outcome.statusCode });
        return 'delivered';
      }
      const error = outcome.error.replace(/\s+/g, ' ').trim().slice(0, 500) || 'unknown error';
      const statusCode = outcome.statusCode !== undefined ? { statusCode: outcome.statusCode } : {};
      if (outcome.permanent || attempt >= settings.maxAttempts) {
        await store.webhookDeliveries.markFailed(delivery.id, { at, error, ...statusCode });
        logger?.error('webhook delivery given up', { deliveryId: delivery.id, webhookId: delivery.webhookId, event: delivery.eventType, attempts: attempt, error });
        return 'given_up';
      }
      const nextAttemptAt = new Date(at.getTime() + webhookRetryDelaySeconds(settings, attempt, random()) * 1000);
      await store.webhookDeliveries.markFailed(delivery.id, { at, error, ...statusCode, nextAttemptAt });
      logger?.warn('webhook delivery failed; will retry', { deliveryId: delivery.id, webhookId: delivery.webhookId, attempt, nextAttemptAt: nextAttemptAt.toISOString(), error });
      return 'retried';
    },
    status: () => store.webhookDeliveries.status(),
    prune: (limit) => store.webhookDeliveries.prune(new Date(clock().getTime() - settings.retentionDays * 86_400_000), limit),
  };
}
