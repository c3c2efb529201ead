import { IntlMessageFormat } from 'intl-messageformat';

import { en } from './en.ts';

/**
 * The words people read: every sentence a page, a JSON error or the CLI shows is kept in one
 * catalog (ICU message syntax, keyed by a stable id), so code names what it means and the words
 * can change — or be translated — in one place. Callers pass the values the sentence needs.
 */
export type MessageId = keyof typeof en;
export type MessageValues = Record<string, string | number>;

const catalogs: Record<string, Record<MessageId, string>> = { en };
const compiled = new Map<string, IntlMessageFormat>();

/** The sentence for `id` with `values` filled in (English today; the locale is where translations plug in). */
export function message(id: MessageId, values?: MessageValues, locale = 'en'): string {
  const key = `${locale}\u0000${id}`;
  let format = compiled.get(key);
  if (!format) {
    const catalog = catalogs[locale] ?? en;
    format = new IntlMessageFormat(catalog[id] ?? en[id], locale, undefined, { ignoreTag: true });
    compiled.set(key, format);
  }
  return String(format.format(values));
}

/** A message not yet rendered: what an error or a page carries until words are needed. */
export type Message = { id: MessageId; values?: MessageValues };
