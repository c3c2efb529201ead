import { mkdirSync, readFileSync } from 'node:fs';

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';

/**
 * Export my data and Delete my account in Chromium, on a desktop and at 390 px wide: the links on
 * the overview, the download, the typed confirmation (wrong, then right), the page after, and the
 * next sign-in offering to keep the account. Every state is saved under
 * test-results/screenshots/account-delete/.
 */

const available = chromiumAvailable();
const screenshots = 'test-results/screenshots/account-delete';
const password = 'a compiler is a program that reads';

let gatehouse: TestGatehouse;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  mkdirSync(screenshots, { recursive: true });
  gatehouse = await startGatehouse();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
});

async function signIn(page: Page, who: { email: string; password: string }) {
  await page.getByRole('heading', { name: 'Sign in' }).first().waitFor();
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password', { exact: true }).fill(who.password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
}

/** Whether the page is wider than its window (something does not fit at this width). */
const overflows = (page: Page) => page.evaluate<boolean>('document.documentElement.scrollWidth > document.documentElement.clientWidth');

describe.skipIf(!available)('Export my data and Delete my account in Chromium', () => {
  for (const viewport of [{ name: 'desktop', width: 1280, height: 900 }, { name: 'narrow', width: 390, height: 844 }]) {
    it(`downloads the data, deletes the account, and offers to keep it at the next sign-in (${viewport.name}, ${viewport.width} px)`, async () => {
      const who = { email: `lin-${viewport.name}@example.com`, password };
      const id = await gatehouse.addUser(who.email, password, { name: 'Lin Example' });
      const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height }, acceptDownloads: true });
      const page = await context.newPage();
      const shot = async (name: string) => {
        await page.screenshot({ path: `${screenshots}/${viewport.name}-${name}.png`, fullPage: true });
        expect(await overflows(page), `${name} fits ${viewport.width} px`).toBe(false);
      };
      try {
        await page.goto(`${gatehouse.url}/account`);
        await signIn(page, who);
        await page.getByRole('heading', { name: 'Your account' }).waitFor();
        await shot('1-overview');

        await page.getByRole('link', { name: 'Export my data' }).click();
        await page.getByRole('heading', { name: 'Export your data' }).waitFor();
        await shot('2-export');
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download my data' }).click()]);
        expect(download.suggestedFilename()).toMatch(/^gatehouse-data-\d{4}-\d{2}-\d{2}\.json$/);
        const exported = JSON.parse(readFileSync((await download.path())!, 'utf8')) as { account: { id: string; email: string } };
        expect(exported.account).toMatchObject({ id, email: who.email });

        await page.getByRole('link', { name: 'Your account' }).click();
        await page.getByRole('link', { name: 'Delete my account' }).click();
        await page.getByRole('heading', { name: 'Delete your account' }).waitFor();
        await shot('3-delete');
        await page.getByLabel('Type your email address or DELETE to confirm').fill('not me');
        await page.getByRole('button', { name: 'Delete my account' }).click();
        // Said at the field, which has the focus back, and the tab's title says what failed.
        await page.locator('#confirm-error').waitFor();
        expect(await page.locator('#confirm-error').textContent()).toContain('To confirm, type your email address');
        await expect(page.getByLabel('Type your email address or DELETE to confirm').getAttribute('aria-describedby')).resolves.toBe('confirm-error');
        await expect(page.evaluate<string | undefined>('document.activeElement?.id')).resolves.toBe('confirm');
        await expect(page.title()).resolves.toMatch(/^Error: To confirm, type your email address/);
        await shot('4-delete-refused');
        await page.getByLabel('Type your email address or DELETE to confirm').fill('DELETE');
        await page.getByRole('button', { name: 'Delete my account' }).click();
        await page.getByRole('heading', { name: 'Your account will be deleted' }).waitFor();
        await shot('5-scheduled');
        expect((await gatehouse.store.accounts.findById(id))?.deleteAfter).toBeInstanceOf(Date);

        // Signed out: the account page asks to sign in, then offers to keep the account.
        await page.goto(`${gatehouse.url}/account`);
        await signIn(page, who);
        await page.getByRole('heading', { name: 'Your account is scheduled for deletion' }).waitFor();
        await shot('6-pending-deletion');
        await page.getByRole('button', { name: 'Keep my account' }).click();
        await page.getByRole('heading', { name: 'Your account' }).waitFor();
        await shot('7-kept');
        expect((await gatehouse.store.accounts.findById(id))?.deleteAfter).toBeUndefined();
      } finally {
        await context.close();
      }
    });
  }
});
