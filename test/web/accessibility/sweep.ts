import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Locale } from '../../../src/messages/locales.ts';
import { directionOf } from '../../../src/messages/locales.ts';
import { message } from '../../../src/messages/messages.ts';
import { chromiumAvailable, launchChromium } from '../../helpers/browser.ts';
import { writeGallery } from './gallery.ts';
import type { SweepRecord } from './gallery.ts';
import type { PageState, World } from './page-states.ts';
import { pageStates, startWorld } from './page-states.ts';
import { untranslatedSentences } from './untranslated.ts';

/**
 * The accessibility sweep (issue 22): every page state of page-states.ts, in each of `locales`, in
 * the light and the dark colour scheme, at a desktop and a phone width, checked by axe-core against
 * WCAG 2.2 AA and saved as a screenshot for the gallery (gallery.ts). A state is reached once per
 * language; the scheme and the width change on the same page, without reloading.
 */

export const screenshots = 'test-results/screenshots';
export const axeTags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
export const schemes = ['light', 'dark'] as const;
export const viewports = [{ width: 1280, height: 800 }, { width: 390, height: 844 }] as const;

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

export function sweep(locales: readonly Locale[], label: string): void {
  const available = chromiumAvailable();
  let world: World;
  let browser: Browser;
  const records: SweepRecord[] = [];
  const timings: { state: string; locale: Locale; reachMs: number; checkMs: number }[] = [];
  /** What the checks besides axe found (lang, dir, title, reflow, English sentences), for the gallery. */
  const findings: string[] = [];
  const texts = new Map<string, Map<string, string>>();
  const started = performance.now();

  beforeAll(async () => {
    if (!available) return;
    mkdirSync(screenshots, { recursive: true });
    [world, browser] = await Promise.all([startWorld(), launchChromium()]);
  }, 60_000);

  afterAll(async () => {
    if (records.length) {
      writeFileSync(join(screenshots, `axe-${label}.json`), JSON.stringify({ label, locales, seconds: Math.round((performance.now() - started) / 100) / 10, timings, findings, records }, null, 1));
      writeGallery(screenshots, pageStates.map((state) => state.name));
    }
    await browser?.close();
    await world?.stop();
  });

  async function check(state: PageState, locale: Locale): Promise<string[]> {
    const context = await browser.newContext({
      locale, viewport: viewports[0], colorScheme: 'light',
      extraHTTPHeaders: { 'accept-language': locale, ...state.context?.extraHTTPHeaders },
    });
    const problems: string[] = [];
    try {
      await context.addInitScript(noAutofill);
      await context.route('http://127.0.0.1:8080/**', (route) => route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><html lang="en"><title>Northwind</title><main><h1>Back at the application</h1></main></html>' }));
      const page = await context.newPage();
      // Generous: the sweep shares the machine with the rest of the suite.
      page.setDefaultTimeout(30_000);
      const reaching = performance.now();
      await state.reach({ world, browser, context, page, locale });
      const checking = performance.now();
      const timing = { state: state.name, locale, reachMs: Math.round(checking - reaching), checkMs: 0 };
      timings.push(timing);
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
        for (const viewport of viewports) {
          await page.setViewportSize(viewport);
          const results = await runAxe(page);
          if (!results.passes.length) problems.push(`${where}: axe checked nothing`);
          const file = join(state.name, `${locale}-${colorScheme}-${viewport.width}.png`);
          await page.screenshot({ path: join(screenshots, file), fullPage: true });
          const violations = results.violations as Violation[];
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
      timing.checkMs = Math.round(performance.now() - checking);
    } finally {
      await context.close();
    }
    // Axe's own findings are in the records already.
    findings.push(...problems.filter((problem) => !/px: [a-z-]+ \(/.test(problem.split('\n')[0]!)));
    return problems;
  }

  describe.skipIf(!available)(`accessibility sweep: ${locales.join(', ')}`, () => {
    for (const locale of locales) {
      describe(locale, () => {
        beforeAll(() => {
          texts.set(locale, new Map());
        });
        // Most states are reached side by side (it.concurrent: vitest's maxConcurrency, 5); those that
        // change the whole server for a moment, one at a time after them.
        const ordered = [...pageStates.filter((state) => !state.exclusive), ...pageStates.filter((state) => state.exclusive)];
        for (const state of ordered) {
          const test = state.exclusive ? it : it.concurrent;
          test(`${state.name}: WCAG 2.2 AA (axe) light and dark at ${viewports.map((each) => each.width).join(' and ')} px, reflow at 320 px, lang, dir, title`, async () => {
            const problems = await check(state, locale).catch((error: unknown) => {
              findings.push(`${state.name} [${locale}]: not reached: ${String((error as Error)?.message ?? error).split('\n')[0]}`);
              throw error;
            });
            expect(problems, problems.join('\n')).toEqual([]);
          }, 120_000);
        }
        it.skipIf(locale === 'en')(`speaks ${locale} on every page: no English sentence the ${locale} catalog translates`, () => {
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
      });
    }
  });
}
