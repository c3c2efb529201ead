import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AuditEvent } from '../../../src/store/types.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import { cliFor } from '../../helpers/run-cli.ts';
import type { Caller, Json, ManagementClient } from './management-client.ts';
import { addManagementClient, managementCaller, managementToken } from './management-client.ts';

/**
 * The CLI and the management API call the same library functions, so the same action leaves the
 * same audit events: each action is done once by an operator at the command line and once by a
 * machine client over HTTP, on one deployment, and the events must be the same but for who acted
 * (actor `cli` or `api`, the API's client recorded as details.actorClientId) and whom they concern.
 */

let gatehouse: TestGatehouse;
let robot: ManagementClient;
let api: Caller;
let gatehouseCli: ReturnType<typeof cliFor>;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  gatehouseCli = cliFor(gatehouse.env);
  robot = await addManagementClient(gatehouse, ['clients:write', 'clients:read', 'apis:write', 'users:write', 'users:read', 'keys:write', 'webhooks:write']);
  api = await managementCaller(gatehouse, await managementToken(gatehouse, robot));
});
afterAll(() => gatehouse?.stop());

async function trail(): Promise<AuditEvent[]> {
  return gatehouse.store.audit.tail({ limit: 10_000 });
}

/** The events an action left (what was appended while it ran). */
async function eventsOf(action: () => Promise<unknown>): Promise<AuditEvent[]> {
  const before = (await trail()).length;
  await action();
  return (await trail()).slice(before);
}

/**
 * An event as compared: who acted is set aside (the actor, the address, and the API's client: as
 * details.actorClientId, and as the event's clientId when the event concerns no other client), the
 * values of `subjects` are replaced by their names, and times (which differ by the moments between
 * the two actions) by <time>.
 */
function comparable(events: AuditEvent[], subjects: Record<string, string>): unknown[] {
  const names = new Map(Object.entries(subjects).map(([name, value]) => [value, `<${name}>`]));
  const replace = (value: unknown): unknown => (typeof value === 'string' ? names.get(value) ?? (/^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(value) ? '<time>' : value)
    : Array.isArray(value) ? value.map(replace)
      : value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([key, each]) => [key, replace(each)])) : value);
  return events.map(({ at: _at, actor: _actor, sourceAddress: _address, details, clientId, ...rest }) => {
    const { actorClientId: _caller, ...kept } = details;
    return replace({ ...rest, ...(clientId && clientId !== robot.clientId ? { clientId } : {}), details: kept });
  });
}

async function cliJson(args: string[], input?: string): Promise<Json> {
  const run = await gatehouseCli([...args, '--json'], input);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
}

