import { createHash, randomBytes } from 'node:crypto';

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import * as client from 'openid-client';
import { expect } from 'vitest';

import { ceremonyOn, registerPasskey, startLocalhostGatehouse } from '../flows/login/passkey-fixtures.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { redirectUri, startGatehouse } from '../helpers/gatehouse.ts';
import type { StartOptions } from '../helpers/gatehouse.ts';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.ts';
import type { Page } from '../helpers/user-agent.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

/*
 * What the conformance suite's modules have in common (its AbstractOIDCCServerTest): a relying party
 * that sends the person's browser to the authorization endpoint, reads the callback (a query, or a
 * form POST with response_mode=form_post), exchanges the code, checks the ID token the way the
 * suite's PerformStandardIdTokenChecks does, and calls userinfo.
 */

// ---------------------------------------------------------------------------------------------
// Time. The server decides with its injected clock; oidc-provider, inside it, reads Date.now() for
// login times, auth_time, max_age and token lifetimes. Modules that wait (max_age=1 waits two
// seconds, code reuse thirty) move both at once instead: the injected clock reads the process's
// Date, which `travel` moves forward. Never back: everything stored keeps its order.
// ---------------------------------------------------------------------------------------------

const RealDate = Date;
let shiftMs = 0;

function installShiftedDate(): void {
  if (globalThis.Date !== RealDate) return;
  const Shifted = function (this: unknown, ...args: unknown[]) {
    if (!new.target) return new RealDate(RealDate.now() + shiftMs).toString();
    return args.length === 0 ? new RealDate(RealDate.now() + shiftMs) : Reflect.construct(RealDate, args);
  } as unknown as DateConstructor;
  Object.defineProperties(Shifted, {
    now: { value: () => RealDate.now() + shiftMs },
    parse: { value: RealDate.parse },
    UTC: { value: RealDate.UTC },
    prototype: { value: RealDate.prototype },
  });
  globalThis.Date = Shifted;
}

/** Back to the real Date, once the server is stopped (a worker may run another file next). */
function restoreDate(): void {
  globalThis.Date = RealDate;
  shiftMs = 0;
}

/** Moves the server's clock and oidc-provider's (the process's Date) `ms` ahead. */
export function travel(ms: number): void {
  installShiftedDate();
  shiftMs += ms;
}

// ---------------------------------------------------------------------------------------------
// The server, the person and the clients.
// ---------------------------------------------------------------------------------------------

export type ResponseMode = 'query' | 'form_post';

export type RegisteredClient = { clientId: string; clientSecret: string; config: client.Configuration };

export type Conformance = {
  gatehouse: TestGatehouse;
  issuer: string;
  responseMode: ResponseMode;
  /** The person at the browser: a password, and a passkey for when only a passkey will do. */
  person: { email: string; password: string; id: string; passkey: SoftwareAuthenticator };
  /** client_secret_basic, pkce_exempt (the plans' modules send no PKCE); refresh tokens allowed. */
  basic: RegisteredClient;
  /** A second client like `basic` (refresh tokens bound to their client). */
  second: RegisteredClient;
  /** client_secret_post, pkce_exempt. */
  post: RegisteredClient;
  /** client_secret_basic without the PKCE exemption (the PKCE module). */
  pkce: RegisteredClient;
  stop(): Promise<void>;
};

export const person = { email: 'buffy@example.com', password: 'conformance person passphrase' };

async function register(gatehouse: TestGatehouse, input: Parameters<TestGatehouse['addClient']>[0], authMethod: 'client_secret_basic' | 'client_secret_post'): Promise<RegisteredClient> {
  const { clientId, clientSecret } = await gatehouse.addClient({ grantTypes: ['authorization_code', 'refresh_token'], ...input, authMethod });
  const auth = authMethod === 'client_secret_post' ? client.ClientSecretPost(clientSecret!) : client.ClientSecretBasic(clientSecret!);
  const config = await client.discovery(new URL(gatehouse.url), clientId, clientSecret, auth, { execute: [client.allowInsecureRequests] });
  return { clientId, clientSecret: clientSecret!, config };
}

/**
 * One server for a plan's file, its clock movable with `travel`, one person and the clients. The
 * issuer is http://localhost:<port> (a secure context with a domain, so passkeys work). The
 * person's profile is filled by `profile` when given (the claims the scope modules look for).
 */
