import { mkdirSync } from 'node:fs';

import * as client from 'openid-client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { postLogoutRedirectUri, redirectUri, startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { chromiumAvailable, launchChromium } from '../helpers/browser.ts';

const available = chromiumAvailable();

const screenshots = 'test-results/screenshots';
const dana = { email: 'dana@example.com', password: 'dana uses a passphrase' };

let gatehouse: TestGatehouse;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  mkdirSync(screenshots, { recursive: true });
  gatehouse = await startGatehouse();
  await gatehouse.addUser(dana.email, dana.password, { name: 'Dana Scully' });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
});

describe.skipIf(!available)('the pages in a real browser', () => {
  it('signs in through the login and consent pages, then signs out', async () => {
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Browser test app' }));
    const request = await authorizationRequest(rp, { scope: 'openid email profile' });
    const context = await browser.newContext();
    const page = await context.newPage();

    const problems: string[] = [];
    page.on('console', (message) => {
      // CSP violations and failed loads land here; the wrong password's 401 is expected.
      if (message.type() === 'error' && !message.text().includes('status of 401')) problems.push(message.text());
    });
    const origins = new Set<string>();
    page.on('request', (req) => origins.add(new URL(req.url()).origin));
    // The client's side: nothing listens on 127.0.0.1:8080, so answer its URLs here.
    let landedAt: URL | undefined;
    await page.route('http://127.0.0.1:8080/**', async (route) => {
      landedAt = new URL(route.request().url());
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>client</title><p>back at the client</p>' });
    });

    await page.goto(request.url.href);
    await expect(page.getByRole('heading', { name: 'Sign in' }).isVisible()).resolves.toBe(true);
    // The stylesheet loaded under the content security policy.
    const background = await page.evaluate<string>('getComputedStyle(document.body).backgroundColor');
    expect(background).not.toBe('rgba(0, 0, 0, 0)');
    expect(await page.getByLabel('Email').getAttribute('autocomplete')).toBe('username');
    await page.screenshot({ path: `${screenshots}/login.png`, fullPage: true });

    // A wrong password first: the same page with the generic message.
    await page.getByLabel('Email').fill(dana.email);
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Incorrect email or password.');
    await page.screenshot({ path: `${screenshots}/login-error.png`, fullPage: true });

    await page.getByLabel('Password').fill(dana.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    expect(await page.textContent('body')).toContain('See your email address');
    await page.screenshot({ path: `${screenshots}/consent.png`, fullPage: true });

    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(/127\.0\.0\.1:8080\/callback/);
    expect(landedAt).toBeDefined();
    const tokens = await client.authorizationCodeGrant(rp, landedAt!, {
      pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state,
    });
    expect((await client.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub)).email).toBe(dana.email);
    expect(`${landedAt!.origin}${landedAt!.pathname}`).toBe(redirectUri);

    await page.goto(client.buildEndSessionUrl(rp, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: postLogoutRedirectUri }).href);
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    await page.screenshot({ path: `${screenshots}/logout.png`, fullPage: true });
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/127\.0\.0\.1:8080\/logged-out/);

    expect(problems).toEqual([]);
    expect([...origins].sort()).toEqual([gatehouse.url, 'http://127.0.0.1:8080'].sort());
    await context.close();
  });

  it('shows the error page for a bad redirect URI, without redirecting', async () => {
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Error page app' }));
    const request = await authorizationRequest(rp, { redirect_uri: 'https://attacker.example/steal' });
    const page = await browser.newPage();
    const response = await page.goto(request.url.href);
    expect(response?.status()).toBe(400);
    expect(new URL(page.url()).origin).toBe(gatehouse.url);
    await page.getByRole('heading', { name: 'This request cannot continue' }).waitFor();
    await page.screenshot({ path: `${screenshots}/error.png`, fullPage: true });
    await page.close();
  });
});
