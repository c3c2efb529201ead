import type { Translation } from '../translation.ts';

/** German: every page's frame (en/layout.ts). */
export const layout = {
  'layout.languages': 'Sprache',
  'layout.title_error': 'Fehler: {problem} – {title}',
  // A page answering with an error status (not found, expired link, refused request): its title says so.
  'layout.title_failed': 'Fehler: {title}',
} as const satisfies Partial<Translation>;