export async function startConformance(responseMode: ResponseMode, options: StartOptions & { profile?: (gatehouse: TestGatehouse, accountId: string) => Promise<void> } = {}): Promise<Conformance> {
  installShiftedDate();
  const gatehouse = await startLocalhostGatehouse({ ...options, clock: () => new Date() });
  const id = await gatehouse.addUser(person.email, person.password, { name: 'Buffy Summers' });
  const passkey = new SoftwareAuthenticator({ origin: gatehouse.url });
  await registerPasskey(gatehouse, { id, email: person.email }, passkey);
  await options.profile?.(gatehouse, id);
  return {
    gatehouse,
    issuer: gatehouse.url,
    responseMode,
    person: { ...person, id, passkey },
    basic: await register(gatehouse, { name: 'Conformance basic', pkceExempt: true }, 'client_secret_basic'),
    second: await register(gatehouse, { name: 'Conformance second', pkceExempt: true }, 'client_secret_basic'),
    post: await register(gatehouse, { name: 'Conformance post', pkceExempt: true }, 'client_secret_post'),
    pkce: await register(gatehouse, { name: 'Conformance PKCE' }, 'client_secret_basic'),
    async stop() {
      await gatehouse.stop();
      restoreDate();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The authorization request and the person's browser.
// ---------------------------------------------------------------------------------------------

export type AuthRequest = { url: URL; params: Record<string, string>; state: string; nonce?: string };

/**
 * The suite's CreateAuthorizationRequestSteps: client_id, redirect_uri, scope openid, a random
 * state and nonce, response_type code (and response_mode=form_post in the form post plan), then
 * the module's changes (`changes`; an undefined value removes a parameter).
 */
export function authorizationRequest(h: Conformance, rp: RegisteredClient, changes: Record<string, string | undefined> = {}): AuthRequest {
  const base: Record<string, string | undefined> = {
    client_id: rp.clientId,
    redirect_uri: redirectUri,
    scope: 'openid',
    state: randomBytes(16).toString('base64url'),
    nonce: randomBytes(16).toString('base64url'),
    response_type: 'code',
    ...(h.responseMode === 'form_post' ? { response_mode: 'form_post' } : {}),
    ...changes,
  };
  const params = Object.fromEntries(Object.entries(base).filter((entry): entry is [string, string] => entry[1] !== undefined));
  const url = new URL(rp.config.serverMetadata().authorization_endpoint!);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return { url, params, state: params.state!, ...(params.nonce ? { nonce: params.nonce } : {}) };
}

/** What reached the client's redirect URI: how, and with what. */
export type Callback = { method: 'GET' | 'POST'; url: URL; params: URLSearchParams; enctype: string };

export type Outcome = { pages: string[]; seen: Page[] } & (
  | { kind: 'callback'; callback: Callback }
  /** The browser stayed on one of the provider's pages it cannot get past (an error page). */
  | { kind: 'page'; page: Page }
);

/** The provider's form_post answer: a page whose one form posts to the client's redirect URI. */
function formPostCallback(page: Page): Callback | undefined {
  const form = page.document.querySelector('form');
  const action = form?.getAttribute('action');
  if (!form || !action || new URL(action, page.url).origin === new URL(page.url).origin) return undefined;
  const params = new URLSearchParams();
  for (const input of form.querySelectorAll('input')) params.set(input.getAttribute('name')!, input.getAttribute('value') ?? '');
  // A browser runs the page's inline script only if the page's CSP allows it by its hash.
  const script = page.document.querySelector('script')?.text ?? '';
  const digest = createHash('sha256').update(script).digest('base64');
  expect(page.headers.get('content-security-policy')).toContain(`'sha256-${digest}'`);
  return { method: (form.getAttribute('method') ?? 'get').toUpperCase() as 'GET' | 'POST', url: new URL(action), params, enctype: form.getAttribute('enctype') ?? 'application/x-www-form-urlencoded' };
}

/**
 * The person in the browser: opens the request (or posts it, `method: 'POST'`), signs in when the
 * login page asks, allows on the consent page, and stops at the client's redirect URI (a redirect
 * or a form_post page) or at a page it cannot get past. `pages` lists the pages it went through.
 */
export async function authorize(h: Conformance, request: AuthRequest, options: { ua?: UserAgent; method?: 'GET' | 'POST' } = {}): Promise<Outcome> {
  const ua = options.ua ?? new UserAgent(h.issuer);
  const pages: string[] = [];
  const seen: Page[] = [];
  let result = options.method === 'POST'
    ? await ua.navigate(`${request.url.origin}${request.url.pathname}`, { method: 'POST', body: request.url.searchParams })
    : await ua.navigate(request.url.href);
  for (let steps = 0; steps < 6; steps += 1) {
    if (!isPage(result)) {
      const url = new URL(result.redirectedTo);
      return { kind: 'callback', callback: { method: 'GET', url, params: new URLSearchParams(url.search), enctype: '' }, pages, seen };
    }
    seen.push(result);
    const callback = formPostCallback(result);
    if (callback) return { kind: 'callback', callback, pages, seen };
    const ceremony = ceremonyOn(result);
    if (result.document.querySelector('input[name=password]')) {
      pages.push('login');
      result = await ua.submit(result, '/login', { email: h.person.email, password: h.person.password });
    } else if (ceremony?.kind === 'authenticate') {
      // The login page offers a passkey only (a phishing-resistant sign-in was asked for).
      pages.push('login with a passkey');
      result = await ua.submit(result, ceremony.action, { response: JSON.stringify(h.person.passkey.authenticate(ceremony.options as never)) });
    } else if (result.document.querySelector('button[value=allow]')) {
      pages.push('consent');
      result = await ua.submit(result, '/consent', { decision: 'allow' });
    } else {
      return { kind: 'page', page: result, pages, seen };
    }
  }
  throw new Error(`the sign-in went round in circles: ${pages.join(', ')}`);
}

export function callbackOf(outcome: Outcome): Callback {
  if (outcome.kind !== 'callback') throw new Error(`expected the client's redirect URI, stayed on ${outcome.page.status} ${outcome.page.url}:\n${outcome.page.body.slice(0, 2000)}`);
  return outcome.callback;
}

/**
 * The suite's checks of every authorization response: at the registered redirect URI, by the
 * response mode asked for (form_post: a urlencoded POST, nothing in the query), iss the issuer
 * when present, and the state sent back unchanged when one was sent.
 */
export function checkCallback(h: Conformance, callback: Callback, request: Pick<AuthRequest, 'state'> | { state?: undefined }): void {
  expect(`${callback.url.origin}${callback.url.pathname}`).toBe(redirectUri);
  if (h.responseMode === 'form_post') {
    expect(callback.method).toBe('POST');
    expect(callback.enctype).toBe('application/x-www-form-urlencoded');
    expect(callback.url.searchParams.has('code')).toBe(false);
    expect(callback.url.searchParams.has('error')).toBe(false);
  } else {
    expect(callback.method).toBe('GET');
  }
  const iss = callback.params.get('iss');
  if (iss !== null) expect(iss).toBe(h.issuer);
  if (request.state !== undefined) expect(callback.params.get('state')).toBe(request.state);
}

/** The suite's generic checks of an error at the redirect URI (and its error_description's characters). */
export function checkErrorCallback(h: Conformance, callback: Callback, request: Pick<AuthRequest, 'state'> | { state?: undefined }, errors: string[]): void {
  checkCallback(h, callback, request);
  expect(errors).toContain(callback.params.get('error'));
  expect(callback.params.has('code')).toBe(false);
  const description = callback.params.get('error_description');
  // RFC 6749 4.1.2.1: %x20-21 / %x23-5B / %x5D-7E, and no CR, LF or tab.
  if (description !== null) expect(description).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/);
  for (const name of callback.params.keys()) expect(['error', 'error_description', 'error_uri', 'state', 'iss', 'session_state']).toContain(name);
}

// ---------------------------------------------------------------------------------------------
// The token endpoint, the ID token and userinfo.
// ---------------------------------------------------------------------------------------------

/** The callback as openid-client receives it: a URL, or the POST request of a form_post. */
function callbackInput(callback: Callback): URL | globalThis.Request {
  if (callback.method === 'GET') return callback.url;
  return new globalThis.Request(callback.url, { method: 'POST', headers: { 'content-type': callback.enctype }, body: callback.params.toString() });
}

export type Tokens = client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

/** The code exchanged by the real relying party (openid-client), which checks state, nonce and the ID token. */
export async function exchange(rp: RegisteredClient, callback: Callback, request: AuthRequest, pkceCodeVerifier?: string): Promise<Tokens> {
  return client.authorizationCodeGrant(rp.config, callbackInput(callback), {
    expectedState: request.state,
    ...(request.nonce ? { expectedNonce: request.nonce } : {}),
    ...(pkceCodeVerifier ? { pkceCodeVerifier } : {}),
    idTokenExpected: true,
  });
}

/** The claims an ID token may carry without being asked (the suite's EnsureIdTokenDoesNotContainNonRequestedClaims). */
const idTokenClaims = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', 'azp', 'at_hash', 'c_hash', 'nbf', 'jti', 'sid', 's_hash']);

export const standardClaimsOfScope: Record<string, string[]> = {
  profile: ['name', 'given_name', 'family_name', 'middle_name', 'nickname', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at', 'preferred_username'],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
};

/**
 * The suite's PerformStandardIdTokenChecks, with jose against the published JWKS: signed (RS256,
 * the clients' default) with a key named by kid, iss, aud (and azp with several audiences), iat,
 * exp, sub, nonce as sent (none when none was sent), at_hash when present, auth_time a number when
 * present, and no claims beyond what the scopes asked for.
 */
export async function checkIdToken(h: Conformance, rp: RegisteredClient, idToken: string, expected: { nonce?: string | undefined; accessToken?: string; scope?: string }): Promise<JWTPayload> {
  const header = decodeProtectedHeader(idToken);
  expect(header.alg).toBe('RS256');
  expect(header.kid).toEqual(expect.any(String));
  const jwks = createRemoteJWKSet(new URL(rp.config.serverMetadata().jwks_uri!));
  const { payload } = await jwtVerify(idToken, jwks, { issuer: h.issuer, audience: rp.clientId, algorithms: ['RS256'] });
  const now = Math.floor(Date.now() / 1000);
  expect(payload.iat).toEqual(expect.any(Number));
  expect(payload.iat!).toBeLessThanOrEqual(now + 5);
  expect(payload.exp!).toBeGreaterThan(now);
  expect(typeof payload.sub === 'string' && payload.sub.length > 0 && payload.sub.length <= 255).toBe(true);
  if (Array.isArray(payload.aud) && payload.aud.length > 1) expect(payload.azp).toBe(rp.clientId);
  if (expected.nonce) expect(payload.nonce).toBe(expected.nonce);
  else expect(payload).not.toHaveProperty('nonce');
  if (payload.auth_time !== undefined) expect(payload.auth_time).toEqual(expect.any(Number));
  if (payload.at_hash !== undefined && expected.accessToken) {
    const digest = createHash('sha256').update(expected.accessToken).digest();
    expect(payload.at_hash).toBe(digest.subarray(0, 16).toString('base64url'));
  }
  const allowed = new Set([...idTokenClaims, ...(expected.scope ?? 'openid').split(' ').flatMap((scope) => standardClaimsOfScope[scope] ?? [])]);
  expect(Object.keys(payload).filter((claim) => !allowed.has(claim))).toEqual([]);
  return payload;
}

/** Userinfo as the suite calls it after every flow: GET with a bearer header, 200 JSON, the ID token's sub. */
export async function userinfo(rp: RegisteredClient, accessToken: string, sub: string, how: 'get' | 'post-header' | 'post-body' = 'get'): Promise<Record<string, unknown>> {
  const endpoint = rp.config.serverMetadata().userinfo_endpoint!;
  const response = how === 'get'
    ? await fetch(endpoint, { headers: { authorization: `Bearer ${accessToken}` } })
    : how === 'post-header'
      ? await fetch(endpoint, { method: 'POST', headers: { authorization: `Bearer ${accessToken}` } })
      : await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ access_token: accessToken }) });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  const claims = (await response.json()) as Record<string, unknown>;
  expect(claims.sub).toBe(sub);
  return claims;
}

