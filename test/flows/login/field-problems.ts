import { expect } from 'vitest';

import type { Locale } from '../../../src/messages/locales.ts';
import { message } from '../../../src/messages/messages.ts';
import type { Page } from '../../helpers/user-agent.ts';

/** The title of a page shown again with `problem` starts with it, in the page's language ("Error: …" in English). */
function expectFailingTitle(page: Page, problem: string): void {
  const locale = (page.document.querySelector('html')!.getAttribute('lang') ?? 'en') as Locale;
  const [start] = message('layout.title_error', { problem, title: '\u0000' }, locale).split('\u0000');
  const title = page.document.querySelector('title')!.text;
  expect(title.slice(0, start!.length)).toBe(start);
  if (locale === 'en') expect(title).toMatch(/^Error: /);
}

/**
 * A form shown again with a problem at one field (the accessibility conventions of the pages):
 * the field is marked invalid, described by an element holding the words, the only autofocus on
 * the page, and the title starts with "Error:" (in the page's language). Gives the words.
 */
export function fieldProblem(page: Page, name: string): string {
  const field = page.document.querySelector(`[name="${name}"]:not([type=hidden])`);
  expect(field, `field ${name}`).toBeTruthy();
  expect(field!.getAttribute('aria-invalid')).toBe('true');
  const described = (field!.getAttribute('aria-describedby') ?? '').split(/\s+/).filter(Boolean);
  const id = `${name}-error`;
  expect(described).toContain(id);
  const words = page.document.querySelector(`#${id}`)?.text.trim() ?? '';
  expect(words).not.toBe('');
  expect(page.document.querySelectorAll('[autofocus]').map((element) => element.getAttribute('name'))).toEqual([name]);
  expectFailingTitle(page, words);
  return words;
}

/** A form-level problem: the one role=alert on the page, with the title starting "Error:". Gives its words. */
export function formProblem(page: Page): string {
  const alerts = page.document.querySelectorAll('[role=alert]').filter((element) => element.text.trim() !== '');
  expect(alerts).toHaveLength(1);
  const words = alerts[0]!.text.trim();
  expectFailingTitle(page, words);
  return words;
}
