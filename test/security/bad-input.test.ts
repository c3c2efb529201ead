import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkPassword } from '../../src/libraries/passwords.ts';
import { activateEnrollment, beginEnrollment, isActive } from '../../src/libraries/second-factor.ts';
import { normalizeEmail } from '../../src/store/normalize-email.ts';
import type { RawRequest, RawResponse } from '../helpers/attacker.ts';
import { basicAuth, expectCleanAnswer, expectNoReflectedMarkup, formOf, markupPayloads, rawRequest } from '../helpers/attacker.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { postLogoutRedirectUri, redirectUri, startGatehouse } from '../helpers/gatehouse.ts';
import type { MailSink } from '../helpers/mail-sink.ts';
import { codeIn, linkIn, startMailSink } from '../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { totp } from '../helpers/totp.ts';
import type { Page } from '../helpers/user-agent.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

/**
 * The bad-input sweep: every form and endpoint of ours and of the provider, each sent the same
 * hostile cases (missing and repeated fields, huge values, invalid UTF-8, control characters, the
 * wrong body type, markup, path traversal). Every answer must be a client error at worst, give
 * nothing internal away, reflect no markup, redirect nowhere but to a registered URI, and leave
 * nothing done or half-written: each endpoint gets real, valid values in its fields (the right
 * password, the mailed code, a recovery code), so a hostile encoding that slipped through would
 * show as a sign-in, a change or a record that should not exist.
 */

const password = 'correct horse battery staple';
const newPassword = 'violet tugboat orchestra lantern';

let gatehouse: TestGatehouse;
let sink: MailSink;
let web: { clientId: string; clientSecret?: string };
let webRp: client.Configuration;
let strictRp: client.Configuration;
let serial = 0;

