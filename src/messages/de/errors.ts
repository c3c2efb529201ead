import type { Translation } from '../translation.ts';

/** German: the words for an error when nothing more precise is known (en.ts `people`). */
export const errors = {
  'error.not_found': 'Unter dieser Adresse gibt es keine Seite.',
  'error.internal': 'Bei uns ist etwas schiefgelaufen. Versuchen Sie es gleich noch einmal.',
  'error.problems': '{problems}',
} as const satisfies Partial<Translation>;
