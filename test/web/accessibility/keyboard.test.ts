import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type * as client from 'openid-client';

import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../../helpers/relying-party.ts';

/**
 * What axe cannot see, with the keyboard only (WCAG 2.1.1, 2.4.3, 2.4.7, 2.4.11, 3.3.1): a person
 * signs in through the login and consent pages with Tab, Shift+Tab, Enter and Space; every stop
 * of the Tab order is a visible element with a visible focus indicator; a refused registration
 * puts focus on its first invalid field, which names its problem.
 */

const available = chromiumAvailable();
const person = { email: 'kim@example.com', password: 'kim types every passphrase' };

let gatehouse: TestGatehouse;
let browser: Browser;
let app: client.Configuration;

beforeAll(async () => {
  if (!available) return;
  [gatehouse, browser] = await Promise.all([startGatehouse(), launchChromium()]);
  await gatehouse.addUser(person.email, person.password, { name: 'Kim Park' });
  app = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Northwind Notes', policyUri: 'https://notes.example/privacy' }));
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
});

/** The focused element as the test reads it; runs in the page (the test's types have no DOM). */
type Focused = { tag: string; id: string; name: string; text: string; visible: boolean; indicator: string; focusVisible: boolean };

const describeFocus = `(() => {
  const element = document.activeElement;
  if (!element || element === document.body) return null;
  const style = getComputedStyle(element);
  const box = element.getBoundingClientRect();
  const visible = box.width > 0 && box.height > 0 && style.visibility !== 'hidden' && !element.closest('[hidden]') && Number(style.opacity) > 0;
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0 ? 'outline ' + style.outlineStyle + ' ' + style.outlineWidth : '';
  const shadow = style.boxShadow && style.boxShadow !== 'none' ? 'box-shadow' : '';
  return {
    tag: element.tagName.toLowerCase(), id: element.id, name: element.getAttribute('name') || '',
    text: (element.textContent || element.getAttribute('value') || '').trim().slice(0, 40),
    visible, indicator: outline || shadow, focusVisible: element.matches(':focus-visible'),
  };
})()`;

const focused = (page: Page) => page.evaluate<Focused | null>(describeFocus);

/** Tabs from where focus is until it leaves the page: every stop, checked to be visible with an indicator. */
async function tabOrder(page: Page): Promise<Focused[]> {
  const stops: Focused[] = [];
  for (let presses = 0; presses < 60; presses += 1) {
    await page.keyboard.press('Tab');
    const stop = await focused(page);
    if (!stop) return stops;
    stops.push(stop);
  }
  throw new Error(`Tab never left the page: ${JSON.stringify(stops.slice(-5))}`);
}

function expectVisibleFocus(stops: Focused[], where: string) {
  expect(stops.length, `${where}: something to focus`).toBeGreaterThan(0);
  for (const stop of stops) {
    const label = `${where}: <${stop.tag} id="${stop.id}" name="${stop.name}"> "${stop.text}"`;
    expect(stop.visible, `${label} is visible`).toBe(true);
    expect(stop.focusVisible, `${label} matches :focus-visible`).toBe(true);
    expect(stop.indicator, `${label} shows where focus is`).not.toBe('');
  }
}

/** Presses Tab (or Shift+Tab) until `matches` the focused element; fails after a page's worth. */
async function tabTo(page: Page, matches: (stop: Focused) => boolean, key: 'Tab' | 'Shift+Tab' = 'Tab'): Promise<void> {
  for (let presses = 0; presses < 60; presses += 1) {
    const stop = await focused(page);
    if (stop && matches(stop)) return;
    await page.keyboard.press(key);
  }
  throw new Error('the element was not in the Tab order');
}

describe.skipIf(!available)('the keyboard alone', () => {
  it('signs in through the login and consent pages, back at the application, with focus always visible', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto((await authorizationRequest(app)).url.href);

    // The login page: focus starts in the email field (autofocus, applied once the page is shown); the whole Tab order is visible.
    await page.waitForFunction("document.activeElement !== null && document.activeElement.id === 'email'", undefined, { timeout: 10_000 }).catch(() => undefined);
    expect(await focused(page)).toMatchObject({ id: 'email' });
    expectVisibleFocus(await tabOrder(page), 'login');
    // From the top again (focus left the page): email, password, the button, with the keyboard.
    await tabTo(page, (stop) => stop.id === 'email');
    await page.keyboard.type(person.email);
    await page.keyboard.press('Tab');
    expect(await focused(page)).toMatchObject({ id: 'password' });
    await page.keyboard.type(person.password);
    await page.keyboard.press('Tab');
    expect(await focused(page)).toMatchObject({ tag: 'button' });
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);

    // The consent page: focus on Allow; around the page and back to it with Shift+Tab; Space.
    expect(await focused(page)).toMatchObject({ tag: 'button', name: 'decision' });
    const allow = await focused(page);
    expectVisibleFocus(await tabOrder(page), 'consent');
    await tabTo(page, (stop) => stop.tag === allow!.tag && stop.name === allow!.name && stop.text === allow!.text, 'Shift+Tab');
    expect(await focused(page)).toMatchObject(allow!);
    // Back at the application: the browser goes to its redirect URI with a code (nothing listens there).
    const [callback] = await Promise.all([page.waitForRequest(/^http:\/\/127\.0\.0\.1:8080\/callback/), page.keyboard.press('Space')]);
    expect(new URL(callback.url()).searchParams.get('code')).toBeTruthy();
    await context.close();
  });

  it('puts focus on the first invalid field of a refused registration, which names its problem', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto((await authorizationRequest(app)).url.href);
    await page.goto(`${new URL(page.url()).href.replace(/\/$/, '')}/register`);
    await page.locator('input[name=email]').fill('kim@');
    await page.locator('input[name=password]').fill('password1');
    await Promise.all([page.waitForNavigation(), page.locator('form[action$="/register"] button[type=submit]').first().press('Enter')]);

    const fields = await page.evaluate<{ id: string; invalid: string | null; describedBy: string[] }[]>(`[...document.querySelectorAll('form input:not([type=hidden]), form textarea')].map((field) => ({
      id: field.id, invalid: field.getAttribute('aria-invalid'),
      describedBy: (field.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean).map((id) => (document.getElementById(id)?.textContent || '').trim()),
    }))`);
    const invalid = fields.filter((field) => field.invalid === 'true');
    expect(invalid.map((field) => field.id)[0], 'the address is marked invalid').toBe('email');
    expect(await focused(page), 'focus on the first invalid field').toMatchObject({ id: invalid[0]!.id });
    for (const field of invalid) {
      expect(field.describedBy.filter(Boolean).length, `#${field.id} is described by its problem`).toBeGreaterThan(0);
    }
    // The form's title says it failed (WCAG 2.4.2 with 3.3.1).
    expect(await page.title()).toMatch(/^Error/);
    await context.close();
  });
});