beforeAll(async () => {
  sink = await startMailSink();
  gatehouse = await startGatehouse({
    env: { SMTP_URL: sink.url },
    // Every case has its own account and address; only the per-address mail and code limits remain.
    adjust: (config) => ({ ...config, limits: { ...config.limits, emailCodesPerHour: 1_000_000, mailsPerRecipient: { count: 1_000_000, seconds: 60 } } }),
  });
  // Third-party (consent page) and confidential; a strict first-party client that demands a second factor.
  web = await gatehouse.addClient({ name: 'Sweep web app', grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'] });
  webRp = await relyingParty(gatehouse, web);
  strictRp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Sweep strict app', firstParty: true, requireMfa: true }));
}, 60_000);

afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

// --- people and states to attack from ------------------------------------------------------

function nextEmail(label: string): string {
  serial += 1;
  return `sweep-${label}-${serial}@example.com`;
}

async function newPerson(label: string): Promise<{ id: string; email: string }> {
  const email = nextEmail(label);
  return { id: await gatehouse.addUser(email, password, { name: 'Sweep Person' }), email };
}

/** A person with an authenticator app; their recovery codes work once each. */
async function personWithFactor(label: string): Promise<{ id: string; email: string; recoveryCodes: string[] }> {
  const person = await newPerson(label);
  const deps = { store: gatehouse.store, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey };
  const { secret } = await beginEnrollment(deps, person);
  const activated = await activateEnrollment(deps, person.id, totp(secret));
  if (!activated.ok) throw new Error(`enrolling failed: ${activated.reason}`);
  return { ...person, recoveryCodes: activated.recoveryCodes };
}

function asPage(result: Page | { redirectedTo: string }, what: string): Page {
  if (!isPage(result)) throw new Error(`expected ${what}, was redirected to ${result.redirectedTo}`);
  return result;
}

async function loginPage(config = webRp, ua = new UserAgent(gatehouse.url)): Promise<{ ua: UserAgent; page: Page }> {
  return { ua, page: await ua.page((await authorizationRequest(config)).url.href) };
}

/** The page reached by following a link on `page` whose href ends with `suffix`. */
async function follow(ua: UserAgent, page: Page, suffix: string): Promise<Page> {
  const href = page.document.querySelector(`a[href$="${suffix}"]`)?.getAttribute('href');
  if (!href) throw new Error(`no link ending with ${suffix} on ${page.url}`);
  return ua.page(new URL(href, gatehouse.url).href);
}

/** Registration through the pages: the "check your email" page, and the code and link mailed. */
async function registered(label: string): Promise<{ ua: UserAgent; page: Page; email: string; code: string; link: URL }> {
  const email = nextEmail(label);
  const { ua, page: login } = await loginPage();
  const form = await follow(ua, login, '/register');
  const page = asPage(await ua.submit(form, '/register', { email, password, name: 'Sweep Person' }), 'the check-your-email page');
  const mail = await sink.waitFor((each) => each.to === email);
  return { ua, page, email, code: codeIn(mail), link: linkIn(mail, gatehouse.url) };
}

/** Whether the browser is signed in (and consented) for the client: what prompt=none answers. */
async function silently(ua: UserAgent, config = webRp): Promise<string> {
  const result = await ua.navigate((await authorizationRequest(config, { prompt: 'none' })).url.href);
  if (isPage(result)) return `page ${result.status}`;
  const params = new URL(result.redirectedTo).searchParams;
  return params.get('code') ? 'code' : (params.get('error') ?? 'nothing');
}

/** A browser signed in to the account page; with a factor, signed in with a recovery code. */
async function onAccountPage(person: { email: string; recoveryCodes?: string[] }): Promise<{ ua: UserAgent; page: Page }> {
  const ua = new UserAgent(gatehouse.url);
  const login = asPage(await ua.navigate(`${gatehouse.url}/account`), 'the login page');
  let result = await ua.submit(login, '/login', { email: person.email, password });
  if (person.recoveryCodes) result = await ua.submit(asPage(result, 'the second-factor page'), '/second-factor', { code: person.recoveryCodes[0]! });
  const page = asPage(result, 'the account page');
  expect(page.url).toBe(`${gatehouse.url}/account`);
  return { ua, page };
}

/** The fields of a url-encoded form request as a browser would mean them, or undefined for another body. */
function urlEncodedFields(request: RawRequest): URLSearchParams | undefined {
  if (request.headers?.['content-type'] !== 'application/x-www-form-urlencoded' || request.body === undefined) return undefined;
  return new URLSearchParams(Buffer.from(request.body).toString('utf8'));
}

/** A field's value as sent, without percent-decoding (a server may keep an undecodable value as is). */
function rawFieldValues(request: RawRequest, name: string): string[] {
  if (request.body === undefined) return [];
  const body = Buffer.from(request.body).toString('latin1');
  return [...body.matchAll(new RegExp(`(?:^|&)${name}=([^&]*)`, 'g'))].map((match) => match[1]!.replaceAll('+', ' '));
}

async function passwordHashOf(id: string): Promise<string | null | undefined> {
  return (await gatehouse.store.accounts.findById(id))?.passwordHash;
}

async function clientCredentialsToken(): Promise<string> {
  return (await client.clientCredentialsGrant(webRp, {})).access_token;
}

async function introspect(token: string): Promise<boolean> {
  return (await client.tokenIntrospection(webRp, token)).active === true;
}

// --- what every endpoint is, and how to reach it ---------------------------------------------

type Prepared = {
  ua: UserAgent;
  /** The endpoint's path, with its parameter (:uid, :token) when it has one. */
  path: string;
  /** The path with another value in place of its parameter (for path traversal). */
  withParam?: (value: string) => string;
  /** Sent once, unchanged, in every case: a form's hidden fields (its CSRF token), fixed protocol parameters. */
  hidden: [string, string][];
  /** A real, valid value for each field a hostile value goes into. */
  valid: Record<string, string>;
  headers?: Record<string, string>;
  /** What must still hold after each hostile request: nothing done, nothing half-written. */
  check?: (answer: RawResponse, request: RawRequest) => Promise<void>;
};

type Target = {
  name: string;
  method: 'GET' | 'POST';
  /** Where the fields go: the query string, or a url-encoded form body. */
  carrier: 'query' | 'form';
  /** The path has a parameter (:uid, :token): Prepared.withParam. */
  param?: boolean;
  prepare: () => Promise<Prepared>;
};

/** Query parameters an endpoint has no use for: hostile values still go somewhere. */
const noise = { q: 'value', next: '/account' };

function interactionPath(page: Page, suffix = ''): Pick<Prepared, 'path' | 'withParam'> {
  const uid = /\/interaction\/([^/?]+)/.exec(page.url)?.[1];
  if (!uid) throw new Error(`not an interaction page: ${page.url}`);
  return { path: `/interaction/${uid}${suffix}`, withParam: (value) => `/interaction/${value}${suffix}` };
}

/** The path of the form on `page` whose action contains `actionPart`, with its hidden fields. */
function formTarget(page: Page, actionPart: string): { path: string; hidden: [string, string][] } {
  const form = formOf(page, actionPart);
  return { path: new URL(form.action).pathname, hidden: [...form.hidden] };
}

const notSignedIn = (ua: UserAgent, config = webRp) => async () => {
  expect(await silently(ua, config)).toBe('login_required');
};

function authorizationParams(url: URL, names: string[]): { fixed: [string, string][]; fields: Record<string, string> } {
  const fixed: [string, string][] = [];
  const fields: Record<string, string> = {};
  for (const [name, value] of url.searchParams) {
    if (names.includes(name)) fields[name] = value;
    else fixed.push([name, value]);
  }
  return { fixed, fields };
}

const protocolTargets: Target[] = [
  ...(['GET', 'POST'] as const).flatMap((method): Target[] => [
    {
      name: `${method} /auth (request parameters)`, method, carrier: method === 'GET' ? 'query' : 'form',
      async prepare() {
        const { url } = await authorizationRequest(webRp, { login_hint: 'someone@example.com', max_age: '300', ui_locales: 'en', acr_values: 'urn:gatehouse:loa:pwd' });
        const { fixed, fields } = authorizationParams(url, ['state', 'nonce', 'scope', 'login_hint', 'max_age', 'ui_locales', 'acr_values', 'prompt']);
        return { ua: new UserAgent(gatehouse.url), path: '/auth', hidden: fixed, valid: { ...fields, prompt: 'login' } };
      },
    },
    {
      name: `${method} /auth (client and redirect)`, method, carrier: method === 'GET' ? 'query' : 'form',
      async prepare() {
        const { url } = await authorizationRequest(webRp);
        const { fixed, fields } = authorizationParams(url, ['client_id', 'redirect_uri', 'response_type', 'response_mode', 'code_challenge', 'code_challenge_method']);
        return { ua: new UserAgent(gatehouse.url), path: '/auth', hidden: fixed, valid: { ...fields, response_mode: 'query' } };
      },
    },
  ]),
  ...(['GET', 'POST'] as const).map((method): Target => ({
    name: `${method} /token`, method, carrier: method === 'GET' ? 'query' : 'form',
    async prepare() {
      return {
        ua: new UserAgent(gatehouse.url), path: '/token', hidden: [], headers: { authorization: basicAuth(web.clientId, web.clientSecret!) },
        valid: { grant_type: 'authorization_code', code: 'not-a-code', redirect_uri: redirectUri, code_verifier: client.randomPKCECodeVerifier(), scope: 'openid', resource: 'https://api.example.test/' },
      };
    },
  })),
  {
    name: 'POST /token/introspection', method: 'POST', carrier: 'form',
    async prepare() {
      return { ua: new UserAgent(gatehouse.url), path: '/token/introspection', hidden: [], headers: { authorization: basicAuth(web.clientId, web.clientSecret!) }, valid: { token: await clientCredentialsToken(), token_type_hint: 'access_token' } };
    },
  },
  {
    name: 'POST /token/revocation', method: 'POST', carrier: 'form',
    async prepare() {
      const token = await clientCredentialsToken();
      return {
        ua: new UserAgent(gatehouse.url), path: '/token/revocation', hidden: [], headers: { authorization: basicAuth(web.clientId, web.clientSecret!) },
        valid: { token, token_type_hint: 'access_token' },
        // The token went out only in hostile encodings: it must still be active.
        check: async () => expect(await introspect(token)).toBe(true),
      };
    },
  },
  ...(['GET', 'POST'] as const).map((method): Target => ({
    name: `${method} /me`, method, carrier: method === 'GET' ? 'query' : 'form',
    async prepare() {
      return { ua: new UserAgent(gatehouse.url), path: '/me', hidden: [], valid: { access_token: 'not-a-token', claims: '{"userinfo":{"email":null}}' } };
    },
  })),
  {
    name: 'POST /request (PAR)', method: 'POST', carrier: 'form',
    async prepare() {
      const { url } = await authorizationRequest(webRp, { login_hint: 'someone@example.com' });
      return { ua: new UserAgent(gatehouse.url), path: '/request', hidden: [], headers: { authorization: basicAuth(web.clientId, web.clientSecret!) }, valid: Object.fromEntries(url.searchParams) };
    },
  },
  ...(['GET', 'POST'] as const).map((method): Target => ({
    name: `${method} /session/end`, method, carrier: method === 'GET' ? 'query' : 'form',
    async prepare() {
      return {
        ua: new UserAgent(gatehouse.url), path: '/session/end', hidden: [],
        valid: { client_id: web.clientId, post_logout_redirect_uri: postLogoutRedirectUri, state: 'some-state', ui_locales: 'en', logout_hint: 'someone@example.com', id_token_hint: 'not.a.jwt' },
      };
    },
  })),
  {
    name: 'POST /session/end/confirm', method: 'POST', carrier: 'form',
    async prepare() {
      const ua = new UserAgent(gatehouse.url);
      const page = await ua.page(`${gatehouse.url}/session/end?${new URLSearchParams({ client_id: web.clientId, post_logout_redirect_uri: postLogoutRedirectUri, state: 'bye' })}`);
      return { ua, ...formTarget(page, '/session/end/confirm'), valid: { logout: 'yes' } };
    },
  },
  ...['/jwks', '/.well-known/openid-configuration', '/healthz', '/readyz'].flatMap((path) => (['GET', 'POST'] as const).map((method): Target => ({
    name: `${method} ${path}`, method, carrier: method === 'GET' ? 'query' : 'form',
    async prepare() {
      return { ua: new UserAgent(gatehouse.url), path, hidden: [], valid: noise };
    },
  }))),
];

const interactionTargets: Target[] = [
  {
    name: 'GET /interaction/:uid', method: 'GET', carrier: 'query', param: true,
    async prepare() {
      const { ua, page } = await loginPage();
      return { ua, ...interactionPath(page), hidden: [], valid: noise };
    },
  },
  {
    name: 'POST /interaction/:uid/login', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const person = await newPerson('login');
      const { ua, page } = await loginPage();
      return { ua, ...interactionPath(page, '/login'), hidden: formTarget(page, '/login').hidden, valid: { email: person.email, password }, check: notSignedIn(ua) };
    },
  },
  {
    name: 'GET /interaction/:uid/register', method: 'GET', carrier: 'query', param: true,
    async prepare() {
      const { ua, page } = await loginPage();
      return { ua, ...interactionPath(page, '/register'), hidden: [], valid: noise };
    },
  },
  {
    name: 'POST /interaction/:uid/register', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const { ua, page: login } = await loginPage();
      const page = await follow(ua, login, '/register');
      const email = nextEmail('register');
      return {
        ua, ...interactionPath(page, '/register'), hidden: formTarget(page, '/register').hidden, valid: { email, name: 'Sweep Person', password },
        check: async () => {
          expect(await gatehouse.store.accounts.findByEmail(email)).toBeUndefined();
          expect(sink.to(email)).toEqual([]);
        },
      };
    },
  },
  {
    name: 'POST /interaction/:uid/verify-email', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const { ua, page, email, code } = await registered('verify');
      return {
        ua, ...interactionPath(page, '/verify-email'), hidden: formTarget(page, '/verify-email').hidden, valid: { code },
        check: async () => expect((await gatehouse.store.accounts.findByEmail(email))?.emailVerified).toBe(false),
      };
    },
  },
  {
    name: 'POST /interaction/:uid/verify-email/resend', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const { ua, page } = await registered('resend');
      return { ua, ...interactionPath(page, '/verify-email/resend'), hidden: formTarget(page, '/verify-email/resend').hidden, valid: noise };
    },
  },
  {
    name: 'POST /interaction/:uid/verify-email/continue', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const { ua, page, email } = await registered('continue');
      return {
        ua, ...interactionPath(page, '/verify-email/continue'), hidden: formTarget(page, '/verify-email/continue').hidden, valid: noise,
        check: async (answer) => {
          expect((await gatehouse.store.accounts.findByEmail(email))?.emailVerified).toBe(false);
          expect(answer.headers.location ?? '').not.toContain(redirectUri);
        },
      };
    },
  },
  {
    name: 'POST /interaction/:uid/second-factor', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const person = await personWithFactor('second-factor');
      const { ua, page: login } = await loginPage();
      const page = asPage(await ua.submit(login, '/login', { email: person.email, password }), 'the second-factor page');
      return { ua, ...interactionPath(page, '/second-factor'), hidden: formTarget(page, '/second-factor').hidden, valid: { code: person.recoveryCodes[0]! }, check: notSignedIn(ua) };
    },
  },
  {
    name: 'POST /interaction/:uid/mfa/setup', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const person = await newPerson('mfa-setup');
      const { ua, page: login } = await loginPage(strictRp);
      const page = asPage(await ua.submit(login, '/login', { email: person.email, password }), 'the setup page');
      const secret = page.document.querySelector('#secret')!.text.replace(/\s/g, '');
      return {
        ua, ...interactionPath(page, '/mfa/setup'), hidden: formTarget(page, '/mfa/setup').hidden, valid: { code: totp(secret) },
        check: async () => expect(isActive(await gatehouse.store.secondFactors.find(person.id))).toBe(false),
      };
    },
  },
  {
    name: 'POST /interaction/:uid/mfa/done', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const person = await newPerson('mfa-done');
      const { ua, page: login } = await loginPage(strictRp);
      const page = asPage(await ua.submit(login, '/login', { email: person.email, password }), 'the setup page');
      return {
        ua, ...interactionPath(page, '/mfa/done'), hidden: formTarget(page, '/mfa/setup').hidden, valid: noise,
        check: async (answer) => {
          expect(answer.headers.location ?? '').not.toMatch(/\/auth\//);
          expect(isActive(await gatehouse.store.secondFactors.find(person.id))).toBe(false);
        },
      };
    },
  },
  {
    name: 'POST /interaction/:uid/consent', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const person = await newPerson('consent');
      const { ua, page: login } = await loginPage();
      const page = asPage(await ua.submit(login, '/login', { email: person.email, password }), 'the consent page');
      return {
        ua, ...interactionPath(page, '/consent'), hidden: formTarget(page, '/consent').hidden, valid: { decision: 'allow' },
        check: async () => expect(await silently(ua)).toBe('consent_required'),
      };
    },
  },
  {
    name: 'POST /interaction/:uid/abort', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const { ua, page } = await loginPage();
      return {
        ua, ...interactionPath(page, '/abort'), hidden: formTarget(page, '/abort').hidden, valid: noise,
        check: async (answer) => {
          // Cancelling is allowed with any body; it never hands out a code.
          if (answer.headers.location?.startsWith(redirectUri)) expect(new URL(answer.headers.location).searchParams.get('code')).toBeNull();
        },
      };
    },
  },
  {
    name: 'GET /interaction/:uid/forgot-password', method: 'GET', carrier: 'query', param: true,
    async prepare() {
      const { ua, page } = await loginPage();
      return { ua, ...interactionPath(page, '/forgot-password'), hidden: [], valid: noise };
    },
  },
  {
    name: 'POST /interaction/:uid/forgot-password', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const person = await newPerson('forgot');
      const { ua, page: login } = await loginPage();
      const page = await follow(ua, login, '/forgot-password');
      return {
        ua, ...interactionPath(page, '/forgot-password'), hidden: formTarget(page, '/forgot-password').hidden, valid: { email: person.email },
        check: async () => expect(await gatehouse.store.codes.latest(normalizeEmail(person.email), 'reset_password')).toBeUndefined(),
      };
    },
  },
];

