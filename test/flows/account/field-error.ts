import { expect } from 'vitest';

import type { Page } from '../../helpers/user-agent.ts';

/**
 * The problem a page shows at field `id`, checked as the forms' accessibility conventions want it:
 * the field is aria-invalid, described by the element holding the problem, focused first, and the
 * page's title starts by saying something failed. Returns the problem's words.
 */
export function fieldErrorOf(page: Page, id: string): string {
  const field = page.document.querySelector(`[id="${id}"]`);
  expect(field, `no field #${id}`).not.toBeNull();
  expect(field!.getAttribute('aria-invalid'), id).toBe('true');
  const described = (field!.getAttribute('aria-describedby') ?? '').split(/\s+/);
  expect(described, id).toContain(`${id}-error`);
  const problem = page.document.querySelector(`[id="${id}-error"]`);
  expect(problem?.text.trim(), `#${id}-error`).not.toBe('');
  // Focus lands on the first field with a problem, and only one element asks for it.
  expect(page.document.querySelectorAll('[autofocus]').map((element) => element.id)).toEqual([id]);
  const title = page.document.querySelector('title')?.text.trim() ?? '';
  expect(title).toMatch(/^Error: /);
  expect(title).toContain(problem!.text.trim());
  return problem!.text.trim();
}
