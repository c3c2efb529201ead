import { mkdirSync } from 'node:fs';

import type * as client from 'openid-client';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import type { MailSink } from '../../helpers/mail-sink.ts';
import { codeIn, startMailSink } from '../../helpers/mail-sink.ts';
import type { AuthorizationRequest } from '../../helpers/relying-party.ts';
import { authorizationRequest, relyingParty } from '../../helpers/relying-party.ts';
import { SoftwareAuthenticator } from '../../helpers/software-authenticator.ts';
import { totp } from '../../helpers/totp.ts';
import { enrollTotp, passkeysOf, registerPasskey, startLocalhostGatehouse, verifiedIdToken } from './passkey-fixtures.ts';

/**
 * Passkeys in the sign-in pages, in real Chromium with its virtual authenticator (the DevTools
 * protocol's WebAuthn domain): the page's script, @simplewebauthn/browser served from our origin,
 * the browser's own WebAuthn, and the server's verification, end to end. The issuer is
 * http://localhost:<port> (a secure context with a domain for the relying party ID).
 */

const available = chromiumAvailable();
const screenshots = 'test-results/screenshots/passkeys';
const password = 'correct horse battery staple';
const acr = { mfa: 'urn:gatehouse:loa:mfa', phr: 'urn:gatehouse:loa:phr' };

let gatehouse: TestGatehouse;
let sink: MailSink;
let browser: Browser;
let rp: client.Configuration;
let phishingResistantRp: client.Configuration;
let counter = 0;

beforeAll(async () => {
  if (!available) return;
  mkdirSync(screenshots, { recursive: true });
  sink = await startMailSink();
  gatehouse = await startLocalhostGatehouse({ env: { SMTP_URL: sink.url } });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Passkey app', firstParty: true }));
  phishingResistantRp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Bank app', firstParty: true, requirePhishingResistant: true }));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
  await sink?.close();
});

type Person = { id: string; email: string };

async function newPerson(): Promise<Person> {
  counter += 1;
  const email = `browser${counter}@example.com`;
  return { id: await gatehouse.addUser(email, password), email };
}

type Authenticator = { cdp: CDPSession; id: string };

/** A platform authenticator with user verification (Touch ID, Windows Hello), answering by itself. */
async function virtualAuthenticator(page: Page, options: { isUserVerified?: boolean } = {}): Promise<Authenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: options.isUserVerified ?? true, automaticPresenceSimulation: true,
    },
  });
  return { cdp, id: authenticatorId };
}

/**
 * Gives the virtual authenticator a passkey registered to the account: made by the software
 * authenticator (test setup, through the passkeys library), its private key handed to Chromium.
 * Bound to its device, like the virtual authenticator's own.
 */
async function seedPasskey(authenticator: Authenticator, person: Person): Promise<void> {
  const software = new SoftwareAuthenticator({ origin: gatehouse.url, backupEligible: false, backedUp: false });
  await registerPasskey(gatehouse, person, software);
  const credential = software.credentials[0]!;
  await authenticator.cdp.send('WebAuthn.addCredential', {
    authenticatorId: authenticator.id,
    credential: {
      credentialId: credential.id.toString('base64'),
      isResidentCredential: true,
      rpId: 'localhost',
      privateKey: (credential.privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64'),
      userHandle: Buffer.from(credential.userHandle, 'base64url').toString('base64'),
      signCount: credential.counter,
    },
  });
}

/**
 * A new browser context and page; the client's redirect URI answered here; problems collected.
 *
 * Chromium's virtual authenticator answers a conditional (autofill) request at once, as if the
 * person had picked the passkey from the list the moment the page loaded. So that a test can use
 * the button, the password or the second step, its browser says it has no passkey autofill (a
 * browser that has none behaves so), unless `autofill` is asked for.
 */
async function openPage(options: { autofill?: boolean } = {}): Promise<{ context: BrowserContext; page: Page; problems: string[]; landed: () => URL | undefined }> {
  const context = await browser.newContext();
  if (!options.autofill) {
    await context.addInitScript('if (window.PublicKeyCredential) window.PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);');
  }
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    // Refused answers are pages with 400/403/429; the client's address is served by the route below.
    if (message.type() === 'error' && !/status of (400|403|429)|ERR_CONNECTION_REFUSED/.test(message.text())) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  let landedAt: URL | undefined;
  await page.route('http://127.0.0.1:8080/**', async (route) => {
    landedAt = new URL(route.request().url());
    await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>client</title><p>back at the client</p>' });
  });
  return { context, page, problems, landed: () => landedAt };
}

/**
 * The client's callback the browser reached. Waiting for the route to answer rather than for the
 * page's URL: Chromium's first try at the client's (unserved) address can fail before the route
 * answers its retry, and waitForURL gives up on that first failure.
 */
async function callbackOf(_page: Page, landed: () => URL | undefined): Promise<URL> {
  await expect.poll(landed, { timeout: 15_000, interval: 50 }).toBeDefined();
  return landed()!;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true });
}

