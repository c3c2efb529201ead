import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Locale } from '../../../src/messages/locales.ts';
import { directionOf, supportedLocales } from '../../../src/messages/locales.ts';
import { message } from '../../../src/messages/messages.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { writeGallery } from './gallery.ts';
import type { SweepRecord } from './gallery.ts';
import type { PageState, World } from './page-states.ts';
import { pageStates, startWorld } from './page-states.ts';
import { untranslatedSentences } from './untranslated.ts';

/**
 * The accessibility sweep (issue 22): every page state of page-states.ts, in every language, in the
 * light and the dark colour scheme, checked by axe-core against WCAG 2.2 AA and saved as a screenshot
 * for the gallery (gallery.ts): English at a desktop and a phone width, the other languages at the
 * phone width only (the stricter layout: long words and right to left break it first). Every
 * language is checked for reflow at 320 px. The scheme and the width change on the same page.
 *
 * The states are split into groups, one test file each, so vitest runs them side by side. A state
 * marked `reload` is reached once (in English) and shown in the other languages by setting the
 * switcher's cookie and loading the same address again; the others are reached again per language.
 */

export const screenshots = 'test-results/screenshots';
export const axeTags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
export const schemes = ['light', 'dark'] as const;
const desktop = { width: 1280, height: 800 } as const;
const phone = { width: 390, height: 844 } as const;

/** The widths checked with axe and screenshots in `locale`. */
export function viewportsFor(locale: Locale): readonly { width: number; height: number }[] {
  return locale === 'en' ? [desktop, phone] : [phone];
}

/** The test files: a group of states each (balanced by their cost: reaching a form's answer is dear). */
export const sweepGroups = {
  'sign-in': ['home', 'login', 'login-wrong-password', 'login-field-errors', 'login-passkey-only', 'login-with-connections', 'sign-in-code', 'error-429-too-many', 'consent', 'logout', 'logged-out', 'error-404', 'error-bad-redirect-uri', 'error-403-form-expired'],
  registration: ['register', 'register-empty-fields', 'register-invalid-email', 'register-weak-password', 'register-closed', 'verify-email', 'verify-email-wrong-code', 'confirm-email-link', 'email-confirmed', 'passkey-registration-offer', 'link-identity', 'connection-problem'],
  'recovery-and-factors': ['forgot-password', 'forgot-password-sent', 'reset-password', 'reset-password-weak', 'reset-password-invalid-link', 'second-factor', 'second-factor-wrong-code', 'second-factor-wrong-recovery-code', 'mfa-setup', 'mfa-setup-wrong-code', 'recovery-codes', 'device-code', 'device-code-wrong', 'device-confirm', 'device-approved', 'device-denied'],
  account: ['account', 'account-password-error', 'account-mfa-setup', 'account-sessions', 'account-apps', 'account-profile', 'account-email', 'account-export', 'account-delete', 'account-profile-errors', 'account-email-code', 'account-delete-refused', 'account-reauthenticate', 'pending-deletion'],
} as const;
export type SweepGroup = keyof typeof sweepGroups;

/** Every state in exactly one group: a state added to page-states.ts but to no group fails every sweep file. */
export function unsweptStates(): string[] {
  const grouped = Object.values(sweepGroups).flat() as string[];
  const names = pageStates.map((state) => state.name);
  return [
    ...names.filter((name) => !grouped.includes(name)).map((name) => `${name}: in no group of sweepGroups`),
    ...grouped.filter((name, index) => grouped.indexOf(name) !== index).map((name) => `${name}: in two groups`),
    ...grouped.filter((name) => !names.includes(name)).map((name) => `${name}: not a state of page-states.ts`),
  ];
}

/** The switcher's cookie (src/web/language.ts); a choice this recent beats ui_locales (chooseLocale). */
const languageCookie = 'gatehouse.lang';

const noAutofill = 'if (window.PublicKeyCredential) window.PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);';

/**
 * axe-core itself (what @axe-core/playwright injects), put in the page once per state and run four
 * times: AxeBuilder injects it again for every run and finishes each run in a new blank page, which
 * made the sweep several times slower. Injected through the DevTools protocol, so the pages' content
 * security policy (script-src 'self') does not stop it, as it does not stop AxeBuilder.
 */
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

