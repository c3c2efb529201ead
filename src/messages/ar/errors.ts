import type { Translation } from '../translation.ts';

/** The words en.ts defines directly in `people`. */
export const errors = {
  'error.not_found': 'لا توجد صفحة على هذا العنوان.',
  'error.internal': 'حدث خطأ ما من جهتنا. حاول مرة أخرى بعد قليل.',
  'error.problems': '{problems}',
} as const satisfies Partial<Translation>;
