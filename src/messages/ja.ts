import type { Translation } from './messages.ts';

/** The translation into ja: every id of en.ts's `people`. */
export const ja: Partial<Translation> = {};
