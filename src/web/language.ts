import Router from '@koa/router';
import type Koa from 'koa';
import type { Context } from 'koa';

import type { Clock } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import type { Locale } from '../messages/locales.ts';
import { directionOf, formatLanguageChoice, localeNames, matchLocale, parseLanguageChoice } from '../messages/locales.ts';
import type { LanguageState } from '../messages/request-locale.ts';
import { beginLanguage, localeOf } from '../messages/request-locale.ts';
import { currentRequest } from '../request-context.ts';
import { routes, urls } from '../urls.ts';

/**
 * Which language a page (and any mail sent while serving it) speaks. This middleware decides from
 * the person's remembered choice, their browser's Accept-Language and the operator's default; a
 * sign-in's pages refine it with the authorization request's ui_locales (flows/interaction.ts,
 * through `speakForSignIn` in src/messages/request-locale.ts). The rule itself is the pure `chooseLocale` (src/messages/locales.ts).
 */

/** The switcher's cookie: `<code>.<epoch seconds>`, a year; not a secret, not signed (a forged value can only pick another language). */
export const languageCookie = 'gatehouse.lang';
const cookieMaxAgeMs = 365 * 86_400_000;

export function languageMiddleware(config: Pick<Config, 'languages' | 'ttl' | 'messageOverrides'>, clock: Clock, productName = 'Gatehouse'): Koa.Middleware {
  const { available } = config.languages;
  return async (ctx, next) => {
    // The brand's name and the operator's own words go with the request, to every sentence worded for it.
    const request = currentRequest();
    if (request) {
      request.product = productName;
      if (config.messageOverrides) request.words = config.messageOverrides;
    }
    const input: LanguageState['input'] = {
      choice: parseLanguageChoice(ctx.cookies.get(languageCookie), available),
      acceptLanguage: ctx.get('accept-language'),
      now: Math.floor(clock().getTime() / 1000),
      recentChoiceSeconds: config.ttl.interaction,
      fallback: config.languages.default,
      available,
    };
    beginLanguage(ctx, input);
    await next();
  };
}

/**
 * Where the switcher comes back to: this page when it was a GET; after a POST (a form shown again
 * with an error), the page that form belongs to — the sign-in's step or the account page — since a
 * POST address cannot be loaded again.
 */
export function returnAddress(ctx: Context): string {
  if (ctx.method === 'GET' || ctx.method === 'HEAD') return ctx.originalUrl;
  const interaction = /^\/interaction\/([^/]+)/.exec(ctx.path);
  if (interaction) return `/interaction/${interaction[1]}`;
  if (ctx.path.startsWith('/account')) return '/account';
  return '/';
}

/** A return address is only ever a path on this site: never `//host`, `/\\host` or a scheme. */
export function safeReturn(value: unknown): string {
  if (typeof value !== 'string' || value.length > 2048) return '/';
  if (!value.startsWith('/') || value.startsWith('//') || value.startsWith('/\\') || /\p{Cc}/u.test(value)) return '/';
  return value;
}

export type LanguageLink = { locale: Locale; name: string; href: string; current: boolean };

/** The switcher's entries for this page, each language named in itself. */
export function languageLinks(ctx: Context, config: Pick<Config, 'languages'>): LanguageLink[] {
  const current = localeOf(ctx);
  const back = returnAddress(ctx);
  return config.languages.available.map((locale) => ({ locale, name: localeNames[locale], href: urls.language(locale, back), current: locale === current }));
}

/** What the layout needs to speak the page's language: `lang`, `dir` and the switcher. */
export function pageLanguage(ctx: Context, config: Pick<Config, 'languages'>): { locale: Locale; dir: 'ltr' | 'rtl'; languages: LanguageLink[] } {
  const locale = localeOf(ctx);
  return { locale, dir: directionOf(locale), languages: config.languages.available.length > 1 ? languageLinks(ctx, config) : [] };
}

/** GET /language/:code?return=/path — remembers the choice and goes back. An unknown code changes nothing. */
export function createLanguageRoutes(config: Pick<Config, 'languages'>, clock: Clock): Router {
  const router = new Router();
  router.get(routes.language, (ctx) => {
    const locale = matchLocale(String(ctx.params.id ?? ''), config.languages.available);
    if (locale && locale === ctx.params.id) {
      ctx.cookies.set(languageCookie, formatLanguageChoice({ locale, at: Math.floor(clock().getTime() / 1000) }), {
        httpOnly: true, sameSite: 'lax', maxAge: cookieMaxAgeMs, signed: false, overwrite: true,
      });
    }
    ctx.set('cache-control', 'no-store');
    ctx.status = 303;
    ctx.redirect(safeReturn(ctx.query.return));
  });
  return router;
}
