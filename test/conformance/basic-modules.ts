import { randomBytes, createHash } from 'node:crypto';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import { expect } from 'vitest';

import { updateProfile } from '../../src/libraries/accounts.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { redirectUri } from '../helpers/gatehouse.ts';
import { UserAgent } from '../helpers/user-agent.ts';
import type { Conformance, Flow, RegisteredClient } from './harness.ts';
import {
  authorizationRequest, authorize, callbackOf, checkErrorCallback, expectErrorPage, happyFlow, standardClaimsOfScope,
  tokenRequest, travel, userinfo,
} from './harness.ts';

/**
 * The modules of oidcc-basic-certification-test-plan, each doing what the conformance suite's
 * module does (net.openid.conformance.openid.OIDCC*) and checking what it checks. The form post
 * plan runs the same functions with response_mode=form_post.
 */

/** The person's whole profile (test setup): every standard claim, so the scope modules can find them all. */
export async function fillProfile(gatehouse: TestGatehouse, accountId: string): Promise<void> {
  await updateProfile(gatehouse.store, accountId, {
    name: 'Buffy Anne Summers', given_name: 'Buffy', family_name: 'Summers', middle_name: 'Anne', nickname: 'Buff',
    preferred_username: 'buffy', profile: 'https://profiles.example.com/buffy', picture: 'https://profiles.example.com/buffy.png',
    website: 'https://buffy.example.com', gender: 'female', birthdate: '1981-01-19', zoneinfo: 'America/Los_Angeles', locale: 'en-US',
    phone_number: '+1 (805) 555-0123', phone_number_verified: true,
    address: { street_address: '1630 Revello Drive', locality: 'Sunnydale', region: 'CA', postal_code: '95037', country: 'US' },
  });
}

/** The suite's ValidateUserInfoStandardClaims: each standard claim present has its type (OpenID Connect Core §5.1). */
function checkStandardClaimTypes(claims: Record<string, unknown>): void {
  const strings = ['sub', 'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'email', 'gender', 'birthdate', 'zoneinfo', 'locale', 'phone_number'];
  for (const claim of strings) if (claim in claims) expect(typeof claims[claim], claim).toBe('string');
  for (const claim of ['email_verified', 'phone_number_verified']) if (claim in claims) expect(typeof claims[claim], claim).toBe('boolean');
  if ('updated_at' in claims) expect(Number.isInteger(claims.updated_at), 'updated_at').toBe(true);
  if ('address' in claims) {
    expect(typeof claims.address).toBe('object');
    for (const value of Object.values(claims.address as Record<string, unknown>)) expect(typeof value).toBe('string');
  }
}

/** The suite's VerifyScopesReturnedInUserInfoClaims: every standard claim of every requested scope is in userinfo. */
function checkScopeClaims(flow: Flow, scope: string): void {
  checkStandardClaimTypes(flow.claims);
  const expected = scope.split(' ').flatMap((each) => standardClaimsOfScope[each] ?? []);
  expect(expected.filter((claim) => !(claim in flow.claims))).toEqual([]);
}

/** Two authorizations in one browser; the second with `second`'s changes (AbstractOIDCCSameAuthTwiceServerTest). */
async function sameAuthTwice(h: Conformance, first: Record<string, string | undefined>, second: (flow: Flow) => Record<string, string | undefined>) {
  const one = await happyFlow(h, h.basic, first);
  expect(one.pages).toContain('login');
  const two = await happyFlow(h, h.basic, second(one), { ua: one.ua });
  // The second authorization asks the person for nothing.
  expect(two.pages).toEqual([]);
  expect(two.idToken.sub).toBe(one.idToken.sub);
  if (one.idToken.auth_time !== undefined || two.idToken.auth_time !== undefined) expect(two.idToken.auth_time).toBe(one.idToken.auth_time);
  return { one, two };
}

/** A code redeemed once, then again after `waitMs` (AbstractOIDCCAuthCodeReuse). */
async function reuseCode(h: Conformance, waitMs: number) {
  const flow = await happyFlow(h, h.basic);
  if (waitMs) travel(waitMs);
  const again = await tokenRequest(h.basic, { grant_type: 'authorization_code', code: flow.callback.params.get('code')!, redirect_uri: redirectUri });
  expect(again.status).toBe(400);
  expect(again.contentType).toMatch(/^application\/json/);
  expect(again.json.error).toBe('invalid_grant');
  if (typeof again.json.error_description === 'string') expect(again.json.error_description).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/);
  return flow;
}