/** A person who asked for a password reset, and the link mailed to them. */
async function resetLink(): Promise<{ person: { id: string; email: string }; link: URL }> {
  const person = await newPerson('reset');
  const { ua, page: login } = await loginPage();
  await ua.submit(await follow(ua, login, '/forgot-password'), '/forgot-password', { email: person.email });
  const mail = await sink.waitFor((each) => each.to === person.email);
  return { person, link: linkIn(mail, gatehouse.url) };
}

const linkTargets: Target[] = [
  {
    name: 'GET /reset-password/:token', method: 'GET', carrier: 'query', param: true,
    async prepare() {
      const { person, link } = await resetLink();
      const before = await passwordHashOf(person.id);
      return {
        ua: new UserAgent(gatehouse.url), path: link.pathname, withParam: (value) => `/reset-password/${value}`, hidden: [], valid: noise,
        check: async () => expect(await passwordHashOf(person.id)).toBe(before),
      };
    },
  },
  {
    name: 'POST /reset-password/:token', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const { person, link } = await resetLink();
      const ua = new UserAgent(gatehouse.url);
      const page = await ua.page(link.href);
      const before = await passwordHashOf(person.id);
      return {
        ua, path: link.pathname, withParam: (value) => `/reset-password/${value}`, hidden: formTarget(page, '/reset-password/').hidden, valid: { password: newPassword },
        // The one field is the new password, and control characters or markup make a legitimate
        // (if odd) password: a change is allowed, from a well-formed form only, and must store
        // exactly the password sent.
        check: async (answer, request) => {
          const hash = await passwordHashOf(person.id);
          if (hash === before) return;
          const sent = urlEncodedFields(request);
          expect(sent?.getAll('password').length, 'the password changed by a malformed form').toBe(1);
          expect(answer.status).toBe(200);
          const candidates = [sent!.get('password')!, ...rawFieldValues(request, 'password')];
          const checks = await Promise.all(candidates.map((candidate) => checkPassword(hash, candidate)));
          expect(checks.some((each) => each.valid), 'the password stored is the one sent').toBe(true);
        },
      };
    },
  },
  {
    name: 'GET /verify-email/:token', method: 'GET', carrier: 'query', param: true,
    async prepare() {
      const { email, link } = await registered('link-get');
      return {
        ua: new UserAgent(gatehouse.url), path: link.pathname, withParam: (value) => `/verify-email/${value}`, hidden: [], valid: noise,
        // Opening the link (mail scanners do) confirms nothing.
        check: async () => expect((await gatehouse.store.accounts.findByEmail(email))?.emailVerified).toBe(false),
      };
    },
  },
  {
    name: 'POST /verify-email/:token', method: 'POST', carrier: 'form', param: true,
    async prepare() {
      const { link } = await registered('link-post');
      const ua = new UserAgent(gatehouse.url);
      const page = await ua.page(link.href);
      // No check: the token in the path is the credential, and the page has no field of its own.
      return { ua, path: link.pathname, withParam: (value) => `/verify-email/${value}`, hidden: formTarget(page, '/verify-email/').hidden, valid: noise };
    },
  },
];

