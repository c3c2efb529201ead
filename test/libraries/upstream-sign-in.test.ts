import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { GatehouseError } from '../../src/errors.ts';
import type { AuditSource } from '../../src/libraries/audit.ts';
import type { Connection } from '../../src/libraries/connections.ts';
import { connectionPresets } from '../../src/libraries/connections.ts';
import type { UpstreamIdentity, UpstreamLibrary, UpstreamRequest } from '../../src/libraries/upstream-sign-in.ts';
import { mapClaims, microsoftIssuerFits, microsoftTenantIssuer, upstreamLibrary, upstreamWords } from '../../src/libraries/upstream-sign-in.ts';
import type { AuditEvent, AuditStore } from '../../src/store/types.ts';
import { movableClock } from '../helpers/clock.ts';
import type { UpstreamProvider } from '../helpers/upstream-provider.ts';
import { startUpstreamProvider } from '../helpers/upstream-provider.ts';
import type { GitHubStandIn, GoogleStandIn, MicrosoftStandIn } from '../helpers/upstream-stand-ins.ts';
import { microsoftConsumersTenant, startGitHubStandIn, startGoogleStandIn, startMicrosoftStandIn } from '../helpers/upstream-stand-ins.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

// Gatehouse's callback: never reached (the user agent stops at it), only compared.
const redirectUri = 'http://127.0.0.1:9/connections/acme/callback';
const person: AuditSource = { actor: 'user', sourceAddress: '203.0.113.9', clientId: 'shop' };

const events: AuditEvent[] = [];
const audit: AuditStore = {
  append: async (event) => void events.push(event),
  tail: async ({ limit }) => events.slice(-limit),
};
const secrets = new Map<string, string>();
const clock = movableClock();

function library(options: { timeoutMs?: number; env?: 'development' | 'production' | 'test' } = {}): UpstreamLibrary {
  return upstreamLibrary({
    config: { env: options.env ?? 'test' },
    clock,
    store: { audit },
    clientSecret: async (id) => secrets.get(id),
    timeoutMs: options.timeoutMs ?? 2_000,
  });
}

function connection(overrides: Partial<Connection> & Pick<Connection, 'type' | 'clientId'>): Connection {
  const at = new Date('2025-01-01T00:00:00Z');
  return {
    id: 'acme', name: 'Acme SSO', issuer: null, tenant: null, hasSecret: true,
    scopes: connectionPresets[overrides.type].scopes, claimMapping: connectionPresets[overrides.type].claimMapping,
    showOnLoginPage: true, allowNewAccounts: true, trustVerifiedEmails: false, trustUpstreamMfa: false, disabled: false,
    authorizationUrl: null, tokenUrl: null, apiUrl: null, createdAt: at, updatedAt: at,
    ...overrides,
  };
}

/** Follows the authorization URL like a browser until the upstream sends it back to our callback. */
async function authorize(request: UpstreamRequest): Promise<URL> {
  const ua = new UserAgent(new URL(request.url).origin);
  const result = await ua.navigate(request.url);
  if (isPage(result)) throw new Error(`the upstream showed a page (${result.status}): ${result.body}`);
  const callback = new URL(result.redirectedTo);
  expect(`${callback.origin}${callback.pathname}`).toBe(redirectUri);
  return callback;
}

async function roundTrip(upstream: UpstreamLibrary, target: Connection): Promise<UpstreamIdentity> {
  const request = await upstream.begin(target, redirectUri);
  return upstream.complete(target, await authorize(request), request, redirectUri, person);
}

