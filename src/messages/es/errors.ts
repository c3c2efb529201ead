import type { Translation } from '../translation.ts';

/** Spanish: the words for an error when nothing more precise is known (en.ts `people`). */
export const errors = {
  'error.not_found': 'No hay ninguna página en esta dirección.',
  'error.internal': 'Algo ha fallado por nuestra parte. Inténtalo de nuevo en un momento.',
  'error.problems': '{problems}',
} as const satisfies Partial<Translation>;
