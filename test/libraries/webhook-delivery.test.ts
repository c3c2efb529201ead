import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { cliSource } from '../../src/libraries/audit.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import { createWebhookDeliveryWorker } from '../../src/libraries/webhook-delivery.ts';
import { createOutgoingFetch } from '../../src/oidc/outgoing-requests.ts';
import { openStore } from '../../src/store/open-store.ts';
import { createSweeper } from '../../src/sweeper.ts';
import type { Store } from '../../src/store/types.ts';
import { movableClock } from '../helpers/clock.ts';
import type { MovableClock } from '../helpers/clock.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { cheapPasswordHashing, startGatehouse, testEnvironment } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signIn } from '../helpers/relying-party.ts';
import { cliFor } from '../helpers/run-cli.ts';
import { UserAgent } from '../helpers/user-agent.ts';

/**
 * Webhooks end to end: a real receiving server on loopback verifies each delivery's signature
 * independently (its own HMAC), as the code sample in docs/webhooks.md does, and records what it
 * accepted by the idempotency key (Gatehouse-Delivery).
 */

type Received = { headers: IncomingHttpHeaders; body: string; at: number };
type Receiver = {
  url: string;
  server: Server;
  /** Answers 503 while true. */
  down: boolean;
  /** Every request, accepted or not. */
  attempts: Received[];
  /** Accepted deliveries by Gatehouse-Delivery: a second one with an id seen is counted, not processed. */
  accepted: Map<string, Received>;
  duplicates: number;
  /** The secret it verifies with, and the clock it reads "now" from (the server's). */
  secret: string;
  now: () => number;
};

/** The receiver's own check: its HMAC, its parsing, the 5-minute window. */
function verify(secret: string, header: string, body: string, nowMs: number): boolean {
  const parts = Object.fromEntries(header.split(',').map((part) => part.split('=') as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowMs / 1000 - t) > 300 || !/^[0-9a-f]{64}$/.test(parts.v1 ?? '')) return false;
  return timingSafeEqual(Buffer.from(parts.v1!, 'hex'), createHmac('sha256', secret).update(`${t}.${body}`).digest());
}

