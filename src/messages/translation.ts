import type { people } from './en.ts';

/** A translation: every id of en.ts's `people` (pages and mail); operators' words stay English. test/messages/catalogs.test.ts checks each. */
export type PeopleMessageId = keyof typeof people;
export type Translation = Record<PeopleMessageId, string>;
