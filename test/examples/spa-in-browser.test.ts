import { mkdirSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startApi } from '../../examples/api/server.ts';
import type { RunningApi } from '../../examples/api/server.ts';
import { startSpa } from '../../examples/spa/server.ts';
import type { RunningSpa } from '../../examples/spa/server.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { freePort } from './ports.ts';
import { chromiumAvailable, launchChromium } from '../helpers/browser.ts';

const available = chromiumAvailable();

const screenshots = 'test-results/screenshots';
const grace = { email: 'grace@example.com', password: 'compilers all the way down' };

let gatehouse: TestGatehouse;
let api: RunningApi;
let spa: RunningSpa;
let clientId: string;
/** A page on an origin no client registered. */
let stranger: Server;
let strangerUrl: string;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  mkdirSync(screenshots, { recursive: true });
  gatehouse = await startGatehouse();
  await gatehouse.addUser(grace.email, grace.password, { name: 'Grace Hopper' });
  const [spaPort, apiPort] = [await freePort(), await freePort()];
  const spaUrl = `http://127.0.0.1:${spaPort}`;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  // What the READMEs tell an integrator to register.
  await gatehouse.addApi({ identifier: apiUrl, scopes: ['notes:read', 'notes:write'] });
  ({ clientId } = await gatehouse.addClient({ name: 'Example SPA', public: true, redirectUris: [`${spaUrl}/`], postLogoutRedirectUris: [`${spaUrl}/`] }));
  api = await startApi({ issuer: gatehouse.url, audience: apiUrl, host: '127.0.0.1', port: apiPort, allowedOrigins: [spaUrl] });
  spa = await startSpa({ issuer: gatehouse.url, clientId, api: { url: apiUrl, resource: apiUrl }, host: '127.0.0.1', port: spaPort });

  stranger = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>stranger</title><p>not a registered app'));
  stranger.listen(0, '127.0.0.1');
  await once(stranger, 'listening');
  strangerUrl = `http://127.0.0.1:${(stranger.address() as AddressInfo).port}`;

  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  stranger?.close();
  await spa?.close();
  await api?.close();
  await gatehouse?.stop();
});

type TokenResponse = { access_token: string; token_type: string; refresh_token?: string; id_token?: string };

/** Watches what the page receives from Gatehouse's token endpoint and what it logs as errors. */
function watch(page: Page) {
  const tokenResponses: TokenResponse[] = [];
  /** Gatehouse's answers asking for a DPoP nonce (the page then asks again with it). */
  const nonceChallenges: string[] = [];
  const problems: string[] = [];
  const authorizationRequests: URL[] = [];
  page.on('request', (request) => {
    if (request.url().startsWith(`${gatehouse.url}/auth?`)) authorizationRequests.push(new URL(request.url()));
  });
  page.on('response', async (response) => {
    if (response.url() === `${gatehouse.url}/token` && response.request().method() === 'POST') {
      if (response.status() === 200) tokenResponses.push((await response.json()) as TokenResponse);
      else nonceChallenges.push(((await response.json()) as { error: string }).error);
    }
  });
  page.on('console', (message) => {
    // The token endpoint's 400 asking for a DPoP nonce is expected (counted in nonceChallenges).
    const from = message.location().url;
    if (message.type() === 'error' && !from.endsWith('/favicon.ico') && from !== `${gatehouse.url}/token`) problems.push(message.text());
  });
  return { tokenResponses, nonceChallenges, problems, authorizationRequests };
}

/** Sign in on Gatehouse's pages, by field names (the pages may gain links), and allow on consent. */
async function signIn(page: Page) {
  await page.locator('input[name=email]').fill(grace.email);
  await page.locator('input[name=password]').fill(grace.password);
  await page.locator('form:has(input[name=password]) button[type=submit]').click();
  const allow = page.locator('button[name=decision][value=allow]');
  await Promise.race([page.waitForURL(`${spa.url}/`).catch(() => undefined), allow.waitFor().catch(() => undefined)]);
  if (await allow.isVisible()) {
    await page.screenshot({ path: `${screenshots}/spa-consent.png`, fullPage: true });
    await allow.click();
  }
  await page.waitForURL(`${spa.url}/`);
}

const text = (page: Page, selector: string) => page.locator(selector).textContent();