async function idToken(config: client.Configuration, request: AuthorizationRequest, page: Page, landed: () => URL | undefined) {
  return verifiedIdToken(gatehouse, config, request, await callbackOf(page, landed));
}

describe.skipIf(!available)('passkeys in a real browser', () => {
  it('a passkey added on the account page signs in alone through a relying party after signing out; removed, it no longer does', async () => {
    const person = await newPerson();
    const { context, page, problems, landed } = await openPage();
    page.setDefaultTimeout(10_000);
    const authenticator = await virtualAuthenticator(page);

    // Signed in with the password, the person adds a passkey on /account.
    await page.goto(`${gatehouse.url}/account`);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByLabel('Name').fill('Journey laptop');
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    const passkeyId = await page.locator('li.passkey').first().getAttribute('data-passkey-id');
    expect((await authenticator.cdp.send('WebAuthn.getCredentials', { authenticatorId: authenticator.id })).credentials).toHaveLength(1);
    await shot(page, 'journey-1-passkey-added');

    // Signs out (the account page's button, then the provider's confirmation).
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'Sign out?' }).waitFor();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'Signed out' }).waitFor();

    // An application's authorization request: the passkey alone signs in; the ID token says so.
    const request = await authorizationRequest(rp);
    await page.goto(request.url.href);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const claims = await idToken(rp, request, page, landed);
    expect(claims.sub).toBe(person.id);
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    expect(claims.acr).toBe(acr.mfa);
    expect((await passkeysOf(gatehouse).list(person.id))[0]).toMatchObject({ id: passkeyId, name: 'Journey laptop', lastUsedAt: expect.any(Date) });

    // Removed on the account page (a fresh sign-in: the passkey itself), it signs nobody in.
    await page.goto(`${gatehouse.url}/account`);
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await page.getByRole('button', { name: /^Remove/ }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await expect(page.locator('li.passkey').count()).resolves.toBe(0);
    await context.clearCookies();
    const after = await authorizationRequest(rp);
    await page.goto(after.url.href);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('alert').waitFor();
    await shot(page, 'journey-2-removed-passkey-refused');
    expect(await page.getByRole('alert').textContent()).toMatch(/passkey/i);
    await expect(page.getByLabel('Password', { exact: true }).isVisible()).resolves.toBe(true);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('signs in with a passkey alone through a relying party, with the button', async () => {
    const person = await newPerson();
    const { context, page, problems, landed } = await openPage();
    const authenticator = await virtualAuthenticator(page);
    await seedPasskey(authenticator, person);
    const request = await authorizationRequest(rp);
    await page.goto(request.url.href);
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    await button.waitFor();
    expect(await page.getByLabel('Email').getAttribute('autocomplete')).toBe('username webauthn');
    await shot(page, 'login-with-passkey');
    await button.click();
    const claims = await idToken(rp, request, page, landed);
    expect(claims.sub).toBe(person.id);
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    expect(claims.acr).toBe(acr.mfa);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('signs in through passkey autofill in the email field (conditional mediation)', async () => {
    const person = await newPerson();
    const { context, page, problems, landed } = await openPage({ autofill: true });
    const authenticator = await virtualAuthenticator(page);
    await seedPasskey(authenticator, person);
    const request = await authorizationRequest(rp);
    const posted: string[] = [];
    page.on('request', (sent) => {
      if (sent.method() === 'POST') posted.push(new URL(sent.url()).pathname.split('/').slice(3).join('/'));
    });
    // Nothing is clicked: the page starts the conditional request on load, and Chromium's
    // virtual authenticator answers it as a person picking the passkey from the autofill list would.
    await page.goto(request.url.href);
    const claims = await idToken(rp, request, page, landed);
    expect(claims.sub).toBe(person.id);
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    // One answer, posted by the autofill request: the button was never used.
    expect(posted).toEqual(['passkey']);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('refuses a passkey this installation does not know, with a clear message, and the password still works', async () => {
    const person = await newPerson();
    const { context, page, problems, landed } = await openPage();
    const authenticator = await virtualAuthenticator(page);
    // A second authenticator's own passkey for this site, never registered here.
    const { credentialId } = await makeUnregisteredCredential(authenticator);
    expect(credentialId).toBeTruthy();
    const request = await authorizationRequest(rp);
    await page.goto(request.url.href);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await expect(page.getByRole('alert').first().textContent()).resolves.toContain('This passkey is not registered here. Use another passkey, or sign in another way.');
    await shot(page, 'login-unknown-passkey');
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const claims = await idToken(rp, request, page, landed);
    expect(claims.amr).toEqual(['pwd']);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('says so when the browser cancels the ceremony, and keeps the other ways in', async () => {
    const person = await newPerson();
    const { context, page, problems } = await openPage();
    // The person does not confirm (no fingerprint): the browser refuses the ceremony.
    const authenticator = await virtualAuthenticator(page, { isUserVerified: false });
    await seedPasskey(authenticator, person);
    await page.goto((await authorizationRequest(rp)).url.href);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const message = page.locator('[data-passkey-message]');
    await message.waitFor();
    expect(await message.textContent()).toBe('The passkey request was cancelled or timed out. Try again, or sign in another way.');
    expect(await page.getByLabel('Password').isVisible()).toBe(true);
    await shot(page, 'login-passkey-cancelled');
    expect(problems).toEqual([]);
    await context.close();
  });

  it('lets a person with the app and a passkey choose the passkey as the second step', async () => {
    const person = await newPerson();
    await enrollTotp(gatehouse, person);
    const { context, page, problems, landed } = await openPage();
    const authenticator = await virtualAuthenticator(page);
    await seedPasskey(authenticator, person);
    const request = await authorizationRequest(rp);
    await page.goto(request.url.href);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    await page.getByRole('button', { name: 'Use a passkey' }).waitFor();
    expect(await page.getByLabel('Code from your authenticator app').isVisible()).toBe(true);
    await shot(page, 'second-factor-choice');
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    const claims = await idToken(rp, request, page, landed);
    expect(claims.amr).toEqual(['pwd', 'hwk', 'user', 'mfa']);
    expect(claims.acr).toBe(acr.mfa);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('keeps the app code as the other choice of the second step', async () => {
    const person = await newPerson();
    const secret = await enrollTotp(gatehouse, person);
    const { context, page, problems, landed } = await openPage();
    await seedPasskey(await virtualAuthenticator(page), person);
    const request = await authorizationRequest(rp);
    await page.goto(request.url.href);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByLabel('Code from your authenticator app').fill(totp(secret, 30));
    await page.getByRole('button', { name: 'Verify' }).click();
    expect((await idToken(rp, request, page, landed)).amr).toEqual(['pwd', 'otp']);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('registers with a passkey instead of a password: the address first, then the passkey, signed in', async () => {
    const email = 'registers.in.browser@example.com';
    const { context, page, problems, landed } = await openPage();
    const authenticator = await virtualAuthenticator(page);
    const request = await authorizationRequest(rp);
    await page.goto(request.url.href);
    await page.getByRole('link', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Create account' }).waitFor();
    const choice = page.getByRole('button', { name: 'Use a passkey instead of a password' });
    await choice.waitFor();
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Name').fill('Robin Browser');
    await shot(page, 'register-with-passkey');
    await choice.click();
    await page.getByRole('heading', { name: 'Check your email' }).waitFor();
    expect(await page.getByRole('button', { name: 'Skip for now' }).count()).toBe(0);
    const mail = await sink.waitFor((each) => each.to === email);
    await page.getByLabel('Code').fill(codeIn(mail));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('heading', { name: 'Create your passkey' }).waitFor();
    await page.getByRole('button', { name: 'Create passkey' }).waitFor();
    await shot(page, 'register-create-passkey');
    // The person does not confirm on the device the first time: the page says so and stays.
    await authenticator.cdp.send('WebAuthn.setUserVerified', { authenticatorId: authenticator.id, isUserVerified: false });
    await page.getByRole('button', { name: 'Create passkey' }).click();
    const message = page.locator('[data-passkey-message]');
    await message.waitFor();
    expect(await message.textContent()).toBe('Creating the passkey was cancelled or timed out. Try again when you are ready.');
    await shot(page, 'register-create-passkey-cancelled');
    await authenticator.cdp.send('WebAuthn.setUserVerified', { authenticatorId: authenticator.id, isUserVerified: true });
    await page.getByRole('button', { name: 'Create passkey' }).click();
    const claims = await idToken(rp, request, page, landed);
    // Chromium's virtual authenticator keeps its passkeys on the device (not synced): hwk.
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    const passkeys = await passkeysOf(gatehouse).list(claims.sub);
    expect(passkeys).toHaveLength(1);
    expect((await gatehouse.store.accounts.findById(claims.sub))?.email).toBe(email);
    expect(problems).toEqual([]);

    // The same browser signs in with it again (a new sign-in, the button).
    await context.clearCookies();
    const again = await authorizationRequest(rp);
    await page.goto(again.url.href);
    const first = landed();
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await expect.poll(() => landed() !== first, { timeout: 15_000, interval: 50 }).toBe(true);
    expect((await idToken(rp, again, page, landed)).sub).toBe(claims.sub);
    await context.close();
  });

  it('offers an application that needs a phishing-resistant sign-in only the passkey, and says why', async () => {
    const person = await newPerson();
    const { context, page, problems, landed } = await openPage();
    await seedPasskey(await virtualAuthenticator(page), person);
    const request = await authorizationRequest(phishingResistantRp);
    await page.goto(request.url.href);
    await page.getByRole('button', { name: 'Sign in with a passkey' }).waitFor();
    expect(await page.getByLabel('Password').count()).toBe(0);
    expect(await page.getByRole('status').first().textContent()).toContain('Bank app requires signing in with a passkey');
    await shot(page, 'login-phishing-resistant');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    const claims = await idToken(phishingResistantRp, request, page, landed);
    expect(claims.acr).toBe(acr.phr);
    expect(problems).toEqual([]);

    // Its registration page offers the passkey only.
    await context.clearCookies();
    await page.goto((await authorizationRequest(phishingResistantRp)).url.href);
    await page.getByRole('link', { name: 'Create account' }).click();
    await page.getByRole('button', { name: 'Use a passkey instead of a password' }).waitFor();
    expect(await page.getByLabel('Password').count()).toBe(0);
    await shot(page, 'register-phishing-resistant');
    await context.close();
  });

  it('asks a person with a passkey and no app for the passkey when the application requires a second factor', async () => {
    const strictRp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Strict app', firstParty: true, requireMfa: true }));
    const person = await newPerson();
    const { context, page, problems, landed } = await openPage();
    await seedPasskey(await virtualAuthenticator(page), person);
    const request = await authorizationRequest(strictRp);
    await page.goto(request.url.href);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Use a passkey' }).waitFor();
    expect(await page.getByLabel('Code from your authenticator app').count()).toBe(0);
    await shot(page, 'second-factor-passkey-only');
    await page.getByRole('button', { name: 'Use a passkey' }).click();
    const claims = await idToken(strictRp, request, page, landed);
    expect(claims.amr).toEqual(['pwd', 'hwk', 'user', 'mfa']);
    expect(claims.acr).toBe(acr.mfa);
    expect(problems).toEqual([]);
    await context.close();
  });

  it('works as before without WebAuthn: no passkey on the page, the password signs in', async () => {
    const person = await newPerson();
    const context = await browser.newContext();
    // A browser without WebAuthn (or with it turned off).
    await context.addInitScript('delete window.PublicKeyCredential');
    const page = await context.newPage();
    let landedAt: URL | undefined;
    await page.route('http://127.0.0.1:8080/**', async (route) => {
      landedAt = new URL(route.request().url());
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<p>client</p>' });
    });
    const request = await authorizationRequest(rp);
    await page.goto(request.url.href);
    await page.getByLabel('Password').waitFor();
    expect(await page.getByRole('button', { name: 'Sign in with a passkey' }).isVisible()).toBe(false);
    await page.getByLabel('Email').fill(person.email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    expect((await idToken(rp, request, page, () => landedAt)).amr).toEqual(['pwd']);
    await context.close();
  });
});

/** A passkey for this site in the virtual authenticator that Gatehouse never registered. */
async function makeUnregisteredCredential(authenticator: Authenticator): Promise<{ credentialId: string }> {
  const software = new SoftwareAuthenticator({ origin: gatehouse.url, backupEligible: false, backedUp: false });
  software.register({ challenge: 'AAAAAAAAAAAAAAAAAAAAAA', rp: { id: 'localhost', name: 'Gatehouse' }, user: { id: Buffer.from('a stranger').toString('base64url'), name: 'stranger', displayName: 'stranger' } });
  const credential = software.credentials[0]!;
  const credentialId = credential.id.toString('base64');
  await authenticator.cdp.send('WebAuthn.addCredential', {
    authenticatorId: authenticator.id,
    credential: {
      credentialId,
      isResidentCredential: true,
      rpId: 'localhost',
      privateKey: (credential.privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer).toString('base64'),
      userHandle: Buffer.from(credential.userHandle, 'base64url').toString('base64'),
      signCount: 0,
    },
  });
  return { credentialId };
}
