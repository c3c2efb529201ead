import { ar } from '../../../src/messages/ar.ts';
import { de } from '../../../src/messages/de.ts';
import { people } from '../../../src/messages/en.ts';
import { es } from '../../../src/messages/es.ts';
import { fr } from '../../../src/messages/fr.ts';
import { ja } from '../../../src/messages/ja.ts';
import type { Locale } from '../../../src/messages/locales.ts';

const catalogs: Record<Exclude<Locale, 'en'>, Partial<Record<string, string>>> = { de, fr, es, ja, ar };

/**
 * The English words of every id people read that `locale` translates differently, as the pieces a
 * page would show whatever the values: the text between ICU arguments, kept when long enough (16
 * characters and a space) not to occur by chance in another language. If one is on a page in that
 * language, the page took the English sentence instead of the translation.
 */
export function untranslatedSentences(locale: Locale): [string, string][] {
  if (locale === 'en') return [];
  const translated = catalogs[locale];
  const found: [string, string][] = [];
  for (const [id, english] of Object.entries(people) as [string, string][]) {
    const own = translated[id];
    if (own === undefined || own === english) continue;
    for (const piece of english.split(/[{}]/)) {
      const words = piece.replace(/\s+/g, ' ').trim();
      if (words.length >= 16 && words.includes(' ') && !own.includes(words)) found.push([id, words]);
    }
  }
  return found;
}
