import type { Translation } from '../translation.ts';

export const layout = {
  'layout.languages': '言語',
  'layout.title_error': 'エラー: {problem} – {title}',
  // A page answering with an error status (not found, expired link, refused request): its title says so.
  'layout.title_failed': 'エラー: {title}',
} as const satisfies Partial<Translation>;
