import type { Translation } from '../translation.ts';

/** Spanish: every page's frame (en/layout.ts). */
export const layout = {
  'layout.languages': 'Idioma',
  'layout.title_error': 'Error: {problem} – {title}',
  // A page answering with an error status (not found, expired link, refused request): its title says so.
  'layout.title_failed': 'Error: {title}',
} as const satisfies Partial<Translation>;