describe.skipIf(!available)('the example single-page app in a real browser', () => {
  it('logs in with PKCE, calls the API, refreshes with its DPoP-bound refresh token, and logs out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { tokenResponses, nonceChallenges, problems, authorizationRequests } = watch(page);

    await page.goto(spa.url);
    await page.locator('#login').click();
    await page.waitForURL((url) => url.origin === gatehouse.url);
    await signIn(page);
    // Back on the app, it still redeems the code and asks for the userinfo before it shows them.
    await expect.poll(() => text(page, '#who')).toBe('Grace Hopper');
    await expect.poll(() => text(page, '#status')).toBe('Signed in.');
    await page.screenshot({ path: `${screenshots}/spa-signed-in.png`, fullPage: true });

    // The code went into the address bar only for a moment; nothing was stored but in memory.
    expect(page.url()).toBe(`${spa.url}/`);
    expect(await page.evaluate<string>('JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } })')).toBe('{"local":{},"session":{}}');
    // The authorization request: a public client's code flow with PKCE, for the API's resource.
    expect(authorizationRequests).toHaveLength(1);
    const params = Object.fromEntries(authorizationRequests[0]!.searchParams);
    expect(params).toMatchObject({ client_id: clientId, response_type: 'code', code_challenge_method: 'S256', resource: api.url, redirect_uri: `${spa.url}/` });
    expect(params.code_challenge).toMatch(/^[\w-]{43}$/);
    expect(params).not.toHaveProperty('client_secret');
    await expect.poll(() => tokenResponses.length).toBe(1);
    const first = tokenResponses[0]!;
    expect(decodeJwt(first.access_token)).toMatchObject({ aud: api.url, client_id: clientId, scope: 'notes:read notes:write' });
    expect(first.refresh_token).toBeTruthy();
    // Bound to the page's key (DPoP): the first exchange was asked for a nonce, then granted.
    expect(first.token_type).toMatch(/^dpop$/i);
    expect(decodeJwt(first.access_token).cnf).toMatchObject({ jkt: expect.any(String) });
    expect(nonceChallenges).toEqual(['use_dpop_nonce']);

    await page.locator('#call-api').click();
    await page.locator('#api-result').filter({ hasText: /^200/ }).waitFor();
    expect(await text(page, '#api-result')).toContain(`"client_id": "${clientId}"`);
    await page.locator('#note').fill('from the browser');
    await page.locator('#add-note').click();
    await page.locator('#api-result').filter({ hasText: /^201/ }).waitFor();

    await page.locator('#refresh').click();
    await page.locator('#refreshes').filter({ hasText: '1' }).waitFor();
    // The page may show the count before this test's listener has read the response's body.
    await expect.poll(() => tokenResponses.length).toBe(2);
    const second = tokenResponses[1]!;
    expect(second.refresh_token).toBeTruthy();
    // Bound to the key, the refresh token is not rotated (RFC 9700 §4.14.2: sender-constrained
    // refresh tokens need no rotation; a thief cannot use it without the key).
    expect(second.refresh_token).toBe(first.refresh_token);
    expect(second.access_token).not.toBe(first.access_token);
    expect(decodeJwt(second.access_token).aud).toBe(api.url);
    expect(decodeJwt(second.access_token).cnf).toEqual(decodeJwt(first.access_token).cnf);

    await page.locator('#call-api').click();
    // The 201 above already shows the note: wait for the GET's own answer.
    await page.locator('#api-result').filter({ hasText: /^200[\s\S]*from the browser/ }).waitFor();
    expect(await text(page, '#api-result')).toMatch(/^200/);

    // Logout: the refresh token is revoked (CORS), then Gatehouse's page sends us back.
    const revocation = page.waitForResponse(`${gatehouse.url}/token/revocation`);
    await page.locator('#logout').click();
    expect((await revocation).status()).toBe(200);
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    await page.locator('button[name=logout]').click();
    await page.waitForURL(`${spa.url}/`);
    await page.locator('#login').waitFor();
    expect(await page.locator('#signed-in').isHidden()).toBe(true);

    // Both refresh tokens are dead: the first was rotated away, the second revoked.
    for (const token of [second.refresh_token!, first.refresh_token!]) {
      const response = await fetch(`${gatehouse.url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: clientId }) });
      expect(((await response.json()) as { error: string }).error).toBe('invalid_grant');
    }
    // And the session at Gatehouse is over: logging in again asks for the password.
    await page.locator('#login').click();
    await page.locator('input[name=password]').waitFor();

    expect(problems).toEqual([]);
    await context.close();
  });

  it('refuses a page from an unregistered origin at the token endpoint (CORS)', async () => {
    const page = await browser.newPage();
    const blocked: string[] = [];
    page.on('console', (message) => {
      if (message.text().includes('CORS')) blocked.push(message.text());
    });
    const attempt = `(async () => {
      try {
        const response = await fetch(${JSON.stringify(`${gatehouse.url}/token`)}, {
          method: 'POST',
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'stolen', client_id: ${JSON.stringify(clientId)} }),
        });
        return 'read ' + response.status + ' ' + (await response.json()).error;
      } catch (error) {
        return 'failed: ' + error.message;
      }
    })()`;

    // From the app's own origin the answer can be read (here: the refresh token is not valid)...
    await page.goto(spa.url);
    expect(await page.evaluate<string>(attempt)).toBe('read 400 invalid_grant');
    // ...from anywhere else the browser refuses to hand it over.
    await page.goto(strangerUrl);
    expect(await page.evaluate<string>(attempt)).toBe('failed: Failed to fetch');
    expect(blocked.join('\n')).toMatch(/blocked by CORS policy: No 'Access-Control-Allow-Origin' header/);
    await page.close();
  });
});
