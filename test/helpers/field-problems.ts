import { expect } from 'vitest';

import type { Locale } from '../../src/messages/locales.ts';
import { message } from '../../src/messages/messages.ts';
import type { Page } from './user-agent.ts';

/**
 * The pages' accessibility conventions for a form shown again with a problem (WCAG 2.4.2, 3.3.1,
 * 4.1.2; `it.invalid(key)` in src/web/views.ts): the field is aria-invalid and described by
 * `#<key>-error`, which holds the words; it alone has autofocus; the title starts by saying what
 * failed, in the page's language.
 */

/** The page's <title>. */
export function titleOf(page: Page): string {
  return page.document.querySelector('title')?.text.trim() ?? '';
}

/** The ids (else names, else tags) of the elements with autofocus: at most one, on the first field to fix. */
export function autofocused(page: Page): string[] {
  return page.document.querySelectorAll('[autofocus]').map((element) => element.getAttribute('id') || element.getAttribute('name') || element.tagName.toLowerCase());
}

/** The title of a page shown again with `problem` starts with it ("Error: <problem> – …" in English), in the page's language. */
export function expectFailingTitle(page: Page, problem: string): void {
  const locale = (page.document.querySelector('html')?.getAttribute('lang') ?? 'en') as Locale;
  const [start] = message('layout.title_error', { problem, title: '\u0000' }, locale).split('\u0000');
  expect(titleOf(page).slice(0, start!.length), titleOf(page)).toBe(start);
}

/**
 * The problem shown at field `key` (its id, or its name), checked against every convention above.
 * Gives the words.
 */
export function fieldProblem(page: Page, key: string): string {
  const candidates = [page.document.querySelector(`[id="${key}"]`), page.document.querySelector(`[name="${key}"]:not([type=hidden])`)];
  const field = candidates.find((element) => (element?.getAttribute('aria-describedby') ?? '').split(/\s+/).includes(`${key}-error`)) ?? candidates.find(Boolean);
  expect(field, `no field ${key} on ${page.url}`).toBeTruthy();
  expect(field!.getAttribute('aria-invalid'), `${key} aria-invalid`).toBe('true');
  expect((field!.getAttribute('aria-describedby') ?? '').split(/\s+/), `${key} aria-describedby`).toContain(`${key}-error`);
  const words = page.document.querySelector(`[id="${key}-error"]`)?.text.trim() ?? '';
  expect(words, `#${key}-error`).not.toBe('');
  // Focus goes to the first field with a problem (in the page's order), and only there.
  const focused = page.document.querySelectorAll('[autofocus]');
  const first = page.document.querySelector('[aria-invalid="true"]');
  expect(focused, 'one autofocus').toHaveLength(1);
  expect(focused[0] === first, `autofocus on the first field with a problem (${key} has one)`).toBe(true);
  // The title names the first problem.
  const firstKey = (first!.getAttribute('aria-describedby') ?? '').split(/\s+/).find((id) => id.endsWith('-error'));
  expectFailingTitle(page, page.document.querySelector(`[id="${firstKey}"]`)?.text.trim() ?? words);
  return words;
}

/** A form shown again with a problem at field `key`, and those words. */
export function expectFieldProblem(page: Page, key: string, problem: string | RegExp): void {
  const words = fieldProblem(page, key);
  if (typeof problem === 'string') expect(words).toBe(problem);
  else expect(words).toMatch(problem);
}

/** A form-level problem: the one role=alert on the page, with the title starting by it. Gives its words. */
export function formProblem(page: Page): string {
  const alerts = page.document.querySelectorAll('[role=alert]').filter((element) => element.text.trim() !== '');
  expect(alerts).toHaveLength(1);
  const words = alerts[0]!.text.trim();
  expectFailingTitle(page, words);
  return words;
}
