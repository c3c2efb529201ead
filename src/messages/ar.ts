import type { Translation } from './messages.ts';

/** The translation into ar: every id of en.ts's `people`. */
export const ar: Partial<Translation> = {};
