import { z } from 'zod';

import type { Webhook } from '../../libraries/webhooks.ts';
import type { WebhookDelivery } from '../../store/types.ts';
import type { Route, RouteContext } from './kit.ts';
import { decodeCursor, encodeCursor, pageByKey, pageOf, pageQuery } from './kit.ts';

/**
 * Webhooks (docs/webhooks.md) through the webhooks library, as `gatehouse webhooks …` does: the
 * library checks the URL, seals the secret and records each change (actor api). A signing secret is
 * in the answer that made it only (create, rotate-secret).
 */

export const webhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()).describe('The event types it receives, or ["*"] for every public event.'),
  enabled: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
}).meta({ id: 'Webhook' });

const webhookWithSecretSchema = webhookSchema.extend({
  secret: z.string().describe('The signing secret: in this answer only.'),
}).meta({ id: 'WebhookWithSecret' });

export function webhookJson(webhook: Webhook): z.output<typeof webhookSchema> {
  return {
    id: webhook.id, url: webhook.url, events: webhook.events, enabled: webhook.enabled,
    created_at: webhook.createdAt.toISOString(), updated_at: webhook.updatedAt.toISOString(),
  };
}

const deliveryStatuses = ['pending', 'delivered', 'failed'] as const;

export const webhookDeliverySchema = z.object({
  id: z.string().describe('The idempotency key the receiver sees (Gatehouse-Delivery).'),
  webhook_id: z.string(),
  event_id: z.string(),
  event_type: z.string(),
  status: z.enum(deliveryStatuses),
  attempts: z.number().int(),
  created_at: z.string(),
  next_attempt_at: z.string().nullable(),
  last_attempt_at: z.string().nullable(),
  last_status_code: z.number().int().nullable(),
  last_error: z.string().nullable(),
  delivered_at: z.string().nullable(),
}).meta({ id: 'WebhookDelivery' });

export function webhookDeliveryJson(delivery: WebhookDelivery): z.output<typeof webhookDeliverySchema> {
  return {
    id: delivery.id, webhook_id: delivery.webhookId, event_id: delivery.eventId, event_type: delivery.eventType,
    status: delivery.status, attempts: delivery.attempts, created_at: delivery.createdAt.toISOString(),
    next_attempt_at: delivery.status === 'pending' ? delivery.nextAttemptAt.toISOString() : null,
    last_attempt_at: delivery.lastAttemptAt?.toISOString() ?? null, last_status_code: delivery.lastStatusCode ?? null,
    last_error: delivery.lastError ?? null, delivered_at: delivery.deliveredAt?.toISOString() ?? null,
  };
}

const newWebhookBody = z.strictObject({
  url: z.string().max(2000).describe('An https URL (checked against the outgoing-request policy).'),
  events: z.array(z.string().max(100)).min(1).max(100).describe('Event types (`gatehouse webhooks events`), or ["*"] for every public event.'),
}).meta({ id: 'NewWebhook' });

const webhookParams = z.object({ webhookId: z.string().max(100) });
const deliveryParams = z.object({ deliveryId: z.string().max(100) });

const deliveriesQuery = pageQuery.extend({
  webhook: z.string().max(100).optional().describe("Only this webhook's deliveries (404 when there is no such webhook)."),
  status: z.enum(deliveryStatuses).optional().describe('Only deliveries in this state.'),
});

/** How far back a deliveries query looks: the newest this many (of the filter). */
export const deliveriesWindow = 10_000;