describe('the CLI and the management API leave the same audit events', () => {
  it('for clients: add, update, rotate the secret, remove', async () => {
    let cliClient = '';
    let apiClient = '';
    const added = await eventsOf(async () => (cliClient = (await cliJson(['clients', 'add', '--name', 'Parity', '--redirect-uri', 'https://parity.example/cb'])).client_id));
    const addedByApi = await eventsOf(async () => (apiClient = (await api.call('POST', '/clients', { body: { client_name: 'Parity', redirect_uris: ['https://parity.example/cb'] } })).body.client_id));
    expect(addedByApi.map((event) => event.actor)).toEqual(['api']);
    expect(addedByApi[0]!.details.actorClientId).toBe(robot.clientId);
    expect(added.map((event) => event.actor)).toEqual(['cli']);
    expect(comparable(addedByApi, { client: apiClient })).toEqual(comparable(added, { client: cliClient }));

    const updated = await eventsOf(() => cliJson(['clients', 'update', '--id', cliClient, '--name', 'Parity 2', '--logo-uri', 'https://parity.example/logo.png']));
    const etag = (await api.call('GET', '/clients/{clientId}', { params: { clientId: apiClient } })).headers.get('etag')!;
    const updatedByApi = await eventsOf(() => api.call('PATCH', '/clients/{clientId}', { params: { clientId: apiClient }, body: { client_name: 'Parity 2', logo_uri: 'https://parity.example/logo.png' }, headers: { 'if-match': etag } }));
    expect(updated.length).toBeGreaterThan(0);
    expect(comparable(updatedByApi, { client: apiClient })).toEqual(comparable(updated, { client: cliClient }));

    const rotated = await eventsOf(() => cliJson(['clients', 'rotate-secret', '--id', cliClient, '--overlap-days', '2']));
    const rotatedByApi = await eventsOf(() => api.call('POST', '/clients/{clientId}/rotate-secret', { params: { clientId: apiClient }, body: { overlap_days: 2 } }));
    expect(rotated.length).toBeGreaterThan(0);
    expect(comparable(rotatedByApi, { client: apiClient })).toEqual(comparable(rotated, { client: cliClient }));

    const removed = await eventsOf(() => cliJson(['clients', 'remove', cliClient]));
    const removedByApi = await eventsOf(() => api.call('DELETE', '/clients/{clientId}', { params: { clientId: apiClient } }));
    expect(removed.length).toBeGreaterThan(0);
    expect(comparable(removedByApi, { client: apiClient })).toEqual(comparable(removed, { client: cliClient }));
  });

  it('for webhooks: add, disable, enable, rotate the secret, remove', async () => {
    let cliHook = '';
    let apiHook = '';
    const url = 'http://127.0.0.1:9/parity-hook';
    const added = await eventsOf(async () => (cliHook = (await cliJson(['webhooks', 'add', '--url', url, '--event', 'user.created', '--event', 'client.deleted'])).id));
    const addedByApi = await eventsOf(async () => (apiHook = (await api.call('POST', '/webhooks', { body: { url, events: ['user.created', 'client.deleted'] } })).body.id));
    expect(added.map((event) => [event.type, event.actor])).toEqual([['webhook_added', 'cli']]);
    expect(addedByApi.map((event) => [event.type, event.actor])).toEqual([['webhook_added', 'api']]);
    expect(addedByApi[0]!.details.actorClientId).toBe(robot.clientId);
    expect(comparable(addedByApi, { webhook: apiHook })).toEqual(comparable(added, { webhook: cliHook }));

    const actions: Array<[string[], string]> = [
      [['webhooks', 'disable', cliHook], '/webhooks/{webhookId}/disable'],
      [['webhooks', 'enable', cliHook], '/webhooks/{webhookId}/enable'],
      [['webhooks', 'rotate-secret', cliHook], '/webhooks/{webhookId}/rotate-secret'],
    ];
    for (const [command, route] of actions) {
      const byCli = await eventsOf(() => cliJson(command));
      const byApi = await eventsOf(() => api.call('POST', route, { params: { webhookId: apiHook } }));
      expect(byCli.length, route).toBeGreaterThan(0);
      expect(comparable(byApi, { webhook: apiHook }), route).toEqual(comparable(byCli, { webhook: cliHook }));
    }
    const removed = await eventsOf(() => cliJson(['webhooks', 'remove', cliHook]));
    const removedByApi = await eventsOf(() => api.call('DELETE', '/webhooks/{webhookId}', { params: { webhookId: apiHook } }));
    expect(removed.map((event) => event.type)).toEqual(['webhook_removed']);
    expect(comparable(removedByApi, { webhook: apiHook })).toEqual(comparable(removed, { webhook: cliHook }));
  });

  it('for APIs, users (add, profile, disable, enable, sign out) and signing keys', async () => {
    const apiAdded = await eventsOf(() => cliJson(['apis', 'add', '--identifier', 'https://cli.example.test', '--scope', 'a:read']));
    const apiAddedByApi = await eventsOf(() => api.call('POST', '/apis', { body: { identifier: 'https://api.example.test', scopes: ['a:read'] } }));
    expect(comparable(apiAddedByApi, { identifier: 'https://api.example.test' })).toEqual(comparable(apiAdded, { identifier: 'https://cli.example.test' }));
    const apiRemoved = await eventsOf(() => cliJson(['apis', 'remove', 'https://cli.example.test']));
    const apiRemovedByApi = await eventsOf(() => api.call('DELETE', '/apis/{identifier}', { params: { identifier: 'https://api.example.test' } }));
    expect(comparable(apiRemovedByApi, { identifier: 'https://api.example.test' })).toEqual(comparable(apiRemoved, { identifier: 'https://cli.example.test' }));

    let cliUser = '';
    let apiUser = '';
    const password = 'a long enough passphrase';
    const userAdded = await eventsOf(async () => (cliUser = (await cliJson(['users', 'add', '--email', 'cli-user@example.com', '--name', 'Pat', '--verified', '--role', 'staff'], password)).id));
    const userAddedByApi = await eventsOf(async () => (apiUser = (await api.call('POST', '/users', { body: { email: 'api-user@example.com', password, name: 'Pat', email_verified: true, roles: ['staff'] } })).body.id));
    const cliSubjects = { user: cliUser, email: 'cli-user@example.com' };
    const apiSubjects = { user: apiUser, email: 'api-user@example.com' };
    expect(userAdded.length).toBeGreaterThan(0);
    expect(comparable(userAddedByApi, apiSubjects)).toEqual(comparable(userAdded, cliSubjects));

    const profile = await eventsOf(() => cliJson(['users', 'update', '--email', 'cli-user@example.com', '--locale', 'fr-FR', '--name', '']));
    const etag = (await api.call('GET', '/users/{userId}', { params: { userId: apiUser } })).headers.get('etag')!;
    const profileByApi = await eventsOf(() => api.call('PATCH', '/users/{userId}', { params: { userId: apiUser }, body: { locale: 'fr-FR', name: '' }, headers: { 'if-match': etag } }));
    expect(profile.length).toBeGreaterThan(0);
    expect(comparable(profileByApi, apiSubjects)).toEqual(comparable(profile, cliSubjects));

    for (const [command, route] of [['disable', '/users/{userId}/disable'], ['enable', '/users/{userId}/enable']] as const) {
      const byCli = await eventsOf(() => cliJson(['users', command, 'cli-user@example.com']));
      const byApi = await eventsOf(() => api.call('POST', route, { params: { userId: apiUser } }));
      expect(byCli.length, command).toBeGreaterThan(0);
      expect(comparable(byApi, apiSubjects), command).toEqual(comparable(byCli, cliSubjects));
    }
    const signedOut = await eventsOf(() => cliJson(['users', 'sign-out', '--email', 'cli-user@example.com']));
    const signedOutByApi = await eventsOf(() => api.call('DELETE', '/users/{userId}/sessions', { params: { userId: apiUser } }));
    expect(comparable(signedOutByApi, apiSubjects)).toEqual(comparable(signedOut, cliSubjects));

    // Rotation publishes next keys; a second rotation right after has nothing to do. So the two
    // compared actions are the revocation of one next key each.
    const ring = await cliJson(['keys', 'rotate']);
    const nexts = (ring.keys ?? ring).filter((key: { state: string }) => key.state === 'next') as Array<{ kid: string }>;
    expect(nexts.length).toBeGreaterThanOrEqual(2);
    const revoked = await eventsOf(() => cliJson(['keys', 'revoke', nexts[0]!.kid]));
    const revokedByApi = await eventsOf(() => api.call('POST', '/keys/{kid}/revoke', { params: { kid: nexts[1]!.kid } }));
    expect(revoked.map((event) => event.type)).toContain('key_ring_changed');
    // The ring's version counts changes: the second revocation's is one more.
    const unversioned = (events: AuditEvent[]) => events.map((event) => ({ ...event, details: { ...event.details, version: '<version>' } }));
    expect(comparable(unversioned(revokedByApi), { kid: nexts[1]!.kid })).toEqual(comparable(unversioned(revoked), { kid: nexts[0]!.kid }));
    expect(revokedByApi.every((event) => event.actor === 'api' && event.details.actorClientId === robot.clientId)).toBe(true);
  });
});
