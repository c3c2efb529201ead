import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GatehouseError } from '../../src/errors.ts';
import { basicAuth, expectCleanAnswer, formOf } from '../helpers/attacker.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { redirectUri, startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signIn, signInThroughPages } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

/**
 * Each authorization-server rule of RFC 9700 (OAuth 2.0 Security Best Current Practice) as a test
 * against the real server: an attacker's request, and what Gatehouse must (not) do with it.
 * Some rules are also exercised, in another form, by test/oidc/flows.test.ts, test/libraries/clients.test.ts
 * and test/examples/provider-cors.test.ts; here each rule has its own compact test.
 */

const password = 'correct horse battery staple';
/** A redirect URI registered next to the helpers' loopback one, for the exact-matching variants. */
const appCallback = 'https://app.example.test/cb';
/** Registered literally: a "wildcard" is just a character, never a pattern. */
const wildcardLooking = 'https://*.example.test/wild';
const api = 'https://api.example.test/orders';

let gatehouse: TestGatehouse;
let web: { clientId: string; clientSecret?: string };
let webRp: client.Configuration;
let spa: { clientId: string };
let spaRp: client.Configuration;
let people = 0;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  web = await gatehouse.addClient({ name: 'Web app', redirectUris: [redirectUri, appCallback, wildcardLooking], grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'] });
  webRp = await relyingParty(gatehouse, web);
  spa = await gatehouse.addClient({ name: 'SPA', public: true });
  spaRp = await relyingParty(gatehouse, spa);
  await gatehouse.addApi({ identifier: api, scopes: ['orders:read'] });
});

afterAll(async () => {
  await gatehouse?.stop();
});

/** A person of their own for each test (login failures and revocations stay within the test). */
async function newPerson(): Promise<{ id: string; email: string; password: string }> {
  people += 1;
  const email = `rfc9700-${people}@example.com`;
  return { id: await gatehouse.addUser(email, password), email, password };
}

async function tokenError(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { error?: string }).error ?? (error as Error).message;
  }
  return undefined;
}

async function postForm(path: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gatehouse.url}${path}`, {
    method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields),
  });
}

const webAuth = () => ({ authorization: basicAuth(web.clientId, web.clientSecret!) });

/** Whether an access token still works at the provider (at userinfo). */
async function active(accessToken: string): Promise<boolean> {
  const response = await fetch(`${gatehouse.url}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
  return response.status === 200;
}

/** A valid authorization URL of the client with parameters replaced (or removed, with undefined). */
async function authorizationUrl(config: client.Configuration, changes: Record<string, string | undefined>): Promise<URL> {
  const { url } = await authorizationRequest(config);
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) url.searchParams.delete(name);
    else url.searchParams.set(name, value);
  }
  return url;
}