const accountTargets: Target[] = [
  {
    name: 'GET /account', method: 'GET', carrier: 'query',
    async prepare() {
      const { ua } = await onAccountPage(await newPerson('account'));
      return { ua, path: '/account', hidden: [], valid: noise };
    },
  },
  {
    name: 'POST /account/password', method: 'POST', carrier: 'form',
    async prepare() {
      const person = await newPerson('account-password');
      const { ua, page } = await onAccountPage(person);
      const before = await passwordHashOf(person.id);
      return {
        ua, ...formTarget(page, '/account/password'), valid: { current_password: password, new_password: newPassword, sign_out_others: 'yes' },
        check: async () => expect(await passwordHashOf(person.id)).toBe(before),
      };
    },
  },
  {
    name: 'GET /account/mfa/setup', method: 'GET', carrier: 'query',
    async prepare() {
      const { ua } = await onAccountPage(await newPerson('account-mfa-get'));
      return { ua, path: '/account/mfa/setup', hidden: [], valid: noise };
    },
  },
  {
    name: 'POST /account/mfa/setup', method: 'POST', carrier: 'form',
    async prepare() {
      const person = await newPerson('account-mfa-setup');
      const { ua } = await onAccountPage(person);
      const page = await ua.page(`${gatehouse.url}/account/mfa/setup`);
      const secret = page.document.querySelector('#secret')!.text.replace(/\s/g, '');
      return {
        ua, ...formTarget(page, '/account/mfa/setup'), valid: { code: totp(secret) },
        check: async () => expect(isActive(await gatehouse.store.secondFactors.find(person.id))).toBe(false),
      };
    },
  },
  {
    name: 'POST /account/mfa/manage', method: 'POST', carrier: 'form',
    async prepare() {
      const person = await personWithFactor('account-mfa-manage');
      const { ua, page } = await onAccountPage(person);
      const codesBefore = (await gatehouse.store.secondFactors.find(person.id))!.recoveryCodes;
      return {
        ua, ...formTarget(page, '/account/mfa/manage'), valid: { action: 'remove', code: person.recoveryCodes[1]! },
        check: async () => {
          const factor = await gatehouse.store.secondFactors.find(person.id);
          expect(isActive(factor)).toBe(true);
          expect(factor!.recoveryCodes).toEqual(codesBefore);
        },
      };
    },
  },
  ...[['/account/mfa/done', '/account/sign-out'], ['/account/reauthenticate', '/account/sign-out'], ['/account/sign-out', '/account/sign-out']].map(([path, formAction]): Target => ({
    name: `POST ${path}`, method: 'POST', carrier: 'form',
    async prepare() {
      const person = await personWithFactor('account-forms');
      const { ua, page } = await onAccountPage(person);
      // These forms carry only the page's CSRF token (the same on every form of the page).
      return { ua, path: path!, hidden: formTarget(page, formAction!).hidden, valid: noise };
    },
  })),
  {
    name: 'GET /account/callback', method: 'GET', carrier: 'query',
    async prepare() {
      const ua = new UserAgent(gatehouse.url);
      const response = await ua.request(`${gatehouse.url}/account`);
      const state = new URL(response.headers.get('location')!).searchParams.get('state')!;
      return {
        ua, path: '/account/callback', hidden: [], valid: { code: 'not-a-code', state, iss: gatehouse.url, error: 'access_denied' },
        check: async (answer) => expect([answer.headers['set-cookie'] ?? []].flat().filter((cookie) => /^gatehouse\.account=[^;]/.test(cookie))).toEqual([]),
      };
    },
  },
];