export type Flow = { request: AuthRequest; callback: Callback; pages: string[]; seen: Page[]; tokens: Tokens; idToken: JWTPayload; claims: Record<string, unknown>; ua: UserAgent };

/**
 * A whole module's happy flow: the request (with the module's changes), the person through the
 * pages, the callback checks, the code's length (at least 128 bits, the suite's
 * EnsureMinimumAuthorizationCodeLength), the exchange, the ID token checks and userinfo.
 */
export async function happyFlow(h: Conformance, rp: RegisteredClient, changes: Record<string, string | undefined> = {}, options: { ua?: UserAgent; method?: 'GET' | 'POST'; pkceCodeVerifier?: string; reorder?: boolean } = {}): Promise<Flow> {
  const ua = options.ua ?? new UserAgent(h.issuer);
  const request = authorizationRequest(h, rp, changes);
  // The suite's BuildPlainRedirectToAuthorizationEndpointReorderedParams: the parameters in another order.
  if (options.reorder) request.url.search = new URLSearchParams(Object.entries(request.params).reverse()).toString();
  const outcome = await authorize(h, request, { ua, ...(options.method ? { method: options.method } : {}) });
  const callback = callbackOf(outcome);
  checkCallback(h, callback, request);
  expect(callback.params.get('error')).toBeNull();
  const code = callback.params.get('code');
  expect(Buffer.byteLength(code ?? '') * 8).toBeGreaterThanOrEqual(128);
  const tokens = await exchange(rp, callback, request, options.pkceCodeVerifier);
  expect(tokens.token_type.toLowerCase()).toBe('bearer');
  expect(tokens.expires_in).toBeGreaterThan(0);
  const idToken = await checkIdToken(h, rp, tokens.id_token!, { nonce: request.nonce, accessToken: tokens.access_token, scope: request.params.scope! });
  const claims = await userinfo(rp, tokens.access_token, idToken.sub!);
  return { request, callback, pages: outcome.pages, seen: outcome.seen, tokens, idToken, claims, ua };
}

