/**
 * The languages Gatehouse's pages and mail speak, and the rule that picks one for a request: a pure
 * function of what the request carries, so every page (and every mail sent while serving it) agrees.
 */
export const supportedLocales = ['en', 'de', 'fr', 'es', 'ja', 'ar'] as const;
export type Locale = (typeof supportedLocales)[number];

/** Each language's name in itself: what the switcher shows, so a reader finds theirs whatever the page's language. */
export const localeNames: Record<Locale, string> = {
  en: 'English',
  de: 'Deutsch',
  fr: 'Français',
  es: 'Español',
  ja: '日本語',
  ar: 'العربية',
};

const rightToLeft: ReadonlySet<string> = new Set(['ar', 'he', 'fa', 'ur']);

export function directionOf(locale: string): 'ltr' | 'rtl' {
  return rightToLeft.has(locale) ? 'rtl' : 'ltr';
}

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && (supportedLocales as readonly string[]).includes(value);
}

/**
 * The available language a BCP 47 tag asks for: an exact match, else its primary language
 * (`de-AT` → `de`, `zh-Hant-TW` → nothing). Tags are matched case-insensitively.
 */
export function matchLocale(tag: string, available: readonly Locale[]): Locale | undefined {
  const lower = tag.trim().toLowerCase();
  if (!/^[a-z]{1,8}(-[a-z0-9]{1,8})*$/.test(lower)) return undefined;
  const exact = available.find((locale) => locale === lower);
  if (exact) return exact;
  const primary = lower.split('-')[0]!;
  return available.find((locale) => locale === primary);
}

/** An Accept-Language header's tags, most wanted first (q=0 dropped; ties keep their order). Bounded: a header is attacker input. */
export function acceptedLanguages(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .slice(0, 1024)
    .split(',')
    .slice(0, 32)
    .map((part, index) => {
      const [tag = '', ...parameters] = part.trim().split(';');
      const q = parameters.map((parameter) => /^\s*q=([01](?:\.\d{0,3})?)\s*$/.exec(parameter)).find(Boolean);
      return { tag: tag.trim(), q: q ? Number(q[1]) : 1, index };
    })
    .filter((entry) => entry.tag && entry.tag !== '*' && entry.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index)
    .map((entry) => entry.tag);
}

/** A language the person picked with the switcher, and when (epoch seconds): the cookie's content. */
export type LanguageChoice = { locale: Locale; at: number };

const choicePattern = /^([a-z]{2,3})\.(\d{1,12})$/;

/** The switcher's cookie: `de.1796000000`. Anything else (tampered, an old format) is no choice. */
export function parseLanguageChoice(value: string | undefined, available: readonly Locale[]): LanguageChoice | undefined {
  const match = value ? choicePattern.exec(value) : null;
  if (!match) return undefined;
  const locale = available.find((candidate) => candidate === match[1]);
  return locale ? { locale, at: Number(match[2]) } : undefined;
}

export function formatLanguageChoice(choice: LanguageChoice): string {
  return `${choice.locale}.${Math.floor(choice.at)}`;
}

export type LocaleInput = {
  /** The authorization request's `ui_locales` (space-separated tags, most wanted first), when a sign-in is under way. */
  uiLocales?: string | undefined;
  choice?: LanguageChoice | undefined;
  /** Now (epoch seconds), and how recent a choice must be to count as made during this sign-in (its lifetime). */
  now?: number | undefined;
  recentChoiceSeconds?: number | undefined;
  acceptLanguage?: string | undefined;
  fallback: Locale;
  available: readonly Locale[];
};

export type LocaleSource = 'ui_locales' | 'choice' | 'accept-language' | 'default';

/**
 * The language for a page: the application's `ui_locales`, then the person's own choice, then
 * their browser's Accept-Language, then the operator's default. One exception keeps the switcher
 * honest: a choice made recently (within a sign-in's lifetime) beats `ui_locales` — the person
 * asked for it on these very pages, and a sign-in spans several of them (login, then consent).
 */
export function chooseLocale(input: LocaleInput): { locale: Locale; source: LocaleSource } {
  const { available, choice } = input;
  const recent = choice && input.now !== undefined && input.recentChoiceSeconds !== undefined && input.now - choice.at <= input.recentChoiceSeconds;
  if (choice && recent) return { locale: choice.locale, source: 'choice' };
  for (const tag of (input.uiLocales ?? '').split(' ').slice(0, 16)) {
    const locale = tag ? matchLocale(tag, available) : undefined;
    if (locale) return { locale, source: 'ui_locales' };
  }
  if (choice) return { locale: choice.locale, source: 'choice' };
  for (const tag of acceptedLanguages(input.acceptLanguage)) {
    const locale = matchLocale(tag, available);
    if (locale) return { locale, source: 'accept-language' };
  }
  return { locale: available.includes(input.fallback) ? input.fallback : available[0]!, source: 'default' };
}