type AxeResults = { violations: Violation[]; passes: unknown[] };

async function runAxe(page: Page): Promise<AxeResults> {
  return page.evaluate(async (tags) => {
    const { axe } = globalThis as unknown as { axe: { run(context: unknown, options: unknown): Promise<AxeResults> } };
    const results = await axe.run((globalThis as unknown as { document: unknown }).document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    // Only what the report needs crosses back (the full results are large).
    return { passes: results.passes.map(() => 0), violations: results.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) })) };
  }, axeTags);
}

type Violation = { id: string; impact?: string | null; help: string; nodes: { target: unknown[]; failureSummary?: string }[] };

/** One violation as a reader can fix it from the test's output alone. */
function described(where: string, violation: Violation): string {
  const selectors = violation.nodes.slice(0, 8).map((node) => `    ${node.target.map(String).join(' ')}${node.failureSummary ? ` — ${node.failureSummary.replace(/\s+/g, ' ').slice(0, 240)}` : ''}`);
  return `${where}: ${violation.id} (${violation.impact ?? 'no impact'}) ${violation.help}\n${selectors.join('\n')}`;
}

/** The first word of "Error: … – …" in `locale`: what a failing page's title starts with. */
export function errorWord(locale: Locale): string {
  return message('layout.title_error', { problem: '', title: '' }, locale).trim().split(/\s+/)[0]!;
}

async function visibleText(page: Page): Promise<string> {
  return page.locator('body').innerText();
}

/** What must not change when a state is shown again in another language: its <h1>s and its forms. */
type Shape = { headings: number; actions: string[] };

async function shapeOf(page: Page): Promise<Shape> {
  return page.evaluate<Shape>(`({ headings: document.querySelectorAll('h1').length, actions: [...document.forms].map((form) => form.getAttribute('action') ?? '') })`);
}

type Timing = { state: string; locale: Locale; reloaded: boolean; reachMs: number; checkMs: number; axeMs: number; screenshotMs: number };

