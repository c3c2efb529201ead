import type { Translation } from '../translation.ts';

/** French: every page's frame (en/layout.ts). */
export const layout = {
  'layout.languages': 'Langue',
  'layout.title_error': 'Erreur : {problem} – {title}',
  // A page answering with an error status (not found, expired link, refused request): its title says so.
  'layout.title_failed': 'Erreur : {title}',
} as const satisfies Partial<Translation>;