/** The error an authorization request got back at the client's registered redirect URI. */
async function redirectedError(url: URL): Promise<URLSearchParams> {
  const response = await fetch(url, { redirect: 'manual' });
  expect(response.status, await response.clone().text()).toBe(303);
  const location = new URL(response.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(redirectUri);
  return new URLSearchParams(location.hash ? location.hash.slice(1) : location.search);
}

/** An error page on our origin: a 4xx, no Location, nothing internal, and no trace of `foreign`. */
async function expectErrorPageWithoutRedirect(url: URL | string, foreign: string): Promise<Page> {
  const ua = new UserAgent(gatehouse.url);
  const response = await ua.request(url.toString());
  const body = await response.text();
  expect(response.status, body).toBeGreaterThanOrEqual(400);
  expect(response.status).toBeLessThan(500);
  expect(response.headers.get('location')).toBeNull();
  expect(response.headers.get('refresh')).toBeNull();
  expect(response.headers.get('content-type')).toMatch(/^text\/html/);
  expect(body).toContain('Gatehouse home');
  expect(body).not.toContain(foreign);
  expect(body).not.toMatch(/http-equiv=["']?refresh/i);
  expectCleanAnswer(response, body);
  const page = await ua.page(url.toString());
  expect(ua.visited.every((visited) => visited.startsWith(gatehouse.url))).toBe(true);
  return page;
}

describe('RFC 9700 §4.1: redirect URIs are matched exactly', () => {
  const variants: [string, string][] = [
    ['a path suffix', `${appCallback}/evil`],
    ['a longer last segment', `${appCallback}x`],
    ['a shorter path', 'https://app.example.test/'],
    ['an extra query', `${appCallback}?next=https://evil.example/`],
    ['an empty query', `${appCallback}?`],
    ['a fragment', `${appCallback}#x`],
    ['a different case in the path', 'https://app.example.test/CB'],
    ['a different case in the host', 'https://APP.example.test/cb'],
    ['a different case in the scheme', 'HTTPS://app.example.test/cb'],
    ['a trailing slash', `${appCallback}/`],
    ['a trailing dot on the host', 'https://app.example.test./cb'],
    ['the default port written out', 'https://app.example.test:443/cb'],
    ['a different port', 'https://app.example.test:8443/cb'],
    ['http instead of https', 'http://app.example.test/cb'],
    ['a subdomain', 'https://evil.app.example.test/cb'],
    ['a look-alike host ending', 'https://app.example.test.evil.example/cb'],
    ['credentials before the host', 'https://app.example.test@evil.example/cb'],
    ['dot segments', 'https://app.example.test/x/../cb'],
    ['a percent-encoded path', 'https://app.example.test/%63b'],
    ['an expansion of a registered "*"', 'https://evil.example.test/wild'],
    ['another port on the loopback', 'http://127.0.0.1:9999/callback'],
    ['localhost for 127.0.0.1', 'http://localhost:8080/callback'],
    ['another scheme', 'javascript://app.example.test/cb'],
  ];

  it('accepts the registered redirect URIs exactly as registered (the control)', async () => {
    for (const uri of [redirectUri, appCallback, wildcardLooking]) {
      const response = await fetch(await authorizationUrl(webRp, { redirect_uri: uri }), { redirect: 'manual' });
      expect(response.status, uri).toBe(303);
      expect(response.headers.get('location'), uri).toMatch(/^\/interaction\//);
      const { url } = await authorizationRequest(webRp, { redirect_uri: uri });
      const pushed = await postForm('/request', Object.fromEntries(url.searchParams), webAuth());
      expect(pushed.status, `PAR ${uri}`).toBe(201);
    }
  });

  it.each(variants)('refuses %s with an error page and no redirect', async (_name, uri) => {
    const page = await expectErrorPageWithoutRedirect(await authorizationUrl(webRp, { redirect_uri: uri }), uri);
    expect(page.status).toBe(400);
    expect(page.body).toContain('redirect_uri');
  });

  it.each(variants)('refuses %s in a pushed authorization request', async (_name, uri) => {
    const { url } = await authorizationRequest(webRp, { redirect_uri: uri });
    const response = await postForm('/request', Object.fromEntries(url.searchParams), webAuth());
    expect(response.status).toBe(400);
    // The PAR endpoint answers in the token endpoint's terms (RFC 9126 §2.3): invalid_request.
    const body = (await response.json()) as { error: string; error_description: string; request_uri?: string };
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toMatch(/redirect_uri/);
    expect(body.request_uri).toBeUndefined();
  });

  it('refuses to redeem a code with another redirect URI than the one it was issued to', async () => {
    const person = await newPerson();
    const request = await authorizationRequest(webRp, { redirect_uri: appCallback });
    const callback = await signInThroughPages(new UserAgent(gatehouse.url), request.url, person);
    expect(`${callback.origin}${callback.pathname}`).toBe(appCallback);
    for (const uri of [redirectUri, `${appCallback}/`, undefined]) {
      const fields: Record<string, string> = { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, code_verifier: request.codeVerifier };
      if (uri) fields.redirect_uri = uri;
      const response = await postForm('/token', fields, webAuth());
      expect(response.status, String(uri)).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/^invalid_(grant|request)$/);
    }
    // The refusals were about the redirect URI: with the right one, the code is redeemed.
    const redeemed = await postForm('/token', { grant_type: 'authorization_code', code: callback.searchParams.get('code')!, code_verifier: request.codeVerifier, redirect_uri: appCallback }, webAuth());
    expect(redeemed.status).toBe(200);
  });
});

describe('RFC 9700 §4.1.3, §4.11: no open redirect on errors', () => {
  const evil = 'https://evil.example/steal';

  it.each([
    ['an unknown client', { client_id: 'nobody-at-all' }],
    ['no client at all', { client_id: undefined }],
    ['an unknown client and an implicit response type', { client_id: 'nobody-at-all', response_type: 'token' }],
  ])('shows our error page for %s, never a Location to the attacker', async (_name, changes) => {
    const page = await expectErrorPageWithoutRedirect(await authorizationUrl(webRp, { ...changes, redirect_uri: evil }), evil);
    expect(page.body).toMatch(/invalid_client|invalid_request|client_id/);
  });

  it.each([
    ['without PKCE', { code_challenge: undefined, code_challenge_method: undefined }],
    ['with an implicit response type', { response_type: 'token' }],
    ['with an unknown scope and prompt=none', { scope: 'openid nonsense', prompt: 'none' }],
    ['with response_mode=form_post', { response_mode: 'form_post' }],
    ['with response_mode=fragment', { response_mode: 'fragment' }],
  ])('does not send an error %s to an unregistered redirect URI', async (_name, changes) => {
    const page = await expectErrorPageWithoutRedirect(await authorizationUrl(webRp, { ...changes, redirect_uri: evil }), evil);
    expect(page.document.querySelector('form[action^="https://evil"]')).toBeNull();
  });

  it('does not redirect after logout to an unregistered post_logout_redirect_uri', async () => {
    const person = await newPerson();
    const { tokens, ua } = await signIn(gatehouse, webRp, person);
    for (const params of [
      { client_id: web.clientId, post_logout_redirect_uri: evil } as Record<string, string>,
      { id_token_hint: tokens.id_token!, post_logout_redirect_uri: evil },
    ]) {
      const response = await ua.request(`${gatehouse.url}/session/end?${new URLSearchParams(params)}`);
      const body = await response.text();
      expect(response.status, body).toBe(400);
      expect(response.headers.get('location')).toBeNull();
      expect(body).not.toContain(evil);
      expectCleanAnswer(response, body);
    }
  });
});

describe('RFC 9700 §2.1.1, §4.8: PKCE is required, S256 only, and cannot be downgraded', () => {
  it('refuses an authorization request without PKCE from a public client', async () => {
    const error = await redirectedError(await authorizationUrl(spaRp, { code_challenge: undefined, code_challenge_method: undefined }));
    expect(error.get('error')).toBe('invalid_request');
    expect(error.get('error_description')).toMatch(/PKCE|code_challenge/);
    expect(error.get('code')).toBeNull();
  });

  it('refuses an authorization request without PKCE from a confidential client (the default)', async () => {
    const error = await redirectedError(await authorizationUrl(webRp, { code_challenge: undefined, code_challenge_method: undefined }));
    expect(error.get('error')).toBe('invalid_request');
    expect(error.get('code')).toBeNull();
  });

  it.each([
    ['plain', { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' }],
    ['no method (RFC 7636 would default to plain)', { code_challenge_method: undefined }],
    ['an unknown method', { code_challenge_method: 'S512' }],
    ['a lowercase s256', { code_challenge_method: 's256' }],
  ])('refuses the code_challenge_method %s', async (_name, changes) => {
    for (const config of [spaRp, webRp]) {
      const error = await redirectedError(await authorizationUrl(config, changes));
      expect(error.get('error')).toBe('invalid_request');
      expect(error.get('code')).toBeNull();
    }
  });

  it('does not redeem a code issued with S256 without the verifier, with a wrong one, or with the challenge itself', async () => {
    const person = await newPerson();
    const request = await authorizationRequest(spaRp);
    const callback = await signInThroughPages(new UserAgent(gatehouse.url), request.url, person);
    const code = callback.searchParams.get('code')!;
    const challenge = request.url.searchParams.get('code_challenge')!;
    for (const verifier of [undefined, client.randomPKCECodeVerifier(), challenge, `${request.codeVerifier}x`, '']) {
      const fields: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: spa.clientId };
      if (verifier !== undefined) fields.code_verifier = verifier;
      const response = await postForm('/token', fields);
      expect(response.status, `verifier ${String(verifier)}`).toBe(400);
      expect(((await response.json()) as { error: string }).error).toMatch(/^invalid_(grant|request)$/);
    }
    // The refusals were about the verifier: the right one still redeems the code.
    const redeemed = await postForm('/token', { grant_type: 'authorization_code', code, redirect_uri: redirectUri, client_id: spa.clientId, code_verifier: request.codeVerifier });
    expect(redeemed.status).toBe(200);
  });

  it('refuses a code_verifier for a code issued without a challenge (an exempt client cannot be led into PKCE confusion)', async () => {
    const person = await newPerson();
    const exempt = await gatehouse.addClient({ name: 'Legacy app', pkceExempt: true });
    const config = await relyingParty(gatehouse, exempt);
    const url = client.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid', state: client.randomState() });
    const callback = await signInThroughPages(new UserAgent(gatehouse.url), url, person);
    const response = await postForm('/token', {
      grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: client.randomPKCECodeVerifier(),
    }, { authorization: basicAuth(exempt.clientId, exempt.clientSecret!) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('advertises S256 as the only code_challenge_method', () => {
    expect(webRp.serverMetadata().code_challenge_methods_supported).toEqual(['S256']);
  });
});

describe('RFC 9700 §4.2.1, §4.5: authorization codes are single-use and bound to their client', () => {
  it('refuses a reused code and revokes every token issued from it', async () => {
    const person = await newPerson();
    const request = await authorizationRequest(webRp, { scope: 'openid offline_access', prompt: 'consent' });
    const callback = await signInThroughPages(new UserAgent(gatehouse.url), request.url, person);
    const checks = { pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state };
    const tokens = await client.authorizationCodeGrant(webRp, callback, checks);
    expect(tokens.refresh_token).toBeTruthy();
    expect((await client.tokenIntrospection(webRp, tokens.access_token)).active).toBe(true);

    expect(await tokenError(client.authorizationCodeGrant(webRp, callback, checks))).toBe('invalid_grant');

    expect((await client.tokenIntrospection(webRp, tokens.access_token)).active).toBe(false);
    expect((await client.tokenIntrospection(webRp, tokens.refresh_token!)).active).toBe(false);
    expect(await active(tokens.access_token)).toBe(false);
    expect(await tokenError(client.refreshTokenGrant(webRp, tokens.refresh_token!))).toBe('invalid_grant');
  });

  it('refuses a code issued to one client when another client redeems it', async () => {
    const person = await newPerson();
    const request = await authorizationRequest(webRp);
    const callback = await signInThroughPages(new UserAgent(gatehouse.url), request.url, person);
    const thief = await gatehouse.addClient({ name: 'Thief app' });
    const response = await postForm('/token', {
      grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: redirectUri, code_verifier: request.codeVerifier,
    }, { authorization: basicAuth(thief.clientId, thief.clientSecret!) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toBe('invalid_grant');
  });
});

describe('RFC 9700 §2.4, §2.1.2: no password grant and no implicit flow', () => {
  it('refuses the resource owner password credentials grant at the token endpoint', async () => {
    const person = await newPerson();
    const response = await postForm('/token', { grant_type: 'password', username: person.email, password: person.password, scope: 'openid' }, webAuth());
    const body = (await response.json()) as { error: string; access_token?: string };
    expect(response.status).toBe(400);
    expect(body.error).toBe('unsupported_grant_type');
    expect(body.access_token).toBeUndefined();
  });

  it.each(['token', 'id_token', 'id_token token', 'code token', 'code id_token', 'code id_token token', 'none'])(
    'refuses response_type=%s without issuing anything',
    async (responseType) => {
      const response = await fetch(await authorizationUrl(webRp, { response_type: responseType }), { redirect: 'manual' });
      const body = await response.text();
      expectCleanAnswer(response, body);
      const location = response.headers.get('location');
      if (location === null) {
        expect(response.status).toBe(400);
        return;
      }
      const target = new URL(location, gatehouse.url);
      expect(`${target.origin}${target.pathname}`).toBe(redirectUri);
      const params = new URLSearchParams(`${target.search.slice(1)}&${target.hash.slice(1)}`);
      expect(params.get('error')).toBe('unsupported_response_type');
      for (const issued of ['code', 'access_token', 'id_token']) expect(params.get(issued), issued).toBeNull();
    },
  );

  it('advertises neither in discovery', async () => {
    const metadata = (await (await fetch(`${gatehouse.url}/.well-known/openid-configuration`)).json()) as Record<string, string[]>;
    expect(metadata.response_types_supported).toEqual(['code']);
    expect(metadata.grant_types_supported).not.toContain('password');
    expect(metadata.grant_types_supported).not.toContain('implicit');
  });
});

describe('RFC 9700 §2.2.2, §4.14: refresh tokens', () => {
  it('rotates a public client\'s refresh token, and reusing a rotated one revokes the whole grant', async () => {
    const person = await newPerson();
    const { tokens } = await signIn(gatehouse, spaRp, person, { scope: 'openid offline_access', prompt: 'consent' });
    const first = tokens.refresh_token!;
    const second = await client.refreshTokenGrant(spaRp, first);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first);
    expect(await active(second.access_token)).toBe(true);

    // The attacker replays the stolen, already rotated, token.
    expect(await tokenError(client.refreshTokenGrant(spaRp, first))).toBe('invalid_grant');

    // Everything the grant issued stops working, the legitimate newest token included.
    expect(await tokenError(client.refreshTokenGrant(spaRp, second.refresh_token!))).toBe('invalid_grant');
    expect(await active(second.access_token)).toBe(false);
    expect(await active(tokens.access_token)).toBe(false);
  });

  it('cannot widen the scope of the grant', async () => {
    const person = await newPerson();
    for (const [config, label] of [[webRp, 'confidential'], [spaRp, 'public']] as const) {
      const { tokens } = await signIn(gatehouse, config, person, { scope: 'openid offline_access', prompt: 'consent' });
      for (const scope of ['openid offline_access email', 'openid offline_access roles', 'openid offline_access orders:read']) {
        expect(await tokenError(client.refreshTokenGrant(config, tokens.refresh_token!, { scope })), `${label}: ${scope}`).toBe('invalid_scope');
      }
      // Narrowing is allowed, and the token never carries more than granted.
      const narrowed = await client.refreshTokenGrant(config, tokens.refresh_token!, { scope: 'openid' });
      expect(narrowed.scope?.split(' ').sort()).toEqual(['openid']);
    }
  });

  it('cannot be used by another client, confidential or public', async () => {
    const person = await newPerson();
    const otherWeb = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Other web app' }));
    const otherSpa = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Other SPA', public: true }));
    const { tokens } = await signIn(gatehouse, spaRp, person, { scope: 'openid offline_access', prompt: 'consent' });
    const { tokens: webTokens } = await signIn(gatehouse, webRp, person, { scope: 'openid offline_access', prompt: 'consent' });
    for (const [thief, stolen] of [[otherWeb, tokens.refresh_token!], [otherSpa, tokens.refresh_token!], [otherWeb, webTokens.refresh_token!], [otherSpa, webTokens.refresh_token!], [spaRp, webTokens.refresh_token!]] as const) {
      expect(await tokenError(client.refreshTokenGrant(thief, stolen))).toBe('invalid_grant');
    }
    // The owners' tokens are untouched by the attempts.
    expect((await client.refreshTokenGrant(spaRp, tokens.refresh_token!)).access_token).toBeTruthy();
    expect((await client.refreshTokenGrant(webRp, webTokens.refresh_token!)).access_token).toBeTruthy();
  });
});

describe('RFC 9700 §4.13 (RFC 9207): the issuer is named in every authorization response', () => {
  it('advertises authorization_response_iss_parameter_supported', () => {
    expect(webRp.serverMetadata().authorization_response_iss_parameter_supported).toBe(true);
  });

  it('sends iss with a code', async () => {
    const person = await newPerson();
    const callback = await signInThroughPages(new UserAgent(gatehouse.url), (await authorizationRequest(webRp)).url, person);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('iss')).toBe(gatehouse.url);
  });

  it('sends iss with an error: at once, and after the person denied', async () => {
    const immediate = await redirectedError(await authorizationUrl(webRp, { code_challenge: undefined, code_challenge_method: undefined }));
    expect(immediate.get('iss')).toBe(gatehouse.url);
    const person = await newPerson();
    const denied = await signInThroughPages(new UserAgent(gatehouse.url), (await authorizationRequest(webRp)).url, person, { consent: 'deny' });
    expect(denied.searchParams.get('error')).toBe('access_denied');
    expect(denied.searchParams.get('iss')).toBe(gatehouse.url);
  });

  it('sends iss in a form_post response', async () => {
    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const login = await ua.page((await authorizationRequest(webRp, { response_mode: 'form_post' })).url.href);
    const consent = await ua.submit(login, '/login', person);
    if (!isPage(consent)) throw new Error(`expected the consent page, went to ${consent.redirectedTo}`);
    const posted = await ua.submit(consent, '/consent', { decision: 'allow' });
    if (!isPage(posted)) throw new Error(`expected the form_post page, went to ${posted.redirectedTo}`);
    const form = posted.document.querySelector('form')!;
    expect(form.getAttribute('action')).toBe(redirectUri);
    expect(form.querySelector('input[name=iss]')?.getAttribute('value')).toBe(gatehouse.url);
    expect(form.querySelector('input[name=code]')?.getAttribute('value')).toBeTruthy();
  });
});

describe('RFC 9700 §4.12: no 307 redirect after a form with credentials', () => {
  it('answers the login POST with 303 See Other', async () => {
    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const login = await ua.page((await authorizationRequest(webRp)).url.href);
    const form = formOf(login, '/login');
    form.hidden.set('email', person.email);
    form.hidden.set('password', person.password);
    const response = await ua.request(form.action, { method: 'POST', body: form.hidden });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toMatch(/\/auth\//);
  });

  it('never answers a POST of ours or the provider\'s with 307 or 308', async () => {
    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const statuses: [string, number][] = [];
    const post = async (page: Page, actionPart: string, fields: Record<string, string>) => {
      const form = formOf(page, actionPart);
      for (const [name, value] of Object.entries(fields)) form.hidden.set(name, value);
      const response = await ua.request(form.action, { method: 'POST', body: form.hidden });
      statuses.push([actionPart, response.status]);
      return response;
    };
    const follow = async (response: Response) => ua.page(new URL(response.headers.get('location')!, gatehouse.url).href);

    const login = await ua.page((await authorizationRequest(webRp)).url.href);
    const consent = await follow(await post(login, '/login', { email: person.email, password: person.password }));
    await post(consent, '/consent', { decision: 'allow' });
    const wrong = await ua.page((await authorizationRequest(webRp, { prompt: 'login' })).url.href);
    await post(wrong, '/login', { email: person.email, password: 'not the password' });
    await post(wrong, '/abort', {});
    const logout = await ua.page(`${gatehouse.url}/session/end`);
    await post(logout, '/session/end/confirm', { logout: 'yes' });

    expect(statuses).toEqual([['/login', 303], ['/consent', 303], ['/login', 401], ['/abort', 303], ['/session/end/confirm', 303]]);
  });
});

describe('RFC 9700 §4.16: clickjacking', () => {
  async function pageResponse(path: string, init?: Parameters<UserAgent['request']>[1]): Promise<{ status: number; headers: Headers }> {
    const response = await new UserAgent(gatehouse.url).request(`${gatehouse.url}${path}`, init);
    await response.arrayBuffer();
    return response;
  }

  const pages: [string, () => Promise<{ status: number; headers: Headers }>][] = [
    ['the home page', () => pageResponse('/')],
    ['the login page', async () => new UserAgent(gatehouse.url).page((await authorizationRequest(webRp)).url.href)],
    ['the registration page', async () => {
      const ua = new UserAgent(gatehouse.url);
      const login = await ua.page((await authorizationRequest(webRp)).url.href);
      return ua.page(new URL(login.document.querySelector('a[href$="/register"]')!.getAttribute('href')!, gatehouse.url).href);
    }],
    ['the forgot-password page', async () => {
      const ua = new UserAgent(gatehouse.url);
      const login = await ua.page((await authorizationRequest(webRp)).url.href);
      return ua.page(new URL(login.document.querySelector('a[href$="/forgot-password"]')!.getAttribute('href')!, gatehouse.url).href);
    }],
    ['the consent page', async () => {
      const ua = new UserAgent(gatehouse.url);
      const login = await ua.page((await authorizationRequest(webRp)).url.href);
      const consent = await ua.submit(login, '/login', await newPerson());
      if (!isPage(consent)) throw new Error('expected the consent page');
      expect(consent.body).toContain('Allow access');
      return consent;
    }],
    ['the login page again after a wrong password (401)', async () => {
      const ua = new UserAgent(gatehouse.url);
      const login = await ua.page((await authorizationRequest(webRp)).url.href);
      const again = await ua.submit(login, '/login', { email: (await newPerson()).email, password: 'not the password' });
      if (!isPage(again)) throw new Error('expected the login page');
      expect(again.status).toBe(401);
      return again;
    }],
    ['the provider\'s error page (unknown client)', () => pageResponse('/auth?client_id=nobody&response_type=code&scope=openid')],
    ['our error page (unknown interaction)', () => pageResponse('/interaction/unknown-interaction')],
    ['the 404 page', () => pageResponse('/no/such/page')],
    ['the 413 page', async () => {
      const ua = new UserAgent(gatehouse.url);
      const login = await ua.page((await authorizationRequest(webRp)).url.href);
      const form = formOf(login, '/login');
      form.hidden.set('email', 'x@example.com');
      form.hidden.set('password', 'p'.repeat(100_000));
      const response = await ua.request(form.action, { method: 'POST', body: form.hidden });
      await response.arrayBuffer();
      expect(response.status).toBe(413);
      return response;
    }],
    ['the logout confirmation (the provider\'s page)', () => pageResponse('/session/end')],
    ['the signed-out page (the provider\'s page)', async () => {
      const ua = new UserAgent(gatehouse.url);
      const confirm = await ua.page(`${gatehouse.url}/session/end`);
      const done = await ua.submit(confirm, '/session/end/confirm', { logout: 'yes' });
      if (!isPage(done)) throw new Error('expected the signed-out page');
      return done;
    }],
    ['the form_post response (the provider\'s page)', async () => {
      const ua = new UserAgent(gatehouse.url);
      const login = await ua.page((await authorizationRequest(webRp, { response_mode: 'form_post' })).url.href);
      const consent = await ua.submit(login, '/login', await newPerson());
      if (!isPage(consent)) throw new Error('expected the consent page');
      const posted = await ua.submit(consent, '/consent', { decision: 'allow' });
      if (!isPage(posted)) throw new Error('expected the form_post page');
      expect(posted.body).toContain('<form method="post"');
      return posted;
    }],
    ['an invalid password reset link', () => pageResponse('/reset-password/not-a-token')],
    ['an invalid email confirmation link', () => pageResponse('/verify-email/not-a-token')],
    ['the account page (redirect to sign in)', () => pageResponse('/account')],
    ['the account page\'s callback error', () => pageResponse('/account/callback?code=x&state=y')],
    ['discovery', () => pageResponse('/.well-known/openid-configuration')],
    ['the JWKS', () => pageResponse('/jwks')],
    ['a token endpoint error', () => pageResponse('/token', { method: 'POST', body: new URLSearchParams({ grant_type: 'password' }) })],
    ['the health check', () => pageResponse('/healthz')],
    ['the stylesheet', () => pageResponse('/assets/gatehouse.css')],
  ];

  it.each(pages)('forbids framing %s (CSP frame-ancestors \'none\' and X-Frame-Options DENY)', async (_name, open) => {
    const response = await open();
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp.split(';').map((directive) => directive.trim())).toContain("frame-ancestors 'none'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
  });

  it.each(pages)('keeps the URL of %s out of Referer headers (§4.2.4: Referrer-Policy no-referrer)', async (_name, open) => {
    expect((await open()).headers.get('referrer-policy')).toBe('no-referrer');
  });
});

describe('RFC 9700 §4.2.4, CORS: the authorization endpoint is for browsers navigating, not for scripts', () => {
  it('never answers CORS on the authorization endpoint or the interaction pages', async () => {
    const origins = ['http://127.0.0.1:8080', 'https://evil.example', 'null'];
    for (const origin of origins) {
      const { url } = await authorizationRequest(spaRp);
      const get = await fetch(url, { headers: { origin }, redirect: 'manual' });
      expect(get.headers.get('access-control-allow-origin'), `GET from ${origin}`).toBeNull();
      const post = await fetch(`${gatehouse.url}/auth`, { method: 'POST', redirect: 'manual', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, body: url.searchParams });
      expect(post.headers.get('access-control-allow-origin'), `POST from ${origin}`).toBeNull();
      for (const path of ['/auth', new URL(get.headers.get('location')!, gatehouse.url).pathname]) {
        const preflight = await fetch(`${gatehouse.url}${path}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
        expect(preflight.headers.get('access-control-allow-origin'), `OPTIONS ${path} from ${origin}`).toBeNull();
        expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
      }
    }
  });
});

describe('RFC 9700 §2.3: access tokens are audience-restricted', () => {
  it('issues an API token for that API only, and nothing for an API that is not registered', async () => {
    const tokens = await client.clientCredentialsGrant(webRp, { scope: 'orders:read', resource: api });
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`)), { issuer: gatehouse.url });
    expect(payload.aud).toBe(api);
    expect(await tokenError(client.clientCredentialsGrant(webRp, { scope: 'orders:read', resource: 'https://evil.example/' }))).toBe('invalid_target');
  });
});

describe('RFC 9700 §2.1, §4.1: http redirect URIs are refused at registration unless loopback', () => {
  it.each([
    'http://app.example.test/cb',
    'http://localhost.evil.example/cb',
    'http://127.0.0.1.evil.example/cb',
    'http://0.0.0.0:8080/cb',
    'http://[::ffff:7f00:1]/cb',
    'http://10.0.0.1/cb',
  ])('refuses %s as a redirect URI and as a post-logout redirect URI, storing nothing', async (uri) => {
    const before = (await gatehouse.store.clients.list()).length;
    for (const input of [{ redirectUris: [uri] }, { redirectUris: [appCallback], postLogoutRedirectUris: [uri] }]) {
      const error = await gatehouse.addClient({ name: 'Insecure app', ...input }).then(() => undefined, (caught: unknown) => caught);
      expect(error).toBeInstanceOf(GatehouseError);
      expect((error as GatehouseError).code).toBe('invalid_input');
      expect((error as GatehouseError).message).toMatch(/https/);
    }
    expect((await gatehouse.store.clients.list()).length).toBe(before);
  });

  it.each(['http://localhost:8080/cb', 'http://127.0.0.1/cb', 'http://127.1.2.3:9000/cb', 'http://[::1]:3000/cb', 'https://app.example.test/cb'])(
    'accepts %s',
    async (uri) => {
      await expect(gatehouse.addClient({ name: 'Loopback app', redirectUris: [uri] })).resolves.toMatchObject({ clientId: expect.any(String) });
    },
  );
});
