import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { parse, TYPE } from '@formatjs/icu-messageformat-parser';
import type { MessageFormatElement } from '@formatjs/icu-messageformat-parser';

import { people } from '../messages/en.ts';
import type { Locale } from '../messages/locales.ts';
import { isLocale } from '../messages/locales.ts';

/**
 * The operator's own words (THEME_DIR/messages/<code>.json, docs/languages.md): a JSON object of
 * message ids to ICU sentences that replace the shipped ones in that language — a product's own
 * tone, a term it prefers — without editing the project's catalogs. Read once at start-up and
 * checked like a translation: a known language, ids people read, sentences that parse and take
 * exactly the values English takes (and `{product}`, the brand's name, wherever wanted). Anything else stops start-up with one line naming the file.
 */
export type MessageOverrides = Partial<Record<Locale, Record<string, string>>>;

/** The names and kinds of the values a sentence takes ("minutes:plural, email:plain"). */
export function valuesOf(text: string): string {
  const found = new Map<string, string>();
  const walk = (elements: MessageFormatElement[]) => {
    for (const element of elements) {
      if (element.type === TYPE.literal || element.type === TYPE.pound) continue;
      if (element.type === TYPE.tag) {
        walk(element.children);
        continue;
      }
      const kind = element.type === TYPE.plural ? 'plural' : element.type === TYPE.select ? 'select' : 'plain';
      if (!found.has(element.value) || kind !== 'plain') found.set(element.value, kind);
      if (element.type === TYPE.plural || element.type === TYPE.select) for (const option of Object.values(element.options)) walk(option.value);
    }
  };
  walk(parse(text, { ignoreTag: true }));
  return [...found].sort(([a], [b]) => a.localeCompare(b)).map(([name, kind]) => `${name}:${kind}`).join(', ');
}

/** Reads and checks THEME_DIR/messages/; throws an Error whose message is the one line to print. */
export function readMessageOverrides(themeDir: string): MessageOverrides {
  const dir = join(themeDir, 'messages');
  if (!existsSync(dir)) return {};
  const overrides: MessageOverrides = {};
  for (const file of readdirSync(dir).filter((name) => !name.startsWith('.')).sort()) {
    const where = join(dir, file);
    const code = file.endsWith('.json') ? file.slice(0, -'.json'.length) : '';
    if (!isLocale(code)) throw new Error(`${where}: name a shipped language, as <code>.json (en, de, fr, es, ja, ar)`);
    let entries: unknown;
    try {
      entries = JSON.parse(readFileSync(where, 'utf8'));
    } catch (error) {
      throw new Error(`${where}: not JSON (${(error as Error).message})`, { cause: error });
    }
    if (!entries || typeof entries !== 'object' || Array.isArray(entries)) throw new Error(`${where}: must be an object of message ids to sentences`);
    const words: Record<string, string> = {};
    for (const [id, text] of Object.entries(entries)) {
      if (!(id in people)) throw new Error(`${where}: ${JSON.stringify(id)} is not an id of a page or a mail (see src/messages/en/)`);
      if (typeof text !== 'string' || !text.trim()) throw new Error(`${where}: ${id} must be a non-empty sentence`);
      let takes: string;
      try {
        takes = valuesOf(text);
      } catch (error) {
        throw new Error(`${where}: ${id} is not an ICU message (${(error as Error).message})`, { cause: error });
      }
      // {product} (the brand's name) is there for every sentence; the others must be English's.
      const withoutProduct = (list: string) => list.split(', ').filter((entry) => entry && entry !== 'product:plain').join(', ');
      const english = withoutProduct(valuesOf(people[id as keyof typeof people]));
      if (withoutProduct(takes) !== english) throw new Error(`${where}: ${id} takes {${takes}}; it must take what English takes: {${english}} (and may use {product})`);
      words[id] = text;
    }
    overrides[code] = words;
  }
  return overrides;
}
