import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Schedule } from '../../src/config/key-schedule.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import { cliSource } from '../../src/libraries/audit.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import { createMetrics, registerStoreGauges } from '../../src/observability/metrics.ts';
import type { Logger } from '../../src/logger.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store, WebhookQueueStatus } from '../../src/store/types.ts';
import { cheapPasswordHashing, testEnvironment } from '../helpers/gatehouse.ts';
import { checkWebhookUrl } from '../../src/libraries/webhook-destination.ts';
import { isExplicitOnly, subscribes, webhookEventByAuditType, webhookEventOf, webhookEventTypes, webhookPayload } from '../../src/libraries/webhook-events.ts';
import { newWebhookSecret, signatureHeaderValue, verifySignature, webhookRetryDelaySeconds } from '../../src/libraries/webhook-signature.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/**
 * Every audit event type the code records: the first argument of the audit helpers (audit(…),
 * record(…), auditEvent(…), a library's audit(deps, …) or recorder(deps)(…)), a literal or either side of a ternary.
 */
function recordedAuditTypes(): Set<string> {
  const call = /(?:\b(?:audit|record|auditEvent)|\brecorder\(\w+\))\(\s*(?:deps,\s*)?(?:[\w.!]+\s*\?\s*)?'([a-z_.]+)'(?:\s*:\s*'([a-z_.]+)')?/g;
  const types = new Set<string>();
  for (const file of sourceFiles(join(root, 'src'))) {
    for (const match of readFileSync(file, 'utf8').matchAll(call)) {
      types.add(match[1]!);
      if (match[2]) types.add(match[2]);
    }
  }
  return types;
}

describe('the event table', () => {
  it('lists every audit event type the code records (each one published or deliberately not)', () => {
    const recorded = recordedAuditTypes();
    // The scan finds the familiar ones (it is not looking at nothing).
    for (const known of ['login', 'login_failed', 'account_created', 'client_added', 'key_ring_changed', 'webhook_added', 'backchannel_logout.queued']) expect(recorded).toContain(known);
    const unlisted = [...recorded].filter((type) => !Object.hasOwn(webhookEventByAuditType, type));
    expect(unlisted, 'add these to webhookEventByAuditType (src/libraries/webhook-events.ts) and docs/webhooks.md').toEqual([]);
  });

  it('maps the issue\'s events as documented', () => {
    expect(webhookEventOf('account_created')).toBe('user.created');
    expect(webhookEventOf('account_registered')).toBe('user.created');
    expect(webhookEventOf('login')).toBe('user.signed_in');
    expect(webhookEventOf('login_failed')).toBe('user.sign_in_failed');
    for (const type of ['mfa_enabled', 'mfa_removed', 'passkey_added', 'passkey_removed']) expect(webhookEventOf(type)).toBe('user.factor_changed');
    expect(webhookEventOf('account_erasure_started')).toBe('user.deleted');
    expect(webhookEventOf('account_deleted')).toBeUndefined();
    expect(webhookEventOf('account_disabled')).toBe('user.disabled');
    expect(webhookEventOf('account_enabled')).toBe('user.enabled');
    expect(webhookEventOf('password_changed')).toBe('user.password_changed');
    expect(webhookEventOf('client_added')).toBe('client.created');
    expect(webhookEventOf('client_updated')).toBe('client.updated');
    expect(webhookEventOf('client_removed')).toBe('client.deleted');
    expect(webhookEventOf('api_added')).toBe('api.created');
    expect(webhookEventOf('connection_removed')).toBe('connection.deleted');
    expect(webhookEventOf('key_ring_changed')).toBe('key.rotated');
    // Not published, and unknown.
    expect(webhookEventOf('backchannel_logout.delivered')).toBeUndefined();
    expect(webhookEventOf('password_reset_requested')).toBeUndefined();
    expect(webhookEventOf('no_such_event')).toBeUndefined();
    expect(webhookEventOf('toString')).toBeUndefined();
  });

  it('is the table in docs/webhooks.md, row for row', () => {
    const docs = readFileSync(join(root, 'docs/webhooks.md'), 'utf8');
    const rows = new Map<string, string[]>();
    for (const [, event, sources] of docs.matchAll(/^\| `([a-z]+\.[a-z_]+)` \| ([^|]+) \|/gm)) {
      rows.set(event!, [...sources!.matchAll(/`([a-z_.]+)`/g)].map((match) => match[1]!).sort());
    }
    const expected = new Map<string, string[]>();
    for (const [audit, event] of Object.entries(webhookEventByAuditType)) {
      if (event) expected.set(event, [...(expected.get(event) ?? []), audit].sort());
    }
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(expected));
    expect([...rows.keys()]).toEqual([...webhookEventTypes]);
  });

  it('sends webhook.* events only to webhooks that name them', () => {
    expect(subscribes(['*'], 'user.created')).toBe(true);
    expect(subscribes(['*'], 'webhook.created')).toBe(false);
    expect(subscribes(['webhook.created'], 'webhook.created')).toBe(true);
    expect(subscribes(['user.created'], 'user.signed_in')).toBe(false);
    expect(webhookEventTypes.filter(isExplicitOnly)).toEqual(['webhook.created', 'webhook.updated', 'webhook.deleted']);
  });

  it('builds the payload from the audit event, with the email when given', () => {
    const at = new Date('2026-01-02T03:04:05.000Z');
    const payload = webhookPayload('event-1', 'user.signed_in', {
      at, type: 'login', actor: 'user', accountId: 'acct-1', clientId: 'app', sourceAddress: '203.0.113.9', details: { amr: ['pwd'] },
    }, 'ada@example.com');
    expect(payload).toEqual({
      id: 'event-1', type: 'user.signed_in', occurred_at: '2026-01-02T03:04:05.000Z',
      data: { audit_type: 'login', actor: 'user', account_id: 'acct-1', email: 'ada@example.com', client_id: 'app', source_address: '203.0.113.9', details: { amr: ['pwd'] } },
    });
    expect(webhookPayload('event-2', 'key.rotated', { at, type: 'key_ring_changed', actor: 'system', details: {} }).data).toEqual({ audit_type: 'key_ring_changed', actor: 'system', details: {} });
  });
});

describe('the signature scheme', () => {
  const secret = 'whsec_test-secret';
  const body = '{"id":"e1","type":"user.created"}';
  const at = new Date('2026-03-01T12:00:00.500Z');

  it('is t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>, as an independent computation gives it', () => {
    const header = signatureHeaderValue(secret, at, body);
    const t = Math.floor(at.getTime() / 1000);
    const independent = createHmac('sha256', Buffer.from(secret, 'utf8')).update(Buffer.from(`${t}.${body}`, 'utf8')).digest('hex');
    expect(header).toBe(`t=${t},v1=${independent}`);
    expect(t).toBe(1772366400);
  });

  it('verifies within the replay window only, with the right secret and the exact body', () => {
    const header = signatureHeaderValue(secret, at, body);
    expect(verifySignature(secret, header, body, at)).toBe(true);
    expect(verifySignature(secret, header, body, new Date(at.getTime() + 299_000))).toBe(true);
    expect(verifySignature(secret, header, body, new Date(at.getTime() + 301_000))).toBe(false);
    expect(verifySignature(secret, header, body, new Date(at.getTime() - 301_000))).toBe(false);
    expect(verifySignature('whsec_other', header, body, at)).toBe(false);
    expect(verifySignature(secret, header, `${body} `, at)).toBe(false);
    expect(verifySignature(secret, header.replace(/t=\d+/, `t=${Math.floor(at.getTime() / 1000) + 1}`), body, at)).toBe(false);
    for (const malformed of ['', 'v1=abc', `t=x,${header.split(',')[1]}`, header.split(',')[0]!, `${header},t=1`]) expect(verifySignature(secret, malformed, body, at)).toBe(false);
    // Another v1 next to the right one (a future overlap of two secrets) still verifies.
    expect(verifySignature(secret, `${header},v1=${'0'.repeat(64)}`, body, at)).toBe(true);
  });

  it('makes secrets of 32 random bytes, never twice the same', () => {
    const [a, b] = [newWebhookSecret(), newWebhookSecret()];
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
  });
});

describe('the retry schedule', () => {
  const policy = { firstRetrySeconds: 30, maxRetrySeconds: 3600 };

  it('waits 30 s after the first failure, doubling to at most an hour, without jitter', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 1000].map((attempts) => webhookRetryDelaySeconds(policy, attempts, 0)))
      .toEqual([30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600]);
    expect(webhookRetryDelaySeconds(policy, 0, 0)).toBe(30);
  });

  it('takes up to a quarter off for jitter, never more, never adding', () => {
    expect(webhookRetryDelaySeconds(policy, 1, 0.5)).toBe(26.25);
    expect(webhookRetryDelaySeconds(policy, 8, 0.999999)).toBeCloseTo(2700, 2);
    for (let attempts = 1; attempts <= 12; attempts += 1) {
      const base = webhookRetryDelaySeconds(policy, attempts, 0);
      for (const random of [0, 0.1, 0.5, 0.9, 0.99999, 2, -1]) {
        const delay = webhookRetryDelaySeconds(policy, attempts, random);
        expect(delay).toBeLessThanOrEqual(base);
        expect(delay).toBeGreaterThanOrEqual(base * 0.75);
      }
    }
  });
});

