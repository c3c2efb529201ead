import { describe, expect, it } from 'vitest';

import type { LocaleInput } from '../../src/messages/locales.ts';
import { acceptedLanguages, chooseLocale, directionOf, formatLanguageChoice, matchLocale, parseLanguageChoice, supportedLocales } from '../../src/messages/locales.ts';

const all = supportedLocales;
const base: LocaleInput = { fallback: 'en', available: all };

describe('matchLocale', () => {
  it.each([
    ['de', 'de'], ['DE', 'de'], ['de-AT', 'de'], ['de-Latn-CH', 'de'], ['fr-CA', 'fr'], ['ja-JP', 'ja'], ['ar-EG', 'ar'],
    ['en-GB', 'en'], ['pt-BR', undefined], ['zh-Hant-TW', undefined], ['', undefined], ['*', undefined],
    ['de_DE', undefined], ['d e', undefined], ['x'.repeat(9), undefined], ['<script>', undefined],
  ])('%j → %j', (tag, expected) => {
    expect(matchLocale(tag, all)).toBe(expected);
  });

  it('only offers the available languages', () => {
    expect(matchLocale('de', ['en', 'fr'])).toBeUndefined();
  });
});

describe('acceptedLanguages', () => {
  it('orders by q, keeping the order of ties, and drops q=0 and *', () => {
    expect(acceptedLanguages('fr;q=0.5, de-AT, en;q=0.5, ja;q=0, *;q=0.1')).toEqual(['de-AT', 'fr', 'en']);
  });

  it('reads nothing from an absent, empty or malformed header', () => {
    expect(acceptedLanguages(undefined)).toEqual([]);
    expect(acceptedLanguages('')).toEqual([]);
    expect(acceptedLanguages(';;;,,,')).toEqual([]);
  });

  it('treats a malformed q as 1 and bounds what it reads', () => {
    expect(acceptedLanguages('de;q=abc')).toEqual(['de']);
    expect(acceptedLanguages(Array.from({ length: 100 }, () => 'xx').join(',')).length).toBe(32);
  });
});

describe('the switcher cookie', () => {
  it('round-trips a choice', () => {
    expect(parseLanguageChoice(formatLanguageChoice({ locale: 'ja', at: 1_800_000_000.7 }), all)).toEqual({ locale: 'ja', at: 1_800_000_000 });
  });

  it.each(['', 'de', 'de.', 'de.x', 'xx.1', 'de.1.2', 'DE.1', ' de.1', 'de.1234567890123'])('ignores %j', (value) => {
    expect(parseLanguageChoice(value, all)).toBeUndefined();
  });

  it('ignores a choice of a language the operator turned off', () => {
    expect(parseLanguageChoice('ja.1', ['en', 'de'])).toBeUndefined();
  });
});

describe('chooseLocale', () => {
  const now = 1_800_000_000;
  const oldChoice = { locale: 'fr', at: now - 86_400 } as const;
  const recentChoice = { locale: 'fr', at: now - 60 } as const;
  const recent = { now, recentChoiceSeconds: 3600 };

  it('falls back to the default', () => {
    expect(chooseLocale(base)).toEqual({ locale: 'en', source: 'default' });
    expect(chooseLocale({ ...base, fallback: 'de' })).toEqual({ locale: 'de', source: 'default' });
  });

  it('falls back to the first available language when the default is not available', () => {
    expect(chooseLocale({ fallback: 'en', available: ['ja', 'de'] })).toEqual({ locale: 'ja', source: 'default' });
  });

  it('takes Accept-Language over the default, its first available tag', () => {
    expect(chooseLocale({ ...base, acceptLanguage: 'pt-BR, es;q=0.8, de;q=0.9' })).toEqual({ locale: 'de', source: 'accept-language' });
  });

  it('takes a remembered choice over Accept-Language', () => {
    expect(chooseLocale({ ...base, ...recent, acceptLanguage: 'de', choice: oldChoice })).toEqual({ locale: 'fr', source: 'choice' });
  });

  it('takes ui_locales over an old choice and Accept-Language, its first available tag', () => {
    expect(chooseLocale({ ...base, ...recent, uiLocales: 'pt-BR ja es', acceptLanguage: 'de', choice: oldChoice })).toEqual({ locale: 'ja', source: 'ui_locales' });
  });

  it('takes a choice made during the sign-in over ui_locales (the switcher works on the sign-in pages)', () => {
    expect(chooseLocale({ ...base, ...recent, uiLocales: 'ja', choice: recentChoice })).toEqual({ locale: 'fr', source: 'choice' });
    // Exactly at the edge of the window still counts as recent; one second older does not.
    expect(chooseLocale({ ...base, ...recent, uiLocales: 'ja', choice: { locale: 'fr', at: now - 3600 } }).locale).toBe('fr');
    expect(chooseLocale({ ...base, ...recent, uiLocales: 'ja', choice: { locale: 'fr', at: now - 3601 } }).locale).toBe('ja');
  });

  it('ignores ui_locales that name no available language', () => {
    expect(chooseLocale({ ...base, uiLocales: 'pt zh', acceptLanguage: 'es' })).toEqual({ locale: 'es', source: 'accept-language' });
    expect(chooseLocale({ ...base, uiLocales: '  ' })).toEqual({ locale: 'en', source: 'default' });
  });

  it('without a clock, a choice never beats ui_locales', () => {
    expect(chooseLocale({ ...base, uiLocales: 'ja', choice: recentChoice }).locale).toBe('ja');
  });
});

describe('directionOf', () => {
  it('mirrors Arabic (and other right-to-left scripts), not the rest', () => {
    expect(directionOf('ar')).toBe('rtl');
    expect(directionOf('he')).toBe('rtl');
    for (const locale of ['en', 'de', 'fr', 'es', 'ja']) expect(directionOf(locale)).toBe('ltr');
  });
});