// --- the hostile cases ------------------------------------------------------------------------

type Case = {
  name: string;
  applies?: (target: Target) => boolean;
  /** Known only once prepared: whether the case means anything here. */
  meaningful?: (prepared: Prepared) => boolean;
  build: (target: Target, prepared: Prepared) => RawRequest[];
};

const encode = (pairs: [string, string][]) => new URLSearchParams(pairs).toString();
const fieldsOf = (prepared: Prepared) => Object.keys(prepared.valid);
const markup = markupPayloads.join('');
const controlCharacters = 'a\u0000b\u001b[2Jc\r\nX-Injected: 1\u007f\u0085\u2028\ud800';

/** The request with `encoded` (already form-encoded) after the fixed fields, in the query or as a form body. */
function encodedRequest(target: Target, prepared: Prepared, encoded: string, path = prepared.path): RawRequest {
  const all = [encode(prepared.hidden), encoded].filter(Boolean).join('&');
  const cookieUrl = `${gatehouse.url}${prepared.path}`;
  if (target.carrier === 'query') return { method: target.method, path: all ? `${path}?${all}` : path, headers: { ...prepared.headers }, cookieUrl };
  return { method: target.method, path, headers: { ...prepared.headers, 'content-type': 'application/x-www-form-urlencoded' }, body: all, cookieUrl };
}

/** Every field given `value`. */
const everyField = (value: string): Case['build'] => (target, prepared) => [encodedRequest(target, prepared, encode(fieldsOf(prepared).map((name) => [name, value])))];

/** The valid fields in a body of another type than a url-encoded form. */
function otherBody(contentType: string, body: (pairs: [string, string][]) => string): Case['build'] {
  return (target, prepared) => [{
    method: target.method, path: prepared.path, cookieUrl: `${gatehouse.url}${prepared.path}`,
    headers: { ...prepared.headers, 'content-type': contentType }, body: body([...prepared.hidden, ...Object.entries(prepared.valid)]),
  }];
}

