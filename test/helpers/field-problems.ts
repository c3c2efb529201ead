import { expect } from 'vitest';

import type { Page } from './user-agent.ts';

/**
 * The problem a page shows for one field (WCAG 3.3.1, 4.1.2): the field is marked invalid and
 * described by an element holding the sentence. Returns that sentence.
 */
export function fieldProblem(page: Page, id: string): string {
  const input = page.document.querySelector(`#${id}`);
  expect(input, `#${id} on ${page.url}`).toBeTruthy();
  expect(input!.getAttribute('aria-invalid'), `#${id} aria-invalid`).toBe('true');
  expect((input!.getAttribute('aria-describedby') ?? '').split(/\s+/), `#${id} aria-describedby`).toContain(`${id}-error`);
  const problem = page.document.querySelector(`#${id}-error`);
  expect(problem, `#${id}-error`).toBeTruthy();
  return problem!.text.trim();
}

/** The ids of the elements with autofocus (a page has at most one, on the first field to fix). */
export function autofocused(page: Page): string[] {
  return page.document.querySelectorAll('[autofocus]').map((element) => element.getAttribute('id') ?? element.tagName.toLowerCase());
}

/** The page's <title>. */
export function titleOf(page: Page): string {
  return page.document.querySelector('title')?.text.trim() ?? '';
}

/** A form shown again with a field's problem: the field is described by it, focused, and the title says what failed. */
export function expectFieldProblem(page: Page, id: string, problem: string | RegExp): void {
  const text = fieldProblem(page, id);
  if (typeof problem === 'string') expect(text).toBe(problem);
  else expect(text).toMatch(problem);
  expect(autofocused(page)).toEqual([id]);
  expect(titleOf(page).startsWith(`Error: ${text} – `), titleOf(page)).toBe(true);
}
