import { readFileSync } from 'node:fs';

import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import { relyingParty, signIn } from '../../helpers/relying-party.ts';
import { cliFor } from '../../helpers/run-cli.ts';
import type { Caller, ManagementClient } from './management-client.ts';
import { addManagementClient, managementApiUrl, managementCaller, managementToken } from './management-client.ts';

const everyScope = ['clients:read', 'clients:write', 'apis:read', 'apis:write', 'users:read', 'users:write', 'connections:read', 'connections:write', 'keys:read', 'keys:write', 'audit:read', 'webhooks:read', 'webhooks:write', 'operations:read'];

let gatehouse: TestGatehouse;
let api: Caller;
let robot: ManagementClient;

beforeAll(async () => {
  // The sweep below sends more requests than a minute's budget (limits.test.ts tests the limit).
  gatehouse = await startGatehouse({ adjust: (config) => ({ ...config, limits: { ...config.limits, managementApi: { count: 1_000_000, seconds: 60 } } }) });
  robot = await addManagementClient(gatehouse, everyScope);
  api = await managementCaller(gatehouse, await managementToken(gatehouse, robot));
});
afterAll(() => gatehouse?.stop());

describe('a machine client with every scope drives each resource over HTTP (every answer checked against the OpenAPI document)', () => {
  it('clients: create (secret once), read, list, change with If-Match, rotate the secret, delete', async () => {
    const created = await api.call('POST', '/clients', { body: { client_name: 'Billing worker', grant_types: ['client_credentials'], redirect_uris: [] } });
    expect(created.status).toBe(201);
    expect(created.body.client_secret).toMatch(/^[\w-]{40,}$/);
    expect(created.headers.get('location')).toBe(`/api/v1/clients/${created.body.client_id}`);
    const clientId = created.body.client_id as string;

    // The secret works at the token endpoint, and is never shown again.
    await client.clientCredentialsGrant(await relyingParty(gatehouse, { clientId, clientSecret: created.body.client_secret }), {});
    const read = await api.call('GET', '/clients/{clientId}', { params: { clientId } });
    expect(read.body).toMatchObject({ client_id: clientId, client_name: 'Billing worker', dynamic: false, last_used_at: expect.any(String) });
    expect(read.body.client_secret).toBeUndefined();
    const etag = read.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);

    const listed = await api.call('GET', '/clients', { query: { limit: '200' } });
    expect(listed.body.items.map((each: { client_id: string }) => each.client_id)).toEqual(expect.arrayContaining([clientId, robot.clientId]));

    const renamed = await api.call('PATCH', '/clients/{clientId}', { params: { clientId }, body: { client_name: 'Billing' }, headers: { 'if-match': etag } });
    expect(renamed.status).toBe(200);
    expect(renamed.body.client_name).toBe('Billing');
    expect(renamed.headers.get('etag')).not.toBe(etag);
    expect((await api.call('GET', '/clients/{clientId}', { params: { clientId } })).headers.get('etag')).toBe(renamed.headers.get('etag'));

    const rotated = await api.call('POST', '/clients/{clientId}/rotate-secret', { params: { clientId }, body: { overlap_days: 0 } });
    expect(rotated.body).toMatchObject({ client_secret: expect.any(String), previous_secret_expires_at: null });
    await client.clientCredentialsGrant(await relyingParty(gatehouse, { clientId, clientSecret: rotated.body.client_secret }), {});
    await expect(client.clientCredentialsGrant(await relyingParty(gatehouse, { clientId, clientSecret: created.body.client_secret }), {})).rejects.toThrow();

    expect((await api.call('DELETE', '/clients/{clientId}', { params: { clientId } })).status).toBe(204);
    const gone = await api.call('GET', '/clients/{clientId}', { params: { clientId } });
    expect(gone.status).toBe(404);
    expect(gone.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(gone.body).toMatchObject({ type: 'https://gatehouse.dev/problems/not_found', code: 'not_found', status: 404 });
  });

  it('updates need If-Match: 428 without, 412 with an old ETag (the change is not made), field problems in API terms', async () => {
    const created = await api.call('POST', '/clients', { body: { client_name: 'Guarded', redirect_uris: ['https://guarded.example/cb'] } });
    const clientId = created.body.client_id as string;
    const etag = created.headers.get('etag')!;
    expect((await api.call('GET', '/clients/{clientId}', { params: { clientId } })).headers.get('etag')).toBe(etag);

    const missing = await api.call('PATCH', '/clients/{clientId}', { params: { clientId }, body: { client_name: 'No If-Match' } });
    expect(missing.status).toBe(428);
    expect(missing.body.code).toBe('precondition_required');

    await api.call('PATCH', '/clients/{clientId}', { params: { clientId }, body: { client_name: 'First writer' }, headers: { 'if-match': etag } });
    const late = await api.call('PATCH', '/clients/{clientId}', { params: { clientId }, body: { client_name: 'Second writer' }, headers: { 'if-match': etag } });
    expect(late.status).toBe(412);
    expect(late.body.code).toBe('precondition_failed');
    expect((await api.call('GET', '/clients/{clientId}', { params: { clientId } })).body.client_name).toBe('First writer');

    const current = (await api.call('GET', '/clients/{clientId}', { params: { clientId } })).headers.get('etag')!;
    const refused = await api.call('PATCH', '/clients/{clientId}', { params: { clientId }, body: { redirect_uris: ['not a url'] }, headers: { 'if-match': current } });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('invalid_input');
    expect(refused.body.errors[0].path).toMatch(/^redirect_uris/);
  });

  it('APIs: register, read, list, remove; the management API itself cannot be removed', async () => {
    const identifier = 'https://orders.example.test';
    const created = await api.call('POST', '/apis', { body: { identifier, scopes: ['orders:read'], name: 'Orders' } });
    expect(created.status).toBe(201);
    expect((await api.call('GET', '/apis/{identifier}', { params: { identifier } })).body).toMatchObject({ identifier, scopes: ['orders:read'], signing_alg: 'RS256' });
    const listed = await api.call('GET', '/apis');
    expect(listed.body.items.map((each: { identifier: string }) => each.identifier)).toEqual(expect.arrayContaining([identifier, managementApiUrl(gatehouse)]));
    expect((await api.call('POST', '/apis', { body: { identifier } })).status).toBe(409);
    expect((await api.call('DELETE', '/apis/{identifier}', { params: { identifier } })).status).toBe(204);
    expect((await api.call('GET', '/apis/{identifier}', { params: { identifier } })).status).toBe(404);
    const own = await api.call('DELETE', '/apis/{identifier}', { params: { identifier: managementApiUrl(gatehouse) } });
    expect(own.status).toBe(409);
  });

  it('users: create, read, find by email, change the profile and roles with If-Match, disable, enable, second factor, passkeys, sessions, delete', async () => {
    const created = await api.call('POST', '/users', { body: { email: 'Dana@Example.com', password: 'a long enough passphrase', name: 'Dana', roles: ['staff'], email_verified: true } });
    expect(created.status).toBe(201);
    const userId = created.body.id as string;
    expect(created.body).toMatchObject({ email: 'Dana@Example.com', name: 'Dana', roles: ['staff'], disabled: false });
    expect(created.body.password).toBeUndefined();
    expect(created.body.passwordHash).toBeUndefined();
    expect((await api.call('POST', '/users', { body: { email: 'dana@example.com', password: 'another long passphrase' } })).status).toBe(409);

    const found = await api.call('GET', '/users', { query: { email: 'DANA@example.com' } });
    expect(found.body.items.map((each: { id: string }) => each.id)).toEqual([userId]);
    expect((await api.call('GET', '/users', { query: { email: 'nobody@example.com' } })).body).toEqual({ items: [], next_cursor: null });

    let etag = (await api.call('GET', '/users/{userId}', { params: { userId } })).headers.get('etag')!;
    const profile = await api.call('PATCH', '/users/{userId}', { params: { userId }, body: { given_name: 'Dana', locale: 'en-GB', name: null }, headers: { 'if-match': etag } });
    expect(profile.status).toBe(200);
    expect(profile.body).toMatchObject({ given_name: 'Dana', locale: 'en-GB' });
    expect(profile.body.name).toBeUndefined();
    const badProfile = await api.call('PATCH', '/users/{userId}', { params: { userId }, body: { locale: 'not a locale!' }, headers: { 'if-match': profile.headers.get('etag')! } });
    expect(badProfile.status).toBe(400);
    expect(badProfile.body.errors[0].path).toBe('locale');

    etag = profile.headers.get('etag')!;
    expect((await api.call('PUT', '/users/{userId}/roles', { params: { userId }, body: { roles: ['admin'] } })).status).toBe(428);
    const roles = await api.call('PUT', '/users/{userId}/roles', { params: { userId }, body: { roles: ['admin', 'staff'] }, headers: { 'if-match': etag } });
    expect(roles.body.roles).toEqual(['admin', 'staff']);
    expect((await api.call('PUT', '/users/{userId}/roles', { params: { userId }, body: { roles: ['x'] }, headers: { 'if-match': etag } })).status).toBe(412);

    expect((await api.call('POST', '/users/{userId}/disable', { params: { userId } })).body.disabled).toBe(true);
    expect((await api.call('POST', '/users/{userId}/enable', { params: { userId } })).body.disabled).toBe(false);
    expect((await api.call('POST', '/users/{userId}/second-factor/reset', { params: { userId } })).body).toEqual({ removed: false });
    expect((await api.call('GET', '/users/{userId}/passkeys', { params: { userId } })).body).toEqual({ items: [] });
    // A passkey as a ceremony would leave it (the ceremony itself is the passkeys tests' subject).
    await gatehouse.store.passkeys.create({
      id: 'pk-lost-phone', accountId: userId, publicKey: 'public', counter: 0, transports: ['internal'], deviceType: 'multiDevice', backedUp: true,
      aaguid: '00000000-0000-0000-0000-000000000000', name: 'Lost phone', createdAt: new Date(), lastUsedAt: null,
    });
    expect((await api.call('GET', '/users/{userId}/passkeys', { params: { userId } })).body.items).toEqual([expect.objectContaining({ id: 'pk-lost-phone', name: 'Lost phone', synced: true })]);
    expect((await api.call('DELETE', '/users/{userId}/passkeys/{passkeyId}', { params: { userId, passkeyId: 'nope' } })).status).toBe(404);
    expect((await api.call('DELETE', '/users/{userId}/passkeys/{passkeyId}', { params: { userId, passkeyId: 'pk-lost-phone' } })).status).toBe(204);
    expect((await api.call('GET', '/users/{userId}/passkeys', { params: { userId } })).body).toEqual({ items: [] });
    expect((await api.call('GET', '/users/{userId}/sessions', { params: { userId } })).body).toEqual({ items: [] });
    expect((await api.call('DELETE', '/users/{userId}/sessions/{sessionId}', { params: { userId, sessionId: 'no-such-session' } })).status).toBe(404);

    expect((await api.call('DELETE', '/users/{userId}', { params: { userId } })).status).toBe(204);
    expect((await api.call('GET', '/users/{userId}', { params: { userId } })).status).toBe(404);
  });

  it("users' sessions: a real sign-in is listed, ended one by one or all at once", async () => {
    const person = { email: 'sam@example.com', password: 'a long enough passphrase' };
    const userId = (await api.call('POST', '/users', { body: { ...person, email_verified: true } })).body.id as string;
    const rp = await relyingParty(gatehouse, await gatehouse.addClient());
    await signIn(gatehouse, rp, person);
    await signIn(gatehouse, rp, person);
    const listed = await api.call('GET', '/users/{userId}/sessions', { params: { userId } });
    expect(listed.body.items).toHaveLength(2);
    const [first] = listed.body.items as Array<{ id: string }>;
    expect((await api.call('DELETE', '/users/{userId}/sessions/{sessionId}', { params: { userId, sessionId: first!.id } })).status).toBe(204);
    expect((await api.call('GET', '/users/{userId}/sessions', { params: { userId } })).body.items.map((each: { id: string }) => each.id)).not.toContain(first!.id);
    expect((await api.call('DELETE', '/users/{userId}/sessions', { params: { userId } })).body).toMatchObject({ sessions: 1 });
    expect((await api.call('GET', '/users/{userId}/sessions', { params: { userId } })).body.items).toEqual([]);
  });

  it('connections: add (the secret never shown), read, list, change with If-Match, disable, enable, remove', async () => {
    const created = await api.call('POST', '/connections', { body: { type: 'github', name: 'GitHub', client_id: 'gh-client', client_secret: 'gh-secret-value' } });
    expect(created.status).toBe(201);
    const connectionId = created.body.id as string;
    expect(created.body).toMatchObject({ type: 'github', has_secret: true, disabled: false });
    expect(JSON.stringify(created.body)).not.toContain('gh-secret-value');
    const read = await api.call('GET', '/connections/{connectionId}', { params: { connectionId } });
    expect((await api.call('GET', '/connections')).body.items.map((each: { id: string }) => each.id)).toContain(connectionId);
    const changed = await api.call('PATCH', '/connections/{connectionId}', { params: { connectionId }, body: { name: 'GitHub (work)', allow_new_accounts: false }, headers: { 'if-match': read.headers.get('etag')! } });
    expect(changed.body).toMatchObject({ name: 'GitHub (work)', allow_new_accounts: false });
    expect((await api.call('POST', '/connections/{connectionId}/disable', { params: { connectionId } })).body.disabled).toBe(true);
    expect((await api.call('POST', '/connections/{connectionId}/enable', { params: { connectionId } })).body.disabled).toBe(false);
    expect((await api.call('DELETE', '/connections/{connectionId}', { params: { connectionId } })).body).toEqual({ identities_unlinked: 0 });
    expect((await api.call('GET', '/connections/{connectionId}', { params: { connectionId } })).status).toBe(404);
  });

  it('registration tokens: create (the value once), list, revoke', async () => {
    const created = await api.call('POST', '/registration-tokens', { body: { days: 2, note: 'partner onboarding' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ token: expect.any(String), id: created.body.token.slice(0, 6), note: 'partner onboarding' });
    const listed = await api.call('GET', '/registration-tokens');
    expect(listed.body.items).toEqual([expect.objectContaining({ id: created.body.id })]);
    expect(JSON.stringify(listed.body)).not.toContain(created.body.token);
    expect((await api.call('POST', '/registration-tokens', { body: { days: 1000 } })).body.errors[0].path).toBe('days');
    expect((await api.call('POST', '/registration-tokens/{tokenId}/revoke', { params: { tokenId: created.body.id } })).body.id).toBe(created.body.id);
    expect((await api.call('GET', '/registration-tokens')).body.items).toEqual([]);
    expect((await api.call('POST', '/registration-tokens/{tokenId}/revoke', { params: { tokenId: created.body.id } })).status).toBe(404);
  });

  it('signing keys: import, list, rotate (the new key is published at once), revoke', async () => {
    const example = JSON.parse(readFileSync(new URL('../../../jwks.json.example', import.meta.url), 'utf8')) as { keys: Array<{ kid: string }> };
    const imported = await api.call('POST', '/keys/import', { body: example });
    expect(imported.status).toBe(200);
    expect(imported.body.items.filter((key: { state: string }) => key.state === 'next').map((key: { kid: string }) => key.kid)).toContain(example.keys[0]!.kid);
    expect(JSON.stringify(imported.body)).not.toMatch(/"d"/);
    expect((await api.call('POST', '/keys/import', { body: example })).status).toBe(409);
    expect((await api.call('POST', '/keys/import', { body: { keys: [{ kty: 'RSA', n: 'AQAB', e: 'AQAB' }] } })).status).toBe(400);

    const before = await api.call('GET', '/keys');
    expect(before.body.items.some((key: { state: string }) => key.state === 'current')).toBe(true);
    const rotated = await api.call('POST', '/keys/rotate', { body: { immediately: false } });
    expect(rotated.body.version).toBeGreaterThan(before.body.version);
    const next = rotated.body.items.find((key: { state: string; kid: string }) => key.state === 'next' && !before.body.items.some((old: { kid: string }) => old.kid === key.kid));
    expect(next).toBeDefined();
    const published = await (await fetch(`${gatehouse.url}/jwks`)).json() as { keys: Array<{ kid: string }> };
    expect(published.keys.map((key) => key.kid)).toContain(next.kid);

    const revoked = await api.call('POST', '/keys/{kid}/revoke', { params: { kid: next.kid } });
    expect(revoked.body.items.map((key: { kid: string }) => key.kid)).not.toContain(next.kid);
    expect((await api.call('POST', '/keys/{kid}/revoke', { params: { kid: next.kid } })).status).toBe(404);
    // The token this client holds was signed by the current key: it still works.
    expect((await api.call('GET', '/keys')).status).toBe(200);
  });

  it('audit events record the API client as the actor, filtered by type, client and time', async () => {
    const since = new Date(Date.now() - 1000).toISOString();
    const created = await api.call('POST', '/apis', { body: { identifier: 'https://audited.example.test' } });
    expect(created.status).toBe(201);
    const events = await api.call('GET', '/audit-events', { query: { type: 'api_added', since } });
    const event = events.body.items.find((each: { details: { identifier?: string } }) => each.details.identifier === 'https://audited.example.test');
    expect(event).toMatchObject({ type: 'api_added', actor: 'api', client_id: robot.clientId, details: { actorClientId: robot.clientId } });
    expect((await api.call('GET', '/audit-events', { query: { type: 'api_added', until: since } })).body.items
      .some((each: { details: { identifier?: string } }) => each.details.identifier === 'https://audited.example.test')).toBe(false);
    const byClient = await api.call('GET', '/audit-events', { query: { client: robot.clientId, actor: 'api' } });
    expect(byClient.body.items.length).toBeGreaterThan(3);
    expect(byClient.body.items.every((each: { client_id?: string; actor: string }) => each.actor === 'api')).toBe(true);
  });
});

describe('webhooks, users import and the queues, as the CLI has them (every answer checked against the OpenAPI document)', () => {
  it('webhooks: create (secret once), read, list, disable, enable, rotate the secret, deliveries (filtered, paged), redeliver, delete', async () => {
    const created = await api.call('POST', '/webhooks', { body: { url: 'http://127.0.0.1:9/api-hook', events: ['client.created', 'client.deleted'] } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ url: 'http://127.0.0.1:9/api-hook', events: ['client.created', 'client.deleted'], enabled: true, secret: expect.stringMatching(/^whsec_/) });
    const webhookId = created.body.id as string;
    expect(created.headers.get('location')).toBe(`/api/v1/webhooks/${webhookId}`);
    const stored = await gatehouse.store.webhooks.find(webhookId);
    expect(stored!.sealedSecret).not.toContain(created.body.secret.slice(6));

    const read = await api.call('GET', '/webhooks/{webhookId}', { params: { webhookId } });
    expect(read.body.secret).toBeUndefined();
    // The ETag is the representation's, the secret shown once being no part of it.
    expect(read.headers.get('etag')).toBe(created.headers.get('etag'));
    expect((await api.call('GET', '/webhooks')).body.items.map((each: { id: string }) => each.id)).toContain(webhookId);

    expect((await api.call('POST', '/webhooks/{webhookId}/disable', { params: { webhookId } })).body.enabled).toBe(false);
    expect((await api.call('POST', '/webhooks/{webhookId}/enable', { params: { webhookId } })).body.enabled).toBe(true);
    const rotated = await api.call('POST', '/webhooks/{webhookId}/rotate-secret', { params: { webhookId } });
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);
    expect((await gatehouse.store.webhooks.find(webhookId))!.sealedSecret).not.toBe(stored!.sealedSecret);

    // Each client created is a client.created delivery for it.
    for (let index = 0; index < 5; index += 1) await api.call('POST', '/clients', { body: { client_name: `Hooked ${index}`, redirect_uris: ['https://hooked.example/cb'] } });
    // The worker's first attempts (at a closed port) are over before the queue is read.
    await gatehouse.deliverWebhooks();
    const all = await api.call('GET', '/webhook-deliveries', { query: { webhook: webhookId, limit: '200' } });
    expect(all.body.next_cursor).toBeNull();
    expect(all.body.items).toHaveLength(5);
    expect(all.body.items.every((each: { webhook_id: string; event_type: string }) => each.webhook_id === webhookId && each.event_type === 'client.created')).toBe(true);
    const seen: unknown[] = [];
    let cursor: string | null = null;
    do {
      const page = await api.call('GET', '/webhook-deliveries', { query: { webhook: webhookId, limit: '2', ...(cursor ? { cursor } : {}) } });
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((each: { id: string }) => each.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen).toEqual(all.body.items.map((each: { id: string }) => each.id));

    const deliveryId = all.body.items[0].id as string;
    await gatehouse.store.webhookDeliveries.markFailed(deliveryId, { at: new Date(), error: 'HTTP 500', statusCode: 500 });
    const failed = await api.call('GET', '/webhook-deliveries', { query: { webhook: webhookId, status: 'failed' } });
    expect(failed.body.items).toContainEqual(expect.objectContaining({ id: deliveryId, status: 'failed', last_status_code: 500, last_error: 'HTTP 500' }));
    expect(failed.body.items.every((each: { status: string }) => each.status === 'failed')).toBe(true);
    const requeued = await api.call('POST', '/webhook-deliveries/{deliveryId}/redeliver', { params: { deliveryId } });
    expect(requeued.body).toMatchObject({ id: deliveryId, status: 'pending', next_attempt_at: expect.any(String) });
    expect((await api.call('POST', '/webhook-deliveries/{deliveryId}/redeliver', { params: { deliveryId: 'no-such-delivery' } })).status).toBe(404);
    expect((await api.call('GET', '/webhook-deliveries', { query: { webhook: 'wh_nope' } })).status).toBe(404);

    expect((await api.call('DELETE', '/webhooks/{webhookId}', { params: { webhookId } })).status).toBe(204);
    expect((await api.call('GET', '/webhooks/{webhookId}', { params: { webhookId } })).status).toBe(404);
    expect((await api.call('POST', '/webhooks/{webhookId}/rotate-secret', { params: { webhookId } })).status).toBe(404);
  });

  it('users import: the CLI file\'s records as JSON, refused ones reported by position, a dry run, idempotent, a larger body than other routes but capped', async () => {
    const users = [
      { email: 'imported-a@example.com', name: 'A', email_verified: true, roles: ['staff'], password_hash: null },
      { email: 'not-an-email' },
      { email: 'IMPORTED-A@example.com' },
      { email: 'imported-b@example.com', surprise: true },
      { email: 'imported-c@example.com' },
    ];
    const dry = await api.call('POST', '/users/import', { body: { users, dry_run: true } });
    expect(dry.status).toBe(200);
    expect(dry.body).toMatchObject({ dry_run: true, imported: 2, unchanged: 0, duplicates: [{ line: 3, email: 'IMPORTED-A@example.com' }] });
    expect(dry.body.errors.map((each: { line: number }) => each.line)).toEqual([2, 4]);
    expect((await api.call('GET', '/users', { query: { email: 'imported-a@example.com' } })).body.items).toEqual([]);

    const done = await api.call('POST', '/users/import', { body: { users } });
    expect(done.body).toMatchObject({ dry_run: false, imported: 2, unchanged: 0 });
    expect((await api.call('GET', '/users', { query: { email: 'imported-a@example.com' } })).body.items).toEqual([expect.objectContaining({ name: 'A', roles: ['staff'] })]);
    expect((await api.call('POST', '/users/import', { body: { users: [users[0], users[4]] } })).body).toMatchObject({ imported: 0, unchanged: 2, errors: [], duplicates: [] });

    // Over the 64 KiB of other routes, within the import's cap.
    const many = Array.from({ length: 800 }, (_, index) => ({ email: `bulk-${index}@example.com`, name: `Bulk user number ${index} ${'x'.repeat(60)}` }));
    expect(Buffer.byteLength(JSON.stringify({ users: many }))).toBeGreaterThan(64 * 1024);
    // (A dry run: the users paged below stay few.)
    expect((await api.call('POST', '/users/import', { body: { users: many, dry_run: true } })).body).toMatchObject({ imported: 800, errors: [] });
    const huge = await api.call('POST', '/users/import', { body: { users: [{ email: 'huge@example.com', name: 'x'.repeat(3 * 1024 * 1024) }] } });
    expect([huge.status, huge.body.code]).toEqual([413, 'payload_too_large']);
    const tooMany = await api.call('POST', '/users/import', { body: { users: Array.from({ length: 5001 }, () => ({})) } });
    expect([tooMany.status, tooMany.body.errors[0].path]).toEqual([400, 'users']);

    // Dry runs are not audited.
    const events = await api.call('GET', '/audit-events', { query: { type: 'users_imported', actor: 'api' } });
    expect(events.body.items.length).toBe(2);
  });

  it('operations: the mail queue and the back-channel logout queue, as `mail status` and `logout status` show them', async () => {
    const mail = await api.call('GET', '/operations/mail');
    expect(mail.status).toBe(200);
    expect(mail.body).toMatchObject({ pending: expect.any(Number), sent: expect.any(Number), failed: expect.any(Number), dropped: expect.any(Number), recent_failures: expect.any(Array), recent_drops: expect.any(Array) });
    const cli = JSON.parse((await cliFor(gatehouse.env)(['mail', 'status', '--json'])).stdout) as Record<string, unknown>;
    expect(mail.body).toEqual(cli);
    const logouts = await api.call('GET', '/operations/logouts');
    expect(logouts.body).toEqual(JSON.parse((await cliFor(gatehouse.env)(['logout', 'status', '--json'])).stdout));
    expect(logouts.body).toMatchObject({ pending: expect.any(Number), delivered: expect.any(Number), failed: expect.any(Number), recent_failures: expect.any(Array) });
  });
});

describe('pagination', () => {
  it('walks every page of users and of the audit trail, each item once, in order', async () => {
    for (let index = 0; index < 7; index += 1) {
      await api.call('POST', '/users', { body: { email: `paged${index}@example.com`, password: 'a long enough passphrase' } });
    }
    const whole = (await api.call('GET', '/users', { query: { limit: '200' } })).body;
    expect(whole.next_cursor).toBeNull();
    const walk = async (path: string, query: Record<string, string>) => {
      const seen: unknown[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await api.call('GET', path, { query: { ...query, ...(cursor ? { cursor } : {}) } });
        expect(page.body.items.length).toBeLessThanOrEqual(Number(query.limit));
        seen.push(...page.body.items);
        cursor = page.body.next_cursor;
        pages += 1;
      } while (cursor && pages < 100);
      return { seen, pages };
    };
    const users = await walk('/users', { limit: '3' });
    expect(users.pages).toBe(Math.ceil(whole.items.length / 3));
    expect(users.seen).toEqual(whole.items);

    const trail = (await api.call('GET', '/audit-events', { query: { limit: '200' } })).body.items;
    expect(trail.length).toBeGreaterThan(10);
    const audit = await walk('/audit-events', { limit: '4' });
    expect(audit.seen).toEqual(trail.slice(0, audit.seen.length));
    expect(audit.seen.length).toBeGreaterThanOrEqual(trail.length);
  });

  it('refuses a cursor it did not give out, and a limit out of range', async () => {
    const forged = await api.call('GET', '/users', { query: { cursor: 'not-a-cursor' } });
    expect(forged.status).toBe(400);
    expect(forged.body.errors).toEqual([{ path: 'cursor', message: expect.any(String) }]);
    const zero = await api.call('GET', '/clients', { query: { limit: '0' } });
    expect(zero.status).toBe(400);
    expect(zero.body.errors[0].path).toBe('limit');
  });
});

describe('bad input is a problem, never a 500', () => {
  it('answers each with its problem code', async () => {
    const cases: Array<[string, string, Parameters<Caller['call']>[2], number, string]> = [
      ['POST', '/clients', { body: '{not json' }, 400, 'invalid_json'],
      ['POST', '/clients', { body: { client_name: 'X', surprise: true } }, 400, 'invalid_input'],
      ['POST', '/clients', { body: { client_name: 42 } }, 400, 'invalid_input'],
      ['POST', '/clients', { body: [] }, 400, 'invalid_input'],
      ['POST', '/clients', { body: 'null' }, 400, 'invalid_input'],
      ['POST', '/clients', { body: { client_name: 'X', grant_types: ['password'] } }, 400, 'invalid_input'],
      ['POST', '/clients', { body: 'client_name=X', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 415, 'unsupported_media_type'],
      ['POST', '/clients', { body: { client_name: 'x'.repeat(70_000) } }, 413, 'payload_too_large'],
      ['POST', '/users', { body: { email: 'not-an-email', password: 'a long enough passphrase' } }, 400, 'invalid_input'],
      ['POST', '/users', { body: { email: 'short@example.com', password: 'short' } }, 400, 'invalid_input'],
      ['POST', '/apis', { body: { identifier: 'not a url' } }, 400, 'invalid_input'],
      ['POST', '/connections', { body: { type: 'saml', name: 'X', client_id: 'x' } }, 400, 'invalid_input'],
      ['GET', '/audit-events', { query: { since: 'yesterday' } }, 400, 'invalid_input'],
      ['GET', '/users/{userId}', { params: { userId: 'no-such-user' } }, 404, 'not_found'],
      ['POST', '/keys/{kid}/revoke', { params: { kid: 'no-such-kid' } }, 404, 'not_found'],
      ['POST', '/webhooks', { body: { url: 'not a url', events: ['user.created'] } }, 400, 'invalid_input'],
      ['POST', '/webhooks', { body: { url: 'http://127.0.0.1:9/hook', events: ['user.exploded'] } }, 400, 'invalid_input'],
      ['POST', '/webhooks', { body: { url: 'http://127.0.0.1:9/hook', events: [] } }, 400, 'invalid_input'],
      ['POST', '/webhooks', { body: { url: 'http://10.0.0.1/hook', events: ['user.created'] } }, 400, 'invalid_input'],
      ['GET', '/webhook-deliveries', { query: { status: 'lost' } }, 400, 'invalid_input'],
      ['GET', '/webhook-deliveries', { query: { cursor: 'forged' } }, 400, 'invalid_input'],
      ['GET', '/webhooks/{webhookId}', { params: { webhookId: 'wh_nope' } }, 404, 'not_found'],
      ['POST', '/users/import', { body: { users: 'a file' } }, 400, 'invalid_input'],
      ['POST', '/users/import', { body: { users: [] } }, 400, 'invalid_input'],
      ['POST', '/users/import', { body: '{"users": [' }, 400, 'invalid_json'],
    ];
    for (const [method, path, options, status, code] of cases) {
      const answer = await api.call(method, path, options);
      expect([answer.status, answer.body.code], `${method} ${path} ${JSON.stringify(options)}`).toEqual([status, code]);
      expect(answer.body.type).toBe(`https://gatehouse.dev/problems/${code}`);
      expect(answer.body.detail).toEqual(expect.any(String));
    }
  });

  it('a sweep of every operation with wrong types, nulls, long and odd values in each field and path segment: a documented problem each time', async () => {
    type Schema = { $ref?: string; properties?: Record<string, unknown> };
    const { document } = api.documents as unknown as { document: { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: Schema }> } }>>; components: { schemas: Record<string, Schema> } } };
    const fieldsOf = (schema: Schema | undefined): string[] => {
      const resolved = schema?.$ref ? document.components.schemas[schema.$ref.split('/').at(-1)!] : schema;
      return Object.keys(resolved?.properties ?? {});
    };
    const odd = ['x'.repeat(3000), '%00', '..', 'ü\u0000', ' '];
    let requests = 0;
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const names = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!);
        for (const value of odd) {
          const params = Object.fromEntries(names.map((name) => [name, value]));
          if (!names.length && value !== odd[0]) continue;
          const bodies: unknown[] = [];
          const fields = fieldsOf(operation.requestBody?.content['application/json']?.schema);
          if (operation.requestBody) {
            bodies.push([], 'text', 7, { ...Object.fromEntries(fields.map((field) => [field, 12])) });
            for (const field of fields) bodies.push({ [field]: null }, { [field]: 'x'.repeat(5000) }, { [field]: { nested: [1, { deeper: true }] } }, { [field]: [] });
          } else bodies.push(undefined);
          for (const body of bodies) {
            // The caller asserts < 500 and checks the answer against the document.
            await api.call(method.toUpperCase(), path, { params, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), headers: { 'if-match': '"stale"' } });
            requests += 1;
          }
        }
      }
    }
    expect(requests).toBeGreaterThan(200);
  });

  it('answers unknown routes 404 and wrong methods 405 in JSON, never the pages or the provider', async () => {
    const token = (await managementToken(gatehouse, robot));
    const unknown = await fetch(`${managementApiUrl(gatehouse)}/nothing-here`, { headers: { authorization: `Bearer ${token}` } });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ code: 'not_found' });
    const wrong = await fetch(`${managementApiUrl(gatehouse)}/keys`, { method: 'PUT', headers: { authorization: `Bearer ${token}` } });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET');
    const head = await fetch(`${managementApiUrl(gatehouse)}/keys`, { method: 'HEAD', headers: { authorization: `Bearer ${token}` } });
    expect([head.status, await head.text()]).toEqual([200, '']);
    const badEncoding = await fetch(`${managementApiUrl(gatehouse)}/users/%E0%A4%A`, { headers: { authorization: `Bearer ${token}` } });
    expect(badEncoding.status).toBe(400);
  });
});

describe('the OpenAPI document', () => {
  it('was exercised: every operation answered at least one success, checked against it', () => {
    const operations = Object.entries(api.documents.document.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`));
    const succeeded = [...api.documents.checked].filter((entry) => / 2\d\d$/.test(entry) || / 501$/.test(entry)).map((entry) => entry.replace(/ \d+$/, ''));
    expect(operations.filter((operation) => !succeeded.includes(operation))).toEqual([]);
  });
});
