import { Validator } from '@seriousme/openapi-schema-validator';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MovableClock } from '../../helpers/clock.ts';
import { movableClock } from '../../helpers/clock.ts';
import { relyingParty, signIn } from '../../helpers/relying-party.ts';
import { cliFor } from '../../helpers/run-cli.ts';
import type { Caller, Json, ManagementClient, Operation } from './management-client.ts';
import { addManagementClient, documentChecker, managementApiUrl, managementCaller, managementToken } from './management-client.ts';

const everyScope = ['clients:read', 'clients:write', 'apis:read', 'apis:write', 'users:read', 'users:write', 'connections:read', 'connections:write', 'keys:read', 'keys:write', 'audit:read', 'webhooks:read', 'webhooks:write', 'operations:read'];

let gatehouse: TestGatehouse;
let clock: MovableClock;
let robot: ManagementClient;
let checker: Awaited<ReturnType<typeof documentChecker>>;
/** Calls with no token of its own: each call says which. */
let anonymous: Caller;

beforeAll(async () => {
  clock = movableClock();
  gatehouse = await startGatehouse({ clock });
  robot = await addManagementClient(gatehouse, everyScope);
  checker = await documentChecker(gatehouse);
  anonymous = await managementCaller(gatehouse, '', checker);
});
afterAll(() => gatehouse?.stop());


describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document, served without a token, with the client credentials scheme and every scope', async () => {
    const answer = await fetch(`${managementApiUrl(gatehouse)}/openapi.json`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    const document = await answer.json() as Json;
    const result = await new Validator().validate(document);
    expect(result.errors ?? [], JSON.stringify(result.errors)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers).toEqual([{ url: managementApiUrl(gatehouse) }]);
    expect(document.components.securitySchemes.oauth2.flows.clientCredentials).toMatchObject({ tokenUrl: `${gatehouse.url}/token` });
    expect(Object.keys(document.components.securitySchemes.oauth2.flows.clientCredentials.scopes).sort()).toEqual([...everyScope].sort());
    // Each operation needs one scope; every scope guards something.
    const operations = Object.values(document.paths as Record<string, Record<string, Operation>>).flatMap((methods) => Object.values(methods));
    expect(operations.length).toBeGreaterThan(30);
    expect(new Set(operations.map((operation) => operation.security[0]!.oauth2[0]))).toEqual(new Set(everyScope));
  });

  it('names the management API as a resource Gatehouse issues tokens for, with every scope (registered at start-up)', async () => {
    const run = await cliFor(gatehouse.env)(['apis', 'list', '--json']);
    const apis = JSON.parse(run.stdout) as Array<{ identifier: string; scopes: string[] }>;
    expect(apis.find((api) => api.identifier === managementApiUrl(gatehouse))?.scopes.sort()).toEqual([...everyScope].sort());
    // A restart finds it there and leaves it.
    gatehouse = await gatehouse.restart();
    const again = JSON.parse((await cliFor(gatehouse.env)(['apis', 'list', '--json'])).stdout) as Array<{ identifier: string }>;
    expect(again.filter((api) => api.identifier === managementApiUrl(gatehouse))).toHaveLength(1);

    // A registration made before a scope existed (an older Gatehouse) gains the new scopes at start-up.
    const identifier = managementApiUrl(gatehouse);
    const registered = (await gatehouse.store.apis.find(identifier))!;
    await gatehouse.store.apis.replace({ ...registered, scopes: registered.scopes.filter((scope) => !scope.startsWith('webhooks:') && scope !== 'operations:read') });
    gatehouse = await gatehouse.restart();
    expect((await gatehouse.store.apis.find(identifier))!.scopes.sort()).toEqual([...everyScope].sort());
  });
});

