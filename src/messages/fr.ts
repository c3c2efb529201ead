import type { Translation } from './messages.ts';

/** The translation into fr: every id of en.ts's `people`. */
export const fr: Partial<Translation> = {};
