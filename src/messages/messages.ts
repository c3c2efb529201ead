import { IntlMessageFormat } from 'intl-messageformat';

import { currentRequest } from '../request-context.ts';
import { en } from './en.ts';
import { ar } from './ar.ts';
import { de } from './de.ts';
import { es } from './es.ts';
import { fr } from './fr.ts';
import { ja } from './ja.ts';
import type { Locale } from './locales.ts';

/**
 * The words people read: every sentence a page, a mail, a JSON error or the CLI shows is kept in
 * a catalog (ICU message syntax, keyed by a stable id), so code names what it means and the words
 * can change — or be translated — in one place. Callers pass the values the sentence needs;
 * intl-messageformat fills them in, picks plural forms by the language's rules, and leaves HTML
 * escaping to the template that shows the result.
 */
export type MessageId = keyof typeof en;
export type MessageValues = Record<string, string | number>;

export type { PeopleMessageId, Translation } from './translation.ts';

const catalogs: Record<Locale, Partial<Record<MessageId, string>>> = { en, de, fr, es, ja, ar };
const compiled = new Map<string, IntlMessageFormat>();

/** The language of the request being served (src/web/language.ts decides it), else English: the CLI, logs, start-up. */
export function currentLocale(): Locale {
  return (currentRequest()?.locale as Locale | undefined) ?? 'en';
}

/** The sentence for `id` with `values` filled in, in `locale` (by default the request's); English where a catalog lacks it. */
export function message(id: MessageId, values?: MessageValues, locale: Locale = currentLocale()): string {
  const request = currentRequest();
  // The operator's own sentence for this id and language (THEME_DIR/messages/, checked at start-up), else the catalog's.
  const own = request?.words?.[locale]?.[id];
  const key = own === undefined ? `${locale}\u0000${id}` : `${locale}\u0000${id}\u0000${own}`;
  let format = compiled.get(key);
  if (!format) {
    const translated = own ?? catalogs[locale]?.[id];
    format = new IntlMessageFormat(translated ?? en[id], translated === undefined ? 'en' : locale, undefined, { ignoreTag: true });
    compiled.set(key, format);
  }
  // `{product}` is the operator's brand wherever a sentence names the service (src/web/branding.ts puts it on the request).
  return String(format.format({ product: request?.product ?? 'Gatehouse', ...values }));
}

/** A message not yet rendered: what an error or a page carries until words are needed. */
export type Message = { id: MessageId; values?: MessageValues };
