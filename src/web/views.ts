import type { Context } from 'koa';

import { viewsDir } from '../config/paths.ts';
import type { Config } from '../config/load-config.ts';
import type { PageRenderer } from '../flows/kit.ts';
import type { MessageId, MessageValues } from '../messages/messages.ts';
import { message } from '../messages/messages.ts';
import type { MarkedValues } from '../messages/marked-words.ts';
import { mark, markedSentence, strong } from '../messages/marked-words.ts';
import { urls } from '../urls.ts';
import { localeOf } from '../messages/request-locale.ts';
import { pageLanguage } from './language.ts';
import { layeredEta } from '../theme/template-files.ts';

/** The renderer the flows are handed: the page names and data are theirs (src/flows/kit.ts), the HTML is ours. */
export type Views = PageRenderer;
export type { ViewName } from '../flows/kit.ts';

export type ViewOptions = {
  dir?: string;
  /** The operator's templates (THEME_DIR): a file here replaces the project's file of the same name. */
  overrideDir?: string | undefined;
  cache?: boolean;
  languages?: Config['languages'];
  /** What every page shows of the operator's brand (src/web/branding.ts); the layout reads `it.brand`. */
  brand?: unknown;
};

const everyLanguage = { default: 'en', available: ['en'] } as const satisfies Config['languages'];

/** `it.t(id, values)` in a template: the catalog's sentence in the page's language (escaped by `<%=`, like any value). */
export type Translate = (id: MessageId, values?: MessageValues) => string;

export function translatorFor(ctx: Context): Translate {
  const locale = localeOf(ctx);
  return (id, values) => message(id, values, locale);
}

/** Field problems a page shows, by field name (in the form's order): `{ email: 'Enter a valid email address.' }`. */
export type FieldErrors = Record<string, string | undefined>;

const attribute = (value: string) => value.replace(/[^A-Za-z0-9_-]/g, '_');

/**
 * `it.invalid(name)` in a template: the attributes that tie a field to its problem (WCAG 3.3.1,
 * 4.1.2) — `aria-invalid`, `aria-describedby` pointing at `<name>-error`, and `autofocus` on the
 * first field with a problem, so focus lands there when the page comes back. Field names are the
 * template's own constants, never input; the result goes out raw (`<%~`).
 */
export function fieldAttributes(errors: FieldErrors | undefined): (name: string) => string {
  const first = errors ? Object.keys(errors).find((name) => errors[name]) : undefined;
  return (name) => (errors?.[name]
    ? ` aria-invalid="true" aria-describedby="${attribute(name)}-error"${name === first ? ' autofocus' : ''}`
    : '');
}

/** What failed, for the page's title (WCAG 2.4.2, 3.3.1): the form's error, else its first field's. */
export function problemOf(data: Record<string, unknown>): string | undefined {
  if (typeof data.error === 'string' && data.error) return data.error;
  const errors = data.errors as FieldErrors | undefined;
  return errors ? Object.values(errors).find((value): value is string => typeof value === 'string' && value !== '') : undefined;
}

export function createViews(options: ViewOptions = {}): Views {
  // autoEscape: every `<%= %>` is HTML-escaped; raw output (`<%~ %>`) is reserved for the layout's
  // body, the provider's own logout form and it.tHtml's sentences (escaped piece by piece).
  const eta = layeredEta({ roots: [options.overrideDir ?? '', options.dir ?? viewsDir], autoEscape: true, cache: options.cache ?? true });
  const languages = options.languages ?? everyLanguage;
  return {
    render(ctx, name, data, status = 200) {
      ctx.status = status;
      ctx.type = 'text/html; charset=utf-8';
      ctx.set('cache-control', 'no-store');
      // Forms carry the request's CSRF token (see forms.ts) unless the page sets its own; every
      // address a page links or posts to comes from `it.urls` (src/urls.ts); every word from `it.t`.
      const csrf = typeof ctx.state?.csrf === 'string' ? ctx.state.csrf : undefined;
      const t = translatorFor(ctx);
      ctx.body = eta.render(name, {
        urls,
        t,
        // A sentence with marked-up values: `<%~ it.tHtml(id, { client: it.strong(it.clientName) }) %>` (src/messages/marked-words.ts).
        tHtml: (id: MessageId, values?: MarkedValues) => markedSentence(t, id, values),
        strong,
        mark,
        ...pageLanguage(ctx, { languages }),
        brand: options.brand,
        ...(csrf ? { csrf } : {}),
        invalid: fieldAttributes(data.errors as FieldErrors | undefined),
        problem: problemOf(data),
        failed: status >= 400,
        ...data,
      });
    },
  };
}
