import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { systemClock } from '../../../src/clock.ts';
import { auditLibrary } from '../../../src/libraries/audit.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import type { MovableClock } from '../../helpers/clock.ts';
import { movableClock } from '../../helpers/clock.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';

/**
 * Passkeys on the account page in Chromium, with the DevTools protocol's virtual authenticator
 * (a platform authenticator with user verification and resident keys): add one, see it listed,
 * rename it, be asked to sign in again once the sign-in is old, remove it. The issuer is
 * http://localhost:<port>: WebAuthn needs a secure context and a domain as the RP ID (not an IP).
 * Every state is saved under test-results/screenshots/account-passkeys/.
 */

const available = chromiumAvailable();
const screenshots = 'test-results/screenshots/account-passkeys';
const person = { email: 'grace@example.com', password: 'a compiler is a program that reads', name: 'Grace Hopper' };

let gatehouse: TestGatehouse;
let clock: MovableClock;
let browser: Browser;

/** A free loopback port, so the issuer can name it before the server starts. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  if (!available) return;
  mkdirSync(screenshots, { recursive: true });
  const port = await freePort();
  clock = movableClock();
  gatehouse = await startGatehouse({ env: { PORT: String(port), ISSUER: `http://localhost:${port}` }, clock });
  await gatehouse.addUser(person.email, person.password, { name: person.name });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
});

type VirtualCredential = { credentialId: string; isResidentCredential: boolean; rpId: string; userHandle?: string; signCount: number };

async function virtualAuthenticator(context: BrowserContext, page: Page): Promise<{ cdp: CDPSession; authenticatorId: string; credentials(): Promise<VirtualCredential[]> }> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
      // A synced passkey, as a platform's password manager makes them (backup eligible and backed up).
      defaultBackupEligibility: true, defaultBackupState: true,
    },
  });
  return {
    cdp,
    authenticatorId,
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials as VirtualCredential[],
  };
}

/** Problems the page reports: script errors and CSP refusals (a script of ours would be one). */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 40[0-9]/.test(message.text())) problems.push(message.text());
  });
  return problems;
}

async function signInWithPassword(page: Page, who: { email: string; password: string } = person) {
  await page.getByRole('heading', { name: 'Sign in' }).first().waitFor();
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
}

const rows = (page: Page) => page.locator('li.passkey');
const alert = (page: Page) => page.getByRole('alert');
const notice = (page: Page) => page.locator('.notice');
const base64url = (base64: string) => Buffer.from(base64, 'base64').toString('base64url');

