import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Libraries } from '../../src/libraries/index.ts';
import { webhookEventTypes } from '../../src/libraries/webhook-events.ts';
import { signatureHeaderValue, verifySignature } from '../../src/libraries/webhook-signature.ts';
import type { AuditEvent, Store } from '../../src/store/types.ts';
import { describeRun, refused, succeeded } from '../helpers/cli-assertions.ts';
import { openBesideCli } from '../helpers/cli-libraries.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';
import { cliFor } from '../helpers/run-cli.ts';

/**
 * `gatehouse webhooks …`, run in this process on a real database; what the commands did is read
 * back through the libraries and the audit trail.
 */

let dir: string;
let gatehouse: ReturnType<typeof cliFor>;
let store: Store;
let libraries: Libraries;

async function events(type: string): Promise<AuditEvent[]> {
  return (await store.audit.tail({ limit: 1000 })).filter((event) => event.type === type);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-webhooks-'));
  const env = testEnvironment(dir);
  gatehouse = cliFor(env);
  succeeded(await gatehouse(['webhooks', 'list']));
  ({ store, libraries } = await openBesideCli(env));
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse webhooks', () => {
  let id: string;
  let secret: string;

  it('add: prints the webhook and, once, its secret on the last line; audited webhook_added (actor cli)', async () => {
    const text = succeeded(await gatehouse(['webhooks', 'add', '--url', 'http://127.0.0.1:9/hook', '--event', 'user.created', '--event', 'client.created, client.deleted']));
    const lines = text.trimEnd().split('\n');
    secret = lines.at(-1)!;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    id = /^id: +(wh_\S+)$/m.exec(text)![1]!;
    expect(lines.at(-2)).toBe(`added webhook ${id}; its signing secret, shown this once (give it to the receiver to verify Gatehouse-Signature):`);
    expect(text).toMatch(/^events: +user\.created client\.created client\.deleted$/m);
    expect((await events('webhook_added')).map((event) => [event.actor, event.details])).toEqual([['cli', { webhookId: id, url: 'http://127.0.0.1:9/hook', events: ['user.created', 'client.created', 'client.deleted'] }]]);
    // The secret is kept sealed: not in the audit trail, not in the list.
    expect(JSON.stringify(await store.audit.tail({ limit: 100 }))).not.toContain(secret);
    const listed = succeeded(await gatehouse(['webhooks', 'list']));
    expect(listed).toContain(id);
    expect(listed).not.toContain(secret);
    expect((await store.webhooks.find(id))!.sealedSecret).not.toContain(secret.slice(6));
  });

  it('add --all-events subscribes to * ; --json includes the secret', async () => {
    const added = JSON.parse(succeeded(await gatehouse(['webhooks', 'add', '--url', 'http://localhost:9/all', '--all-events', '--json']))) as Record<string, unknown>;
    expect(added).toMatchObject({ url: 'http://localhost:9/all', events: ['*'], enabled: true, secret: expect.stringMatching(/^whsec_/) });
    succeeded(await gatehouse(['webhooks', 'remove', String(added.id)]));
  });

  it('refuses bad input with one readable line', async () => {
    refused(await gatehouse(['webhooks', 'add', '--url', 'http://127.0.0.1:9/hook']), /name at least one event/);
    refused(await gatehouse(['webhooks', 'add', '--url', 'http://127.0.0.1:9/hook', '--event', 'user.exploded']), /unknown event user\.exploded; the events are: user\.created, /);
    refused(await gatehouse(['webhooks', 'add', '--url', 'http://127.0.0.1:9/hook', '--event', 'user.created', '--all-events']), /--event and --all-events cannot be given together/);
    refused(await gatehouse(['webhooks', 'add', '--url', 'not a url', '--event', 'user.created']), /must be an absolute http or https URL/);
    refused(await gatehouse(['webhooks', 'add', '--url', 'http://10.0.0.1/hook', '--event', 'user.created']), /refused: 10\.0\.0\.1 is a private address/);
    refused(await gatehouse(['webhooks', 'add', '--event', 'user.created']), /absolute http or https URL/);
    refused(await gatehouse(['webhooks', 'disable', 'wh_nope']), /no webhook wh_nope/);
    refused(await gatehouse(['webhooks', 'redeliver', 'nope']), /no webhook delivery nope/);
    refused(await gatehouse(['webhooks', 'deliveries', '--status', 'lost']), /--status must be one of pending, delivered, failed/);
    refused(await gatehouse(['webhooks', 'deliveries', '--limit', '0']), /--limit must be from 1 to 1000/);
    refused(await gatehouse(['webhooks', 'deliveries', '--webhook', 'wh_nope']), /no webhook wh_nope/);
    const usage = await gatehouse(['webhooks', 'remove']);
    expect(usage.code, describeRun(usage)).toBe(2);
    expect(usage.stderr).toMatch(/expected ID/);
  });

  it('events lists the public event names', async () => {
    expect(succeeded(await gatehouse(['webhooks', 'events'])).trimEnd().split('\n')).toEqual([...webhookEventTypes]);
  });

  it('disable and enable: audited webhook_updated; the list shows it', async () => {
    expect(succeeded(await gatehouse(['webhooks', 'disable', id]))).toMatch(/^disabled webhook wh_/);
    expect(succeeded(await gatehouse(['webhooks', 'list']))).toMatch(new RegExp(`^${id} +disabled +user\\.created`, 'm'));
    expect((await libraries.webhooks.get(id)).enabled).toBe(false);
    succeeded(await gatehouse(['webhooks', 'enable', id]));
    expect((await libraries.webhooks.get(id)).enabled).toBe(true);
    expect((await events('webhook_updated')).map((event) => event.details)).toEqual([
      { webhookId: id, changed: ['enabled'], enabled: false },
      { webhookId: id, changed: ['enabled'], enabled: true },
    ]);
  });

  it('rotate-secret: a new secret signs from now on, the old one no longer verifies', async () => {
    const text = succeeded(await gatehouse(['webhooks', 'rotate-secret', id]));
    const rotated = text.trimEnd().split('\n').at(-1)!;
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(secret);
    const target = (await libraries.webhooks.target(id))!;
    expect(target.secret).toBe(rotated);
    const at = new Date();
    const header = signatureHeaderValue(target.secret, at, '{}');
    expect(verifySignature(rotated, header, '{}', at)).toBe(true);
    expect(verifySignature(secret, header, '{}', at)).toBe(false);
    expect((await events('webhook_updated')).at(-1)!.details).toEqual({ webhookId: id, changed: ['secret'] });
  });

  it('deliveries: what the CLI\'s own actions queued, newest first, filtered; redeliver queues one again', async () => {
    // The CLI's actions produce deliveries too (it shares the store): a client added is client.created.
    succeeded(await gatehouse(['clients', 'add', '--name', 'Hooked', '--redirect-uri', 'https://app.example.com/cb']));
    succeeded(await gatehouse(['apis', 'add', '--identifier', 'https://api.example.com/', '--scope', 'read']));
    const listed = JSON.parse(succeeded(await gatehouse(['webhooks', 'deliveries', '--json']))) as Array<Record<string, unknown>>;
    expect(listed.map((each) => [each.event_type, each.status, each.attempts, each.webhook_id])).toEqual([['client.created', 'pending', 0, id]]);
    expect(succeeded(await gatehouse(['webhooks', 'deliveries']))).toMatch(/^DELIVERY +WEBHOOK +EVENT +STATUS +ATTEMPTS +CREATED +LAST ERROR\n\S+ +wh_\S+ +client\.created +pending +0 /);
    expect(JSON.parse(succeeded(await gatehouse(['webhooks', 'deliveries', '--status', 'delivered', '--json'])))).toEqual([]);
    expect(succeeded(await gatehouse(['webhooks', 'deliveries', '--status', 'failed']))).toBe('(none)\n');

    const deliveryId = String(listed[0]!.id);
    await store.webhookDeliveries.markFailed(deliveryId, { at: new Date(), error: 'HTTP 500', statusCode: 500 });
    expect(JSON.parse(succeeded(await gatehouse(['webhooks', 'deliveries', '--status', 'failed', '--json'])))).toEqual([
      expect.objectContaining({ id: deliveryId, status: 'failed', attempts: 1, last_status_code: 500, last_error: 'HTTP 500', next_attempt_at: null }),
    ]);
    expect(succeeded(await gatehouse(['webhooks', 'redeliver', deliveryId]))).toBe(`delivery ${deliveryId} queued again; the worker sends it within seconds\n`);
    expect(await store.webhookDeliveries.find(deliveryId)).toMatchObject({ status: 'pending', attempts: 1 });
    expect((await events('webhook_delivery_requeued')).map((event) => [event.actor, event.details.deliveryId])).toEqual([['cli', deliveryId]]);
  });

  it('remove: gone from the list, audited; its deliveries stay visible', async () => {
    expect(succeeded(await gatehouse(['webhooks', 'remove', id]))).toMatch(/^removed webhook wh_/);
    expect(succeeded(await gatehouse(['webhooks', 'list']))).toBe('(none)\n');
    expect((await events('webhook_removed')).map((event) => event.details.webhookId)).toContain(id);
    expect(JSON.parse(succeeded(await gatehouse(['webhooks', 'deliveries', '--json'])))).toHaveLength(1);
    refused(await gatehouse(['webhooks', 'remove', id]), /no webhook/);
  });
});
