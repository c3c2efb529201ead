import type { Context } from 'koa';

import { currentRequest } from '../request-context.ts';
import type { Locale, LocaleInput } from './locales.ts';
import { chooseLocale } from './locales.ts';

/**
 * The language decided for a request (src/web/language.ts decides it first; a sign-in's pages
 * refine it with ui_locales through `speakForSignIn`). Kept on the Koa context and on the request
 * context, so `message()` anywhere below — a library's error, a queued mail — speaks it too.
 */
export type LanguageState = { input: Omit<LocaleInput, 'uiLocales'>; locale: Locale };

function stateOf(ctx: Context): LanguageState | undefined {
  return ctx.state?.language as LanguageState | undefined;
}

export function speak(ctx: Context, locale: Locale): void {
  const state = stateOf(ctx);
  if (state) state.locale = locale;
  const request = currentRequest();
  if (request) request.locale = locale;
}

export function beginLanguage(ctx: Context, input: LanguageState['input']): void {
  ctx.state.language = { input, locale: input.fallback } satisfies LanguageState;
  speak(ctx, chooseLocale(input).locale);
}

/** A sign-in's page: the authorization request's ui_locales join the decision (first, unless the person just chose). */
export function speakForSignIn(ctx: Context, uiLocales: unknown): void {
  const state = stateOf(ctx);
  if (!state || typeof uiLocales !== 'string' || !uiLocales) return;
  speak(ctx, chooseLocale({ ...state.input, uiLocales }).locale);
}

/** The language this answer speaks. */
export function localeOf(ctx: Context): Locale {
  return stateOf(ctx)?.locale ?? (currentRequest()?.locale as Locale | undefined) ?? 'en';
}
