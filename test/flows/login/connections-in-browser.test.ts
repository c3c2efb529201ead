import { mkdirSync } from 'node:fs';

import type * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { systemClock } from '../../../src/clock.ts';
import { cliSource } from '../../../src/libraries/audit.ts';
import { connectionsLibrary } from '../../../src/libraries/connections.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import type { AuthorizationRequest } from '../../helpers/relying-party.ts';
import { authorizationRequest, relyingParty } from '../../helpers/relying-party.ts';
import type { UpstreamProvider } from '../../helpers/upstream-provider.ts';
import { startUpstreamProvider } from '../../helpers/upstream-provider.ts';
import { startLocalhostGatehouse, verifiedIdToken } from './passkey-fixtures.ts';

/**
 * "Continue with …" in real Chromium: the button on the login page, the round trip through a real
 * second OpenID Provider and back, and the return to the application. Gatehouse runs at
 * http://localhost:<port> and the upstream at http://127.0.0.1:<port>: two sites, so the browser
 * comes back to Gatehouse's callback from another site, as it does from Google or Microsoft (the
 * SameSite=Lax cookie binding the browser must survive that). Screenshots go to
 * test-results/screenshots/connections/.
 */

const available = chromiumAvailable();
const screenshots = 'test-results/screenshots/connections';
const password = 'correct horse battery staple';

let gatehouse: TestGatehouse;
let upstream: UpstreamProvider;
let browser: Browser;
let rp: client.Configuration;
let counter = 0;

beforeAll(async () => {
  if (!available) return;
  mkdirSync(screenshots, { recursive: true });
  gatehouse = await startLocalhostGatehouse();
  upstream = await startUpstreamProvider({ redirectUris: [`${gatehouse.url}/connections/acme/callback`] });
  const connections = connectionsLibrary({ store: gatehouse.store, config: gatehouse.config, clock: systemClock, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey });
  await connections.add({
    type: 'oidc', id: 'acme', name: 'Acme SSO', issuer: upstream.issuer, clientId: upstream.clientId, clientSecret: upstream.clientSecret,
    allowNewAccounts: true, trustVerifiedEmails: true,
  }, cliSource);
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Acme Portal', firstParty: true }));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await upstream?.stop();
  await gatehouse?.stop();
});

/** A new browser context and page; the client's redirect URI answered here; problems collected. */
async function openPage(): Promise<{ context: BrowserContext; page: Page; problems: string[]; landed: () => URL | undefined }> {
  const context = await browser.newContext();
  // No passkey autofill request waiting on the login page (this browser has no passkey anyway).
  await context.addInitScript('if (window.PublicKeyCredential) window.PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);');
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  page.on('console', (message) => {
    // Refused answers are pages with a 4xx status; the client's address is served by the route below.
    if (message.type() === 'error' && !/status of (400|401|403|404|409|502)|ERR_CONNECTION_REFUSED/.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  let landedAt: URL | undefined;
  await page.route('http://127.0.0.1:8080/**', async (route) => {
    landedAt = new URL(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Acme Portal</title><h1>Welcome back to Acme Portal</h1>' });
  });
  return { context, page, problems, landed: () => landedAt };
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true });
}

async function idToken(request: AuthorizationRequest, landed: () => URL | undefined) {
  await expect.poll(landed, { timeout: 15_000, interval: 50 }).toBeDefined();
  return verifiedIdToken(gatehouse, rp, request, landed()!);
}

function nextPerson(extra: Record<string, unknown> = {}) {
  counter += 1;
  const person = { sub: `browser-upstream-${counter}`, email: `browser-upstream${counter}@example.com`, email_verified: true, name: `Browser Person ${counter}`, ...extra };
  upstream.setUser(person);
  return person;
}

describe.skipIf(!available)('signing in with another provider in a real browser', () => {
  it('the button, the round trip through the upstream, and back at the application signed in', async () => {
    const person = nextPerson();
    const { context, page, problems, landed } = await openPage();
    const request = await authorizationRequest(rp);
    await page.goto(request.url.href);
    const button = page.getByRole('button', { name: 'Continue with Acme SSO' });
    await button.waitFor();
    await shot(page, 'login-with-connection');
    await button.click();
    const claims = await idToken(request, landed);
    expect(claims.amr).toEqual(['fed']);
    const account = (await gatehouse.store.accounts.findByEmail(person.email))!;
    expect(claims.sub).toBe(account.id);
    await page.getByRole('heading', { name: 'Welcome back to Acme Portal' }).waitFor();
    await shot(page, 'back-at-the-application');
    // The browser went to the upstream and came back through the fixed callback.
    expect(upstream.requests).toContain('GET /auth');
    expect(upstream.requests).toContain('POST /token');

    // The account page lists the provider.
    await page.goto(`${gatehouse.url}/account`);
    await page.getByRole('heading', { name: 'Signed in with' }).waitFor();
    expect(await page.locator('li.identity .identity-name').textContent()).toBe('Acme SSO');
    await shot(page, 'account-signed-in-with');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('an address with an account: the proof page, then the application', async () => {
    const person = nextPerson({ email_verified: false });
    const accountId = await gatehouse.addUser(person.email, password);
    const { context, page, problems, landed } = await openPage();
    const request = await authorizationRequest(rp);
    await page.goto(request.url.href);
    await page.getByRole('button', { name: 'Continue with Acme SSO' }).click();
    await page.getByRole('heading', { name: 'This email already has an account' }).waitFor();
    await shot(page, 'prove-the-account');
    await page.getByLabel(`Password of ${person.email}`).fill(password);
    await page.getByRole('button', { name: 'Sign in and link' }).click();
    const claims = await idToken(request, landed);
    expect(claims.sub).toBe(accountId);
    expect(await gatehouse.store.linkedIdentities.find('acme', person.sub)).toMatchObject({ accountId });
    expect(problems).toEqual([]);
    await context.close();
  });

  it('a refusal at the upstream: a clear page with the way back to the other ways to sign in', async () => {
    nextPerson();
    const { context, page, problems } = await openPage();
    const request = await authorizationRequest(rp);
    await page.goto(request.url.href);
    upstream.misbehave('access-denied');
    try {
      await page.getByRole('button', { name: 'Continue with Acme SSO' }).click();
      await page.getByRole('heading', { name: 'Signing in did not work' }).waitFor();
    } finally {
      upstream.misbehave(null);
    }
    await shot(page, 'refused-upstream');
    await page.getByRole('link', { name: 'Back to sign in' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await expect(page.getByRole('button', { name: 'Continue with Acme SSO' }).isVisible()).resolves.toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  });
});
