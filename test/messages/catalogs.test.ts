import { parse, TYPE } from '@formatjs/icu-messageformat-parser';
import type { MessageFormatElement } from '@formatjs/icu-messageformat-parser';
import { IntlMessageFormat } from 'intl-messageformat';
import { describe, expect, it } from 'vitest';

import { ar } from '../../src/messages/ar.ts';
import { de } from '../../src/messages/de.ts';
import { en, people } from '../../src/messages/en.ts';
import { es } from '../../src/messages/es.ts';
import { fr } from '../../src/messages/fr.ts';
import { ja } from '../../src/messages/ja.ts';
import type { Locale } from '../../src/messages/locales.ts';
import { supportedLocales } from '../../src/messages/locales.ts';

/**
 * Every shipped language says everything a person can read (every id of en.ts's `people`), says
 * nothing English does not have, and each sentence takes exactly the values English takes (a
 * translation that drops `{minutes}` or renames it would print a gap or throw).
 */
const translations: Record<Exclude<Locale, 'en'>, Record<string, string>> = { de, fr, es, ja, ar };
const peopleIds = Object.keys(people).sort();

/** The names of the values a message uses, with the kind of each (plain, plural, select, number…). */
function argumentsOf(elements: MessageFormatElement[], found = new Map<string, string>()): Map<string, string> {
  for (const element of elements) {
    if (element.type === TYPE.literal || element.type === TYPE.pound) continue;
    if (element.type === TYPE.tag) {
      argumentsOf(element.children, found);
      continue;
    }
    const kind = element.type === TYPE.plural ? 'plural' : element.type === TYPE.select ? 'select' : element.type === TYPE.number ? 'number' : element.type === TYPE.date || element.type === TYPE.time ? 'date' : 'plain';
    // A value used plainly in one place and as a plural elsewhere counts as the plural.
    if (!found.has(element.value) || kind !== 'plain') found.set(element.value, kind);
    if (element.type === TYPE.plural || element.type === TYPE.select) {
      for (const option of Object.values(element.options)) argumentsOf(option.value, found);
    }
  }
  return found;
}

function signature(text: string): string {
  const found = argumentsOf(parse(text, { ignoreTag: true }));
  return [...found].sort(([a], [b]) => a.localeCompare(b)).map(([name, kind]) => `${name}:${kind}`).join(', ');
}

describe('the message catalogs', () => {
  it('ships the languages it says it supports', () => {
    expect(Object.keys(translations).sort()).toEqual(supportedLocales.filter((locale) => locale !== 'en').sort());
  });

  it('English parses, every sentence of it', () => {
    for (const [id, text] of Object.entries(en)) expect(() => parse(text, { ignoreTag: true }), id).not.toThrow();
  });

  for (const [locale, catalog] of Object.entries(translations)) {
    describe(locale, () => {
      it('has every id English has for people (pages and mail)', () => {
        const missing = peopleIds.filter((id) => typeof catalog[id] !== 'string' || catalog[id] === '');
        expect(missing, `${locale} lacks ${missing.length} ids`).toEqual([]);
      });

      it('has no id English does not have, and nothing for operators (they read English)', () => {
        const extra = Object.keys(catalog).filter((id) => !(id in people));
        expect(extra).toEqual([]);
      });

      it('takes the same values as English in every sentence, and each parses', () => {
        const wrong: string[] = [];
        for (const [id, text] of Object.entries(catalog)) {
          if (!(id in people)) continue;
          let translated: string;
          try {
            translated = signature(text);
          } catch (error) {
            wrong.push(`${id}: does not parse (${(error as Error).message})`);
            continue;
          }
          const english = signature(people[id as keyof typeof people]);
          if (translated !== english) wrong.push(`${id}: takes {${translated}}, English takes {${english}}`);
        }
        expect(wrong).toEqual([]);
      });

      it('formats every sentence with sample values without throwing', () => {
        for (const [id, text] of Object.entries(catalog)) {
          if (!(id in people)) continue;
          const values = Object.fromEntries([...argumentsOf(parse(text, { ignoreTag: true }))].map(([name, kind]) => [name, kind === 'plain' || kind === 'select' ? 'x' : 2]));
          expect(() => new IntlMessageFormat(text, locale, undefined, { ignoreTag: true }).format(values), id).not.toThrow();
        }
      });
    });
  }
});