/** A token endpoint call as the suite makes it (CallTokenEndpointAndReturnFullResponse), with Basic authentication. */
export async function tokenRequest(rp: RegisteredClient, body: Record<string, string>): Promise<{ status: number; contentType: string; json: Record<string, unknown> }> {
  const response = await fetch(rp.config.serverMetadata().token_endpoint!, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(rp.clientId)}:${encodeURIComponent(rp.clientSecret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(body),
  });
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', json: (await response.json()) as Record<string, unknown> };
}

/** The page is the provider's own error page (not a redirect, not a sign-in page), naming what is wrong. */
export function expectErrorPage(page: Page, mentions: RegExp): void {
  expect(page.status).toBeGreaterThanOrEqual(400);
  expect(page.status).toBeLessThan(500);
  expect(page.document.querySelector('input[name=password]')).toBeNull();
  expect(page.body).toMatch(mentions);
}

// ---------------------------------------------------------------------------------------------
// Discovery as the suite reads it: from an https issuer.
// ---------------------------------------------------------------------------------------------

export const httpsIssuer = 'https://id.example.test';

/**
 * A server whose issuer is https (as production's is), reached over loopback: it builds every URL
 * from its issuer, so the discovery document is the one a certification run would read.
 */
export async function startHttpsIssuerGatehouse(): Promise<TestGatehouse> {
  return startGatehouse({ env: { ISSUER: httpsIssuer } });
}

