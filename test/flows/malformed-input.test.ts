import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { UserAgent } from '../helpers/user-agent.ts';

let gatehouse: TestGatehouse;
let authorizationUrl: () => Promise<URL>;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  await gatehouse.addUser('carol@example.com', 'carol has a long password');
  const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Malformed input app' }));
  authorizationUrl = async () => (await authorizationRequest(rp)).url;
});

afterAll(async () => {
  await gatehouse?.stop();
});

/** A person's browser sitting on a fresh login page, with the interaction cookie set. */
async function onLoginPage(): Promise<{ ua: UserAgent; page: Page; action: string; csrf: string }> {
  const ua = new UserAgent(gatehouse.url);
  const page = await ua.page((await authorizationUrl()).href);
  const action = page.document.querySelector('form')!.getAttribute('action')!;
  const csrf = page.document.querySelector('form input[name=csrf]')!.getAttribute('value')!;
  return { ua, page, action: new URL(action, gatehouse.url).href, csrf };
}

function expectCleanClientError(response: { status: number }, body: string) {
  expect(response.status).toBeGreaterThanOrEqual(400);
  expect(response.status).toBeLessThan(500);
  expect(body).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack trace
  expect(body).not.toContain('node_modules');
}

const form = (fields: string) => ({ method: 'POST', body: fields, headers: { 'content-type': 'application/x-www-form-urlencoded' } });

describe('interaction pages reject bad input with a 4xx page', () => {
  const bodies: Record<string, string> = {
    'no fields': '',
    'missing password': 'email=carol%40example.com',
    'missing email': 'password=whatever-it-is',
    'repeated fields': 'email=a%40b.c&email=carol%40example.com&password=x&password=y',
    'nested fields': 'email[a]=1&password[b]=2',
    'control characters': 'email=%00%01%02%1b&password=%00',
    'invalid percent-encoding': 'email=%E0%A4%A&password=%ZZ',
    'invalid UTF-8': 'email=%C3%28%FF%FE&password=%80%81',
    'a huge email': `email=${'a'.repeat(5000)}%40example.com&password=x`,
    'a huge password': `email=carol%40example.com&password=${'p'.repeat(10_000)}`,
  };
  for (const [name, body] of Object.entries(bodies)) {
    it(`login form with ${name}`, async () => {
      const { ua, action, csrf } = await onLoginPage();
      const response = await ua.request(action, form(`csrf=${encodeURIComponent(csrf)}&${body}`));
      const text = await response.text();
      expectCleanClientError(response, text);
      expect(text).toContain('Sign in'); // the login page again, with an error
    });
  }

  it('refuses a form without its CSRF token, or with another interaction\'s, before checking anything', async () => {
    const { ua, action } = await onLoginPage();
    const other = await onLoginPage();
    for (const body of ['email=carol%40example.com&password=carol+has+a+long+password', `csrf=${encodeURIComponent(other.csrf)}&email=carol%40example.com&password=carol+has+a+long+password`, 'csrf=&email=x']) {
      const response = await ua.request(action, form(body));
      const text = await response.text();
      expect(response.status).toBe(403);
      expect(text).toContain('did not come from this site');
    }
    // The right token still works in that browser afterwards.
    const page = await ua.page(action.replace(/\/login$/, ''));
    expect(page.document.querySelector('form input[name=csrf]')?.getAttribute('value')).toBeTruthy();
  });

  it('does not reflect markup typed into a field', async () => {
    const { ua, action, csrf } = await onLoginPage();
    const response = await ua.request(action, form(`csrf=${encodeURIComponent(csrf)}&email=${encodeURIComponent('"><script>alert(1)</script>')}&password=x`));
    const text = await response.text();
    expectCleanClientError(response, text);
    expect(text).not.toContain('<script>alert(1)</script>');
    expect(text).toContain('&lt;script&gt;');
  });

  it('refuses an oversized body with 413', async () => {
    const { ua, action } = await onLoginPage();
    const response = await ua.request(action, form(`email=x&password=${'p'.repeat(100_000)}`));
    const text = await response.text();
    expect(response.status).toBe(413);
    expectCleanClientError(response, text);
  });

  it('ignores JSON where a form is expected', async () => {
    const { ua, action } = await onLoginPage();
    const response = await ua.request(action, { method: 'POST', body: JSON.stringify({ email: 'carol@example.com', password: 'carol has a long password' }), headers: { 'content-type': 'application/json' } });
    const text = await response.text();
    expectCleanClientError(response, text);
  });

  it('answers an unknown interaction id with the error page', async () => {
    const ua = new UserAgent(gatehouse.url);
    for (const [method, path] of [['GET', '/interaction/does-not-exist'], ['POST', '/interaction/does-not-exist/login'], ['POST', '/interaction/does-not-exist/consent'], ['POST', '/interaction/does-not-exist/abort']] as const) {
      const response = await ua.request(`${gatehouse.url}${path}`, method === 'POST' ? form('email=a&password=b') : {});
      const text = await response.text();
      expectCleanClientError(response, text);
      expect(text, `${method} ${path}`).toContain('Gatehouse home');
    }
  });

  it('refuses an interaction id that does not match the browser’s interaction', async () => {
    const { ua } = await onLoginPage();
    const response = await ua.request(`${gatehouse.url}/interaction/someone-elses-uid`);
    expectCleanClientError(response, await response.text());
  });

  it('refuses a consent decision on the login step, and garbage decisions', async () => {
    const { ua, action } = await onLoginPage();
    const consentAction = action.replace(/\/login$/, '/consent');
    for (const body of ['decision=allow', 'decision=maybe', 'decision=allow&decision=deny', '']) {
      const response = await ua.request(consentAction, form(body));
      expectCleanClientError(response, await response.text());
    }
  });

  it('answers unknown pages with a 404 page', async () => {
    const response = await fetch(`${gatehouse.url}/nothing/here`);
    expect(response.status).toBe(404);
    expect(await response.text()).toContain('There is no page at this address');
  });
});

describe('protocol endpoints reject bad input with 4xx', () => {
  const requests: [string, string, RequestInit][] = [
    ['authorization without parameters', '/auth', {}],
    ['authorization with garbage', '/auth?client_id=%00%ff&response_type=token&redirect_uri=javascript:alert(1)', {}],
    ['authorization with repeated parameters', '/auth?client_id=a&client_id=b', {}],
    ['token without a body', '/token', { method: 'POST' }],
    ['token with garbage', '/token', { method: 'POST', body: 'grant_type=%00&code=%ff', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
    ['token with the password grant', '/token', { method: 'POST', body: 'grant_type=password&username=a&password=b&client_id=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
    ['token with JSON', '/token', { method: 'POST', body: '{"grant_type":"authorization_code"}', headers: { 'content-type': 'application/json' } }],
    ['userinfo with a garbage token', '/me', { headers: { authorization: 'Bearer garbage//..==' } }],
    ['introspection without client', '/token/introspection', { method: 'POST', body: 'token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
    ['revocation with a huge body', '/token/revocation', { method: 'POST', body: `token=${'x'.repeat(200_000)}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
    ['end session with a garbage id_token_hint', '/session/end?id_token_hint=garbage', {}],
    ['PAR without client', '/request', { method: 'POST', body: 'response_type=code', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
  ];
  for (const [name, path, init] of requests) {
    it(name, async () => {
      const response = await fetch(`${gatehouse.url}${path}`, { ...init, redirect: 'manual' });
      const text = await response.text();
      expectCleanClientError(response, text);
    });
  }
});