const boundary = '----sweep-boundary-7MA4YWxkTrZu0gW';
const multipart = (pairs: [string, string][]) => `${pairs.map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`).join('')}--${boundary}--\r\n`;

const traversals = [
  '..%2F..%2F..%2F..%2Fetc%2Fpasswd',
  '../../../../etc/passwd',
  '%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '%252e%252e%252fetc%252fpasswd',
  '..%5C..%5C..%5Cwindows%5Cwin.ini',
  '..',
  '.',
  '%00',
  'x'.repeat(4000),
];

const cases: Case[] = [
  { name: 'missing fields', build: (target, prepared) => [encodedRequest(target, prepared, '')] },
  {
    name: 'no body at all', applies: (target) => target.carrier === 'form',
    build: (target, prepared) => [{ method: target.method, path: prepared.path, headers: { ...prepared.headers }, cookieUrl: `${gatehouse.url}${prepared.path}` }],
  },
  {
    name: 'repeated fields',
    build: (target, prepared) => [encodedRequest(target, prepared, encode(Object.entries(prepared.valid).flatMap(([name, value]): [string, string][] => [[name, value], [name, `${value}-again`]])))],
  },
  {
    // Our forms carry a CSRF token; a form of ours without one is reported as skipped here.
    name: 'repeated hidden fields', applies: (target) => /^(GET|POST) \/auth|^POST \/(interaction|reset-password|verify-email|account|session\/end\/confirm)/.test(target.name),
    meaningful: (prepared) => prepared.hidden.length > 0,
    build: (target, prepared) => [encodedRequest(target, { ...prepared, hidden: [...prepared.hidden, ...prepared.hidden.map(([name]): [string, string] => [name, 'forged'])] }, encode(Object.entries(prepared.valid)))],
  },
  {
    name: 'bracketed field names and prototype keys',
    build: (target, prepared) => [encodedRequest(target, prepared, [
      ...fieldsOf(prepared).map((name) => `${encodeURIComponent(name)}[a]=1&${encodeURIComponent(name)}[b][c]=2&${encodeURIComponent(name)}[]=3`),
      '__proto__[polluted]=yes', 'constructor[prototype][polluted]=yes', '__proto__.polluted=yes', 'toString=x', 'hasOwnProperty=x',
    ].join('&'))],
  },
  {
    // In a query, as long as still fits under Node's 16 KB header limit (beyond it: 431, below).
    name: 'a long value (8 KB, or what fits in a request line)',
    build: (target, prepared) => everyField('a'.repeat(target.carrier === 'query' ? Math.floor(12 * 1024 / (fieldsOf(prepared).length + 1)) : 8 * 1024))(target, prepared),
  },
  { name: 'a huge value (100 KB)', build: everyField('a'.repeat(100 * 1024)) },
  { name: 'a huge value (2 MB)', build: everyField('a'.repeat(2 * 1024 * 1024)) },
  {
    name: 'invalid UTF-8, percent-encoded',
    build: (target, prepared) => [encodedRequest(target, prepared, fieldsOf(prepared).map((name) => `${encodeURIComponent(name)}=%FF%FE%C3%28%80%ED%A0%80%F8%88%80%80%80`).join('&'))],
  },
  {
    name: 'invalid UTF-8 bytes',
    build: (target, prepared) => {
      const bytes = '\u00ff\u00fe\u00c3(\u0080\u00ed\u00a0\u0080';
      const raw = fieldsOf(prepared).map((name) => `${encodeURIComponent(name)}=${bytes}`).join('&');
      const request = encodedRequest(target, prepared, raw);
      // Latin-1 characters as single bytes: a body (or request line) that is not UTF-8 at all.
      if (typeof request.body === 'string') request.body = Buffer.from(request.body, 'latin1');
      return [request];
    },
  },
  { name: 'control characters', build: everyField(controlCharacters) },
  { name: 'JSON instead of a form', applies: (target) => target.carrier === 'form', build: otherBody('application/json', (pairs) => JSON.stringify(Object.fromEntries(pairs))) },
  { name: 'a form labelled as JSON', applies: (target) => target.carrier === 'form', build: otherBody('application/json', encode) },
  { name: 'broken JSON', applies: (target) => target.carrier === 'form', build: otherBody('application/json', (pairs) => `${JSON.stringify(Object.fromEntries(pairs)).slice(0, -1)},"__proto__":{"polluted":"yes"}`) },
  { name: 'a form labelled as text/plain', applies: (target) => target.carrier === 'form', build: otherBody('text/plain', encode) },
  { name: 'multipart/form-data', applies: (target) => target.carrier === 'form', build: otherBody(`multipart/form-data; boundary=${boundary}`, multipart) },
  { name: 'XML instead of a form', applies: (target) => target.carrier === 'form', build: otherBody('application/xml', (pairs) => `<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]><f>${pairs.map(([name]) => `<${name}>&x;</${name}>`).join('')}</f>`) },
  {
    name: 'a form without a content type', applies: (target) => target.carrier === 'form',
    build: (target, prepared) => [{ method: target.method, path: prepared.path, cookieUrl: `${gatehouse.url}${prepared.path}`, headers: { ...prepared.headers }, body: encode([...prepared.hidden, ...Object.entries(prepared.valid)]) }],
  },
  { name: 'markup in every field', build: everyField(markup) },
  {
    name: 'path traversal in the parameter', applies: (target) => target.param === true,
    build: (target, prepared) => traversals.map((value) => encodedRequest(target, prepared, encode(Object.entries(prepared.valid)), prepared.withParam!(value))),
  },
];

// --- what every answer must be ------------------------------------------------------------------

/** Only our origin and the registered redirect URIs: never where the input pointed. */
function expectSafeLocation(answer: RawResponse, label: string): void {
  const location = answer.headers.location;
  if (!location) return;
  const target = new URL(location, gatehouse.url);
  const allowed = target.origin === gatehouse.url || target.href.startsWith(`${redirectUri}?`) || target.href.startsWith(`${redirectUri}#`) || target.href.startsWith(postLogoutRedirectUri);
  expect(allowed, `${label}: Location ${location}`).toBe(true);
}

function expectSafe(answer: RawResponse, label: string): void {
  expectCleanAnswer(answer, answer.body, label);
  expectNoReflectedMarkup(answer.body, label);
  expectSafeLocation(answer, label);
  expect(answer.body, `${label}: a file's content`).not.toMatch(/root:x?:0:0|\[fonts\]/);
  for (const header of Object.keys(answer.headers)) expect(header, `${label}: injected header`).not.toBe('x-injected');
  if (answer.body.length > 0 && /<html/i.test(answer.body)) expect(String(answer.headers['content-type']), label).toMatch(/^text\/html/);
}

/** Follows the redirects that stay on our origin, checking every page on the way. */
async function followOnOrigin(ua: UserAgent, first: RawResponse, label: string): Promise<void> {
  let answer = first;
  for (let hops = 0; hops < 6 && answer.status >= 300 && answer.status < 400 && answer.headers.location; hops += 1) {
    const next = new URL(answer.headers.location, gatehouse.url);
    if (next.origin !== gatehouse.url) return;
    answer = await rawRequest(gatehouse.url, { method: 'GET', path: `${next.pathname}${next.search}` }, ua);
    expectSafe(answer, `${label} → ${next.pathname}`);
  }
}

