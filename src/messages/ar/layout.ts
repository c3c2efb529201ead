import type { Translation } from '../translation.ts';

export const layout = {
  'layout.languages': 'اللغة',
  'layout.title_error': 'خطأ: {problem} – {title}',
  // A page answering with an error status (not found, expired link, refused request): its title says so.
  'layout.title_failed': 'خطأ: {title}',
} as const satisfies Partial<Translation>;