export function sweep(group: SweepGroup): void {
  const locales = supportedLocales;
  const states = pageStates.filter((state) => (sweepGroups[group] as readonly string[]).includes(state.name));
  const available = chromiumAvailable();
  let world: World;
  let browser: Browser;
  const records: SweepRecord[] = [];
  const timings: Timing[] = [];
  /** What the checks besides axe found (lang, dir, title, reflow, English sentences, reloads), for the gallery. */
  const findings: string[] = [];
  const texts = new Map<Locale, Map<string, string>>(locales.map((locale) => [locale, new Map()]));
  const started = performance.now();

  beforeAll(async () => {
    if (!available) return;
    mkdirSync(screenshots, { recursive: true });
    [world, browser] = await Promise.all([startWorld(), launchChromium()]);
  }, 60_000);

  afterAll(async () => {
    if (records.length) {
      writeFileSync(join(screenshots, `axe-${group}.json`), JSON.stringify({ label: group, locales, seconds: Math.round((performance.now() - started) / 100) / 10, timings, findings, records }, null, 1));
      writeGallery(screenshots, pageStates.map((state) => state.name), Object.keys(sweepGroups));
    }
    await browser?.close();
    await world?.stop();
  });

  const headersFor = (state: PageState, locale: Locale) => ({ 'accept-language': locale, ...state.context?.extraHTTPHeaders });

  async function newContext(state: PageState, locale: Locale): Promise<{ context: BrowserContext; page: Page }> {
    // At the first width checked in this language: no resize before the first axe run.
    const context = await browser.newContext({ locale, viewport: viewportsFor(locale)[0], colorScheme: 'light', extraHTTPHeaders: headersFor(state, locale) });
    await context.addInitScript(noAutofill);
    await context.route('http://127.0.0.1:8080/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><html lang="en"><title>Northwind</title><main><h1>Back at the application</h1></main></html>' }));
    const page = await context.newPage();
    // Generous: the sweep shares the machine with the rest of the suite.
    page.setDefaultTimeout(30_000);
    return { context, page };
  }

  /** The same address again in `locale`: the switcher's cookie (chosen now) and the browser's Accept-Language. */
  async function showIn(state: PageState, context: BrowserContext, page: Page, locale: Locale): Promise<void> {
    const { origin } = new URL(page.url());
    await context.addCookies([{ name: languageCookie, value: `${locale}.${Math.floor(world.clock().getTime() / 1000)}`, url: `${origin}/` }]);
    await context.setExtraHTTPHeaders(headersFor(state, locale));
    await page.goto(page.url(), { waitUntil: 'load' });
  }

  /** Checks the page as it stands in `locale` (reached or reloaded `reachMs` ago); returns what is wrong. */
  async function check(state: PageState, locale: Locale, page: Page, timing: Timing): Promise<string[]> {
    const checking = performance.now();
    const problems: string[] = [];
    const where = `${state.name} [${locale}]`;
    const lang = await page.locator('html').getAttribute('lang');
    const dir = await page.locator('html').getAttribute('dir');
    const title = (await page.title()).trim();
    if (lang !== locale) problems.push(`${where}: <html lang="${lang}">, expected "${locale}"`);
    if ((dir ?? 'ltr') !== directionOf(locale)) problems.push(`${where}: <html dir="${dir}">, expected "${directionOf(locale)}"`);
    if (!title) problems.push(`${where}: empty <title>`);
    if (state.failure && !title.startsWith(errorWord(locale))) problems.push(`${where}: the title "${title}" does not start with "${errorWord(locale)}" (layout.title_error)`);
    // A state that should not fail but did was not reached (a flow or a form changed): say so.
    if (!state.failure && title.startsWith(errorWord(locale))) problems.push(`${where}: not reached, the page reports a failure: "${title}"`);
    texts.get(locale)!.set(state.name, await visibleText(page));
    await page.evaluate(axeSource);
    for (const colorScheme of schemes) {
      await page.emulateMedia({ colorScheme });
      for (const viewport of viewportsFor(locale)) {
        // A resize lays the page out again: only when the width changes.
        if (page.viewportSize()?.width !== viewport.width) await page.setViewportSize(viewport);
        let since = performance.now();
        const results = await runAxe(page);
        timing.axeMs += Math.round(performance.now() - since);
        if (!results.passes.length) problems.push(`${where}: axe checked nothing`);
        const file = join(state.name, `${locale}-${colorScheme}-${viewport.width}.png`);
        since = performance.now();
        await page.screenshot({ path: join(screenshots, file), fullPage: true });
        timing.screenshotMs += Math.round(performance.now() - since);
        const violations = results.violations;
        records.push({
          state: state.name, locale, scheme: colorScheme, width: viewport.width, file, title,
          violations: violations.map((violation) => ({ id: violation.id, impact: violation.impact ?? null, help: violation.help, targets: violation.nodes.map((node) => node.target.map(String).join(' ')) })),
        });
        for (const violation of violations) problems.push(described(`${where} ${colorScheme} ${viewport.width}px`, violation));
      }
    }
    // Reflow (WCAG 1.4.10): nothing wider than 320 CSS px, the width of 1280 px zoomed to 400 %.
    await page.setViewportSize({ width: 320, height: 640 });
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    if (overflow > 0) {
      // The innermost elements that stick out, so the report says what to fix.
      const culprits = await page.evaluate<string[]>(`[...document.querySelectorAll('body *')].filter((element) => element.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5 && ![...element.children].some((child) => child.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)).slice(0, 5).map((element) => element.tagName.toLowerCase() + (element.id ? '#' + element.id : '') + (element.className && typeof element.className === 'string' ? '.' + element.className.trim().split(/\\s+/).join('.') : '') + ' "' + (element.textContent || '').trim().slice(0, 40) + '"')`);
      problems.push(`${where}: ${overflow} px wider than a 320 px window (WCAG 1.4.10 reflow): ${culprits.join(', ')}`);
    }
    // A reload in the next language starts from here: the checks set the scheme and width they need.
    timing.checkMs = Math.round(performance.now() - checking);
    return problems;
  }

  /** Every language of `state`; what is wrong, each line naming the state and the language. */
  async function sweepState(state: PageState): Promise<string[]> {
    const problems: string[] = [];
    const notReached = (locale: Locale, how: string, error: unknown) => problems.push(`${state.name} [${locale}]: not ${how}: ${String((error as Error)?.message ?? error).split('\n')[0]}`);
    const timed = async (locale: Locale, reloaded: boolean, reach: () => Promise<void>): Promise<Timing> => {
      const since = performance.now();
      await reach();
      const timing = { state: state.name, locale, reloaded, reachMs: Math.round(performance.now() - since), checkMs: 0, axeMs: 0, screenshotMs: 0 };
      timings.push(timing);
      return timing;
    };
    if (state.reload) {
      const [first, ...others] = locales;
      const { context, page } = await newContext(state, first);
      try {
        let shape: Shape;
        try {
          const timing = await timed(first, false, () => state.reach({ world, browser, context, page, locale: first }));
          shape = await shapeOf(page);
          problems.push(...(await check(state, first, page, timing)));
        } catch (error) {
          notReached(first, 'reached', error);
          return problems;
        }
        for (const locale of others) {
          try {
            const timing = await timed(locale, true, () => showIn(state, context, page, locale));
            // Loading the address again must show the same state, else `reload` is wrong for it.
            const again = await shapeOf(page);
            if (again.headings !== shape.headings || again.actions.join(' ') !== shape.actions.join(' ')) {
              problems.push(`${state.name} [${locale}]: reloading ${page.url()} did not show the same state as in ${first} (${again.headings} <h1>, forms [${again.actions.join(', ')}] instead of ${shape.headings} <h1>, forms [${shape.actions.join(', ')}]): remove \`reload\` from this state`);
              continue;
            }
            problems.push(...(await check(state, locale, page, timing)));
          } catch (error) {
            notReached(locale, 'reloaded', error);
          }
        }
      } finally {
        await context.close();
      }
      return problems;
    }
    for (const locale of locales) {
      const { context, page } = await newContext(state, locale);
      try {
        const timing = await timed(locale, false, () => state.reach({ world, browser, context, page, locale }));
        problems.push(...(await check(state, locale, page, timing)));
      } catch (error) {
        notReached(locale, 'reached', error);
      } finally {
        await context.close();
      }
    }
    return problems;
  }

  describe.skipIf(!available)(`accessibility sweep: ${group} (${locales.join(', ')})`, () => {
    it('every state of page-states.ts is in one group', () => {
      expect(unsweptStates()).toEqual([]);
    });
    // Most states are swept side by side (it.concurrent: vitest's maxConcurrency, 5), each through
    // every language in turn; those that change the whole server for a moment, one at a time after them.
    const ordered = [...states.filter((state) => !state.exclusive), ...states.filter((state) => state.exclusive)];
    for (const state of ordered) {
      const test = state.exclusive ? it : it.concurrent;
      const how = state.reload ? `reached in ${locales[0]}, reloaded in the others` : 'reached in each language';
      test(`${state.name} (${how}): WCAG 2.2 AA (axe) light and dark (en 1280 and 390 px, others 390 px), reflow at 320 px, lang, dir, title`, async () => {
        const problems = await sweepState(state);
        // Axe's own findings are in the records already.
        findings.push(...problems.filter((problem) => !/px: [a-z-]+ \(/.test(problem.split('\n')[0]!)));
        expect(problems, problems.join('\n')).toEqual([]);
      }, 600_000);
    }
    for (const locale of locales.filter((each) => each !== 'en')) {
      it(`speaks ${locale} on every page of this group: no English sentence the ${locale} catalog translates`, () => {
        const found: string[] = [];
        const sentences = untranslatedSentences(locale);
        // Read by the states' tests above (run alone, this test has nothing to look at).
        expect(texts.get(locale)!.size, 'pages read in this language').toBeGreaterThan(0);
        for (const [state, text] of texts.get(locale)!) {
          const normalized = text.replace(/\s+/g, ' ');
          for (const [id, sentence] of sentences) if (normalized.includes(sentence)) found.push(`${state}: ${id} "${sentence}"`);
        }
        findings.push(...found.map((each) => `English on a ${locale} page: ${each}`));
        expect(found, `English on ${locale} pages:\n${found.join('\n')}`).toEqual([]);
      });
    }
  });
}
