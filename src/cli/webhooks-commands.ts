import { GatehouseError } from '../errors.ts';
import { cliSource } from '../libraries/audit.ts';
import { webhookEventTypes } from '../libraries/webhook-events.ts';
import type { Webhook } from '../libraries/webhooks.ts';
import { message } from '../messages/messages.ts';
import type { WebhookDelivery, WebhookDeliveryStatus } from '../store/types.ts';
import type { Command, Values } from './output.ts';
import { list, printable, table, text } from './output.ts';

/**
 * `gatehouse webhooks …`: endpoints that receive signed events (docs/webhooks.md), through the
 * webhooks library (src/libraries/webhooks.ts), which checks the URL, seals the secret and records
 * each change (actor cli). A signing secret is printed once, when made (add, rotate-secret).
 */

function webhookJson(webhook: Webhook) {
  return {
    id: webhook.id,
    url: webhook.url,
    events: webhook.events,
    enabled: webhook.enabled,
    created_at: webhook.createdAt.toISOString(),
    updated_at: webhook.updatedAt.toISOString(),
  };
}

function webhookText(webhook: Webhook): string {
  return [
    `id:       ${webhook.id}`,
    `url:      ${printable(webhook.url)}`,
    `events:   ${webhook.events.join(' ')}`,
    `status:   ${webhook.enabled ? 'enabled' : 'disabled'}`,
    `created:  ${webhook.createdAt.toISOString()}`,
  ].join('\n');
}

function deliveryJson(delivery: WebhookDelivery) {
  return {
    id: delivery.id,
    webhook_id: delivery.webhookId,
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    status: delivery.status,
    attempts: delivery.attempts,
    created_at: delivery.createdAt.toISOString(),
    next_attempt_at: delivery.status === 'pending' ? delivery.nextAttemptAt.toISOString() : null,
    last_attempt_at: delivery.lastAttemptAt?.toISOString() ?? null,
    last_status_code: delivery.lastStatusCode ?? null,
    last_error: delivery.lastError ?? null,
    delivered_at: delivery.deliveredAt?.toISOString() ?? null,
  };
}

const statuses: readonly WebhookDeliveryStatus[] = ['pending', 'delivered', 'failed'];
const maxLimit = 1000;

function limitOf(values: Values): number {
  const given = text(values.limit);
  if (given === undefined) return 50;
  if (!/^\d+$/.test(given)) throw new GatehouseError('invalid_input', 'cli.not_whole_number', { name: 'limit' });
  const limit = Number(given);
  if (limit < 1 || limit > maxLimit) throw new GatehouseError('invalid_input', 'cli.limit_out_of_range', { max: maxLimit });
  return limit;
}

/** The secret on a line of its own after the announcement, so a script can take the last line. */
const withSecret = (announcement: string, secret: string) => `${announcement}\n${secret}`;

export const webhookCommands: Record<string, Command> = {
  'webhooks add': {
    usage: 'webhooks add --url URL (--event E [--event E2 …] | --all-events)',
    options: { url: { type: 'string' }, event: { type: 'string', multiple: true }, 'all-events': { type: 'boolean' } },
    positionals: [],
    async run(ctx, values) {
      const events = list(values.event).flatMap((event) => event.split(/[\s,]+/)).filter(Boolean);
      if (values['all-events'] === true && events.length) throw new GatehouseError('invalid_input', 'cli.flags_exclusive', { first: '--event', second: '--all-events' });
      const { webhook, secret } = await ctx.libraries.webhooks.add({ url: text(values.url) ?? '', events: values['all-events'] === true ? ['*'] : events }, cliSource);
      return {
        json: { ...webhookJson(webhook), secret },
        text: `${webhookText(webhook)}\n\n${withSecret(message('cli.webhook_added', { id: webhook.id }), secret)}`,
      };
    },
  },
  'webhooks list': {
    usage: 'webhooks list',
    options: {},
    positionals: [],
    async run(ctx) {
      const webhooks = await ctx.libraries.webhooks.list();
      const rows = [['ID', 'STATUS', 'EVENTS', 'URL'], ...webhooks.map((w) => [w.id, w.enabled ? 'enabled' : 'disabled', w.events.join(' '), printable(w.url)])];
      return { json: webhooks.map(webhookJson), text: table(rows) };
    },
  },
  'webhooks events': {
    usage: 'webhooks events',
    options: {},
    positionals: [],
    async run() {
      return { json: [...webhookEventTypes], text: webhookEventTypes.join('\n') };
    },
  },
  'webhooks remove': {
    usage: 'webhooks remove ID',
    options: {},
    positionals: ['ID'],
    async run(ctx, _values, [id]) {
      const webhook = await ctx.libraries.webhooks.remove(id!, cliSource);
      return { json: webhookJson(webhook), text: message('cli.webhook_removed', { id: webhook.id }) };
    },
  },
  'webhooks disable': {
    usage: 'webhooks disable ID',
    options: {},
    positionals: ['ID'],
    async run(ctx, _values, [id]) {
      const webhook = await ctx.libraries.webhooks.setEnabled(id!, false, cliSource);
      return { json: webhookJson(webhook), text: message('cli.webhook_disabled', { id: webhook.id }) };
    },
  },
  'webhooks enable': {
    usage: 'webhooks enable ID',
    options: {},
    positionals: ['ID'],
    async run(ctx, _values, [id]) {
      const webhook = await ctx.libraries.webhooks.setEnabled(id!, true, cliSource);
      return { json: webhookJson(webhook), text: message('cli.webhook_enabled', { id: webhook.id }) };
    },
  },
  'webhooks rotate-secret': {
    usage: 'webhooks rotate-secret ID',
    options: {},
    positionals: ['ID'],
    async run(ctx, _values, [id]) {
      const { webhook, secret } = await ctx.libraries.webhooks.rotateSecret(id!, cliSource);
      return { json: { ...webhookJson(webhook), secret }, text: withSecret(message('cli.webhook_secret_rotated', { id: webhook.id }), secret) };
    },
  },
  'webhooks deliveries': {
    usage: 'webhooks deliveries [--webhook ID] [--status pending|delivered|failed] [--limit N]',
    options: { webhook: { type: 'string' }, status: { type: 'string' }, limit: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      const status = text(values.status);
      if (status !== undefined && !(statuses as readonly string[]).includes(status)) throw new GatehouseError('invalid_input', 'cli.webhook_status_invalid');
      const webhookId = text(values.webhook);
      if (webhookId !== undefined) await ctx.libraries.webhooks.get(webhookId);
      const deliveries = await ctx.libraries.webhooks.deliveries({
        ...(webhookId !== undefined ? { webhookId } : {}), ...(status !== undefined ? { status: status as WebhookDeliveryStatus } : {}), limit: limitOf(values),
      });
      const rows = [
        ['DELIVERY', 'WEBHOOK', 'EVENT', 'STATUS', 'ATTEMPTS', 'CREATED', 'LAST ERROR'],
        ...deliveries.map((d) => [d.id, d.webhookId, d.eventType, d.status, String(d.attempts), d.createdAt.toISOString(), printable(d.lastError ?? '-')]),
      ];
      return { json: deliveries.map(deliveryJson), text: table(rows) };
    },
  },
  'webhooks redeliver': {
    usage: 'webhooks redeliver DELIVERY_ID',
    options: {},
    positionals: ['DELIVERY_ID'],
    async run(ctx, _values, [id]) {
      const delivery = await ctx.libraries.webhooks.redeliver(id!, cliSource);
      return { json: deliveryJson(delivery), text: message('cli.webhook_redelivery_queued', { id: delivery.id }) };
    },
  },
};
