import type { Translation } from './messages.ts';

/** The translation into de: every id of en.ts's `people`. */
export const de: Partial<Translation> = {};