async function startReceiver(now: () => number): Promise<Receiver> {
  const receiver: Receiver = { url: '', server: createServer(), down: false, attempts: [], accepted: new Map(), duplicates: 0, secret: '', now };
  receiver.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: receiver.now() };
      receiver.attempts.push(received);
      if (receiver.down) return void res.writeHead(503).end();
      if (req.method !== 'POST' || req.headers['content-type'] !== 'application/json') return void res.writeHead(415).end();
      if (!verify(receiver.secret, String(req.headers['gatehouse-signature'] ?? ''), received.body, receiver.now())) return void res.writeHead(401).end();
      const id = String(req.headers['gatehouse-delivery']);
      if (receiver.accepted.has(id)) receiver.duplicates += 1;
      else receiver.accepted.set(id, received);
      res.writeHead(204).end();
    });
  });
  receiver.server.listen(0, '127.0.0.1');
  await once(receiver.server, 'listening');
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/hooks/gatehouse`;
  return receiver;
}

const ada = { email: 'ada@example.com', password: 'analytical engine notes' };

/** The accepted deliveries' bodies of one event type, in the order accepted. */
const acceptedOf = (receiver: Receiver, type: string) => [...receiver.accepted.values()]
  .filter((each) => each.headers['gatehouse-event'] === type)
  .map((each) => ({ id: String(each.headers['gatehouse-delivery']), payload: JSON.parse(each.body) as { id: string; type: string; occurred_at: string; data: Record<string, unknown> } }));

describe('webhook deliveries from a running server', () => {
  let clock: MovableClock;
  let gatehouse: TestGatehouse;
  let receiver: Receiver;
  let rp: client.Configuration;
  let accountId: string;
  let webhookId: string;
  let cli: ReturnType<typeof cliFor>;

  beforeAll(async () => {
    clock = movableClock();
    gatehouse = await startGatehouse({ clock });
    receiver = await startReceiver(() => clock().getTime());
    rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Hooked app' }));
    accountId = await gatehouse.addUser(ada.email, ada.password);
    cli = cliFor(gatehouse.env);
  });

  afterAll(async () => {
    await gatehouse?.stop();
    receiver?.server.close();
  });

  it('`webhooks add` (the CLI, another process\'s libraries) registers it and prints the secret once', async () => {
    const added = await cli(['webhooks', 'add', '--url', receiver.url, '--event', 'user.signed_in,user.sign_in_failed', '--event', 'user.disabled', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const printed = JSON.parse(added.stdout) as { id: string; url: string; events: string[]; enabled: boolean; secret: string };
    expect(printed).toMatchObject({ url: receiver.url, events: ['user.signed_in', 'user.sign_in_failed', 'user.disabled'], enabled: true });
    expect(printed.secret).toMatch(/^whsec_/);
    receiver.secret = printed.secret;
    webhookId = printed.id;

    const listed = await cli(['webhooks', 'list', '--json']);
    expect(listed.stdout).not.toContain(printed.secret);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ id: webhookId, enabled: true })]);
    // The server reads the subscriptions at most a second old.
    clock.advance(1001);
  });

  it('a real sign-in is delivered as user.signed_in, signed, with the email, once', async () => {
    await signIn(gatehouse, rp, ada);
    await gatehouse.deliverWebhooks();

    const delivered = acceptedOf(receiver, 'user.signed_in');
    expect(delivered).toHaveLength(1);
    const [{ id, payload }] = delivered as [(typeof delivered)[number]];
    expect(payload).toMatchObject({
      type: 'user.signed_in',
      data: { audit_type: 'login', actor: 'user', account_id: accountId, email: ada.email, source_address: expect.stringMatching(/127\.0\.0\.1/), details: { amr: ['pwd'] } },
    });
    expect(Math.abs(Date.parse(payload.occurred_at) - clock().getTime())).toBeLessThan(60_000);
    const request = receiver.accepted.get(id)!;
    expect(request.headers['user-agent']).toBe('Gatehouse-Webhooks');
    expect(request.headers['gatehouse-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    // The status is recorded: delivered at the first attempt, with the answer's status.
    const deliveries = JSON.parse((await cli(['webhooks', 'deliveries', '--webhook', webhookId, '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(deliveries).toEqual([expect.objectContaining({ id, event_type: 'user.signed_in', status: 'delivered', attempts: 1, last_status_code: 204, last_error: null })]);
    // Later rounds have nothing to send.
    clock.advance(3_600_000);
    await gatehouse.deliverWebhooks();
    expect(receiver.attempts).toHaveLength(1);
  });

  it('events not subscribed to queue nothing (and the request is not held up)', async () => {
    await gatehouse.addClient({ name: 'Another app' }); // not audited: no event at all
    // user.created and api.created are recorded and published, but this webhook does not subscribe to them.
    const run = await cli(['users', 'add', '--email', 'grace@example.com', '--verified'], 'a long enough passphrase\n');
    expect(run.code, run.stderr).toBe(0);
    expect((await cli(['apis', 'add', '--identifier', 'https://api.example.com/', '--scope', 'read'])).code).toBe(0);
    await gatehouse.deliverWebhooks();
    expect(receiver.attempts).toHaveLength(1);
  });

  it('with the receiver down: retried with backoff (the injected clock), delivered once it is back, exactly once by its key', async () => {
    receiver.down = true;
    const before = receiver.attempts.length;
    const failed = await cli(['users', 'disable', ada.email]);
    expect(failed.code, failed.stderr).toBe(0);
    await gatehouse.deliverWebhooks();
    expect(receiver.attempts.length - before).toBe(1);

    const pending = JSON.parse((await cli(['webhooks', 'deliveries', '--status', 'pending', '--json'])).stdout) as Array<{ id: string; attempts: number; last_status_code: number; last_error: string; next_attempt_at: string }>;
    expect(pending).toEqual([expect.objectContaining({ attempts: 1, last_status_code: 503, last_error: 'HTTP 503' })]);
    const key = pending[0]!.id;
    const wait = Date.parse(pending[0]!.next_attempt_at) - clock().getTime();
    expect(wait).toBeGreaterThan(30_000 * 0.75 - 5000);
    expect(wait).toBeLessThanOrEqual(30_000);

    // Not due before the backoff is over.
    await gatehouse.deliverWebhooks();
    expect(receiver.attempts.length - before).toBe(1);
    // Due: refused again; the next wait doubles.
    clock.advance(30_000);
    await gatehouse.deliverWebhooks();
    expect(receiver.attempts.length - before).toBe(2);
    const second = JSON.parse((await cli(['webhooks', 'deliveries', '--status', 'pending', '--json'])).stdout) as Array<{ attempts: number; next_attempt_at: string }>;
    expect(second[0]!.attempts).toBe(2);
    expect(Date.parse(second[0]!.next_attempt_at) - clock().getTime()).toBeGreaterThan(60_000 * 0.75 - 5000);

    receiver.down = false;
    clock.advance(60_000);
    await gatehouse.deliverWebhooks();
    clock.advance(3_600_000);
    await gatehouse.deliverWebhooks();

    expect(receiver.attempts.length - before).toBe(3);
    // Every attempt carried the same key; the receiver processed it once.
    expect(new Set(receiver.attempts.slice(before).map((each) => each.headers['gatehouse-delivery']))).toEqual(new Set([key]));
    expect(acceptedOf(receiver, 'user.disabled').map((each) => [each.id, each.payload.data.actor, each.payload.data.email])).toEqual([[key, 'cli', ada.email]]);
    expect(receiver.duplicates).toBe(0);
    // Each attempt was signed at its own time.
    const stamps = receiver.attempts.slice(before).map((each) => /t=(\d+)/.exec(String(each.headers['gatehouse-signature']))![1]);
    expect(new Set(stamps).size).toBe(3);
  });

  it('`webhooks redeliver` sends a delivery again with the same key (the receiver sees a duplicate)', async () => {
    const { id } = acceptedOf(receiver, 'user.signed_in')[0]!;
    const run = await cli(['webhooks', 'redeliver', id]);
    expect(run.code, run.stderr).toBe(0);
    await gatehouse.deliverWebhooks();
    expect(receiver.duplicates).toBe(1);
    expect(receiver.attempts.at(-1)!.headers['gatehouse-delivery']).toBe(id);
  });

  it('survives a restart: a delivery failed before it is delivered by the next server on the same database', async () => {
    await cli(['users', 'enable', ada.email]);
    receiver.down = true;
    const before = receiver.attempts.length;
    // A failed sign-in (user.sign_in_failed) through the real login page: one wrong password.
    const ua = new UserAgent(gatehouse.url);
    const login = await ua.page((await authorizationRequest(rp)).url.href);
    await ua.submit(login, '/login', { email: ada.email, password: 'not the password at all' });
    await gatehouse.deliverWebhooks();
    expect(receiver.attempts.length - before).toBe(1);

    gatehouse = await gatehouse.restart();
    receiver.down = false;
    clock.advance(30_000);
    await gatehouse.deliverWebhooks();

    const delivered = acceptedOf(receiver, 'user.sign_in_failed');
    expect(delivered.map((each) => [each.payload.data.audit_type, each.payload.data.email])).toEqual([['login_failed', ada.email]]);
    expect(receiver.attempts.length - before).toBe(2);
  });

  it('a disabled webhook gets nothing; its pending deliveries are given up', async () => {
    receiver.down = true;
    await signIn(gatehouse, rp, ada);
    await gatehouse.deliverWebhooks();
    const disabled = await cli(['webhooks', 'disable', webhookId]);
    expect(disabled.code, disabled.stderr).toBe(0);
    receiver.down = false;
    const before = receiver.attempts.length;
    clock.advance(3_600_000);
    await gatehouse.deliverWebhooks();
    expect(receiver.attempts.length).toBe(before);
    const failed = JSON.parse((await cli(['webhooks', 'deliveries', '--status', 'failed', '--json'])).stdout) as Array<{ last_error: string }>;
    expect(failed).toEqual([expect.objectContaining({ last_error: 'the webhook was removed or disabled' })]);
  });
});

describe('delivery workers on one database', () => {
  let dir: string;
  let stores: Store[] = [];
  let receiver: Receiver;
  let libraries: Libraries[] = [];
  const clock = movableClock();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-webhooks-'));
    const config = cheapPasswordHashing(loadConfig(testEnvironment(dir)));
    // Two instances: two connections to one SQLite file, each with its libraries.
    stores = [await openStore(config.databaseUrl, { clock }), await openStore(config.databaseUrl, { clock })];
    libraries = stores.map((store) => createLibraries({
      store, config, clock, keyEncryptionKey: Buffer.alloc(32, 7),
      outbox: { send: async () => undefined },
    }));
    receiver = await startReceiver(() => clock().getTime());
  });

  afterAll(async () => {
    for (const store of stores) await store.close();
    receiver?.server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const worker = (index: number, allowLoopback = true) => createWebhookDeliveryWorker({
    webhooks: libraries[index]!.webhooks, clock, logger: { warn: () => undefined },
    fetch: createOutgoingFetch({ allowLoopback, timeoutMs: 5000, maxResponseBytes: 65536 }),
  });

  it('two workers delivering at once never deliver one row twice', async () => {
    const { webhook, secret } = await libraries[0]!.webhooks.add({ url: receiver.url, events: ['*'] }, cliSource);
    receiver.secret = secret;
    const count = 30;
    for (let index = 0; index < count; index += 1) {
      await libraries[index % 2]!.accounts.create({ email: `person${index}@example.com`, password: 'a long enough passphrase', emailVerified: true }, cliSource);
    }
    const [a, b] = [worker(0), worker(1)];
    let delivered = 0;
    for (let round = 0; round < 10 && delivered < count; round += 1) {
      const outcomes = await Promise.all([a.deliverDue(), b.deliverDue(), a.deliverDue(), b.deliverDue()]);
      delivered += outcomes.reduce((sum, outcome) => sum + outcome.delivered, 0);
    }
    expect(delivered).toBe(count);
    expect(receiver.attempts).toHaveLength(count);
    expect(receiver.accepted.size).toBe(count);
    expect(receiver.duplicates).toBe(0);
    expect(new Set(acceptedOf(receiver, 'user.created').map((each) => each.payload.data.email)).size).toBe(count);
    expect(await libraries[1]!.webhooks.status()).toEqual({ pending: 0, delivered: count, failed: 0 });
    // The webhook's own event went nowhere ('*' leaves webhook.* out).
    expect(acceptedOf(receiver, 'webhook.created')).toEqual([]);
    await libraries[0]!.webhooks.remove(webhook.id, cliSource);
  });

  it('the sweeper prunes finished deliveries after webhooks.retentionDays, never pending ones', async () => {
    const [library] = libraries as [Libraries];
    const { webhook } = await library.webhooks.add({ url: receiver.url, events: ['user.created'] }, cliSource);
    clock.advance(1001);
    receiver.down = true;
    await library.accounts.create({ email: 'pending@example.com', password: 'a long enough passphrase', emailVerified: true }, cliSource);
    expect(await worker(0).deliverDue()).toMatchObject({ retried: 1 });
    receiver.down = false;
    const sweeper = createSweeper({ store: stores[0]!, logger: { warn: () => undefined }, clock, pruneWebhookDeliveries: (limit) => library.webhooks.prune(limit), batchSize: 20 });

    clock.advance(29 * 86_400_000);
    expect((await sweeper.sweep()).deleted.webhookDeliveries).toBe(0);
    clock.advance(2 * 86_400_000);
    const report = await sweeper.sweep();
    // The 30 delivered ones go (in batches of 20); the one still pending stays.
    expect(report.deleted.webhookDeliveries).toBe(30);
    expect(await library.webhooks.status()).toMatchObject({ pending: 1, delivered: 0, failed: 0 });
    await library.webhooks.remove(webhook.id, cliSource);
    await worker(0).deliverDue();
  });

  it('refuses to add a webhook to a private or (in production) loopback address', async () => {
    const production = createLibraries({
      store: stores[0]!, config: { ...loadConfig(testEnvironment(dir)), env: 'production' }, clock, keyEncryptionKey: Buffer.alloc(32, 7), outbox: { send: async () => undefined },
    });
    for (const url of [receiver.url.replace('http:', 'https:'), 'https://localhost/hook', 'https://10.0.0.8/hook', 'https://[::ffff:192.168.0.1]/hook', receiver.url]) {
      await expect(production.webhooks.add({ url, events: ['user.created'] }, cliSource)).rejects.toMatchObject({ code: 'invalid_input' });
    }
    await expect(libraries[0]!.webhooks.add({ url: 'http://192.168.10.10/hook', events: ['*'] }, cliSource)).rejects.toThrow(/private/);
    expect(await production.webhooks.list()).toEqual([]);
  });

  it('refuses at delivery a URL that reaches a refused address (the outgoing policy on the address connected to)', async () => {
    // Added where loopback is allowed; delivered by a worker under the production policy.
    const { webhook, secret } = await libraries[0]!.webhooks.add({ url: receiver.url, events: ['user.created'] }, cliSource);
    receiver.secret = secret;
    const before = receiver.attempts.length;
    clock.advance(1001);
    await libraries[0]!.accounts.create({ email: 'refused@example.com', password: 'a long enough passphrase', emailVerified: true }, cliSource);

    expect(await worker(0, false).deliverDue()).toEqual({ delivered: 0, retried: 1, given_up: 0 });
    expect(receiver.attempts.length).toBe(before);
    const [delivery] = await libraries[0]!.webhooks.deliveries({ webhookId: webhook.id, limit: 10 });
    expect(delivery).toMatchObject({ status: 'pending', attempts: 1, lastError: expect.stringMatching(/loopback/) });
  });
});

describe('user.deleted', () => {
  it('names the account and its address (sent before they are erased), though the audit trail keeps only a pseudonym', async () => {
    const clock = movableClock();
    const gatehouse = await startGatehouse({ clock });
    const receiver = await startReceiver(() => clock().getTime());
    try {
      const cli = cliFor(gatehouse.env);
      const added = JSON.parse((await cli(['webhooks', 'add', '--url', receiver.url, '--event', 'user.deleted', '--json'])).stdout) as { secret: string };
      receiver.secret = added.secret;
      const id = await gatehouse.addUser('erin@example.com', 'a long enough passphrase');
      clock.advance(1001);
      const deleted = await cli(['users', 'delete', '--email', 'erin@example.com', '--yes']);
      expect(deleted.code, deleted.stderr).toBe(0);
      await gatehouse.deliverWebhooks();
      const [announced, ...more] = acceptedOf(receiver, 'user.deleted');
      expect(more).toEqual([]);
      expect(announced!.payload.data).toMatchObject({ audit_type: 'account_erasure_started', actor: 'cli', account_id: id, email: 'erin@example.com' });
      expect(await gatehouse.store.audit.tail({ limit: 10, accountId: id })).toEqual([]);
    } finally {
      await gatehouse.stop();
      receiver.server.close();
    }
  });
});
