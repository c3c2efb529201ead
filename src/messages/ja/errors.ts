import type { Translation } from '../translation.ts';

/** The words en.ts defines directly in `people`. */
export const errors = {
  'error.not_found': 'このアドレスにページはありません。',
  'error.internal': 'こちら側で問題が発生しました。しばらくしてからもう一度お試しください。',
  'error.problems': '{problems}',
} as const satisfies Partial<Translation>;
