import { mkdirSync } from 'node:fs';

import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { redirectUri, startGatehouse } from '../../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../../helpers/relying-party.ts';

/**
 * The account centre's sessions and apps in Chromium: one person signed in to an app and the
 * account page in two browsers (a desktop, and a phone 390 px wide), each listed with its parsed
 * browser and OS; the desktop ends the phone's session, whose refresh token then stops working and
 * whose account page asks it to sign in again; then the apps page. Screenshots of every state, at
 * desktop width and at 390 px, under test-results/screenshots/account-centre-sessions/.
 */

const available = chromiumAvailable();
const screenshots = 'test-results/screenshots/account-centre-sessions';
const person = { email: 'ada@example.com', password: 'the analytical engine weaves', name: 'Ada Lovelace' };
const iphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const linuxChrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

let gatehouse: TestGatehouse;
let browser: Browser;
let rp: client.Configuration;

beforeAll(async () => {
  if (!available) return;
  mkdirSync(screenshots, { recursive: true });
  gatehouse = await startGatehouse();
  await gatehouse.addUser(person.email, person.password, { name: person.name });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Notebook', grantTypes: ['authorization_code', 'refresh_token'] }));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
});

function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 40[0-9]/.test(message.text())) problems.push(message.text());
  });
  return problems;
}

/**
 * Signs in to the app in this browser like a person (login form, consent), the app's callback
 * answered in the browser and its code redeemed by the relying party; then opens the account page.
 */
async function signInEverywhere(context: BrowserContext, page: Page): Promise<{ refreshToken: string }> {
  let callback: URL | undefined;
  await context.route(`${new URL(redirectUri).origin}/**`, (route) => {
    callback = new URL(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Notebook</title><p>Signed in to Notebook.</p>' });
  });
  const request = await authorizationRequest(rp, { scope: 'openid email offline_access', prompt: 'consent' });
  await page.goto(request.url.href);
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password', { exact: true }).fill(person.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.waitForURL((url) => url.href.startsWith(redirectUri));
  const tokens = await client.authorizationCodeGrant(rp, callback!, {
    pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state, idTokenExpected: true,
  });
  await page.goto(`${gatehouse.url}/account`);
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
  return { refreshToken: tokens.refresh_token! };
}

async function refreshError(refreshToken: string): Promise<string | undefined> {
  try {
    await client.refreshTokenGrant(rp, refreshToken);
  } catch (error) {
    return (error as { error?: string }).error ?? (error as Error).message;
  }
  return undefined;
}

const sessionRows = (page: Page) => page.locator('li.session');

describe.skipIf(!available)('sessions and apps on the account centre, in Chromium', () => {
  it('lists two browsers, ends the other one, and its tokens stop working', async () => {
    const desktopContext = await browser.newContext({ userAgent: linuxChrome, viewport: { width: 1280, height: 900 } });
    const phoneContext = await browser.newContext({ userAgent: iphone, viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const desktop = await desktopContext.newPage();
    const phone = await phoneContext.newPage();
    desktop.setDefaultTimeout(8000);
    phone.setDefaultTimeout(8000);
    const problems = [...watchProblems(desktop), ...watchProblems(phone)];
    const desktopShot = (name: string) => desktop.screenshot({ path: `${screenshots}/${name}-desktop.png`, fullPage: true });
    const phoneShot = (name: string) => phone.screenshot({ path: `${screenshots}/${name}-390px.png`, fullPage: true });

    await signInEverywhere(desktopContext, desktop);
    const phoneSignIn = await signInEverywhere(phoneContext, phone);
    expect(await refreshError(phoneSignIn.refreshToken)).toBeUndefined();

    // The overview links to the section.
    await desktopShot('01-account-overview');
    await desktop.getByRole('link', { name: 'Sessions and devices' }).click();
    await desktop.getByRole('heading', { name: 'Your sessions' }).waitFor();
    await expect(sessionRows(desktop).count()).resolves.toBe(2);
    const mine = sessionRows(desktop).first();
    await expect(mine.locator('.session-device').textContent()).resolves.toBe('Chrome 126 on Linux');
    await expect(mine.locator('.session-current').textContent()).resolves.toBe('This device');
    await expect(mine.getByRole('button').count()).resolves.toBe(0);
    const other = sessionRows(desktop).nth(1);
    await expect(other.locator('.session-device').textContent()).resolves.toBe('Safari 17 on iOS 17.5');
    await expect(other.textContent()).resolves.toContain('Signed in to Notebook');
    await desktopShot('02-sessions-two-browsers');

    await phone.goto(`${gatehouse.url}/account/sessions`);
    await phone.getByRole('heading', { name: 'Your sessions' }).waitFor();
    await expect(sessionRows(phone).first().locator('.session-device').textContent()).resolves.toBe('Safari 17 on iOS 17.5');
    // Nothing wider than the phone's screen.
    await expect(phone.evaluate('document.documentElement.scrollWidth')).resolves.toBeLessThanOrEqual(390);
    await phoneShot('02-sessions-two-browsers');

    // The desktop signs the phone out.
    await other.getByRole('button', { name: 'Sign out Safari 17 on iOS 17.5' }).click();
    await desktop.locator('.notice').waitFor();
    await expect(desktop.locator('.notice').textContent()).resolves.toContain('That session is signed out');
    await expect(sessionRows(desktop).count()).resolves.toBe(1);
    await desktopShot('03-other-session-ended');

    expect(await refreshError(phoneSignIn.refreshToken)).toBe('invalid_grant');
    await phone.goto(`${gatehouse.url}/account/sessions`);
    await phone.getByRole('heading', { name: 'Sign in' }).first().waitFor();
    await phoneShot('03-signed-out-asked-to-sign-in');

    // The apps page, at both widths.
    await desktop.goto(`${gatehouse.url}/account/apps`);
    await desktop.getByRole('heading', { name: 'Connected apps' }).waitFor();
    const app = desktop.locator('li.app', { hasText: 'Notebook' });
    await expect(app.locator('.permissions li').count()).resolves.toBeGreaterThan(0);
    await desktopShot('04-apps');
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.getByLabel('Email').fill(person.email);
    await phone.getByLabel('Password', { exact: true }).fill(person.password);
    await phone.getByRole('button', { name: 'Sign in', exact: true }).click();
    // Back to the section the sign-in started from.
    await phone.getByRole('heading', { name: 'Your sessions' }).waitFor();
    expect(new URL(phone.url()).pathname).toBe('/account/sessions');
    await phone.goto(`${gatehouse.url}/account/apps`);
    await phone.getByRole('heading', { name: 'Connected apps' }).waitFor();
    await expect(phone.evaluate('document.documentElement.scrollWidth')).resolves.toBeLessThanOrEqual(390);
    await phoneShot('04-apps');

    // Removing the app from the desktop.
    await app.getByRole('button', { name: 'Remove Notebook' }).click();
    await desktop.locator('.notice').waitFor();
    await expect(desktop.locator('li.app', { hasText: 'Notebook' }).count()).resolves.toBe(0);
    await desktopShot('05-app-removed');

    expect(problems).toEqual([]);
    await desktopContext.close();
    await phoneContext.close();
  });
});