/** A URL of the https issuer, fetched from the server on loopback. */
export function overLoopback(gatehouse: TestGatehouse, url: string): string {
  const parsed = new URL(url);
  expect(parsed.origin).toBe(httpsIssuer);
  return `http://127.0.0.1:${gatehouse.port}${parsed.pathname}${parsed.search}`;
}

/** The discovery document (GetDynamicServerConfiguration): 200, JSON, from the issuer's well-known address. */
export async function discoveryDocument(gatehouse: TestGatehouse): Promise<Record<string, unknown>> {
  const discoveryUrl = `${httpsIssuer}/.well-known/openid-configuration`;
  const response = await fetch(overLoopback(gatehouse, discoveryUrl));
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^application\/json/);
  return (await response.json()) as Record<string, unknown>;
}

/** CheckDiscEndpointAllEndpointsAreHttps: every `*_endpoint` (and jwks_uri) a valid https URL of the issuer. */
export function checkEndpointsHttps(document: Record<string, unknown>): string[] {
  const endpoints = Object.keys(document).filter((key) => key.endsWith('_endpoint') || key === 'jwks_uri');
  for (const key of endpoints) {
    const value = document[key];
    expect(typeof value, key).toBe('string');
    expect(new URL(value as string).protocol, key).toBe('https:');
    expect((value as string).startsWith(`${httpsIssuer}/`), key).toBe(true);
  }
  return endpoints;
}
