import * as jose from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { systemClock } from '../../src/clock.ts';
import { open } from '../../src/keys/encryption.ts';
import { cliSource } from '../../src/libraries/audit.ts';
import { clientsLibrary } from '../../src/libraries/clients.ts';
import { registrationTokensLibrary } from '../../src/libraries/registration-tokens.ts';
import { redirectUri, startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { movableClock } from '../helpers/clock.ts';
import { UserAgent } from '../helpers/user-agent.ts';

const api = 'https://mcp.example/mcp';
const alice = { email: 'alice@example.com', password: 'alice has a long password' };

/** A public MCP-style client, as the MCP SDK registers one. */
const publicClient = {
  client_name: 'Agent on a laptop',
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
  scope: 'mcp:tools',
};

async function register(gatehouse: TestGatehouse, body: unknown, token?: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${gatehouse.url}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function manage(url: string, method: string, token: string | undefined, body?: unknown) {
  const response = await fetch(url, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function events(gatehouse: TestGatehouse, type: string) {
  return (await gatehouse.store.audit.tail({ limit: 500 })).filter((event) => event.type === type);
}

describe('dynamic client registration is off by default', () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse();
  });
  afterAll(() => gatehouse.stop());

  it('has no registration endpoint and advertises none', async () => {
    const refused = await register(gatehouse, publicClient).catch(() => ({ status: 404 }));
    expect(refused.status).toBe(404);
    const metadata = await (await fetch(`${gatehouse.url}/.well-known/oauth-authorization-server`)).json() as Record<string, unknown>;
    expect(metadata.registration_endpoint).toBeUndefined();
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.client_id_metadata_document_supported).toBeUndefined();
  });
});

describe('registration with an initial access token', () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse({
      env: { CLIENT_REGISTRATION: 'token' },
      adjust: (config) => ({ ...config, dynamicClients: { ...config.dynamicClients, registrationsPerHour: 1000 } }),
    });
  });
  afterAll(() => gatehouse.stop());

  it('refuses a registration without a token, and takes one with a token an operator created', async () => {
    const before = (await gatehouse.store.clients.list()).length;
    const anonymous = await register(gatehouse, publicClient);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.error).toBe('invalid_token');
    const wrong = await register(gatehouse, publicClient, 'not-a-token');
    expect(wrong.status).toBe(401);
    expect((await gatehouse.store.clients.list()).length).toBe(before);

    const tokens = registrationTokensLibrary({ store: gatehouse.store, clock: systemClock });
    const { token } = await tokens.create({ note: 'for the test' }, cliSource);
    // A confidential client: allowed with a token, its secret sealed at rest.
    const created = await register(gatehouse, {
      client_name: 'Server app', redirect_uris: ['https://app.example/cb'], token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code'],
    }, token);
    expect(created.status).toBe(201);
    const clientId = created.body.client_id as string;
    const clientSecret = created.body.client_secret as string;
    expect(clientSecret).toBeTruthy();
    expect(created.body.registration_access_token).toBeTruthy();
    const record = (await gatehouse.store.clients.find(clientId))!;
    expect(record.dynamic).toBe(true);
    expect(record.metadata.client_secret).toBeUndefined();
    expect(record.encryptedSecret).toBeTruthy();
    expect(record.encryptedSecret).not.toContain(clientSecret);
    expect(open(record.encryptedSecret!, gatehouse.secrets.keyEncryptionKey, `client-secret:${clientId}`)).toBe(clientSecret);

    const registered = await events(gatehouse, 'client_registered');
    expect(registered.at(-1)).toMatchObject({ clientId, details: { how: 'token', redirect_uris: ['https://app.example/cb'] } });
    expect(JSON.stringify(registered)).not.toContain(clientSecret);
    expect((await events(gatehouse, 'client_registration_refused')).length).toBeGreaterThanOrEqual(2);
  });

  it('still keeps operator-only flags from a registered client', async () => {
    const { token } = await registrationTokensLibrary({ store: gatehouse.store, clock: systemClock }).create({}, cliSource);
    const refused = await register(gatehouse, { ...publicClient, first_party: true }, token);
    expect(refused.status).toBe(400);
    expect(refused.body.error).toBe('invalid_client_metadata');
  });
});