describe('webhook URLs', () => {
  const resolvesTo = (...addresses: string[]) => async () => addresses.map((address) => ({ address }));
  const refusal = async (promise: Promise<unknown>) => {
    const error = await promise.then(() => undefined, (caught: unknown) => caught);
    expect(error).toBeInstanceOf(GatehouseError);
    return (error as GatehouseError).message;
  };

  it('accepts a public https URL, normalized', async () => {
    expect(await checkWebhookUrl('https://Hooks.Example.com/in', { production: true, lookup: resolvesTo('93.184.215.14') })).toBe('https://hooks.example.com/in');
  });

  it('refuses in production: plain http, loopback, private and link-local addresses, names resolving to them', async () => {
    expect(await refusal(checkWebhookUrl('http://hooks.example.com/in', { production: true, lookup: resolvesTo('93.184.215.14') }))).toMatch(/must be https/);
    expect(await refusal(checkWebhookUrl('https://127.0.0.1/in', { production: true }))).toMatch(/loopback/);
    expect(await refusal(checkWebhookUrl('https://10.1.2.3/in', { production: true }))).toMatch(/private/);
    expect(await refusal(checkWebhookUrl('https://[fd00::1]/in', { production: true }))).toMatch(/private/);
    expect(await refusal(checkWebhookUrl('https://169.254.169.254/latest', { production: true }))).toMatch(/link-local/);
    expect(await refusal(checkWebhookUrl('https://internal.example.com/in', { production: true, lookup: resolvesTo('93.184.215.14', '192.168.1.5') }))).toMatch(/internal\.example\.com resolves to .*private/);
    // The real resolver: localhost is loopback.
    expect(await refusal(checkWebhookUrl('https://localhost/in', { production: true }))).toMatch(/loopback/);
  });

  it('allows loopback outside production, never private addresses', async () => {
    expect(await checkWebhookUrl('http://127.0.0.1:8080/in', { production: false })).toBe('http://127.0.0.1:8080/in');
    expect(await refusal(checkWebhookUrl('http://10.0.0.1/in', { production: false }))).toMatch(/private/);
  });

  it('refuses what is not an absolute http(s) URL, credentials, fragments, unknown hosts', async () => {
    for (const url of ['', 'hooks.example.com/in', 'ftp://hooks.example.com/', 'https://user:pw@hooks.example.com/', 'https://hooks.example.com/#x', `https://hooks.example.com/${'a'.repeat(2000)}`]) {
      expect(await refusal(checkWebhookUrl(url, { production: false, lookup: resolvesTo('93.184.215.14') }))).toMatch(/absolute http or https URL/);
    }
    const unknown = Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    expect(await refusal(checkWebhookUrl('https://nowhere.invalid/', { production: false, lookup: () => Promise.reject(unknown) }))).toMatch(/does not resolve \(ENOTFOUND\)/);
  });
});

