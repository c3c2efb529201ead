import { randomBytes } from 'node:crypto';

import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { postLogoutRedirectUri } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import type { Page } from '../helpers/user-agent.ts';
import { isPage } from '../helpers/user-agent.ts';
import type { Conformance, Flow } from './harness.ts';
import {
  authorizationRequest, authorize, callbackOf, checkEndpointsHttps, checkErrorCallback, discoveryDocument, happyFlow, startConformance,
  startHttpsIssuerGatehouse,
} from './harness.ts';
import { modulesOf, titleOf } from './modules.ts';

const plan = 'oidcc-rp-initiated-logout-certification-test-plan';

/*
 * AbstractOIDCCRpInitiatedLogout: a normal authorization (state 128 characters long), then the
 * browser to the end_session_endpoint with id_token_hint, post_logout_redirect_uri and a state
 * (each module changes that request), and, where the person comes back, an authorization with
 * prompt=none that must fail because they signed out.
 */

type EndSession = { params: Record<string, string>; result: Page | { redirectedTo: string }; confirmed: boolean };

async function signedIn(h: Conformance): Promise<Flow> {
  return happyFlow(h, h.basic, { state: randomBytes(96).toString('base64url') });
}

/** The suite's CreateEndSessionEndpointRequest, changed by `change` (an undefined value removes a parameter). */
function endSessionParams(flow: Flow, change: Record<string, string | undefined> = {}): Record<string, string> {
  const params: Record<string, string | undefined> = {
    id_token_hint: flow.tokens.id_token!,
    post_logout_redirect_uri: postLogoutRedirectUri,
    state: randomBytes(16).toString('base64url'),
    ...change,
  };
  return Object.fromEntries(Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** The person's browser at the end_session_endpoint; it confirms the sign-out when asked. */
async function endSession(h: Conformance, flow: Flow, params: Record<string, string>): Promise<EndSession> {
  const url = new URL(h.basic.config.serverMetadata().end_session_endpoint!);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  let result = await flow.ua.navigate(url.href);
  let confirmed = false;
  if (isPage(result) && result.document.querySelector('form[action$="/session/end/confirm"]')) {
    expect(result.status).toBe(200);
    confirmed = true;
    result = await flow.ua.submit(result, '/session/end/confirm', { logout: 'yes' });
  }
  return { params, result, confirmed };
}

/** The second authorization, prompt=none: an error that needs the person (they signed out). */
async function expectSignedOut(h: Conformance, flow: Flow): Promise<void> {
  const request = authorizationRequest(h, h.basic, { prompt: 'none', state: randomBytes(96).toString('base64url') });
  const callback = callbackOf(await authorize(h, request, { ua: flow.ua }));
  checkErrorCallback(h, callback, request, ['interaction_required', 'login_required', 'account_selection_required', 'consent_required']);
}

/** Still signed in: prompt=none gets a code. */
async function expectStillSignedIn(h: Conformance, flow: Flow): Promise<void> {
  const request = authorizationRequest(h, h.basic, { prompt: 'none' });
  expect(callbackOf(await authorize(h, request, { ua: flow.ua })).params.get('code')).toBeTruthy();
}

/** Back at the post_logout_redirect_uri (CheckPostLogoutState / CheckNoPostLogoutState, no other parameters). */
function expectReturned(end: EndSession): void {
  if (isPage(end.result)) throw new Error(`expected the post_logout_redirect_uri, stayed on ${end.result.status} ${end.result.url}:\n${end.result.body.slice(0, 1500)}`);
  const url = new URL(end.result.redirectedTo);
  expect(`${url.origin}${url.pathname}`).toBe(postLogoutRedirectUri);
  expect(Object.fromEntries(url.searchParams)).toEqual(end.params.state === undefined ? {} : { state: end.params.state });
}

/** Never sent to the post_logout_redirect_uri (nor anywhere else): a page of the provider's. */
function expectNoRedirect(end: EndSession): Page {
  if (!isPage(end.result)) throw new Error(`the provider redirected to ${end.result.redirectedTo}`);
  return end.result;
}

/** The provider's error page for a logout request it refuses (ExpectPostLogoutRedirectUriNotRegisteredErrorPage and the like). */
function expectLogoutErrorPage(end: EndSession, mentions: RegExp): void {
  const page = expectNoRedirect(end);
  expect(end.confirmed).toBe(false);
  expect(page.status).toBe(400);
  expect(page.body).toMatch(mentions);
}

/** The "you are signed out" page (ExpectSuccessfulLogoutPage). */
function expectLoggedOutPage(end: EndSession): void {
  const page = expectNoRedirect(end);
  expect(end.confirmed).toBe(true);
  expect(page.status).toBe(200);
  expect(page.document.querySelector('h1')?.text.trim()).toMatch(/signed out/i);
}

const moduleTests: Record<string, (h: Conformance) => Promise<void>> = {
  async 'oidcc-rp-initiated-logout-discovery-endpoint-verification'() {
    // Discovery as a certification run reads it: from an https issuer.
    const gatehouse: TestGatehouse = await startHttpsIssuerGatehouse();
    try {
      const document = await discoveryDocument(gatehouse);
      expect(checkEndpointsHttps(document)).toContain('end_session_endpoint');
    } finally {
      await gatehouse.stop();
    }
  },

  async 'oidcc-rp-initiated-logout'(h) {
    const flow = await signedIn(h);
    const end = await endSession(h, flow, endSessionParams(flow));
    expectReturned(end);
    await expectSignedOut(h, flow);
  },

  async 'oidcc-rp-initiated-logout-bad-post-logout-redirect-uri'(h) {
    const flow = await signedIn(h);
    // AddBadPostLogoutRedirectUriToEndSessionEndpointRequest: a URI never registered.
    const end = await endSession(h, flow, endSessionParams(flow, { post_logout_redirect_uri: `https://rp.example.test/${randomBytes(6).toString('hex')}/post_logout_redirect` }));
    expectLogoutErrorPage(end, /post_logout_redirect_uri/);
    await expectStillSignedIn(h, flow);
  },

  async 'oidcc-rp-initiated-logout-modified-id-token-hint'(h) {
    const flow = await signedIn(h);
    // ChangeIdTokenToAlgNone: the same claims under an alg none header, no signature.
    const [, payload] = flow.tokens.id_token!.split('.');
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    const end = await endSession(h, flow, endSessionParams(flow, { id_token_hint: unsigned }));
    expectLogoutErrorPage(end, /id_token_hint/);
    await expectStillSignedIn(h, flow);
  },

  async 'oidcc-rp-initiated-logout-no-id-token-hint'(h) {
    const flow = await signedIn(h);
    const end = await endSession(h, flow, endSessionParams(flow, { id_token_hint: undefined }));
    // The module allows an error page or asking the person. Gatehouse asks (it cannot tell which
    // client sent the person without the hint), then signs out and stays on its own page: the
    // post_logout_redirect_uri is dropped.
    expectLoggedOutPage(end);
    await expectSignedOut(h, flow);
  },

  async 'oidcc-rp-initiated-logout-no-params'(h) {
    const flow = await signedIn(h);
    const end = await endSession(h, flow, {});
    expectLoggedOutPage(end);
    await expectSignedOut(h, flow);
  },

  async 'oidcc-rp-initiated-logout-no-post-logout-redirect-uri'(h) {
    const flow = await signedIn(h);
    const end = await endSession(h, flow, endSessionParams(flow, { post_logout_redirect_uri: undefined }));
    expectLoggedOutPage(end);
    await expectSignedOut(h, flow);
  },

  async 'oidcc-rp-initiated-logout-no-state'(h) {
    const flow = await signedIn(h);
    const end = await endSession(h, flow, endSessionParams(flow, { state: undefined }));
    expectReturned(end);
    await expectSignedOut(h, flow);
  },

  async 'oidcc-rp-initiated-logout-only-state'(h) {
    const flow = await signedIn(h);
    const end = await endSession(h, flow, endSessionParams(flow, { id_token_hint: undefined, post_logout_redirect_uri: undefined }));
    expectLoggedOutPage(end);
    await expectSignedOut(h, flow);
  },

  async 'oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri'(h) {
    const flow = await signedIn(h);
    const end = await endSession(h, flow, endSessionParams(flow, { post_logout_redirect_uri: `${postLogoutRedirectUri}?foo=bar` }));
    expectLogoutErrorPage(end, /post_logout_redirect_uri/);
    await expectStillSignedIn(h, flow);
  },

  async 'oidcc-rp-initiated-logout-bad-id-token-hint'(h) {
    const flow = await signedIn(h);
    // GenerateFakeIdTokenClaims, SignFakeIdToken: believable claims, signed by a key of the test's.
    const { privateKey } = await generateKeyPair('RS256');
    const fake = await new SignJWT({ nonce: randomBytes(8).toString('hex') })
      .setProtectedHeader({ alg: 'RS256', kid: 'conformance-fake' })
      .setIssuer(h.issuer).setSubject(flow.idToken.sub!).setAudience(h.basic.clientId)
      .setIssuedAt().setExpirationTime('5m')
      .sign(privateKey);
    const end = await endSession(h, flow, endSessionParams(flow, { id_token_hint: fake }));
    expectLogoutErrorPage(end, /id_token_hint/);
    await expectStillSignedIn(h, flow);
  },
};

describe(plan, () => {
  let h: Conformance;
  beforeAll(async () => {
    h = await startConformance('query');
  });
  afterAll(() => h?.stop());

  it('has a test for every module of the plan, and no other', () => {
    expect(Object.keys(moduleTests).sort()).toEqual(modulesOf(plan).map((module) => module.name).sort());
  });

  for (const module of modulesOf(plan)) {
    it(titleOf(module), () => moduleTests[module.name]!(h));
  }
});