for (const [group, targets] of [['provider endpoints', protocolTargets], ['sign-in pages', interactionTargets], ['links from mail', linkTargets], ['the account page', accountTargets]] as const) {
  describe(`bad input: ${group}`, () => {
    for (const target of targets) {
      describe(target.name, () => {
        for (const kase of cases.filter((each) => !each.applies || each.applies(target))) {
          it(kase.name, async (context) => {
            const prepared = await target.prepare();
            if (kase.meaningful && !kase.meaningful(prepared)) return context.skip();
            if (target.param) expect(prepared.withParam, 'a target with a parameter').toBeDefined();
            for (const request of kase.build(target, prepared)) {
              const label = `${request.method} ${request.path.slice(0, 100)}`;
              const answer = await rawRequest(gatehouse.url, request, prepared.ua);
              expectSafe(answer, label);
              await followOnOrigin(prepared.ua, answer, label);
              await prepared.check?.(answer, request);
            }
            expect(({} as Record<string, unknown>).polluted, 'Object.prototype polluted').toBeUndefined();
            expect((await fetch(`${gatehouse.url}/healthz`)).status).toBe(200);
          });
        }
      });
    }
  });
}

describe('control characters stored by someone', () => {
  // Product defect (see the report): registrationFormSchema (src/accounts/schemas.ts) takes any name
  // up to 200 characters, control characters included. A self-registered name then carries CR/LF and
  // terminal escapes into `gatehouse users show` (forged "roles:" lines, terminal control), the
  // `name` claim of ID tokens and userinfo, and the account page.
  it('keeps control characters out of a registered name (refused, or removed)', async () => {
    const email = nextEmail('control-name');
    const ua = new UserAgent(gatehouse.url);
    const { page: login } = await loginPage(webRp, ua);
    const form = await follow(ua, login, '/register');
    const answer = asPage(await ua.submit(form, '/register', { email, password, name: 'Eve\nroles:     admin\u001b[2J\u0000' }), 'a page');
    expectSafe({ status: answer.status, headers: Object.fromEntries(answer.headers), body: answer.body }, 'register');
    const account = await gatehouse.store.accounts.findByEmail(email);
    const controls = [...(account?.profile.name ?? '')].filter((character) => character.codePointAt(0)! < 0x20 || (character.codePointAt(0)! >= 0x7f && character.codePointAt(0)! <= 0x9f));
    expect(controls, 'control characters stored in the name').toEqual([]);
  });
});

describe('markup stored by someone is shown escaped', () => {
  it('keeps a registered name with markup exactly, and shows it escaped on the account page', async () => {
    const markedEmail = nextEmail('markup-name');
    const browser = new UserAgent(gatehouse.url);
    const { page: login } = await loginPage(webRp, browser);
    const form = await follow(browser, login, '/register');
    const check = asPage(await browser.submit(form, '/register', { email: markedEmail, password, name: markup }), 'the check-your-email page');
    expectNoReflectedMarkup(check.body);
    const mail = await sink.waitFor((each) => each.to === markedEmail);
    expectNoReflectedMarkup(mail.html);
    await browser.submit(check, '/verify-email', { code: codeIn(mail) });
    const account = await gatehouse.store.accounts.findByEmail(markedEmail);
    expect(account?.profile.name).toBe(markup);
    const accountPage = await onAccountPage({ email: markedEmail });
    expectNoReflectedMarkup(accountPage.page.body);
    expect(accountPage.page.body).toContain('&lt;script&gt;');
  });

  it('shows a client name with markup escaped on the login and consent pages', async () => {
    const marked = await relyingParty(gatehouse, await gatehouse.addClient({ name: `Evil ${markup}` }));
    const person = await newPerson('markup-client');
    const { ua, page: login } = await loginPage(marked);
    expectNoReflectedMarkup(login.body);
    expect(login.body).toContain('Evil &lt;script&gt;');
    const consent = asPage(await ua.submit(login, '/login', { email: person.email, password }), 'the consent page');
    expectNoReflectedMarkup(consent.body);
    expect(consent.body).toContain('Evil &lt;script&gt;');
    const logout = await ua.page(`${gatehouse.url}/session/end?client_id=${encodeURIComponent((marked.clientMetadata().client_id))}`);
    expectNoReflectedMarkup(logout.body);
  });

  it('shows a login_hint with markup escaped in the email field', async () => {
    const page = await new UserAgent(gatehouse.url).page((await authorizationRequest(webRp, { login_hint: markup })).url.href);
    expectNoReflectedMarkup(page.body);
    expect(page.document.querySelector('input[name=email]')?.getAttribute('value')).toBe(markup);
  });
});