describe('the queue gauges', () => {
  it('report deliveries by status and the oldest pending one\'s age, from the store', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const now = new Date('2026-03-01T12:00:00.000Z');
    let status: WebhookQueueStatus = { pending: 3, delivered: 7, failed: 1, oldestPendingAt: new Date(now.getTime() - 90_000) };
    registerStoreGauges(metrics, {
      mailStatus: () => Promise.reject(new Error('not this test')), keyRing: () => Promise.reject(new Error('not this test')),
      schedule: {} as Schedule, clock: () => now, maxAgeMs: 0, webhookStatus: async () => status,
    });
    const read = async (name: string) => (await metrics.registry.getSingleMetric(name)!.get()).values.map((value) => [value.labels.status ?? '', value.value]);
    expect(await read('gatehouse_webhook_queue_deliveries')).toEqual([['pending', 3], ['failed', 1], ['delivered', 7]]);
    expect(await read('gatehouse_webhook_queue_oldest_pending_age_seconds')).toEqual([['', 90]]);
    status = { pending: 0, delivered: 10, failed: 1 };
    expect(await read('gatehouse_webhook_queue_oldest_pending_age_seconds')).toEqual([['', 0]]);
  });
});

describe('queueing from the audit trail', () => {
  let dir: string;
  let store: Store;
  const reads = { list: 0 };
  let now = new Date('2026-03-01T12:00:00.000Z');
  const clock = () => now;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-webhook-queue-'));
    store = await openStore(`sqlite:${join(dir, 'gatehouse.db')}`);
  });
  afterAll(async () => {
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The libraries on a store whose webhooks table counts its reads. */
  function libraries() {
    const counted = new Proxy(store, {
      get(target, key, receiver) {
        if (key !== 'webhooks') return Reflect.get(target, key, receiver);
        return new Proxy(target.webhooks, { get: (table, name) => (name === 'list' ? () => (reads.list += 1, table.list()) : Reflect.get(table, name)) });
      },
    });
    const config = cheapPasswordHashing(loadConfig(testEnvironment(dir)));
    return createLibraries({ store: counted, config, clock, keyEncryptionKey: Buffer.alloc(32, 1), outbox: { send: async () => undefined } });
  }

  it('reads the subscriptions at most once a second, and queues one delivery per subscribed webhook in the event\'s call', async () => {
    const { webhooks, signIns, audit } = libraries();
    const all = await webhooks.add({ url: 'http://127.0.0.1:9/all', events: ['*'] }, cliSource);
    await webhooks.add({ url: 'http://127.0.0.1:9/clients', events: ['client.created'] }, cliSource);
    const explicit = await webhooks.add({ url: 'http://127.0.0.1:9/meta', events: ['webhook.created', 'user.signed_in'] }, cliSource);
    // (Adding them read the list once, for their own webhook.created events; that read is a second old now.)
    reads.list = 0;
    now = new Date(now.getTime() + 1000);

    for (let index = 0; index < 20; index += 1) await signIns.succeeded(`acct-${index}`, { actor: 'user', sourceAddress: '203.0.113.5' }, { amr: ['pwd'] });
    expect(reads.list).toBe(1);
    now = new Date(now.getTime() + 999);
    await audit.record('login', { actor: 'user' }, { accountId: 'acct-x' });
    expect(reads.list).toBe(1);
    now = new Date(now.getTime() + 1);
    await audit.record('password_reset_requested', { actor: 'user' }, { accountId: 'acct-x' });
    expect(reads.list).toBe(1); // not published: no read at all
    await audit.record('login', { actor: 'user' }, { accountId: 'acct-x' });
    expect(reads.list).toBe(2);

    const queued = await store.webhookDeliveries.list({ limit: 1000 });
    // 22 sign-ins, each to the two webhooks subscribed to user.signed_in.
    expect(queued.filter((each) => each.eventType === 'user.signed_in')).toHaveLength(44);
    const byEvent = Map.groupBy(queued.filter((each) => each.eventType === 'user.signed_in'), (each) => each.eventId);
    expect([...byEvent.values()].every((deliveries) => deliveries.length === 2 && new Set(deliveries.map((each) => each.webhookId)).size === 2)).toBe(true);
    expect(new Set(queued.map((each) => each.webhookId))).toEqual(new Set([all.webhook.id, explicit.webhook.id]));
    // The webhook that names webhook.created heard of its own creation; '*' did not.
    expect(queued.filter((each) => each.eventType === 'webhook.created').map((each) => each.webhookId)).toEqual([explicit.webhook.id]);
    // Each delivery has its own id (the idempotency key); one event's deliveries share its payload and id.
    expect(new Set(queued.map((each) => each.id)).size).toBe(queued.length);
    const [first, second] = byEvent.values().next().value!;
    expect(first!.payload).toBe(second!.payload);
    expect(JSON.parse(first!.payload)).toMatchObject({ id: first!.eventId, type: 'user.signed_in' });
  });

  it('sends webhook.* only where named: adding a webhook queues webhook.created for the one that asked', async () => {
    const { webhooks } = libraries();
    await store.webhookDeliveries.prune(new Date(now.getTime() + 1), 10_000);
    for (const delivery of await store.webhookDeliveries.list({ limit: 1000 })) await store.webhookDeliveries.markFailed(delivery.id, { at: now, error: 'test' });
    await store.webhookDeliveries.prune(new Date(now.getTime() + 1), 10_000);
    const added = await webhooks.add({ url: 'http://127.0.0.1:9/more', events: ['user.created'] }, cliSource);
    const queued = await store.webhookDeliveries.list({ limit: 10 });
    expect(queued.map((each) => each.eventType)).toEqual(['webhook.created']);
    expect(JSON.parse(queued[0]!.payload)).toMatchObject({ type: 'webhook.created', data: { audit_type: 'webhook_added', actor: 'cli', details: { webhookId: added.webhook.id } } });
  });

  it('a failing queue never fails the action: the event is recorded, the failure logged', async () => {
    const errors: unknown[] = [];
    const broken = new Proxy(store, {
      get(target, key, receiver) {
        if (key !== 'webhookDeliveries') return Reflect.get(target, key, receiver);
        return new Proxy(target.webhookDeliveries, { get: (table, name) => (name === 'enqueue' ? () => Promise.reject(new Error('disk full')) : Reflect.get(table, name)) });
      },
    });
    const logger = { error: (text: string, fields?: unknown) => void errors.push([text, fields]), warn: () => undefined, info: () => undefined, debug: () => undefined } as unknown as Logger;
    const config = cheapPasswordHashing(loadConfig(testEnvironment(dir)));
    now = new Date(now.getTime() + 5000);
    const { signIns } = createLibraries({ store: broken, config, clock, logger, keyEncryptionKey: Buffer.alloc(32, 1), outbox: { send: async () => undefined } });
    await signIns.succeeded('acct-broken', { actor: 'user' }, { amr: ['pwd'] });
    expect((await store.audit.tail({ limit: 1, accountId: 'acct-broken' })).map((event) => event.type)).toEqual(['login']);
    expect(errors).toEqual([[expect.stringMatching(/webhook deliveries are not queued/), expect.objectContaining({ type: 'login' })]]);
  });
});