describe('open registration', () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse({
      env: { CLIENT_REGISTRATION: 'open' },
      adjust: (config) => ({ ...config, dynamicClients: { ...config.dynamicClients, registrationsPerHour: 1000 } }),
    });
    await gatehouse.addUser(alice.email, alice.password);
    await gatehouse.addApi({ identifier: api, scopes: ['mcp:tools', 'mcp:admin'] });
  });
  afterAll(() => gatehouse.stop());

  it('advertises registration, PKCE S256 and resource indicators in RFC 8414 metadata', async () => {
    const response = await fetch(`${gatehouse.url}/.well-known/oauth-authorization-server`);
    expect(response.status).toBe(200);
    const metadata = await response.json() as Record<string, unknown>;
    expect(metadata.issuer).toBe(gatehouse.url);
    expect(metadata.registration_endpoint).toBe(`${gatehouse.url}/reg`);
    expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
    expect(metadata.resource_indicators_supported).toBe(true);
    const openid = await (await fetch(`${gatehouse.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(openid.registration_endpoint).toBe(`${gatehouse.url}/reg`);
  });

  it('answers browsers’ preflights on the registration endpoint', async () => {
    const preflight = await fetch(`${gatehouse.url}/reg`, {
      method: 'OPTIONS', headers: { origin: 'https://inspector.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://inspector.example');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('content-type');
    const created = await register(gatehouse, publicClient, undefined, { origin: 'https://inspector.example' });
    expect(created.status).toBe(201);
    expect(created.headers.get('access-control-allow-origin')).toBe('https://inspector.example');
  });

  it('registers a public loopback client that signs a person in with PKCE for an API’s scope', async () => {
    const created = await register(gatehouse, publicClient);
    expect(created.status).toBe(201);
    expect(created.body.scope).toBe('mcp:tools');
    expect(created.body.client_secret).toBeUndefined();
    const clientId = created.body.client_id as string;
    expect(clientId).toMatch(/^[0-9a-f]{32}$/);
    expect((await gatehouse.store.clients.find(clientId))?.dynamic).toBe(true);

    const config = await client.discovery(new URL(gatehouse.url), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri, scope: 'openid mcp:tools', resource: api, state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
    });
    const ua = new UserAgent(gatehouse.url);
    // The consent page says the application registered itself.
    const login = await ua.page(url.href);
    const consent = await ua.submit(login, '/login', alice);
    if (!('document' in consent)) throw new Error('expected the consent page');
    expect(consent.body).toContain('registered itself');
    expect(consent.body).toContain(new URL(gatehouse.url).host);
    const landed = await ua.submit(consent, '/consent', { decision: 'allow' });
    if ('document' in landed) throw new Error(`expected a redirect, got ${landed.body}`);
    const tokens = await client.authorizationCodeGrant(config, new URL(landed.redirectedTo), {
      pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true,
    }, { resource: api });
    const jwks = jose.createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
    const idToken = await jose.jwtVerify(tokens.id_token!, jwks, { issuer: gatehouse.url, audience: clientId });
    expect(idToken.payload.sub).toBeTruthy();
    const access = await jose.jwtVerify(tokens.access_token, jwks, { issuer: gatehouse.url, audience: api });
    expect(access.payload.scope).toBe('mcp:tools');
    expect(access.payload.sub).toBe(idToken.payload.sub);
    expect(access.payload.client_id).toBe(clientId);
    // The client's use is recorded, so it does not expire while in use.
    await expect.poll(async () => (await gatehouse.store.clients.find(clientId))?.lastUsedAt).not.toBeNull();
  });

  it('refuses what open registration does not allow, with OAuth errors, storing nothing', async () => {
    const before = (await gatehouse.store.clients.list()).length;
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...publicClient, token_endpoint_auth_method: 'client_secret_basic' }, 'invalid_client_metadata'],
      [{ ...publicClient, token_endpoint_auth_method: undefined }, 'invalid_client_metadata'],
      [{ ...publicClient, redirect_uris: ['http://app.example/cb'] }, 'invalid_redirect_uri'],
      [{ ...publicClient, redirect_uris: ['http://192.168.1.10:8080/cb'] }, 'invalid_redirect_uri'],
      [{ ...publicClient, redirect_uris: ['com.example.app:/cb'] }, 'invalid_redirect_uri'],
      [{ ...publicClient, jwks_uri: 'https://app.example/jwks' }, 'invalid_client_metadata'],
      [{ ...publicClient, sector_identifier_uri: 'https://app.example/sector' }, 'invalid_client_metadata'],
      [{ ...publicClient, grant_types: ['client_credentials'], response_types: [] }, 'invalid_client_metadata'],
      [{ ...publicClient, grant_types: ['authorization_code', 'implicit'] }, 'invalid_client_metadata'],
      [{ ...publicClient, first_party: true }, 'invalid_client_metadata'],
      [{ ...publicClient, pkce_exempt: true }, 'invalid_client_metadata'],
      [{ ...publicClient, scope: 'openid unknown:scope' }, 'invalid_client_metadata'],
    ];
    for (const [body, error] of cases) {
      const refused = await register(gatehouse, body);
      expect({ case: JSON.stringify(body), status: refused.status, error: refused.body.error }).toEqual({ case: JSON.stringify(body), status: 400, error });
    }
    expect((await gatehouse.store.clients.list()).length).toBe(before);
    // request_uris is not even read: request objects are off, so the provider drops it.
    const dropped = await register(gatehouse, { ...publicClient, request_uris: ['https://app.example/request'] });
    expect(dropped.status).toBe(201);
    expect(dropped.body.request_uris).toBeUndefined();
    const refusals = await events(gatehouse, 'client_registration_refused');
    expect(refusals.length).toBeGreaterThanOrEqual(cases.length);
    expect(refusals.at(-1)).toMatchObject({ details: { operation: 'create', how: 'open', reason: 'invalid_client_metadata' } });
  });

  it('accepts loopback redirect URIs on any port, [::1] and localhost', async () => {
    const created = await register(gatehouse, { ...publicClient, redirect_uris: ['http://127.0.0.1:53682/cb', 'http://[::1]:9/cb', 'http://localhost/cb', 'https://app.example/cb'] });
    expect(created.status).toBe(201);
  });

  it('lets a client read, change and delete itself with its registration access token only (RFC 7592)', async () => {
    const created = await register(gatehouse, publicClient);
    const clientId = created.body.client_id as string;
    const uri = created.body.registration_client_uri as string;
    const token = created.body.registration_access_token as string;
    expect(uri).toBe(`${gatehouse.url}/reg/${clientId}`);

    expect((await manage(uri, 'GET', undefined)).status).toBe(401);
    expect((await manage(uri, 'GET', 'someone-elses-guess')).status).toBe(401);
    const other = await register(gatehouse, publicClient);
    expect((await manage(uri, 'GET', other.body.registration_access_token as string)).status).toBe(401);
    const read = await manage(uri, 'GET', token);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ client_id: clientId, scope: 'mcp:tools', client_name: 'Agent on a laptop' });

    const { registration_access_token: _token, registration_client_uri: _uri, client_id_issued_at: _issued, ...current } = read.body;
    const change = { ...current, client_name: 'Renamed agent' };
    expect((await manage(uri, 'PUT', undefined, change)).status).toBe(401);
    expect((await manage(uri, 'PUT', token, { ...change, redirect_uris: ['http://evil.example/cb'] })).body.error).toBe('invalid_redirect_uri');
    const updated = await manage(uri, 'PUT', token, change);
    expect(updated.status).toBe(200);
    expect(updated.body.client_name).toBe('Renamed agent');
    const rotated = updated.body.registration_access_token as string;
    expect(rotated).toBeTruthy();
    expect(rotated).not.toBe(token);
    // Seen at once by the provider (the read cache dropped its copy).
    expect((await gatehouse.provider().Client.find(clientId))?.clientName).toBe('Renamed agent');
    expect((await gatehouse.store.clients.find(clientId))?.metadata.client_name).toBe('Renamed agent');
    expect((await manage(uri, 'GET', token)).status).toBe(401);

    expect((await manage(uri, 'DELETE', undefined)).status).toBe(401);
    expect((await manage(uri, 'DELETE', rotated)).status).toBe(204);
    expect(await gatehouse.store.clients.find(clientId)).toBeUndefined();
    expect(await gatehouse.provider().Client.find(clientId)).toBeUndefined();

    expect((await events(gatehouse, 'client_registration_updated')).some((event) => event.clientId === clientId)).toBe(true);
    expect((await events(gatehouse, 'client_registration_deleted')).some((event) => event.clientId === clientId)).toBe(true);
  });

  it('never lets registration management touch an operator’s client', async () => {
    const { clientId } = await gatehouse.addClient({ name: 'Operator app' });
    expect((await manage(`${gatehouse.url}/reg/${clientId}`, 'GET', 'anything')).status).toBe(401);
    expect((await manage(`${gatehouse.url}/reg/${clientId}`, 'DELETE', 'anything')).status).toBe(401);
    expect(await gatehouse.store.clients.find(clientId)).toBeDefined();
  });
});

describe('a registration flood from one source', () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse({
      env: { CLIENT_REGISTRATION: 'open', TRUST_PROXY: 'true' },
      adjust: (config) => ({ ...config, dynamicClients: { ...config.dynamicClients, registrationsPerHour: 3 } }),
    });
  });
  afterAll(() => gatehouse.stop());

  it('gets 429 slow_down with Retry-After after the hourly budget, refused ones counted too', async () => {
    expect((await register(gatehouse, { ...publicClient, token_endpoint_auth_method: 'client_secret_basic' })).status).toBe(400);
    expect((await register(gatehouse, { ...publicClient, scope: 'openid' })).status).toBe(201);
    expect((await register(gatehouse, { ...publicClient, scope: 'openid' })).status).toBe(201);
    const before = (await gatehouse.store.clients.list()).length;
    const limited = await register(gatehouse, publicClient, undefined, { origin: 'https://inspector.example' });
    expect(limited.status).toBe(429);
    expect(limited.body.error).toBe('slow_down');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('access-control-allow-origin')).toBe('https://inspector.example');
    expect((await gatehouse.store.clients.list()).length).toBe(before);
  });

  it('a concurrent burst from another source gets exactly the hourly budget stored, the rest 429', async () => {
    const before = (await gatehouse.store.clients.list()).length;
    const burst = await Promise.all(Array.from({ length: 30 }, () => register(gatehouse, { ...publicClient, scope: 'openid' }, undefined, { 'x-forwarded-for': '198.51.100.77' })));
    const statuses = burst.map((answer) => answer.status).sort();
    expect(statuses.filter((status) => status === 201)).toHaveLength(3);
    expect(statuses.filter((status) => status === 429)).toHaveLength(27);
    expect((await gatehouse.store.clients.list()).length).toBe(before + 3);
  });
});

describe('an unused dynamic client', () => {
  let gatehouse: TestGatehouse;
  const clock = movableClock();
  beforeAll(async () => {
    gatehouse = await startGatehouse({ env: { CLIENT_REGISTRATION: 'open' }, clock });
    await gatehouse.addApi({ identifier: api, scopes: ['mcp:tools'] });
  });
  afterAll(() => gatehouse.stop());

  it('expires after dynamicClients.unusedExpiryDays: gone, audited, and refused with OAuth errors from then on', async () => {
    const created = await register(gatehouse, { ...publicClient, client_name: 'Forgotten agent' });
    expect(created.status).toBe(201);
    const clientId = created.body.client_id as string;
    const clients = clientsLibrary({ store: gatehouse.store, config: gatehouse.config, clock, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey });
    // Not yet: a day short of the bound.
    clock.advance((gatehouse.config.dynamicClients.unusedExpiryDays - 1) * 86_400_000);
    expect(await clients.expireUnused(cliSource)).toBe(0);
    clock.advance(2 * 86_400_000);
    expect(await clients.expireUnused(cliSource)).toBe(1);
    expect(await gatehouse.store.clients.find(clientId)).toBeUndefined();
    expect((await events(gatehouse, 'client_expired')).map((event) => event.details?.clientId ?? event.clientId)).toContain(clientId);

    // Within the read cache's bound (1 s) the provider no longer knows it.
    clock.advance(1_000);
    const manageAt = created.body.registration_client_uri as string;
    expect((await manage(manageAt, 'GET', created.body.registration_access_token as string)).status).toBe(401);
    const authorize = await fetch(`${gatehouse.url}/auth?${new URLSearchParams({
      client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256',
    })}`, { redirect: 'manual' });
    expect(authorize.status).toBe(400);
    expect(await authorize.text()).toContain('invalid_client');
  });
});