/** An unsigned JWT (alg none) of the request's parameters: the suite's SerializeRequestObjectWithNullAlgorithm. */
function unsignedRequestObject(params: Record<string, string>, rp: RegisteredClient, issuer: string): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ ...params, iss: rp.clientId, aud: issuer })}.`;
}

export type ModuleTest = (h: Conformance) => Promise<void>;

export const basicModuleTests: Record<string, ModuleTest> = {
  async 'oidcc-server'(h) {
    const flow = await happyFlow(h, h.basic);
    expect(flow.pages).toEqual(['login', 'consent']);
    expect(flow.idToken).not.toHaveProperty('name');
  },

  async 'oidcc-response-type-missing'(h) {
    const request = authorizationRequest(h, h.basic, { response_type: undefined });
    const outcome = await authorize(h, request);
    if (outcome.kind === 'page') {
      expectErrorPage(outcome.page, /response_type/);
    } else {
      checkErrorCallback(h, outcome.callback, request, ['invalid_request', 'unsupported_response_type']);
    }
  },

  async 'oidcc-idtoken-signature'(h) {
    expect(h.basic.config.clientMetadata().id_token_signed_response_alg).toBeUndefined();
    const flow = await happyFlow(h, h.basic);
    // happyFlow's ID token checks include these two; said here as they are this module's subject.
    const header = JSON.parse(Buffer.from(flow.tokens.id_token!.split('.')[0]!, 'base64url').toString()) as { alg: string; kid?: string };
    expect(header).toMatchObject({ alg: 'RS256', kid: expect.any(String) });
  },

  async 'oidcc-idtoken-unsigned'(h) {
    const supported = h.basic.config.serverMetadata().id_token_signing_alg_values_supported;
    expect(supported).toContain('RS256');
    expect(supported).not.toContain('none');
  },

  async 'oidcc-userinfo-get'(h) {
    const flow = await happyFlow(h, h.basic);
    checkStandardClaimTypes(await userinfo(h.basic, flow.tokens.access_token, flow.idToken.sub!, 'get'));
  },

  async 'oidcc-userinfo-post-header'(h) {
    const flow = await happyFlow(h, h.basic);
    checkStandardClaimTypes(await userinfo(h.basic, flow.tokens.access_token, flow.idToken.sub!, 'post-header'));
  },

  async 'oidcc-userinfo-post-body'(h) {
    const flow = await happyFlow(h, h.basic);
    checkStandardClaimTypes(await userinfo(h.basic, flow.tokens.access_token, flow.idToken.sub!, 'post-body'));
  },

  async 'oidcc-ensure-request-without-nonce-succeeds-for-code-flow'(h) {
    const flow = await happyFlow(h, h.basic, { nonce: undefined });
    expect(flow.request.params).not.toHaveProperty('nonce');
    expect(flow.idToken).not.toHaveProperty('nonce');
  },

  async 'oidcc-scope-profile'(h) {
    checkScopeClaims(await happyFlow(h, h.basic, { scope: 'openid profile' }), 'profile');
  },

  async 'oidcc-scope-email'(h) {
    checkScopeClaims(await happyFlow(h, h.basic, { scope: 'openid email' }), 'email');
  },

  async 'oidcc-scope-address'(h) {
    checkScopeClaims(await happyFlow(h, h.basic, { scope: 'openid address' }), 'address');
  },

  async 'oidcc-scope-phone'(h) {
    checkScopeClaims(await happyFlow(h, h.basic, { scope: 'openid phone' }), 'phone');
  },

  async 'oidcc-scope-all'(h) {
    checkScopeClaims(await happyFlow(h, h.basic, { scope: 'openid email phone address profile' }), 'email phone address profile');
  },

  async 'oidcc-alternate-happy-flow'(h) {
    // OIDCCScopeEmail with the scope reversed and the query parameters in another order.
    const flow = await happyFlow(h, h.basic, { scope: 'email openid' }, { reorder: true });
    expect([...flow.request.url.searchParams.keys()].at(-1)).toBe('client_id');
    checkScopeClaims(flow, 'email');
  },

  async 'oidcc-display-page'(h) {
    const flow = await happyFlow(h, h.basic, { display: 'page' });
    expect(flow.pages[0]).toBe('login');
  },

  async 'oidcc-display-popup'(h) {
    const flow = await happyFlow(h, h.basic, { display: 'popup' });
    expect(flow.pages[0]).toBe('login');
  },

  async 'oidcc-prompt-login'(h) {
    const first = await happyFlow(h, h.basic);
    // The suite waits a second so that auth_time differs.
    travel(1_000);
    const second = await happyFlow(h, h.basic, { prompt: 'login' }, { ua: first.ua });
    expect(second.pages).toContain('login');
    if (first.idToken.auth_time !== undefined && second.idToken.auth_time !== undefined) {
      expect(second.idToken.auth_time).toBeGreaterThan(first.idToken.auth_time as number);
    }
  },

  async 'oidcc-prompt-none-not-logged-in'(h) {
    const state = randomBytes(96).toString('base64url');
    expect(state).toHaveLength(128);
    const request = authorizationRequest(h, h.basic, { prompt: 'none', state });
    const callback = callbackOf(await authorize(h, request));
    checkErrorCallback(h, callback, request, ['interaction_required', 'login_required', 'account_selection_required', 'consent_required']);
  },

  async 'oidcc-prompt-none-logged-in'(h) {
    await sameAuthTwice(h, {}, () => ({ prompt: 'none' }));
  },

  async 'oidcc-max-age-1'(h) {
    const first = await happyFlow(h, h.basic);
    // The suite waits two seconds, then asks for an authentication at most one second old.
    travel(2_000);
    const second = await happyFlow(h, h.basic, { max_age: '1' }, { ua: first.ua });
    expect(second.pages).toContain('login');
    expect(second.idToken.auth_time).toEqual(expect.any(Number));
    if (first.idToken.auth_time !== undefined) expect(second.idToken.auth_time).toBeGreaterThan(first.idToken.auth_time as number);
    // CheckIdTokenAuthTimeIsRecentIfPresent: within five minutes of now.
    expect(Math.abs(Math.floor(Date.now() / 1000) - (second.idToken.auth_time as number))).toBeLessThan(300);
  },

  async 'oidcc-max-age-10000'(h) {
    const { one, two } = await sameAuthTwice(h, { max_age: '15000' }, () => ({ max_age: '10000' }));
    expect(one.idToken.auth_time).toEqual(expect.any(Number));
    expect(two.idToken.auth_time).toBe(one.idToken.auth_time);
  },

  async 'oidcc-ensure-request-with-unknown-parameter-succeeds'(h) {
    await happyFlow(h, h.basic, { extra: 'foobar' });
  },

  async 'oidcc-id-token-hint'(h) {
    await sameAuthTwice(h, {}, (first) => ({ prompt: 'none', id_token_hint: first.tokens.id_token! }));
  },

  async 'oidcc-login-hint'(h) {
    const flow = await happyFlow(h, h.basic, { login_hint: h.person.email });
    expect(flow.seen[0]!.document.querySelector('input[name=email]')?.getAttribute('value')).toBe(h.person.email);
  },

  async 'oidcc-ui-locales'(h) {
    const flow = await happyFlow(h, h.basic, { ui_locales: 'se' });
    expect(flow.pages[0]).toBe('login');
  },

  async 'oidcc-claims-locales'(h) {
    await happyFlow(h, h.basic, { claims_locales: 'se' });
  },

  async 'oidcc-ensure-request-with-acr-values-succeeds'(h) {
    const advertised = h.basic.config.serverMetadata().acr_values_supported as string[];
    expect(advertised.length).toBeGreaterThan(0);
    const flow = await happyFlow(h, h.basic, { acr_values: advertised.join(' ') });
    // Gatehouse reads acr_values as asking for the strongest level named: with all three, a passkey
    // (the person has one; a person with a password only would be refused).
    expect(flow.pages[0]).toBe('login with a passkey');
    expect(advertised).toContain(flow.idToken.acr);
  },

  async 'oidcc-codereuse'(h) {
    await reuseCode(h, 0);
  },

  async 'oidcc-codereuse-30seconds'(h) {
    const flow = await reuseCode(h, 30_000);
    // RFC 6749 4.1.2: the tokens issued for the code are revoked (the suite calls userinfo with the access token).
    const response = await fetch(h.basic.config.serverMetadata().userinfo_endpoint!, { headers: { authorization: `Bearer ${flow.tokens.access_token}` } });
    expect(response.status).toBe(401);
  },

  async 'oidcc-ensure-registered-redirect-uri'(h) {
    // CreateBadRedirectUriByAppending: the registered URI with a random part added.
    const bad = `${redirectUri}/${randomBytes(6).toString('hex')}`;
    const request = authorizationRequest(h, h.basic, { redirect_uri: bad });
    const ua = new UserAgent(h.issuer);
    const outcome = await authorize(h, request, { ua });
    if (outcome.kind === 'callback') throw new Error(`redirected to ${outcome.callback.url.href}`);
    expectErrorPage(outcome.page, /redirect_uri/);
    expect(outcome.pages).toEqual([]);
  },

  async 'oidcc-ensure-post-request-succeeds'(h) {
    // OpenID Connect Core §3.1.2.1: the request as a form POST. Gatehouse answers 303 to the same
    // parameters by GET (src/web/protocol.ts), a navigation that carries its SameSite=Lax cookies.
    const request = authorizationRequest(h, h.basic);
    const endpoint = `${request.url.origin}${request.url.pathname}`;
    const posted = await fetch(endpoint, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: request.url.searchParams });
    expect(posted.status).toBe(303);
    const location = new URL(posted.headers.get('location')!, endpoint);
    expect(location.pathname).toBe(request.url.pathname);
    expect(Object.fromEntries(location.searchParams)).toEqual(Object.fromEntries(request.url.searchParams));
    // A POST that is not form-encoded: a 400 page, never a 500.
    const json = await fetch(endpoint, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request.params) });
    expect(json.status).toBe(400);
    // The whole flow with the request posted, as the suite runs it.
    await happyFlow(h, h.basic, {}, { method: 'POST' });
  },

  async 'oidcc-server-client-secret-post'(h) {
    expect(h.post.config.serverMetadata().token_endpoint_auth_methods_supported).toContain('client_secret_post');
    expect((await h.gatehouse.store.clients.find(h.post.clientId))?.metadata.token_endpoint_auth_method).toBe('client_secret_post');
    await happyFlow(h, h.post);
  },

  async 'oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported'(h) {
    expect(h.basic.config.serverMetadata().request_uri_parameter_supported ?? false).toBe(false);
    const request = authorizationRequest(h, h.basic);
    const object = unsignedRequestObject(request.params, h.basic, h.issuer);
    const url = new URL(request.url.origin + request.url.pathname);
    // By reference: the object at an address the provider would fetch (never fetched: it is refused first).
    url.search = new URLSearchParams({ client_id: h.basic.clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, request_uri: `https://rp.example.test/request/${createHash('sha256').update(object).digest('hex')}`, ...(h.responseMode === 'form_post' ? { response_mode: 'form_post' } : {}) }).toString();
    const callback = callbackOf(await authorize(h, { ...request, url }));
    checkErrorCallback(h, callback, {}, ['request_uri_not_supported']);
  },

  async 'oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported'(h) {
    const metadata = h.basic.config.serverMetadata();
    // Discovery 1.0 §3: omitted means false.
    expect(metadata.request_parameter_supported ?? false).toBe(false);
    expect(metadata.request_object_signing_alg_values_supported ?? []).not.toContain('none');
    const request = authorizationRequest(h, h.basic);
    const url = new URL(request.url.origin + request.url.pathname);
    url.search = new URLSearchParams({ client_id: h.basic.clientId, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, request: unsignedRequestObject(request.params, h.basic, h.issuer), ...(h.responseMode === 'form_post' ? { response_mode: 'form_post' } : {}) }).toString();
    const callback = callbackOf(await authorize(h, { ...request, url }));
    checkErrorCallback(h, callback, {}, ['request_not_supported']);
  },

  async 'oidcc-claims-essential'(h) {
    const flow = await happyFlow(h, h.basic, { claims: JSON.stringify({ userinfo: { name: { essential: true } } }) });
    expect(flow.claims.name).toEqual(expect.any(String));
    expect(flow.idToken).not.toHaveProperty('name');
  },

  async 'oidcc-ensure-request-object-with-redirect-uri'(h) {
    // The request object names the registered redirect URI; the parameter outside it names another.
    const request = authorizationRequest(h, h.basic);
    const url = new URL(request.url.origin + request.url.pathname);
    url.search = new URLSearchParams({ client_id: h.basic.clientId, response_type: 'code', scope: 'openid', redirect_uri: `${redirectUri}/${randomBytes(6).toString('hex')}`, request: unsignedRequestObject(request.params, h.basic, h.issuer), ...(h.responseMode === 'form_post' ? { response_mode: 'form_post' } : {}) }).toString();
    const outcome = await authorize(h, { ...request, url });
    // EnsureOPDoesNotUseDefaultRedirectUriInCaseOfInvalidRedirectUri: no answer at the registered URI either.
    if (outcome.kind === 'callback') throw new Error(`redirected to ${outcome.callback.url.href} with ${outcome.callback.params}`);
    expectErrorPage(outcome.page, /redirect_uri/);
  },

  async 'oidcc-refresh-token'(h) {
    const metadata = h.basic.config.serverMetadata();
    expect(metadata.grant_types_supported).toContain('refresh_token');
    expect(metadata.scopes_supported).toContain('offline_access');
    const scope = 'openid offline_access';
    const first = await happyFlow(h, h.basic, { scope, prompt: 'consent' });
    const refreshToken = first.tokens.refresh_token!;
    // RFC 6749 A.17: VSCHAR only.
    expect(refreshToken).toMatch(/^[\x20-\x7E]+$/);
    const refreshed = await tokenRequest(h.basic, { grant_type: 'refresh_token', refresh_token: refreshToken });
    expect(refreshed.status).toBe(200);
    expect(refreshed.json.access_token).toEqual(expect.any(String));
    // The refreshed ID token: signed, the same person, issuer and audience (OIDCC 12.2).
    const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri!));
    const { payload: idToken } = await jwtVerify(String(refreshed.json.id_token), jwks, { issuer: h.issuer, audience: h.basic.clientId, algorithms: ['RS256'] });
    expect(idToken.sub).toBe(first.idToken.sub);
    if (first.idToken.auth_time !== undefined) expect(idToken.auth_time).toBe(first.idToken.auth_time);
    await userinfo(h.basic, refreshed.json.access_token as string, first.idToken.sub!);

    // A second client's refresh token is refused to the first client (AbstractOIDCCMultipleClient).
    const second = await happyFlow(h, h.second, { scope, prompt: 'consent' });
    const stolen = await tokenRequest(h.basic, { grant_type: 'refresh_token', refresh_token: second.tokens.refresh_token! });
    expect(stolen.status).toBe(400);
    expect(stolen.json.error).toBe('invalid_grant');
  },

  async 'oidcc-ensure-request-with-valid-pkce-succeeds'(h) {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    await happyFlow(h, h.pkce, { code_challenge: challenge, code_challenge_method: 'S256' }, { pkceCodeVerifier: verifier });
  },
};
