import type { Translation } from './messages.ts';

/** The translation into es: every id of en.ts's `people`. */
export const es: Partial<Translation> = {};