describe('bad input: paths, methods and headers', () => {
  const malformedPaths = [
    '/interaction/%E0%A4%A', '/interaction/%ZZ/login', '/interaction/%00/login', '/interaction/%C0%AE%C0%AE/consent',
    '/reset-password/%FF', '/reset-password/%E0%A4%A', '/verify-email/%E0%A4%A', '/verify-email/%00',
    '/auth/%FF', '/auth/%E0%A4%A', '/session/end/%FF', '/account/%FF', '/%FF', '/jwks/%FF', '/.well-known/%FF', '/token/%FF',
    '//evil.example/', '/\\evil.example', '/interaction//login', `/interaction/${'x'.repeat(6000)}/login`,
  ];

  it.each(malformedPaths.flatMap((path) => (['GET', 'POST'] as const).map((method): [string, string] => [method, path])))(
    'answers %s %s (malformed percent-encoding, odd slashes) cleanly',
    async (method, path) => {
      const answer = await rawRequest(gatehouse.url, { method, path, ...(method === 'POST' ? { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'email=a%40b.c&password=x' } : {}) });
      expectSafe(answer, `${method} ${path.slice(0, 60)}`);
    },
  );

  it.each(['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'HEAD'])('answers the %s method cleanly everywhere', async (method) => {
    for (const path of ['/', '/auth', '/token', '/token/introspection', '/me', '/request', '/session/end', '/interaction/x', '/interaction/x/login', '/account', '/account/password', '/reset-password/x', '/verify-email/x', '/healthz', '/jwks', '/.well-known/openid-configuration']) {
      const answer = await rawRequest(gatehouse.url, { method, path, headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      expectSafe(answer, `${method} ${path}`);
    }
  });

  it.each([
    ['an empty Basic', 'Basic'],
    ['Basic with garbage', 'Basic !!!'],
    ['Basic without a colon', `Basic ${Buffer.from('nocolon').toString('base64')}`],
    ['Basic with invalid percent-encoding', `Basic ${Buffer.from('%E0%A4%A:%FF').toString('base64')}`],
    ['Basic with an empty id and secret', `Basic ${Buffer.from(':').toString('base64')}`],
    ['Basic with markup', `Basic ${Buffer.from(`${markup}:${markup}`).toString('base64')}`],
    ['a huge Basic', `Basic ${'A'.repeat(12_000)}`],
    ['a Bearer at the token endpoint', 'Bearer x'],
    ['an empty Bearer', 'Bearer'],
    ['a Bearer with spaces', 'Bearer a b c'],
    ['a DPoP token without proof', 'DPoP x'],
    ['an unknown scheme', 'Negotiate YIIB'],
  ])('answers %s Authorization header cleanly at the token, introspection and userinfo endpoints', async (_name, authorization) => {
    for (const [method, path] of [['POST', '/token'], ['POST', '/token/introspection'], ['POST', '/token/revocation'], ['GET', '/me'], ['POST', '/request']] as const) {
      const answer = await rawRequest(gatehouse.url, {
        method, path, headers: { authorization, ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(method === 'POST' ? { body: 'grant_type=client_credentials&token=x&response_type=code' } : {}),
      });
      expectSafe(answer, `${method} ${path}`);
      expect(answer.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
    }
  });

  it.each([
    ['undecodable values', '_interaction=%FF; _interaction.sig=%E0%A4%A; _session=%FF; _session.sig=x'],
    ['forged signed cookies', '_session=forged; _session.sig=AAAAAAAAAAAAAAAAAAAAAAAAAAA; gatehouse.account=eyJzdWIiOiJ4In0; gatehouse.account.sig=AAAA'],
    ['an account cookie that is not JSON', 'gatehouse.account=bm90IGpzb24; gatehouse.account.sig=x; gatehouse.account.sign-in=%7B; gatehouse.account.sign-in.sig=y'],
    ['a huge cookie', `_session=${'x'.repeat(12_000)}`],
    ['empty names and values', '=;;==; =x; _session='],
    ['Latin-1 bytes', '_session.legacy=\u00ff\u00fe'],
  ])('answers pages and endpoints cleanly with cookies holding %s', async (_name, cookie) => {
    const { url } = await authorizationRequest(webRp);
    for (const path of [`${url.pathname}${url.search}`, '/interaction/abc', '/interaction/abc/login', '/account', '/account/callback?code=x&state=y', '/session/end', '/account/password']) {
      const method = path.endsWith('/login') || path === '/account/password' ? 'POST' : 'GET';
      const answer = await rawRequest(gatehouse.url, { method, path, headers: { cookie, ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) }, ...(method === 'POST' ? { body: 'email=a%40b.c&password=x&csrf=x' } : {}) });
      expectSafe(answer, `${method} ${path.slice(0, 60)} with ${cookie.slice(0, 30)}`);
    }
  });

  it('never sends a browser to a host named in Host or X-Forwarded-Host (links and redirects use the issuer)', async () => {
    for (const headers of [{ host: 'evil.example' }, { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }] as Record<string, string>[]) {
      for (const path of ['/account', '/account/mfa/setup', '/reset-password/not-a-token', '/interaction/unknown']) {
        const answer = await rawRequest(gatehouse.url, { method: 'GET', path, headers });
        expectCleanAnswer(answer, answer.body, path);
        expect(answer.headers.location ?? '', path).not.toContain('evil.example');
        expect(answer.body, path).not.toContain('evil.example');
      }
    }
  });

  it('ignores X-Forwarded-Host without TRUST_PROXY', async () => {
    const answer = await rawRequest(gatehouse.url, { method: 'GET', path: '/.well-known/openid-configuration', headers: { 'x-forwarded-host': 'evil.example' } });
    expect(answer.body).not.toContain('evil.example');
  });

  /** Discovery's URLs, and the provider's self-submitting logout form, for a request with `headers`. */
  async function urlsAnswered(server: TestGatehouse, headers: Record<string, string>): Promise<{ refused: boolean; urls: string[] }> {
    const origin = `http://127.0.0.1:${server.port}`;
    const discovery = await rawRequest(origin, { method: 'GET', path: '/.well-known/openid-configuration', headers });
    const logout = await rawRequest(origin, { method: 'GET', path: '/session/end', headers });
    if (discovery.status >= 400 && logout.status >= 400) return { refused: true, urls: [] };
    const metadata = JSON.parse(discovery.body) as Record<string, unknown>;
    const urls = Object.entries(metadata).filter(([name, value]) => typeof value === 'string' && (name.endsWith('_endpoint') || name.endsWith('_uri'))).map(([, value]) => value as string);
    const action = /<form[^>]*action="([^"]+)"/.exec(logout.body)?.[1];
    return { refused: false, urls: action ? [...urls, action.replaceAll('&amp;', '&')] : urls };
  }

  // Product defect (see the report): oidc-provider builds every endpoint URL from the request's Host
  // (or X-Forwarded-Host when TRUST_PROXY is on), so one request can make discovery advertise another
  // host's authorization, token and JWKS endpoints (cache poisoning); the issuer stays right.
  it('builds discovery\'s endpoint URLs from the issuer, whatever the Host header says (or refuses the request)', async () => {
    const { refused, urls } = await urlsAnswered(gatehouse, { host: 'evil.example' });
    if (refused) return;
    expect(urls.length).toBeGreaterThan(5);
    for (const url of urls) expect(url).toMatch(new RegExp(`^${gatehouse.url.replace(/[.]/g, '\\.')}/`));
  });

  it('builds discovery\'s endpoint URLs from the issuer behind a trusted proxy, whatever X-Forwarded-Host says (or refuses the request)', async () => {
    const proxied = await startGatehouse({ env: { ISSUER: 'https://id.example.test', TRUST_PROXY: 'true' } });
    try {
      const honest = await urlsAnswered(proxied, { host: 'id.example.test', 'x-forwarded-proto': 'https' });
      for (const url of honest.urls) expect(url).toMatch(/^https:\/\/id\.example\.test\//);
      const { refused, urls } = await urlsAnswered(proxied, { host: 'id.example.test', 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' });
      if (refused) return;
      for (const url of urls) expect(url).toMatch(/^https:\/\/id\.example\.test\//);
    } finally {
      await proxied.stop();
    }
  });
});