export function webhookRoutes({ libraries }: RouteContext): Route[] {
  const { webhooks } = libraries;
  return [
    {
      method: 'get', path: '/webhooks', operationId: 'listWebhooks', summary: 'List webhooks', tag: 'Webhooks', scope: 'webhooks:read',
      query: pageQuery, problems: [],
      responses: { 200: { description: 'A page of webhooks, by id', schema: pageOf(webhookSchema) } },
      async handle({ query }) {
        return { status: 200, body: pageByKey((await webhooks.list()).map(webhookJson), (webhook) => webhook.id, query as z.output<typeof pageQuery>) };
      },
    },
    {
      method: 'post', path: '/webhooks', operationId: 'createWebhook', summary: 'Add a webhook (its signing secret is in this answer only)', tag: 'Webhooks', scope: 'webhooks:write',
      body: newWebhookBody, problems: [],
      responses: { 201: { description: 'Added, with its signing secret', schema: webhookWithSecretSchema, etag: true, location: true } },
      async handle({ body, source }) {
        const input = body as z.output<typeof newWebhookBody>;
        const { webhook, secret } = await webhooks.add({ url: input.url, events: input.events }, source);
        return { status: 201, body: { ...webhookJson(webhook), secret }, etag: true, location: `/webhooks/${webhook.id}` };
      },
    },
    {
      method: 'get', path: '/webhooks/{webhookId}', operationId: 'getWebhook', summary: 'Read a webhook', tag: 'Webhooks', scope: 'webhooks:read',
      params: webhookParams, problems: [404],
      responses: { 200: { description: 'The webhook (never its secret)', schema: webhookSchema, etag: true } },
      async handle({ params }) {
        return { status: 200, body: webhookJson(await webhooks.get(params.webhookId!)), etag: true };
      },
    },
    {
      method: 'delete', path: '/webhooks/{webhookId}', operationId: 'deleteWebhook', summary: 'Remove a webhook (its pending deliveries are given up)', tag: 'Webhooks', scope: 'webhooks:write',
      params: webhookParams, problems: [404],
      responses: { 204: { description: 'Removed' } },
      async handle({ params, source }) {
        await webhooks.remove(params.webhookId!, source);
        return { status: 204 };
      },
    },
    {
      method: 'post', path: '/webhooks/{webhookId}/disable', operationId: 'disableWebhook', summary: 'Disable a webhook (nothing more is queued for it)', tag: 'Webhooks', scope: 'webhooks:write',
      params: webhookParams, problems: [404],
      responses: { 200: { description: 'The webhook, disabled', schema: webhookSchema, etag: true } },
      async handle({ params, source }) {
        return { status: 200, body: webhookJson(await webhooks.setEnabled(params.webhookId!, false, source)), etag: true };
      },
    },
    {
      method: 'post', path: '/webhooks/{webhookId}/enable', operationId: 'enableWebhook', summary: 'Enable a webhook', tag: 'Webhooks', scope: 'webhooks:write',
      params: webhookParams, problems: [404],
      responses: { 200: { description: 'The webhook, enabled', schema: webhookSchema, etag: true } },
      async handle({ params, source }) {
        return { status: 200, body: webhookJson(await webhooks.setEnabled(params.webhookId!, true, source)), etag: true };
      },
    },
    {
      method: 'post', path: '/webhooks/{webhookId}/rotate-secret', operationId: 'rotateWebhookSecret', summary: 'A new signing secret (in this answer only); deliveries from now on are signed with it', tag: 'Webhooks', scope: 'webhooks:write',
      params: webhookParams, problems: [404],
      responses: { 200: { description: 'The webhook with its new secret', schema: webhookWithSecretSchema } },
      async handle({ params, source }) {
        const { webhook, secret } = await webhooks.rotateSecret(params.webhookId!, source);
        return { status: 200, body: { ...webhookJson(webhook), secret } };
      },
    },
    {
      method: 'get', path: '/webhook-deliveries', operationId: 'listWebhookDeliveries', summary: 'Webhook deliveries, newest first', tag: 'Webhooks', scope: 'webhooks:read',
      query: deliveriesQuery, problems: [404],
      responses: { 200: { description: 'A page of deliveries', schema: pageOf(webhookDeliverySchema) } },
      async handle({ query }) {
        const filter = query as z.output<typeof deliveriesQuery>;
        // Where the last page ended: the store lists by created_at, then id, both descending.
        const position = decodeCursor(filter.cursor, z.object({ at: z.number().int(), id: z.string() }));
        if (filter.webhook !== undefined) await webhooks.get(filter.webhook);
        const all = await webhooks.deliveries({
          ...(filter.webhook !== undefined ? { webhookId: filter.webhook } : {}), ...(filter.status ? { status: filter.status } : {}), limit: deliveriesWindow,
        });
        const rest = position
          ? all.filter((each) => each.createdAt.getTime() < position.at || (each.createdAt.getTime() === position.at && each.id < position.id))
          : all;
        const items = rest.slice(0, filter.limit);
        const last = items.at(-1);
        const next = last && rest.length > filter.limit ? encodeCursor({ at: last.createdAt.getTime(), id: last.id }) : null;
        return { status: 200, body: { items: items.map(webhookDeliveryJson), next_cursor: next } };
      },
    },
    {
      method: 'post', path: '/webhook-deliveries/{deliveryId}/redeliver', operationId: 'redeliverWebhookDelivery', summary: 'Queue a delivery again, due now, with the same id', tag: 'Webhooks', scope: 'webhooks:write',
      params: deliveryParams, problems: [404],
      responses: { 200: { description: 'The delivery, queued', schema: webhookDeliverySchema } },
      async handle({ params, source }) {
        return { status: 200, body: webhookDeliveryJson(await webhooks.redeliver(params.deliveryId!, source)) };
      },
    },
  ];
}