describe.skipIf(!available)('passkeys on the account page, in Chromium with a virtual authenticator', () => {
  it('adds a passkey, lists it, renames it, asks for a fresh sign-in, and removes it', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    const problems = watchProblems(page);
    const authenticator = await virtualAuthenticator(context, page);
    const shot = (name: string) => page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true });
    const account = await gatehouse.store.accounts.findByEmail(person.email);

    // 1. Sign in to the account page with the password: no passkeys yet.
    await page.goto(`${gatehouse.url}/account`);
    await signInWithPassword(page);
    await expect(page.locator('h2', { hasText: 'Passkeys' }).count()).resolves.toBe(1);
    await expect(rows(page).count()).resolves.toBe(0);
    await expect(page.getByRole('button', { name: 'Add a passkey' }).isEnabled()).resolves.toBe(true);
    await shot('01-account-no-passkeys');

    // 2. Add one: the step page, a name, the browser's ceremony, the answer posted back.
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByRole('heading', { name: 'Add a passkey' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/account/passkeys/new');
    await shot('02-add-passkey');
    await page.getByLabel('Name').fill('Work laptop');
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await expect(notice(page).textContent()).resolves.toBe('Passkey “Work laptop” added. You can sign in with it now.');
    await expect(rows(page).count()).resolves.toBe(1);
    const row = rows(page).first();
    await expect(row.locator('.passkey-name').textContent()).resolves.toBe('Work laptop');
    await expect(row.locator('.passkey-state').textContent()).resolves.toBe('Synced');
    await expect(row.textContent()).resolves.toMatch(/Added [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s[AP]M UTC, never used/);
    await shot('03-passkey-added');

    // The authenticator holds the credential the page lists: discoverable, for this RP and person.
    const listedId = await row.getAttribute('data-passkey-id');
    const credentials = await authenticator.credentials();
    expect(credentials).toHaveLength(1);
    expect(base64url(credentials[0]!.credentialId)).toBe(listedId);
    expect(credentials[0]).toMatchObject({ isResidentCredential: true, rpId: 'localhost' });
    expect(await gatehouse.store.passkeys.listForAccount(account!.id)).toEqual([expect.objectContaining({ id: listedId, backedUp: true, deviceType: 'multiDevice' })]);

    // 3. The same authenticator cannot hold a second passkey for this account: the page says so.
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByRole('heading', { name: 'Add a passkey' }).waitFor();
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await expect(alert(page).first().textContent()).resolves.toBe('This authenticator already holds a passkey for your account.');
    await expect(page.getByRole('button', { name: 'Create passkey' }).isEnabled()).resolves.toBe(true);
    await shot('04-add-passkey-already-registered');
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();

    // 4. Rename it (no fresh sign-in needed).
    await row.getByText('Rename').click();
    await row.getByLabel('New name').fill('Old laptop');
    await shot('05-rename-open');
    await row.getByRole('button', { name: 'Save name' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await expect(notice(page).textContent()).resolves.toBe('Passkey renamed to “Old laptop”.');
    await expect(rows(page).first().locator('.passkey-name').textContent()).resolves.toBe('Old laptop');
    await shot('06-passkey-renamed');

    // 5. Six minutes later the sign-in is too old to add or remove a passkey.
    clock.advance(6 * 60_000);
    await page.goto(`${gatehouse.url}/account`);
    await expect(page.getByText('To add or remove a passkey, sign in again first.').count()).resolves.toBe(1);
    await expect(page.getByRole('button', { name: 'Add a passkey' }).count()).resolves.toBe(0);
    await expect(rows(page).first().getByRole('button', { name: /^Remove/ }).count()).resolves.toBe(0);
    await shot('07-stale-sign-in');
    const refused = await page.goto(`${gatehouse.url}/account/passkeys/new`);
    expect(refused?.status()).toBe(403);
    await expect(alert(page).first().textContent()).resolves.toBe('For your security, confirm it is you (sign in again) before adding or removing a passkey.');
    await shot('08-stale-add-refused');

    // 6. "Confirm it's you": the login page again (prompt=login), then back, fresh. oidc-provider
    // stamps the new sign-in with the system clock: this clock goes back to it first. The login
    // page offers passkey autofill, which the virtual authenticator would answer by itself: it
    // waits for a touch that never comes, and the person signs in with the password.
    clock.rewind();
    await authenticator.cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId: authenticator.authenticatorId, enabled: false });
    await page.locator('form[action="/account/reauthenticate"]').last().getByRole('button', { name: 'Confirm it’s you' }).click();
    await signInWithPassword(page);
    await expect(page.getByText('To add or remove a passkey, sign in again first.').count()).resolves.toBe(0);

    // 7. Remove it.
    await rows(page).first().getByRole('button', { name: 'Remove Old laptop' }).click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor();
    await expect(notice(page).textContent()).resolves.toBe('Passkey “Old laptop” removed.');
    await expect(rows(page).count()).resolves.toBe(0);
    await shot('09-passkey-removed');
    expect(await gatehouse.store.passkeys.listForAccount(account!.id)).toEqual([]);

    // Each change is in the audit trail, as the person's doing.
    const events = (await auditLibrary({ store: gatehouse.store, clock: systemClock }).tail({ limit: 100, accountId: account!.id }))
      .filter((event) => event.type.startsWith('passkey_'));
    expect(events.map((event) => [event.type, event.actor, event.details?.passkey_id])).toEqual([
      ['passkey_added', 'user', listedId],
      ['passkey_renamed', 'user', listedId],
      ['passkey_removed', 'user', listedId],
    ]);
    expect(events[0]!.details).toMatchObject({ name: 'Work laptop', backed_up: true, device_type: 'multiDevice' });
    expect(events[1]!.details).toMatchObject({ name: 'Old laptop' });

    expect(problems).toEqual([]);
    await context.close();
  });

  it('an account without a password: offered to set one by mail, and kept from removing its last passkey', async () => {
    const other = { ...person, email: 'ada@example.com' };
    const accountId = await gatehouse.addUser(other.email, other.password, { name: 'Ada Lovelace' });
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    const problems = watchProblems(page);
    await virtualAuthenticator(context, page);
    const shot = (name: string) => page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true });

    await page.goto(`${gatehouse.url}/account`);
    await signInWithPassword(page, other);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByLabel('Name').fill('Phone');
    await page.getByRole('button', { name: 'Create passkey' }).click();
    await expect(notice(page).textContent()).resolves.toContain('Passkey “Phone” added.');
    // As a registration with a passkey leaves an account: no password.
    await gatehouse.store.accounts.update(accountId, { passwordHash: null });

    await page.goto(`${gatehouse.url}/account`);
    await expect(page.getByLabel('Current password').count()).resolves.toBe(0);
    await expect(page.getByText('Your account has no password').count()).resolves.toBe(1);
    await shot('11-no-password');

    await rows(page).first().getByRole('button', { name: 'Remove Phone' }).click();
    await expect(alert(page).first().textContent()).resolves.toBe('This passkey is your only way to sign in. Set a password or add another passkey before removing it.');
    await expect(rows(page).count()).resolves.toBe(1);
    await shot('12-last-passkey-kept');

    await page.getByRole('button', { name: 'Email me a link to set a password' }).click();
    await expect(notice(page).textContent()).resolves.toContain(`We sent a link to ${other.email}.`);
    await shot('13-set-password-link-sent');
    expect((await gatehouse.store.audit.tail({ limit: 50, accountId })).map((event) => event.type)).toContain('password_reset_requested');

    expect(problems).toEqual([]);
    await context.close();
  });

  it('without WebAuthn in the browser, hides "Add a passkey" and says why', async () => {
    const context = await browser.newContext();
    // A browser without WebAuthn (runs in the page before its scripts).
    await context.addInitScript({ content: 'delete window.PublicKeyCredential;' });
    const page = await context.newPage();
    page.setDefaultTimeout(8000);
    const problems = watchProblems(page);
    await page.goto(`${gatehouse.url}/account`);
    await signInWithPassword(page);
    const add = page.locator('button', { hasText: 'Add a passkey' });
    await expect(add.isHidden()).resolves.toBe(true);
    await expect(add.isDisabled()).resolves.toBe(true);
    await expect(page.getByText('This browser cannot create passkeys.').isVisible()).resolves.toBe(true);
    await page.screenshot({ path: `${screenshots}/10-no-webauthn.png`, fullPage: true });
    expect(problems).toEqual([]);
    await context.close();
  });
});
