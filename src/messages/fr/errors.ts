import type { Translation } from '../translation.ts';

/** French: the words for an error when nothing more precise is known (en.ts `people`). */
export const errors = {
  'error.not_found': 'Il n’y a aucune page à cette adresse.',
  'error.internal': 'Une erreur s’est produite de notre côté. Réessayez dans un instant.',
  'error.problems': '{problems}',
} as const satisfies Partial<Translation>;
