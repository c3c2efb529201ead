import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { WebhookDelivery } from '../store/types.ts';
import { deliveryHeader, eventHeader, signatureHeader, signatureHeaderValue } from './webhook-signature.ts';
import type { WebhookAttemptOutcome, WebhooksLibrary } from './webhooks.ts';

/**
 * The webhook delivery worker (run by src/server.ts on every instance, like the mail outbox and the
 * back-channel logout worker): claims due deliveries with a lease (several instances never send
 * one at the same time), POSTs each, signed, through the outgoing fetch it is given (src/server.ts
 * gives the provider's: oidc/outgoing-requests.ts, so the address policy is applied on the
 * address connected to, redirects are never followed and the exchange is bounded in time), and
 * records the outcome: a 2xx is delivered; anything else (another status, a refused address, a
 * timeout, a connection error) is retried with backoff and given up after webhooks.maxAttempts.
 */

export type WebhookFetch = (url: string, init: { method: string; headers: Record<string, string>; body: string }) => Promise<Response>;

export type WebhookDeliveryWorker = {
  /** Claims the due deliveries (at most `batchSize`) and delivers them side by side; resolves with the outcome counts. */
  deliverDue(): Promise<Record<WebhookAttemptOutcome, number>>;
};

export type WebhookDeliveryWorkerOptions = {
  webhooks: Pick<WebhooksLibrary, 'claimDue' | 'target' | 'recordAttempt'>;
  fetch: WebhookFetch;
  logger: Pick<Logger, 'warn'>;
  /** The signature's timestamp is read from it (start-up's clock). */
  clock?: Clock;
  batchSize?: number;
};

/** What went wrong, with its cause (fetch's "fetch failed" says little; its cause says ECONNREFUSED). */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error && cause.message && !error.message.includes(cause.message)) return `${error.message}: ${cause.message}`;
  return error.message || error.name;
}

export function createWebhookDeliveryWorker(options: WebhookDeliveryWorkerOptions): WebhookDeliveryWorker {
  const { webhooks, logger } = options;
  const clock = options.clock ?? systemClock;
  const batchSize = options.batchSize ?? 20;

  async function deliver(delivery: WebhookDelivery): Promise<WebhookAttemptOutcome> {
    const target = await webhooks.target(delivery.webhookId);
    // Removed or disabled since it was queued: given up at once (`webhooks redeliver` sends it again once enabled).
    if (!target) return webhooks.recordAttempt(delivery, { ok: false, error: 'the webhook was removed or disabled', permanent: true });
    let response: Response;
    try {
      response = await options.fetch(target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Gatehouse-Webhooks',
          [signatureHeader]: signatureHeaderValue(target.secret, clock(), delivery.payload),
          [deliveryHeader]: delivery.id,
          [eventHeader]: delivery.eventType,
        },
        body: delivery.payload,
      });
    } catch (error) {
      return webhooks.recordAttempt(delivery, { ok: false, error: describe(error) });
    }
    if (response.status >= 200 && response.status < 300) return webhooks.recordAttempt(delivery, { ok: true, statusCode: response.status });
    return webhooks.recordAttempt(delivery, { ok: false, error: `HTTP ${response.status}`, statusCode: response.status });
  }

  return {
    async deliverDue() {
      const result: Record<WebhookAttemptOutcome, number> = { delivered: 0, retried: 0, given_up: 0 };
      const due = await webhooks.claimDue(batchSize);
      const outcomes = await Promise.allSettled(due.map(deliver));
      for (const outcome of outcomes) {
        if (outcome.status === 'fulfilled') result[outcome.value] += 1;
        // Recording the outcome failed (the store): the lease runs out and the delivery is tried again.
        else logger.warn('recording a webhook delivery attempt failed', { error: outcome.reason });
      }
      return result;
    },
  };
}
