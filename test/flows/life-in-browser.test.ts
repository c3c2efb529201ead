import { mkdirSync } from 'node:fs';

import jsQRModule from 'jsqr';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { MailSink } from '../helpers/mail-sink.ts';
import { codeIn, startMailSink } from '../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { totp } from '../helpers/totp.ts';
import { chromiumAvailable, launchChromium } from '../helpers/browser.ts';

/**
 * The whole life of a person, in Chromium: register, confirm the email from the mail, consent,
 * set up an authenticator app (scanning the QR code from a screenshot), sign out, and sign in
 * again with password and code. Every page is saved under test-results/screenshots/life/.
 */

const available = chromiumAvailable();

const screenshots = 'test-results/screenshots/life';
const person = { email: 'mulder@example.com', name: 'Fox Mulder', password: 'the truth is out there, somewhere' };

let gatehouse: TestGatehouse;
let sink: MailSink;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  mkdirSync(screenshots, { recursive: true });
  sink = await startMailSink();
  gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url } });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
  await sink?.close();
});

// jsqr is a UMD bundle whose module.exports is the function itself; its types describe an ES default.
const jsQR = jsQRModule as unknown as typeof jsQRModule.default;

/** Reads the QR code on the page the way a phone would: from pixels. */
async function scanQrCode(page: Page): Promise<string> {
  const png = PNG.sync.read(await page.locator('.qr').screenshot());
  const decoded = jsQR(new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.length), png.width, png.height);
  if (!decoded) throw new Error('no QR code could be read from the page');
  return decoded.data;
}

describe.skipIf(!available)('a person from registration to a second-factor sign-in, in a real browser', () => {
  it('registers, confirms, consents, sets up an authenticator app, signs out and signs in with a code', async () => {
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Sample client' }));
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' && !/status of 40[01]/.test(message.text())) problems.push(message.text());
    });
    let landedAt: URL | undefined;
    await page.route('http://127.0.0.1:8080/**', async (route) => {
      landedAt = new URL(route.request().url());
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Sample client</title><p>Signed in at the sample client</p>' });
    });
    const shot = (name: string) => page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true });

    // 1. Register from the login page of an authorization request.
    const first = await authorizationRequest(rp, { scope: 'openid email profile' });
    await page.goto(first.url.href);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot('01-login');
    await page.getByRole('link', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Create account' }).waitFor();
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Name').fill(person.name);
    await page.getByLabel('Password').fill('password1');
    await page.getByRole('button', { name: 'Create account' }).click();
    // The policy's reason is next to the password field, which has the focus.
    await expect(page.locator('#password-error').textContent()).resolves.toMatch(/password/i);
    await expect(page.evaluate<string | undefined>('document.activeElement?.id')).resolves.toBe('password');
    await shot('02-register-refused');
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Create account' }).click();

    // 2. Confirm the address with the code from the mail.
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    await shot('03-check-email');
    const mail = await sink.waitFor((each) => each.to === person.email);
    await page.getByLabel('Code', { exact: true }).fill(codeIn(mail));
    await page.getByRole('button', { name: 'Confirm' }).click();

    // 3. Consent, and land at the client.
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    await shot('04-consent');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(/127\.0\.0\.1:8080\/callback/);
    const firstTokens = await client.authorizationCodeGrant(rp, landedAt!, { pkceCodeVerifier: first.codeVerifier, expectedNonce: first.nonce, expectedState: first.state });
    expect(firstTokens.claims()).toMatchObject({ amr: ['pwd'] });

    // 4. Set up the authenticator app on the account page (already signed in: no login page).
    await page.goto(`${gatehouse.url}/account`);
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await shot('05-account');
    await page.getByRole('link', { name: 'Set up authenticator app' }).click();
    await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
    await shot('06-mfa-setup');
    const uri = new URL(await scanQrCode(page));
    const secret = (await page.locator('#secret').textContent())!.replace(/\s/g, '');
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe(`/Gatehouse:${person.email}`);
    expect(Object.fromEntries(uri.searchParams)).toEqual({ secret, issuer: 'Gatehouse', algorithm: 'SHA1', digits: '6', period: '30' });
    await page.getByLabel('Code', { exact: true }).fill(totp(secret));
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    await shot('07-recovery-codes');
    expect(await page.locator('.recovery-codes code').count()).toBe(10);
    await page.getByRole('button', { name: 'Done' }).click();
    await expect(page.textContent('body')).resolves.toContain('On: signing in asks for a code');

    // 5. Sign out everywhere through the provider.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    await shot('08-sign-out');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Signed out' }).waitFor();

    // 6. Sign in again: password, then the code from the app.
    landedAt = undefined;
    const second = await authorizationRequest(rp, { scope: 'openid email profile' });
    await page.goto(second.url.href);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(person.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    await shot('09-second-factor');
    await page.getByLabel('Code from your authenticator app').fill(totp(secret, 30));
    await page.getByRole('button', { name: 'Verify' }).click();
    // Signing out ended the session, not the consent: it is remembered (until the app is removed on
    // the account page), so no consent page this time.
    await page.waitForURL(/127\.0\.0\.1:8080\/callback/);
    await shot('10-client');
    const tokens = await client.authorizationCodeGrant(rp, landedAt!, { pkceCodeVerifier: second.codeVerifier, expectedNonce: second.nonce, expectedState: second.state });
    expect(tokens.claims()).toMatchObject({ amr: ['pwd', 'otp'], acr: 'urn:gatehouse:loa:mfa' });
    expect((await client.fetchUserInfo(rp, tokens.access_token, tokens.claims()!.sub))).toMatchObject({ email: person.email, email_verified: true, name: person.name });

    expect(problems).toEqual([]);
    await context.close();
  });
});