describe('scope enforcement', () => {
  it('every route refuses a token that has every scope but its own: 403 naming the missing scope', async () => {
    const operations = Object.entries(checker.document.paths)
      .flatMap(([path, methods]) => Object.entries(methods).map(([method, operation]) => ({ path, method: method.toUpperCase(), scope: operation.security[0]!.oauth2[0]! })));
    const tokens = new Map<string, string>();
    for (const scope of everyScope) tokens.set(scope, await managementToken(gatehouse, robot, everyScope.filter((each) => each !== scope).join(' ')));
    const only = new Map<string, string>();
    for (const scope of everyScope) only.set(scope, await managementToken(gatehouse, robot, scope));
    const params = { clientId: 'x', identifier: 'https://x.example', userId: 'x', passkeyId: 'x', sessionId: 'x', connectionId: 'x', kid: 'x', tokenId: 'xxxxxx', webhookId: 'x', deliveryId: 'x' };
    for (const { path, method, scope } of operations) {
      const body = ['POST', 'PATCH', 'PUT'].includes(method) ? {} : undefined;
      const refused = await anonymous.call(method, path, { params, token: tokens.get(scope)!, ...(body ? { body } : {}), headers: { 'if-match': '"x"' } });
      expect([refused.status, refused.body.code, refused.body.scope], `${method} ${path}`).toEqual([403, 'insufficient_scope', scope]);
      expect(refused.headers.get('www-authenticate')).toBe(`Bearer realm="gatehouse", error="insufficient_scope", scope="${scope}"`);
      // With that one scope alone, the scope check passes (whatever the answer then is).
      const allowed = await anonymous.call(method, path, { params, token: only.get(scope)!, ...(body ? { body } : {}), headers: { 'if-match': '"x"' } });
      expect(allowed.status, `${method} ${path} with ${scope}`).not.toBe(403);
    }
  });

  it('a client that lists no management scope gets none: not in its token, and refused by the API', async () => {
    const plain = await gatehouse.addClient({ name: 'Lists nothing', grantTypes: ['client_credentials'], redirectUris: [], postLogoutRedirectUris: [] });
    const token = await managementToken(gatehouse, { clientId: plain.clientId, clientSecret: plain.clientSecret! }, 'users:read');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { scope?: string };
    expect(claims.scope ?? '').not.toContain('users:read');
    const refused = await anonymous.call('GET', '/users', { token });
    expect([refused.status, refused.body.code, refused.body.scope]).toEqual([403, 'insufficient_scope', 'users:read']);
  });

  it('a narrower client: `clients add --management-scope users:read` reads users and nothing else', async () => {
    const reader = await addManagementClient(gatehouse, ['users:read'], 'Reader');
    const token = await managementToken(gatehouse, reader, everyScope.join(' '));
    expect((await anonymous.call('GET', '/users', { token })).status).toBe(200);
    expect((await anonymous.call('POST', '/users', { token, body: { email: 'x@example.com', password: 'a long enough passphrase' } })).body.scope).toBe('users:write');
    expect((await anonymous.call('GET', '/clients', { token })).body.scope).toBe('clients:read');
    const unknown = await cliFor(gatehouse.env)(['clients', 'add', '--name', 'Typo', '--management-scope', 'users:reed']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('users:reed is not a scope of the management API');
  });
});

describe('authentication', () => {
  it('refuses a request without a token, and tokens that are not valid for it, with WWW-Authenticate', async () => {
    const none = await anonymous.call('GET', '/keys', { token: null });
    expect([none.status, none.body.code]).toEqual([401, 'unauthorized']);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="gatehouse"');

    const token = await managementToken(gatehouse, robot);
    const [header, payload, signature] = token.split('.');
    const tampered = `${header}.${payload}.${signature!.slice(0, -4)}AAAA`;
    const forged = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), scope: 'keys:write' })).toString('base64url')}.${signature}`;
    for (const bad of ['garbage', tampered, forged]) {
      const refused = await anonymous.call('GET', '/keys', { token: bad });
      expect([refused.status, refused.body.code]).toEqual([401, 'invalid_token']);
      expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer realm="gatehouse", error="invalid_token", error_description="/);
    }
    const dpop = await fetch(`${managementApiUrl(gatehouse)}/keys`, { headers: { authorization: `DPoP ${token}` } });
    expect([dpop.status, (await dpop.json() as { detail: string }).detail]).toEqual([401, expect.stringContaining('Bearer tokens only')]);
  });

  it("refuses another API's token, a person's token for the management API, and a deleted client's token", async () => {
    await gatehouse.addApi({ identifier: 'https://orders.example.test', scopes: ['orders:read'] });
    const orders = await gatehouse.addClient({ name: 'Orders', grantTypes: ['client_credentials'], redirectUris: [], postLogoutRedirectUris: [], scope: 'orders:read' });
    const ordersToken = (await client.clientCredentialsGrant(await relyingParty(gatehouse, orders), { resource: 'https://orders.example.test', scope: 'orders:read' })).access_token;
    const wrongAudience = await anonymous.call('GET', '/keys', { token: ordersToken });
    expect([wrongAudience.status, wrongAudience.body.detail]).toEqual([401, expect.stringContaining('aud')]);

    // A person signed in to an application that lists a management scope: the token is the person's.
    await gatehouse.addUser('ops@example.com', 'a long enough passphrase');
    const app = await gatehouse.addClient({ name: 'Console', firstParty: true, grantTypes: ['authorization_code', 'refresh_token'], scope: 'openid offline_access keys:read' });
    const rp = await relyingParty(gatehouse, app);
    const { tokens } = await signIn(gatehouse, rp, { email: 'ops@example.com', password: 'a long enough passphrase' }, { scope: 'openid offline_access keys:read', resource: managementApiUrl(gatehouse), prompt: 'consent' });
    const forApi = await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: managementApiUrl(gatehouse) });
    const personal = await anonymous.call('GET', '/keys', { token: forApi.access_token });
    expect([personal.status, personal.body.detail]).toEqual([401, expect.stringContaining('client credentials tokens only')]);

    const doomed = await addManagementClient(gatehouse, ['keys:read'], 'Doomed');
    const doomedToken = await managementToken(gatehouse, doomed);
    expect((await anonymous.call('GET', '/keys', { token: doomedToken })).status).toBe(200);
    expect((await cliFor(gatehouse.env)(['clients', 'remove', doomed.clientId])).code).toBe(0);
    const gone = await anonymous.call('GET', '/keys', { token: doomedToken });
    expect([gone.status, gone.body.detail]).toEqual([401, expect.stringContaining('no longer exists')]);
  });

  it('refuses an expired token (by the start-up clock)', async () => {
    const token = await managementToken(gatehouse, robot);
    expect((await anonymous.call('GET', '/keys', { token })).status).toBe(200);
    clock.advance(11 * 60 * 1000);
    try {
      const expired = await anonymous.call('GET', '/keys', { token });
      expect([expired.status, expired.body.detail]).toEqual([401, expect.stringContaining('expired')]);
    } finally {
      clock.rewind();
    }
  });
});
