import { mkdirSync } from 'node:fs';

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MailSink } from '../../helpers/mail-sink.ts';
import { codeIn, linkIn, startMailSink } from '../../helpers/mail-sink.ts';

/**
 * The account centre's profile and email pages in Chromium, at desktop width and at 390 px: the
 * overview's links, the profile form with problems shown at their fields and then saved, an email
 * change confirmed with the mailed code, and the undo link's page opened from the old address.
 * Screenshots of every state under test-results/screenshots/account-centre-profile/.
 */

const available = chromiumAvailable();
const screenshots = 'test-results/screenshots/account-centre-profile';
const password = 'the difference engine hums';

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

function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 40[0-9]/.test(message.text())) problems.push(message.text());
  });
  return problems;
}

async function signInToAccount(page: Page, email: string) {
  await page.goto(`${gatehouse.url}/account`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Your account' }).waitFor();
}

const widths = [
  { name: 'desktop', viewport: { width: 1280, height: 900 }, mobile: false },
  { name: '390px', viewport: { width: 390, height: 844 }, mobile: true },
] as const;

describe.skipIf(!available)('profile and email address on the account centre, in Chromium', () => {
  for (const width of widths) {
    it(`edits the profile and changes the address (${width.name})`, async () => {
      const email = `babbage.${width.name}@example.com`;
      await gatehouse.addUser(email, password, { name: 'Charles Babbage' });
      const context = await browser.newContext({ viewport: width.viewport, isMobile: width.mobile, hasTouch: width.mobile });
      const page = await context.newPage();
      page.setDefaultTimeout(8000);
      const problems = watchProblems(page);
      const shot = (name: string) => page.screenshot({ path: `${screenshots}/${name}-${width.name}.png`, fullPage: true });
      const fitsTheScreen = async () => expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(width.viewport.width);

      await signInToAccount(page, email);
      await page.getByRole('link', { name: 'Profile' }).click();
      await page.getByRole('heading', { name: 'Your profile' }).waitFor();
      await expect(page.getByLabel('Full name').inputValue()).resolves.toBe('Charles Babbage');
      await fitsTheScreen();
      await shot('01-profile');

      // Problems at their fields, what was typed kept.
      await page.getByLabel('Nickname').fill('Charlie');
      await page.getByLabel('Birthdate').fill('1791-02-30');
      await page.getByLabel('Website').fill('ftp://babbage.example');
      await page.getByRole('button', { name: 'Save profile' }).click();
      await page.locator('#website-error').waitFor();
      // The first problem in the form's order has the focus; the tab's title says what failed.
      await expect(page.evaluate<string | undefined>('document.activeElement?.id')).resolves.toBe('website');
      await expect(page.title()).resolves.toMatch(/^Error: /);
      await expect(page.getByLabel('Birthdate').getAttribute('aria-invalid')).resolves.toBe('true');
      await expect(page.getByLabel('Website').getAttribute('aria-invalid')).resolves.toBe('true');
      await expect(page.getByLabel('Nickname').inputValue()).resolves.toBe('Charlie');
      await expect(page.locator('#birthdate-error').textContent()).resolves.not.toBe('');
      await fitsTheScreen();
      await shot('02-profile-problems');

      await page.getByLabel('Birthdate').fill('1791-12-26');
      await page.getByLabel('Website').fill('https://babbage.example');
      await page.getByLabel('City or town').fill('London');
      await page.getByRole('button', { name: 'Save profile' }).click();
      await page.getByRole('status').filter({ hasText: 'Your profile was saved.' }).waitFor();
      const stored = (await gatehouse.store.accounts.findByEmail(email))!;
      expect(stored.profile).toMatchObject({ nickname: 'Charlie', birthdate: '1791-12-26', website: 'https://babbage.example', address: { locality: 'London' } });
      await shot('03-profile-saved');

      // The email address: asked, confirmed with the mailed code.
      await page.goto(`${gatehouse.url}/account/email`);
      await page.getByRole('heading', { name: 'Your email address', exact: true }).waitFor();
      await fitsTheScreen();
      await shot('04-email');
      const newEmail = `ada.${width.name}@example.com`;
      await page.getByLabel('New email address').fill(newEmail);
      await page.getByLabel('Current password').fill(password);
      await page.getByRole('button', { name: 'Send a code to the new address' }).click();
      await page.getByRole('heading', { name: 'Confirm your new address' }).waitFor();
      await fitsTheScreen();
      await shot('05-email-code');
      const code = codeIn(await sink.waitFor((mail) => mail.to === newEmail));
      await page.getByLabel('Code').fill(code);
      await page.getByRole('button', { name: 'Confirm new address' }).click();
      await page.getByRole('status').filter({ hasText: `Your email address is now ${newEmail}` }).waitFor();
      await shot('06-email-changed');
      expect((await gatehouse.store.accounts.findById(stored.id))?.email).toBe(newEmail);

      // The old address's undo link: a page that asks first.
      const undo = linkIn(await sink.waitFor((mail) => mail.to === email && /was changed/.test(mail.subject)), gatehouse.url);
      const elsewhere = await browser.newContext({ viewport: width.viewport, isMobile: width.mobile, hasTouch: width.mobile });
      const mailApp = await elsewhere.newPage();
      await mailApp.goto(undo.href);
      await mailApp.getByRole('heading', { name: 'Undo the change of your email address' }).waitFor();
      expect(await mailApp.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(width.viewport.width);
      await mailApp.screenshot({ path: `${screenshots}/07-undo-page-${width.name}.png`, fullPage: true });
      await mailApp.getByRole('button', { name: 'Undo the change and choose a new password' }).click();
      await mailApp.getByLabel('New password').waitFor();
      await mailApp.screenshot({ path: `${screenshots}/08-undo-new-password-${width.name}.png`, fullPage: true });
      expect((await gatehouse.store.accounts.findById(stored.id))?.email).toBe(email);

      expect(problems).toEqual([]);
      await elsewhere.close();
      await context.close();
    });
  }
});
