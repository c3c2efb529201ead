import { mkdirSync } from 'node:fs';

import * as client from 'openid-client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLibraries } from '../../../src/libraries/index.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import { relyingParty } from '../../helpers/relying-party.ts';
import { totp } from '../../helpers/totp.ts';

/**
 * The device flow's pages in Chromium: the person types the code their device shows, checks the
 * device's request, signs in with a password and the authenticator app, allows, and sees the
 * success page; the device then gets its tokens. Screenshots of each page.
 */

const available = chromiumAvailable();
const screenshots = 'test-results/screenshots';
const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code';
const erin = { email: 'erin@example.com', password: 'erin picks long passphrases' };

let gatehouse: TestGatehouse;
let browser: Browser;
let secret: string;

beforeAll(async () => {
  if (!available) return;
  mkdirSync(screenshots, { recursive: true });
  gatehouse = await startGatehouse();
  const id = await gatehouse.addUser(erin.email, erin.password, { name: 'Erin' });
  const libraries = createLibraries({ store: gatehouse.store, config: gatehouse.config, clock: () => new Date(), outbox: gatehouse.outbox, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey });
  ({ secret } = await libraries.secondFactor.enrollment({ id, email: erin.email }));
  expect(await libraries.secondFactor.activate(id, totp(secret), { actor: 'user' })).toMatchObject({ ok: true });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
});

describe.skipIf(!available)('the device flow in a real browser', () => {
  it('types the code, checks the device, signs in with a password and TOTP, approves', async () => {
    const registered = await gatehouse.addClient({ name: 'Living room TV', public: true, redirectUris: [], postLogoutRedirectUris: [], grantTypes: [deviceGrant] });
    const rp = await relyingParty(gatehouse, registered);
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid email' });

    const context = await browser.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      // CSP violations and failed loads land here; the wrong code's 400 is expected.
      if (message.type() === 'error' && !message.text().includes('status of 400')) problems.push(message.text());
    });

    await page.goto(device.verification_uri);
    await page.getByRole('heading', { name: 'Connect a device' }).waitFor();
    // The stylesheet loaded under the content security policy.
    expect(await page.evaluate<string>('getComputedStyle(document.body).backgroundColor')).not.toBe('rgba(0, 0, 0, 0)');
    await page.screenshot({ path: `${screenshots}/device-code.png`, fullPage: true });

    // A typo first: the page says so and keeps what was typed.
    await page.getByLabel('Code on your device').fill('bbbb-bbbb');
    await page.getByRole('button', { name: 'Continue' }).click();
    // Next to the field, which has the focus and is described by it.
    await expect(page.locator('#user_code-error').textContent()).resolves.toContain('That code is not right.');
    await expect(page.getByLabel('Code on your device').getAttribute('aria-invalid')).resolves.toBe('true');
    expect(await page.evaluate<string>('document.activeElement.id')).toBe('user_code');
    expect(await page.evaluate<string>('document.getElementById("user_code").getAttribute("aria-describedby")')).toBe('user_code-error user_code-hint');
    await page.screenshot({ path: `${screenshots}/device-code-wrong.png`, fullPage: true });

    // Typed as a person might: lower case, without the dash.
    await page.getByLabel('Code on your device').fill(device.user_code.toLowerCase().replace('-', ''));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Approve this device?' }).waitFor();
    expect(await page.locator('#user-code').textContent()).toContain(device.user_code);
    const body = await page.textContent('body');
    expect(body).toContain('Living room TV');
    expect(body).toContain('See your email address');
    await page.screenshot({ path: `${screenshots}/device-confirm.png`, fullPage: true });

    await page.getByRole('button', { name: 'Continue and sign in' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Email').fill(erin.email);
    await page.getByLabel('Password').fill(erin.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    // The next step's code (the current one set the app up).
    await page.getByLabel('Code from your authenticator app').fill(totp(secret, 30));
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { name: 'Allow access?' }).waitFor();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    expect(await page.textContent('body')).toContain('Living room TV');
    await page.screenshot({ path: `${screenshots}/device-approved.png`, fullPage: true });
    expect(problems).toEqual([]);
    await context.close();

    const tokens = await client.genericGrantRequest(rp, deviceGrant, { device_code: device.device_code });
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.claims()?.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
  });

  it('the denial page', async () => {
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Unknown gadget', public: true, redirectUris: [], postLogoutRedirectUris: [], grantTypes: [deviceGrant] }));
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid' });
    const context = await browser.newContext();
    const page = await context.newPage();
    // verification_uri_complete: the code is already in the field.
    await page.goto(device.verification_uri_complete!);
    expect(await page.getByLabel('Code on your device').inputValue()).toBe(device.user_code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.getByRole('heading', { name: 'Device not connected' }).waitFor();
    await page.screenshot({ path: `${screenshots}/device-denied.png`, fullPage: true });
    await context.close();
    await expect(client.genericGrantRequest(rp, deviceGrant, { device_code: device.device_code })).rejects.toMatchObject({ error: 'access_denied' });
  });
});
