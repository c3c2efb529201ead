import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { setAccountDisabled } from '../../src/libraries/accounts.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { postLogoutRedirectUri, redirectUri, startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signIn, signInThroughPages } from '../helpers/relying-party.ts';
import { dropMongoDatabase, mongodbUri, mongodbUrl, newDatabaseName } from '../helpers/mongodb.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

const alice = { email: 'alice@example.com', password: 'correct horse battery staple' };
const api = 'https://api.example.test/orders';

async function tokenError(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { error?: string }).error ?? (error as Error).message;
  }
  return undefined;
}

/** SQLite always; MongoDB too when the run has one (MONGODB_URI, or a memory server). */
const backends = [
  { name: 'sqlite', env: (): NodeJS.ProcessEnv => ({}), cleanup: async (_url?: string) => {} },
  ...(mongodbUri ? [{ name: 'mongodb', env: (): NodeJS.ProcessEnv => ({ DATABASE_URL: mongodbUrl(newDatabaseName()) }), cleanup: dropMongoDatabase }] : []),
];

describe.each(backends)('on $name', (backend) => {
  let gatehouse: TestGatehouse;
  let aliceId: string;
  let confidential: { clientId: string; clientSecret?: string };
  let rp: client.Configuration;

  beforeAll(async () => {
    gatehouse = await startGatehouse({ env: backend.env() });
    aliceId = await gatehouse.addUser(alice.email, alice.password, { name: 'Alice Liddell', roles: ['admin', 'billing'] });
    confidential = await gatehouse.addClient({ name: 'Orders web app', grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'] });
    await gatehouse.addApi({ identifier: api, scopes: ['orders:read', 'orders:write'] });
    rp = await relyingParty(gatehouse, confidential);
  });

  afterAll(async () => {
    await gatehouse?.stop();
    await backend.cleanup(gatehouse?.env.DATABASE_URL);
  });

  describe('discovery and JWKS', () => {
    it('advertises only what Gatehouse offers', async () => {
      const metadata = rp.serverMetadata();
      expect(metadata.issuer).toBe(gatehouse.url);
      expect(metadata.response_types_supported).toEqual(['code']);
      expect(metadata.code_challenge_methods_supported).toEqual(['S256']);
      expect(metadata.grant_types_supported).not.toContain('password');
      expect(metadata.grant_types_supported).not.toContain('implicit');
      expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'roles', 'offline_access']));
      for (const endpoint of ['introspection_endpoint', 'revocation_endpoint', 'userinfo_endpoint', 'end_session_endpoint', 'pushed_authorization_request_endpoint', 'jwks_uri']) {
        expect(metadata[endpoint], endpoint).toMatch(new RegExp(`^${gatehouse.url}/`));
      }
    });

    it('publishes an RS256, an ES256 and an EdDSA public key and nothing private', async () => {
      const jwks = (await (await fetch(`${gatehouse.url}/jwks`)).json()) as { keys: Record<string, unknown>[] };
      expect(jwks.keys.map((key) => key.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
      for (const key of jwks.keys) {
        expect(key.use).toBe('sig');
        expect(key.kid).toEqual(expect.any(String));
        for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
      }
    });
  });

  describe('authorization code flow with PKCE through the pages', () => {
    it('signs in, consents, and returns an ID token that verifies against the JWKS', async () => {
      const ua = new UserAgent(gatehouse.url);
      const request = await authorizationRequest(rp, { scope: 'openid email profile roles' });

      const login = await ua.page(request.url.href);
      expect(login.status).toBe(200);
      expect(login.document.querySelector('input[name=email]')?.getAttribute('autocomplete')).toBe('username');
      expect(login.document.querySelector('input[name=password]')?.getAttribute('autocomplete')).toBe('current-password');
      expect(login.body).toContain('Orders web app');

      const consent = await ua.submit(login, '/login', alice);
      if (!isPage(consent)) throw new Error('expected the consent page');
      expect(consent.body).toContain('See your email address');
      expect(consent.body).toContain('See the roles assigned to your account');

      const landed = await ua.submit(consent, '/consent', { decision: 'allow' });
      if (isPage(landed)) throw new Error('expected a redirect to the client');
      const callback = new URL(landed.redirectedTo);
      expect(`${callback.origin}${callback.pathname}`).toBe(redirectUri);
      expect(callback.searchParams.get('iss')).toBe(gatehouse.url);

      const tokens = await client.authorizationCodeGrant(rp, callback, {
        pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state, idTokenExpected: true,
      });

      // Verify the ID token independently of openid-client, with nothing but the JWKS endpoint.
      const jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
      const { payload, protectedHeader } = await jwtVerify(tokens.id_token!, jwks, { issuer: gatehouse.url, audience: confidential.clientId });
      expect(payload.nonce).toBe(request.nonce);
      expect(payload.sub).toBe(aliceId);
      expect(protectedHeader.alg).toBe('RS256');
      const published = (await (await fetch(`${gatehouse.url}/jwks`)).json()) as { keys: { kid: string; alg: string }[] };
      expect(published.keys.find((key) => key.alg === 'RS256')?.kid).toBe(protectedHeader.kid);

      const userinfo = await client.fetchUserInfo(rp, tokens.access_token, aliceId);
      expect(userinfo).toMatchObject({ sub: aliceId, email: alice.email, email_verified: true, name: 'Alice Liddell', roles: ['admin', 'billing'] });
    });

    it('releases only the claims of the granted scopes', async () => {
      const { tokens } = await signIn(gatehouse, rp, alice, { scope: 'openid email' });
      const userinfo = await client.fetchUserInfo(rp, tokens.access_token, aliceId);
      expect(userinfo.email).toBe(alice.email);
      expect(userinfo).not.toHaveProperty('name');
      expect(userinfo).not.toHaveProperty('roles');
    });

    it('lets a person deny consent, and the client gets access_denied', async () => {
      const ua = new UserAgent(gatehouse.url);
      // Alice allowed this client above, and consent is remembered: the client asks again explicitly.
      const request = await authorizationRequest(rp, { prompt: 'consent' });
      const callback = await signInThroughPages(ua, request.url, alice, { consent: 'deny' });
      expect(callback.searchParams.get('error')).toBe('access_denied');
      expect(callback.searchParams.get('code')).toBeNull();
    });

    it('skips the consent page for a first-party client', async () => {
      const firstParty = await gatehouse.addClient({ name: 'Our own app', firstParty: true });
      const config = await relyingParty(gatehouse, firstParty);
      const ua = new UserAgent(gatehouse.url);
      const request = await authorizationRequest(config);
      const login = await ua.page(request.url.href);
      const landed = await ua.submit(login, '/login', alice);
      if (isPage(landed)) throw new Error(`expected no consent page, got ${landed.body}`);
      const tokens = await client.authorizationCodeGrant(config, new URL(landed.redirectedTo), {
        pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state,
      });
      expect(tokens.claims()?.sub).toBe(aliceId);
    });

    it('requires PKCE from every client, confidential ones included', async () => {
      const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid', state: 'x' });
      const result = await new UserAgent(gatehouse.url).navigate(url.href);
      if (isPage(result)) throw new Error('expected an error redirect to the client');
      const callback = new URL(result.redirectedTo);
      expect(callback.searchParams.get('error')).toBe('invalid_request');
      expect(callback.searchParams.get('error_description')).toMatch(/PKCE/);
    });

    it('lets a confidential client marked as exempt skip PKCE', async () => {
      const exempt = await gatehouse.addClient({ name: 'Legacy app', pkceExempt: true });
      const config = await relyingParty(gatehouse, exempt);
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid', state });
      const callback = await signInThroughPages(new UserAgent(gatehouse.url), url, alice);
      const tokens = await client.authorizationCodeGrant(config, callback, { expectedState: state });
      expect(tokens.access_token).toBeTruthy();
    });

    it('refuses the plain PKCE method', async () => {
      const url = client.buildAuthorizationUrl(rp, { redirect_uri: redirectUri, scope: 'openid', code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
      const result = await new UserAgent(gatehouse.url).navigate(url.href);
      if (isPage(result)) throw new Error('expected an error redirect');
      expect(new URL(result.redirectedTo).searchParams.get('error')).toBe('invalid_request');
    });

    it('fails the code exchange with a missing or wrong code_verifier', async () => {
      for (const verifier of [undefined, client.randomPKCECodeVerifier()]) {
        const request = await authorizationRequest(rp);
        const callback = await signInThroughPages(new UserAgent(gatehouse.url), request.url, alice);
        const body = new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: redirectUri });
        if (verifier) body.set('code_verifier', verifier);
        const response = await fetch(`${gatehouse.url}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${confidential.clientId}:${confidential.clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
          body,
        });
        expect(response.status).toBe(400);
        expect(((await response.json()) as { error: string }).error).toBe('invalid_grant');
      }
    });

    it('shows our error page, and does not redirect, for an unregistered redirect URI', async () => {
      const request = await authorizationRequest(rp, { redirect_uri: 'https://evil.example/callback' });
      const ua = new UserAgent(gatehouse.url);
      const result = await ua.navigate(request.url.href);
      if (!isPage(result)) throw new Error(`redirected to ${result.redirectedTo}`);
      expect(result.status).toBe(400);
      expect(result.body).toContain('Gatehouse');
      expect(result.body).toContain('redirect_uri');
      expect(result.body).not.toMatch(/at .*\.(js|ts):\d+/);
      expect(ua.visited.every((url) => !url.includes('evil.example/callback') || url.startsWith(gatehouse.url))).toBe(true);
    });

    it('accepts a pushed authorization request (PAR)', async () => {
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = await client.buildAuthorizationUrlWithPAR(rp, {
        redirect_uri: redirectUri, scope: 'openid', state,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
      });
      expect(url.searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
      expect(url.searchParams.get('redirect_uri')).toBeNull();
      const callback = await signInThroughPages(new UserAgent(gatehouse.url), url, alice);
      const tokens = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: codeVerifier, expectedState: state });
      expect(tokens.claims()?.sub).toBe(aliceId);
    });

    it('shows our error page when the sign-in request has expired', async () => {
      const ua = new UserAgent(gatehouse.url);
      const login = await ua.page((await authorizationRequest(rp)).url.href);
      const uid = new URL(login.url).pathname.split('/').pop()!;
      await gatehouse.store.oidc.model('Interaction').destroy(uid); // what expiry does
      const result = await ua.submit(login, '/login', alice);
      if (!isPage(result)) throw new Error(`redirected to ${result.redirectedTo}`);
      expect(result.status).toBe(400);
      expect(result.body).toContain('has expired or was already completed');
      expect(result.body).toContain('Gatehouse home');
    });

    it('shows our error page for an unknown client', async () => {
      const result = await new UserAgent(gatehouse.url).page(`${gatehouse.url}/auth?client_id=nobody&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(redirectUri)}`);
      expect(result.status).toBe(400);
      expect(result.body).toContain('invalid_client');
    });
  });

  describe('tokens', () => {
    it('rotates refresh tokens for public clients and revokes the grant when a rotated one is reused', async () => {
      const spa = await gatehouse.addClient({ name: 'SPA', public: true });
      const config = await relyingParty(gatehouse, spa);
      const { tokens } = await signIn(gatehouse, config, alice, { scope: 'openid offline_access', prompt: 'consent' });
      const first = tokens.refresh_token!;
      expect(first).toBeTruthy();

      const refreshed = await client.refreshTokenGrant(config, first);
      expect(refreshed.refresh_token).toBeTruthy();
      expect(refreshed.refresh_token).not.toBe(first);
      expect((await client.fetchUserInfo(config, refreshed.access_token, aliceId)).sub).toBe(aliceId);

      // Reusing the rotated token: refused, and everything issued from the grant stops working.
      expect(await tokenError(client.refreshTokenGrant(config, first))).toBe('invalid_grant');
      expect(await tokenError(client.refreshTokenGrant(config, refreshed.refresh_token!))).toBe('invalid_grant');
      expect(await tokenError(client.fetchUserInfo(config, refreshed.access_token, aliceId))).toBeTruthy();
    });

    it('refreshes a confidential client with offline_access', async () => {
      const { tokens } = await signIn(gatehouse, rp, alice, { scope: 'openid offline_access', prompt: 'consent' });
      const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!);
      expect(refreshed.access_token).toBeTruthy();
      expect(refreshed.claims()?.sub).toBe(aliceId);
    });

    it('refuses a reused authorization code and revokes the access token it gave', async () => {
      const request = await authorizationRequest(rp);
      const callback = await signInThroughPages(new UserAgent(gatehouse.url), request.url, alice);
      const checks = { pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state };
      const tokens = await client.authorizationCodeGrant(rp, callback, checks);
      expect((await client.fetchUserInfo(rp, tokens.access_token, aliceId)).sub).toBe(aliceId);

      expect(await tokenError(client.authorizationCodeGrant(rp, callback, checks))).toBe('invalid_grant');
      const userinfo = await fetch(`${gatehouse.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(userinfo.status).toBe(401);
      expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    });

    it('issues a JWT access token for a registered API with client credentials, verifiable with the JWKS alone', async () => {
      const tokens = await client.clientCredentialsGrant(rp, { scope: 'orders:read', resource: api });
      const jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
      const { payload, protectedHeader } = await jwtVerify(tokens.access_token, jwks, { issuer: gatehouse.url, audience: api, typ: 'at+jwt' });
      expect(payload.client_id).toBe(confidential.clientId);
      expect(payload.scope).toBe('orders:read');
      expect(protectedHeader.alg).toBe('RS256');
    });

    it('signs an API token with ES256 when the API asks for it', async () => {
      const es = 'https://api.example.test/es';
      await gatehouse.addApi({ identifier: es, scopes: ['read'], signingAlg: 'ES256' });
      const tokens = await client.clientCredentialsGrant(rp, { scope: 'read', resource: es });
      expect(decodeProtectedHeader(tokens.access_token).alg).toBe('ES256');
      await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`)), { issuer: gatehouse.url, audience: es });
    });

    it('refuses client credentials for an unregistered API, an unknown scope, or a client without the grant', async () => {
      expect(await tokenError(client.clientCredentialsGrant(rp, { scope: 'orders:read', resource: 'https://unknown.example' }))).toBe('invalid_target');
      // A scope the API does not define is not granted (RFC 6749 lets the server narrow the scope).
      const narrowed = await client.clientCredentialsGrant(rp, { scope: 'orders:read orders:delete', resource: api });
      const { payload } = await jwtVerify(narrowed.access_token, createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`)), { issuer: gatehouse.url, audience: api });
      expect(payload.scope).toBe('orders:read');
      // oidc-provider answers invalid_request ("requested grant type is not allowed for this client").
      const plain = await gatehouse.addClient({ name: 'No CC' });
      expect(await tokenError(client.clientCredentialsGrant(await relyingParty(gatehouse, plain), { resource: api }))).toBe('invalid_request');
    });

    it('issues an API access token in the code flow when the client names the resource', async () => {
      const { tokens: codeTokens, ua } = await signIn(gatehouse, rp, alice, { scope: 'openid orders:read offline_access', resource: api, prompt: 'consent' });
      expect(codeTokens.access_token).toBeTruthy();
      expect(ua.visited.length).toBeGreaterThan(0);
      const forApi = await client.refreshTokenGrant(rp, codeTokens.refresh_token!, { resource: api });
      const { payload } = await jwtVerify(forApi.access_token, createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`)), { issuer: gatehouse.url, audience: api });
      expect(payload.sub).toBe(aliceId);
      expect(payload.scope).toBe('orders:read');
    });

    it('introspects and revokes tokens', async () => {
      const { tokens } = await signIn(gatehouse, rp, alice, { scope: 'openid offline_access', prompt: 'consent' });
      const active = await client.tokenIntrospection(rp, tokens.access_token);
      expect(active).toMatchObject({ active: true, sub: aliceId, client_id: confidential.clientId });
      expect((await client.tokenIntrospection(rp, tokens.refresh_token!)).active).toBe(true);

      await client.tokenRevocation(rp, tokens.refresh_token!);
      expect((await client.tokenIntrospection(rp, tokens.refresh_token!)).active).toBe(false);
      expect(await tokenError(client.refreshTokenGrant(rp, tokens.refresh_token!))).toBe('invalid_grant');

      expect((await client.tokenIntrospection(rp, 'not-a-token')).active).toBe(false);
    });

    it('does not let one client introspect or revoke without authenticating', async () => {
      const response = await fetch(`${gatehouse.url}/token/introspection`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'token=abc' });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe('invalid_request');
    });
  });

  describe('logout', () => {
    it('ends the session through RP-initiated logout with our confirmation page', async () => {
      const { tokens, ua } = await signIn(gatehouse, rp, alice);
      const endSession = client.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: postLogoutRedirectUri, state: 'bye' });
      const confirm = await ua.page(endSession.href);
      expect(confirm.status).toBe(200);
      expect(confirm.body).toContain('Sign out?');
      const done = await ua.submit(confirm, '/session/end/confirm', { logout: 'yes' });
      if (isPage(done)) throw new Error('expected a redirect to the post-logout URI');
      expect(done.redirectedTo).toBe(`${postLogoutRedirectUri}?state=bye`);

      // The session is gone: a new authorization request asks for the password again.
      const request = await authorizationRequest(rp);
      const again = await ua.page(request.url.href);
      expect(again.document.querySelector('input[name=password]')).not.toBeNull();
    });

    it('shows the logged-out page when there is no post-logout redirect', async () => {
      const { ua } = await signIn(gatehouse, rp, alice);
      const confirm = await ua.page(`${gatehouse.url}/session/end`);
      const done = await ua.submit(confirm, '/session/end/confirm', { logout: 'yes' });
      if (!isPage(done)) throw new Error(`redirected to ${done.redirectedTo}`);
      expect(done.body).toContain('You are signed out');
    });
  });

  describe('login failures', () => {
    it('answers a wrong password and an unknown email identically', async () => {
      const attempts = [];
      for (const credentials of [{ email: alice.email, password: 'wrong password!' }, { email: 'nobody@example.com', password: alice.password }]) {
        const ua = new UserAgent(gatehouse.url);
        const login = await ua.page((await authorizationRequest(rp)).url.href);
        const result = await ua.submit(login, '/login', credentials);
        if (!isPage(result)) throw new Error('expected the login page again');
        attempts.push({ status: result.status, message: result.document.querySelector('[role=alert]')?.text.trim() });
      }
      expect(attempts[0]).toEqual({ status: 401, message: 'Incorrect email or password.' });
      expect(attempts[1]).toEqual(attempts[0]);
    });

    it('accepts the email in any case', async () => {
      const { tokens } = await signIn(gatehouse, rp, { email: 'ALICE@Example.COM', password: alice.password });
      expect(tokens.claims()?.sub).toBe(aliceId);
    });

    it('keeps a disabled user out, and stops the tokens they already had', async () => {
      const bobId = await gatehouse.addUser('bob@example.com', 'bob has a long password');
      const { tokens, ua } = await signIn(gatehouse, rp, { email: 'bob@example.com', password: 'bob has a long password' }, { scope: 'openid offline_access', prompt: 'consent' });
      await setAccountDisabled(gatehouse.store, bobId, true);

      expect((await fetch(`${gatehouse.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status).toBe(401);
      expect(await tokenError(client.refreshTokenGrant(rp, tokens.refresh_token!))).toBe('invalid_grant');
      expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);

      // The old browser session no longer signs them in, and the password no longer works.
      const again = await ua.page((await authorizationRequest(rp)).url.href);
      expect(again.document.querySelector('input[name=password]')).not.toBeNull();
      const refused = await ua.submit(again, '/login', { email: 'bob@example.com', password: 'bob has a long password' });
      if (!isPage(refused)) throw new Error('a disabled user was let through');
      expect(refused.status).toBe(403);
      expect(refused.body).toContain('disabled');
    });
  });

  describe('restart', () => {
    it('keeps sessions, clients, keys and refresh tokens across a restart on the same database', async () => {
      const { tokens } = await signIn(gatehouse, rp, alice, { scope: 'openid offline_access', prompt: 'consent' });
      const kidsBefore = ((await (await fetch(`${gatehouse.url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);

      gatehouse = await gatehouse.restart();

      const kidsAfter = ((await (await fetch(`${gatehouse.url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
      expect(kidsAfter).toEqual(kidsBefore);
      const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!);
      expect(refreshed.claims()?.sub).toBe(aliceId);
      await jwtVerify(refreshed.id_token!, createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`)), { issuer: gatehouse.url, audience: confidential.clientId });
    });
  });
});