/** The GatehouseError `work` rejects with, and the audit event it left. */
async function failure(work: () => Promise<unknown>): Promise<{ error: GatehouseError; event: AuditEvent | undefined }> {
  const before = events.length;
  const error = await work().then(() => new Error('expected a rejection, but it resolved'), (caught: unknown) => caught);
  expect(error).toBeInstanceOf(GatehouseError);
  return { error: error as GatehouseError, event: events.slice(before).find((event) => event.type === 'upstream_sign_in_failed') };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('pure rules', () => {
  it("Microsoft's issuer rule: the discovered issuer fits the tenant; a token's issuer is the template with its tid", () => {
    const authority = 'https://login.microsoftonline.com';
    const tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47';
    expect(microsoftIssuerFits(`${authority}/common/v2.0`, `${authority}/{tenantid}/v2.0`)).toBe(true);
    expect(microsoftIssuerFits(`${authority}/organizations/v2.0`, `${authority}/{tenantid}/v2.0`)).toBe(true);
    expect(microsoftIssuerFits(`${authority}/consumers/v2.0`, `${authority}/${microsoftConsumersTenant}/v2.0`)).toBe(true);
    expect(microsoftIssuerFits(`${authority}/${tenantId}/v2.0`, `${authority}/${tenantId}/v2.0`)).toBe(true);
    // A GUID tenant publishes its own issuer, nobody else's; nobody but common/organizations the template.
    expect(microsoftIssuerFits(`${authority}/${tenantId}/v2.0`, `${authority}/${microsoftConsumersTenant}/v2.0`)).toBe(false);
    expect(microsoftIssuerFits(`${authority}/${tenantId}/v2.0`, `${authority}/{tenantid}/v2.0`)).toBe(false);
    expect(microsoftIssuerFits(`${authority}/common/v2.0`, `https://evil.example/{tenantid}/v2.0`)).toBe(false);
    expect(microsoftIssuerFits(`${authority}/common/v2.0`, `${authority}/{tenantid}/v2.0/extra`)).toBe(false);

    const template = `${authority}/{tenantid}/v2.0`;
    expect(microsoftTenantIssuer(template, tenantId, 'common')).toBe(`${authority}/${tenantId}/v2.0`);
    expect(microsoftTenantIssuer(template, microsoftConsumersTenant, 'common')).toBe(`${authority}/${microsoftConsumersTenant}/v2.0`);
    // The organizations endpoint never serves personal accounts.
    expect(microsoftTenantIssuer(template, microsoftConsumersTenant, 'organizations')).toBeNull();
    // A tid that is not a GUID names no issuer (it cannot smuggle a path into it).
    expect(microsoftTenantIssuer(template, '../evil', 'common')).toBeNull();
    expect(microsoftTenantIssuer(template, undefined, 'common')).toBeNull();
  });

  it('maps claims to profile claims (strings only) and keeps an upstream\'s words to one printable line', () => {
    expect(mapClaims({ name: 'name', picture: 'avatar_url', preferred_username: 'login', locale: 'missing' }, { name: 'Ada', avatar_url: 'https://a.example/p', login: 7, toString: 'x' }))
      .toEqual({ name: 'Ada', picture: 'https://a.example/p' });
    expect(mapClaims({ name: 'constructor' }, {})).toEqual({});
    expect(upstreamWords('AADSTS65004: declined\r\nTrace ID: 1\u202e')).toBe('AADSTS65004: declined Trace ID: 1');
    expect(upstreamWords('x'.repeat(500))).toHaveLength(200);
  });
});

describe('a generic OpenID Connect provider (oidc-provider on loopback)', () => {
  let provider: UpstreamProvider;
  let upstream: UpstreamLibrary;
  let acme: Connection;

  beforeAll(async () => {
    provider = await startUpstreamProvider({
      redirectUris: [redirectUri],
      user: { sub: 'upstream-ada', email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace', given_name: 'Ada', amr: ['pwd', 'otp'], acr: 'urn:upstream:loa:2' },
    });
    secrets.set('acme', provider.clientSecret);
    acme = connection({ type: 'oidc', issuer: provider.issuer, clientId: provider.clientId });
  });
  afterAll(() => provider.stop());
  beforeEach(() => {
    provider.misbehave(null);
    clock.rewind();
    upstream = library();
  });

  it('begins with the code flow, PKCE S256, a fresh state and nonce, the scopes and our callback', async () => {
    const first = await upstream.begin(acme, redirectUri);
    const second = await upstream.begin(acme, redirectUri);
    const url = new URL(first.url);
    expect(`${url.origin}${url.pathname}`).toBe(`${provider.issuer}/auth`);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({
      response_type: 'code', client_id: provider.clientId, redirect_uri: redirectUri, scope: 'openid email profile',
      code_challenge_method: 'S256', state: first.state, nonce: first.nonce,
    });
    expect(url.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(url.searchParams.get('code_challenge')).not.toBe(first.codeVerifier);
    expect(first.codeVerifier).toMatch(/^[\w-]{43,128}$/);
    expect(new Set([first.state, second.state]).size).toBe(2);
    expect(new Set([first.nonce, second.nonce]).size).toBe(2);
    expect(new Set([first.codeVerifier, second.codeVerifier]).size).toBe(2);
  });

  it('completes a round trip: the subject, the verified email, the mapped profile, amr and acr (userinfo asked for what the ID token lacks)', async () => {
    const before = provider.requests.length;
    const identity = await roundTrip(upstream, acme);
    expect(identity).toEqual({
      subject: 'upstream-ada', email: 'ada@example.com', emailVerified: true,
      profile: { name: 'Ada Lovelace', given_name: 'Ada' }, amr: ['pwd', 'otp'], acr: 'urn:upstream:loa:2',
    });
    const asked = provider.requests.slice(before);
    expect(asked).toContain('POST /token');
    expect(asked).toContain('GET /jwks');
    expect(asked).toContain('GET /me');
  });

  it('does not ask userinfo when the ID token has every claim needed; an unverified email is not verified', async () => {
    const rich = await startUpstreamProvider({ redirectUris: [redirectUri], claimsInIdToken: true, user: { sub: 'bo', email: 'bo@example.com', email_verified: false, name: 'Bo' } });
    try {
      secrets.set('rich', rich.clientSecret);
      const target = connection({ id: 'rich', type: 'oidc', issuer: rich.issuer, clientId: rich.clientId, claimMapping: { name: 'name' } });
      const identity = await roundTrip(upstream, target);
      expect(identity).toMatchObject({ subject: 'bo', email: 'bo@example.com', emailVerified: false, profile: { name: 'Bo' }, amr: null, acr: null });
      expect(rich.requests).not.toContain('GET /me');
    } finally {
      await rich.stop();
    }
  });

  it('works with a public client (no secret, PKCE only)', async () => {
    const open = await startUpstreamProvider({ redirectUris: [redirectUri], tokenEndpointAuthMethod: 'none', user: { sub: 'cy', email: 'cy@example.com', email_verified: true } });
    try {
      const target = connection({ id: 'public', type: 'oidc', issuer: open.issuer, clientId: open.clientId, hasSecret: false });
      expect(await roundTrip(upstream, target)).toMatchObject({ subject: 'cy', email: 'cy@example.com', emailVerified: true });
    } finally {
      await open.stop();
    }
  });

  it('keeps a discovery for 10 minutes (on the injected clock), then discovers again', async () => {
    const discoveries = () => provider.requests.filter((request) => request === 'GET /.well-known/openid-configuration').length;
    const start = discoveries();
    await upstream.begin(acme, redirectUri);
    await upstream.begin(acme, redirectUri);
    expect(discoveries()).toBe(start + 1);
    clock.advance(9 * 60_000);
    await upstream.begin(acme, redirectUri);
    expect(discoveries()).toBe(start + 1);
    clock.advance(2 * 60_000);
    await upstream.begin(acme, redirectUri);
    expect(discoveries()).toBe(start + 2);
  });

  it('refuses a callback whose state is not this browser\'s, before anything is sent upstream', async () => {
    const request = await upstream.begin(acme, redirectUri);
    const callback = await authorize(request);
    const tokenRequests = provider.requests.filter((entry) => entry === 'POST /token').length;
    for (const state of ['forged', '', null]) {
      const forged = new URL(callback);
      if (state === null) forged.searchParams.delete('state');
      else forged.searchParams.set('state', state);
      const { error, event } = await failure(async () => upstream.complete(acme, forged, request, redirectUri, person));
      expect(error.code).toBe('upstream_invalid');
      expect(error.status).toBe(400);
      expect(event?.details).toMatchObject({ reason: 'state_mismatch', connectionId: 'acme', stage: 'complete' });
    }
    const doubled = new URL(callback);
    doubled.searchParams.append('state', request.state);
    expect((await failure(async () => upstream.complete(acme, doubled, request, redirectUri, person))).event?.details.reason).toBe('state_mismatch');
    expect(provider.requests.filter((entry) => entry === 'POST /token').length).toBe(tokenRequests);
    // The real answer still completes.
    expect((await upstream.complete(acme, callback, request, redirectUri, person)).subject).toBe('upstream-ada');
  });

  it('refuses a replayed callback (the code is used once)', async () => {
    const request = await upstream.begin(acme, redirectUri);
    const callback = await authorize(request);
    await upstream.complete(acme, callback, request, redirectUri, person);
    const { error, event } = await failure(async () => upstream.complete(acme, callback, request, redirectUri, person));
    expect(error.code).toBe('upstream_invalid');
    expect(event?.details).toMatchObject({ reason: 'token_error', error: 'invalid_grant' });
  });

  it('refuses a wrong PKCE verifier', async () => {
    const request = await upstream.begin(acme, redirectUri);
    const callback = await authorize(request);
    const { error } = await failure(async () => upstream.complete(acme, callback, { ...request, codeVerifier: 'x'.repeat(43) }, redirectUri, person));
    expect(error.code).toBe('upstream_invalid');
  });

  it('reports an error redirect as upstream_refused, in the upstream\'s words, audited with the actor and address', async () => {
    provider.misbehave('access-denied');
    const request = await upstream.begin(acme, redirectUri);
    const callback = await authorize(request);
    expect(callback.searchParams.get('error')).toBe('access_denied');
    const { error, event } = await failure(async () => upstream.complete(acme, callback, request, redirectUri, person));
    expect(error.code).toBe('upstream_refused');
    expect(error.status).toBe(403);
    expect(error.messageId).toBe('libraries.upstream_refused_described');
    // Words, not markup: the page that shows them escapes them.
    expect(error.values).toMatchObject({ connection: 'Acme SSO', error: 'access_denied', description: 'The person declined to sign in <here>' });
    expect(event).toMatchObject({ type: 'upstream_sign_in_failed', actor: 'user', sourceAddress: '203.0.113.9', clientId: 'shop' });
    expect(event?.details).toMatchObject({ connectionId: 'acme', connectionType: 'oidc', reason: 'error_redirect', error: 'access_denied' });
    // An error redirect with another browser's state is not believed.
    const forged = new URL(callback);
    forged.searchParams.set('state', 'someone-else');
    expect((await failure(async () => upstream.complete(acme, forged, request, redirectUri, person))).error.code).toBe('upstream_invalid');
  });

  const idTokenFaults = [
    ['bad-signature', 'bad_signature'],
    ['unknown-key', 'unknown_signing_key'],
    ['wrong-issuer', 'wrong_issuer'],
    ['wrong-audience', 'wrong_audience'],
    ['wrong-nonce', 'nonce_mismatch'],
    ['expired', 'expired'],
    ['missing-subject', 'missing_subject'],
    ['garbage', 'malformed'],
  ] as const;
  for (const [kind, reason] of idTokenFaults) {
    it(`refuses an answer with ${kind}: upstream_invalid, reason ${reason}`, async () => {
      const request = await upstream.begin(acme, redirectUri);
      const callback = await authorize(request);
      provider.misbehave(kind);
      const { error, event } = await failure(async () => upstream.complete(acme, callback, request, redirectUri, person));
      expect(error.code).toBe('upstream_invalid');
      expect(error.messageId).toBe('libraries.upstream_invalid');
      expect(error.message).toBe('The answer from Acme SSO could not be accepted. Start again, or sign in another way.');
      expect(event?.details).toMatchObject({ connectionId: 'acme', reason });
    });
  }

  it('checks the ID token\'s expiry on the injected clock', async () => {
    const request = await upstream.begin(acme, redirectUri);
    const callback = await authorize(request);
    clock.advance(3 * 3600_000);
    const { error, event } = await failure(async () => upstream.complete(acme, callback, request, redirectUri, person));
    expect(error.code).toBe('upstream_invalid');
    expect(event?.details.reason).toBe('expired');
  });

  it('reports an upstream answering 503 as upstream_unavailable', async () => {
    const request = await upstream.begin(acme, redirectUri);
    const callback = await authorize(request);
    provider.misbehave('unavailable');
    const { error, event } = await failure(async () => upstream.complete(acme, callback, request, redirectUri, person));
    expect(error.code).toBe('upstream_unavailable');
    expect(error.status).toBe(502);
    expect(event?.details).toMatchObject({ reason: 'upstream_status', status: '503' });
  });

  it('gives up on a slow upstream after the timeout, without hanging', async () => {
    const quick = library({ timeoutMs: 300 });
    const request = await quick.begin(acme, redirectUri);
    const callback = await authorize(request);
    provider.misbehave('slow');
    const started = performance.now();
    const { error, event } = await failure(async () => quick.complete(acme, callback, request, redirectUri, person));
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(error.code).toBe('upstream_unavailable');
    expect(event?.details.reason).toBe('timeout');
    // Discovery too: a slow provider fails begin (audited when a source is given).
    quick.forget();
    const slowBegin = await failure(async () => quick.begin(acme, redirectUri, person));
    expect(slowBegin.error.code).toBe('upstream_unavailable');
    expect(slowBegin.event?.details).toMatchObject({ stage: 'begin', reason: 'timeout' });
  });

  it('reports garbage discovery as upstream_invalid, and does not keep the failure', async () => {
    provider.misbehave('garbage-discovery');
    upstream.forget();
    const { error, event } = await failure(async () => upstream.begin(acme, redirectUri, person));
    expect(error.code).toBe('upstream_invalid');
    expect(event?.details.reason).toBe('malformed');
    provider.misbehave(null);
    expect((await upstream.begin(acme, redirectUri)).url).toContain(provider.issuer);
  });

  it('reports a provider nobody answers at as upstream_unavailable', async () => {
    const nowhere = connection({ id: 'nowhere', type: 'oidc', issuer: `http://127.0.0.1:${await closedPort()}`, clientId: 'x' });
    const { error, event } = await failure(async () => upstream.begin(nowhere, redirectUri, person));
    expect(error.code).toBe('upstream_unavailable');
    expect(event?.details).toMatchObject({ connectionId: 'nowhere', reason: 'network', stage: 'begin' });
  });

  it('reports a provider that went away between begin and complete as upstream_unavailable', async () => {
    const brief = await startUpstreamProvider({ redirectUris: [redirectUri] });
    secrets.set('brief', brief.clientSecret);
    const target = connection({ id: 'brief', type: 'oidc', issuer: brief.issuer, clientId: brief.clientId });
    const request = await upstream.begin(target, redirectUri);
    const callback = await authorize(request);
    await brief.stop();
    const { error, event } = await failure(async () => upstream.complete(target, callback, request, redirectUri, person));
    expect(error.code).toBe('upstream_unavailable');
    expect(event?.details.reason).toBe('network');
  });

  it('refuses an http issuer in production, even on loopback', async () => {
    const { error, event } = await failure(async () => library({ env: 'production' }).begin(acme, redirectUri, person));
    expect(error.code).toBe('upstream_invalid');
    expect(event?.details.reason).toBe('insecure_url');
  });

  it('refuses a disabled connection', async () => {
    const disabled = { ...acme, disabled: true };
    expect((await failure(async () => upstream.begin(disabled, redirectUri))).error.code).toBe('forbidden');
    const request = await upstream.begin(acme, redirectUri);
    const callback = await authorize(request);
    const { error, event } = await failure(async () => upstream.complete(disabled, callback, request, redirectUri, person));
    expect(error.code).toBe('forbidden');
    expect(event?.details.reason).toBe('connection_disabled');
  });

  it('names our redirect URI in the token request, whatever address the callback arrived at', async () => {
    const request = await upstream.begin(acme, redirectUri);
    const callback = await authorize(request);
    const elsewhere = new URL(`http://10.0.0.1:8080/connections/acme/callback${callback.search}`);
    expect((await upstream.complete(acme, elsewhere, request, redirectUri, person)).subject).toBe('upstream-ada');
  });
});

describe('the Google preset (against a stand-in)', () => {
  let google: GoogleStandIn;
  let target: Connection;
  const upstream = library();

  beforeAll(async () => {
    google = await startGoogleStandIn({ redirectUris: [redirectUri], user: { sub: '110169484474386276334', email: 'ada@acme.example', email_verified: true, hd: 'acme.example', name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace', picture: 'https://lh3.googleusercontent.com/a/ada' } });
    secrets.set('google', google.clientSecret);
    target = connection({ id: 'google', name: 'Google', type: 'google', issuer: google.issuer, clientId: google.clientId });
  });
  afterAll(() => google.stop());

  it('signs in: Google\'s issuer shape, email_verified, profile claims from the ID token (no userinfo)', async () => {
    const identity = await roundTrip(upstream, target);
    expect(identity).toEqual({
      subject: '110169484474386276334', email: 'ada@acme.example', emailVerified: true,
      profile: { name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace', picture: 'https://lh3.googleusercontent.com/a/ada' },
      amr: null, acr: null,
    });
    expect(google.requests).toContain('GET /.well-known/openid-configuration');
    expect(google.requests).toContain('GET /oauth2/v3/certs');
    expect(google.requests).not.toContain('GET /v1/userinfo');
  });

  it('refuses an ID token Google did not sign', async () => {
    google.misbehave('bad-signature');
    try {
      const request = await upstream.begin(target, redirectUri);
      const { error, event } = await failure(async () => upstream.complete(target, await authorize(request), request, redirectUri, person));
      expect(error.code).toBe('upstream_invalid');
      expect(event?.details).toMatchObject({ connectionId: 'google', connectionType: 'google', reason: 'bad_signature' });
    } finally {
      google.misbehave(null);
    }
  });

  it('an unverified Google email is not verified', async () => {
    google.setUser({ sub: '2', email: 'eve@example.com', email_verified: false });
    expect(await roundTrip(upstream, target)).toMatchObject({ subject: '2', email: 'eve@example.com', emailVerified: false, profile: {} });
  });

  it('an error redirect is upstream_refused', async () => {
    google.misbehave('access-denied');
    try {
      const request = await upstream.begin(target, redirectUri);
      const { error } = await failure(async () => upstream.complete(target, await authorize(request), request, redirectUri, person));
      expect(error.code).toBe('upstream_refused');
      expect(error.message).toBe('Google did not sign you in (it answered access_denied).');
    } finally {
      google.misbehave(null);
    }
  });
});

describe('the Microsoft preset (against a stand-in)', () => {
  let microsoft: MicrosoftStandIn;
  const upstream = library();
  const contoso = '72f988bf-86f1-41af-91ab-2d7cd011db47';
  const fabrikam = '5b8c1d1e-3c6a-4a4e-9d7c-0f6f8a1b2c3d';
  const at = (tenant: string) => connection({ id: `ms-${tenant.slice(0, 8)}`, name: 'Microsoft', type: 'microsoft', tenant, issuer: microsoft.issuerFor(tenant), clientId: microsoft.clientId });

  beforeAll(async () => {
    microsoft = await startMicrosoftStandIn({ redirectUris: [redirectUri] });
    for (const tenant of ['common', 'organizations', 'consumers', contoso]) secrets.set(`ms-${tenant.slice(0, 8)}`, microsoft.clientSecret);
  });
  afterAll(() => microsoft.stop());
  beforeEach(() => microsoft.misbehave(null));

  it('signs in at a single tenant: the subject, the email verified by its domain owner (xms_edov)', async () => {
    microsoft.setUser({ tid: contoso, oid: 'oid-ada', name: 'Ada Lovelace', preferred_username: 'ada@contoso.example', email: 'ada@contoso.example', xms_edov: true });
    const identity = await roundTrip(upstream, at(contoso));
    expect(identity).toMatchObject({ email: 'ada@contoso.example', emailVerified: true, profile: { name: 'Ada Lovelace' }, amr: null, acr: null });
    expect(identity.subject).toMatch(/^[\w-]{43}$/);
    expect(microsoft.requests).toContain(`GET /${contoso}/v2.0/.well-known/openid-configuration`);
    expect(microsoft.requests).toContain(`POST /${contoso}/oauth2/v2.0/token`);
  });

  it('an email without xms_edov is not verified (Microsoft does not verify the email claim)', async () => {
    microsoft.setUser({ tid: contoso, oid: 'oid-bo', name: 'Bo', email: 'bo@contoso.example' });
    expect(await roundTrip(upstream, at(contoso))).toMatchObject({ email: 'bo@contoso.example', emailVerified: false });
  });

  it('common: accepts tokens of any tenant, each with the issuer of its own tid', async () => {
    microsoft.setUser({ tid: contoso, oid: 'oid-ada', name: 'Ada', email: 'ada@contoso.example', xms_edov: true });
    const ada = await roundTrip(upstream, at('common'));
    microsoft.setUser({ tid: fabrikam, oid: 'oid-cy', name: 'Cy', email: 'cy@fabrikam.example', xms_edov: true });
    const cy = await roundTrip(upstream, at('common'));
    microsoft.setUser({ tid: microsoftConsumersTenant, oid: 'oid-dee', name: 'Dee', email: 'dee@outlook.example' });
    const dee = await roundTrip(upstream, at('common'));
    expect([ada.email, cy.email, dee.email]).toEqual(['ada@contoso.example', 'cy@fabrikam.example', 'dee@outlook.example']);
    expect(new Set([ada.subject, cy.subject, dee.subject]).size).toBe(3);
  });

  it('common: refuses a token whose issuer is not the template with its own tid', async () => {
    microsoft.setUser({ tid: contoso, oid: 'oid-ada', name: 'Ada' });
    microsoft.misbehave('issuer-of-another-tenant');
    const request = await upstream.begin(at('common'), redirectUri);
    const { error, event } = await failure(async () => upstream.complete(at('common'), await authorize(request), request, redirectUri, person));
    expect(error.code).toBe('upstream_invalid');
    expect(event?.details.reason).toBe('wrong_issuer');
  });

  it('common: the signature and the nonce are still checked once the issuer is chosen by tid', async () => {
    microsoft.setUser({ tid: contoso, oid: 'oid-ada', name: 'Ada' });
    microsoft.misbehave('bad-signature');
    let request = await upstream.begin(at('common'), redirectUri);
    const badSignature = await failure(async () => upstream.complete(at('common'), await authorize(request), request, redirectUri, person));
    expect(badSignature.error.code).toBe('upstream_invalid');
    expect(badSignature.event?.details.reason).toBe('bad_signature');
    microsoft.misbehave(null);
    request = await upstream.begin(at('common'), redirectUri);
    const wrongNonce = await failure(async () => upstream.complete(at('common'), await authorize(request), { ...request, nonce: 'another' }, redirectUri, person));
    expect(wrongNonce.error.code).toBe('upstream_invalid');
    expect(wrongNonce.event?.details.reason).toBe('nonce_mismatch');
  });

  it('a single tenant refuses a token of another tenant (its issuer is fixed)', async () => {
    microsoft.setUser({ tid: contoso, oid: 'oid-ada', name: 'Ada' });
    microsoft.misbehave('issuer-of-another-tenant');
    const request = await upstream.begin(at(contoso), redirectUri);
    const { error, event } = await failure(async () => upstream.complete(at(contoso), await authorize(request), request, redirectUri, person));
    expect(error.code).toBe('upstream_invalid');
    expect(event?.details.reason).toBe('wrong_issuer');
  });

  it('consumers: personal accounts, with the consumers tenant\'s fixed issuer', async () => {
    microsoft.setUser({ tid: microsoftConsumersTenant, oid: 'oid-dee', name: 'Dee', email: 'dee@outlook.example' });
    expect(await roundTrip(upstream, at('consumers'))).toMatchObject({ email: 'dee@outlook.example', profile: { name: 'Dee' } });
  });

  it('organizations: a personal account is sent back with an error (upstream_refused, its words without control characters)', async () => {
    microsoft.setUser({ tid: microsoftConsumersTenant, oid: 'oid-dee', name: 'Dee' });
    const request = await upstream.begin(at('organizations'), redirectUri);
    const { error } = await failure(async () => upstream.complete(at('organizations'), await authorize(request), request, redirectUri, person));
    expect(error.code).toBe('upstream_refused');
    expect(error.values?.description).toBe('AADSTS65004: User declined to consent to access the app. Trace ID: 0000');
  });
});

describe('the GitHub preset (against a stand-in)', () => {
  let github: GitHubStandIn;
  let target: Connection;
  const upstream = library();

  beforeAll(async () => {
    github = await startGitHubStandIn({ redirectUris: [redirectUri] });
    secrets.set('github', github.clientSecret);
    target = connection({ id: 'github', name: 'GitHub', type: 'github', clientId: github.clientId, authorizationUrl: github.authorizationUrl, tokenUrl: github.tokenUrl, apiUrl: github.apiUrl });
  });
  afterAll(() => github.stop());
  beforeEach(() => github.misbehave(null));

  it('signs in with OAuth 2.0 + PKCE, then /user and /user/emails: the numeric id, the verified primary email', async () => {
    github.setUser({ id: 583231, login: 'octocat', name: 'The Octocat', avatar_url: 'https://avatars.githubusercontent.com/u/583231?v=4', email: null }, [
      { email: 'octocat@users.noreply.github.com', primary: false, verified: true, visibility: null },
      { email: 'octocat@example.com', primary: true, verified: true, visibility: 'private' },
    ]);
    const request = await upstream.begin(target, redirectUri);
    expect(request.nonce).toBeNull();
    const url = new URL(request.url);
    expect(`${url.origin}${url.pathname}`).toBe(github.authorizationUrl);
    expect(Object.fromEntries(url.searchParams)).toMatchObject({ client_id: github.clientId, redirect_uri: redirectUri, scope: 'read:user user:email', state: request.state, code_challenge_method: 'S256' });
    expect(url.searchParams.has('nonce')).toBe(false);
    const identity = await upstream.complete(target, await authorize(request), request, redirectUri, person);
    expect(identity).toEqual({
      subject: '583231', email: 'octocat@example.com', emailVerified: true,
      profile: { name: 'The Octocat', picture: 'https://avatars.githubusercontent.com/u/583231?v=4', preferred_username: 'octocat' },
      amr: null, acr: null,
    });
    expect(github.requests).toEqual(expect.arrayContaining(['POST /login/oauth/access_token', 'GET /api/v3/user', 'GET /api/v3/user/emails']));
  });

  it('no email when the primary one is unverified, or the emails scope was not granted', async () => {
    github.setUser({ id: 1, login: 'mona', name: null }, [{ email: 'mona@example.com', primary: true, verified: false, visibility: 'public' }]);
    expect(await roundTrip(upstream, target)).toMatchObject({ subject: '1', email: null, emailVerified: false, profile: { preferred_username: 'mona' } });
    github.setUser({ id: 2, login: 'hubot' }, [{ email: 'hubot@example.com', primary: true, verified: true, visibility: 'public' }]);
    expect(await roundTrip(upstream, { ...target, scopes: ['read:user'] })).toMatchObject({ subject: '2', email: null, emailVerified: false });
  });

  it('checks the PKCE verifier at the token endpoint, and a code is used once', async () => {
    const request = await upstream.begin(target, redirectUri);
    const callback = await authorize(request);
    const wrongVerifier = await failure(async () => upstream.complete(target, callback, { ...request, codeVerifier: 'y'.repeat(43) }, redirectUri, person));
    expect(wrongVerifier.error.code).toBe('upstream_invalid');
    expect(wrongVerifier.event?.details).toMatchObject({ reason: 'token_error', error: 'bad_verification_code' });
    // That spent the code.
    expect((await failure(async () => upstream.complete(target, callback, request, redirectUri, person))).error.code).toBe('upstream_invalid');
  });

  it('an error redirect is upstream_refused; garbage from the API upstream_invalid; a wrong secret upstream_invalid', async () => {
    github.misbehave('access-denied');
    let request = await upstream.begin(target, redirectUri);
    const refused = await failure(async () => upstream.complete(target, await authorize(request), request, redirectUri, person));
    expect(refused.error.code).toBe('upstream_refused');
    expect(refused.error.values?.description).toBe('The user has denied your application access.');

    github.misbehave('garbage-user');
    request = await upstream.begin(target, redirectUri);
    const garbage = await failure(async () => upstream.complete(target, await authorize(request), request, redirectUri, person));
    expect(garbage.error.code).toBe('upstream_invalid');
    expect(garbage.event?.details.reason).toBe('malformed');

    github.misbehave(null);
    secrets.set('github', 'not-the-secret');
    try {
      request = await upstream.begin(target, redirectUri);
      const wrongSecret = await failure(async () => upstream.complete(target, await authorize(request), request, redirectUri, person));
      expect(wrongSecret.error.code).toBe('upstream_invalid');
      expect(wrongSecret.event?.details).toMatchObject({ reason: 'token_error', error: 'incorrect_client_credentials' });
    } finally {
      secrets.set('github', github.clientSecret);
    }
  });

  it('gives up on a slow GitHub after the timeout', async () => {
    const quick = library({ timeoutMs: 300 });
    const request = await quick.begin(target, redirectUri);
    const callback = await authorize(request);
    github.misbehave('slow');
    const started = performance.now();
    const { error, event } = await failure(async () => quick.complete(target, callback, request, redirectUri, person));
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(error.code).toBe('upstream_unavailable');
    expect(event?.details.reason).toBe('timeout');
  });
});
