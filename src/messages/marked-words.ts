import type { MessageId, MessageValues } from './messages.ts';

/**
 * A catalog sentence with some of its values marked up (an address in bold, an error code as
 * <code>, a link), for pages and HTML mails alike: the translator still gets the whole sentence and
 * places each value where their language wants it. Only the constructors below make a `Markup`,
 * and they escape every text and attribute they are given, so no value can carry markup of its own.
 */
declare const markupBrand: unique symbol;
export type Markup = { readonly [markupBrand]: true };

export type MarkedValues = Record<string, string | number | Markup | null | undefined>;

// A Markup is an empty frozen object whose HTML only this module can look up: a look-alike object
// (`{ markup: '<script>' }`) is not one, and is shown as text.
const built = new WeakMap<object, string>();

function markup(html: string): Markup {
  const made = Object.freeze({}) as Markup;
  built.set(made, html);
  return made;
}

export function isMarkup(value: unknown): value is Markup {
  return typeof value === 'object' && value !== null && built.has(value);
}

const entities: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&#39;' };

/** The same escaping as Eta's `<%= %>`, so a page reads the same whichever way a value reached it. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => entities[character]!);
}

const textOf = (value: unknown) => escapeHtml(String(value ?? ''));

/** A value in bold. */
export function strong(text: unknown): Markup {
  return markup(`<strong>${textOf(text)}</strong>`);
}

/** A value as code (an error code, a request id, an IP address). */
export function code(text: unknown): Markup {
  return markup(`<code>${textOf(text)}</code>`);
}

/** A value in a span of the stylesheet's class (`client-host`). */
export function span(className: string, text: unknown): Markup {
  return markup(`<span class="${textOf(className)}">${textOf(text)}</span>`);
}

/** A date or time a machine can read too: `<time datetime="2025-05-01">1 May 2025</time>`. */
export function time(iso: string, text: unknown): Markup {
  return markup(`<time datetime="${textOf(iso)}">${textOf(text)}</time>`);
}

/**
 * Where a link may lead: a path on this site (it.urls…; never `//host` or `/\host`, which a browser
 * reads as another host) or an http(s) address. No whitespace or control character anywhere, since
 * browsers drop them from URLs (`/\t/evil.example` would become `//evil.example`).
 */
export function acceptableHref(href: string): boolean {
  if (/[\s\p{Cc}]/u.test(href)) return false;
  if (href.startsWith('/')) return !href.startsWith('//') && !href.startsWith('/\\');
  if (!URL.canParse(href)) return false;
  const { protocol } = new URL(href);
  return protocol === 'https:' || protocol === 'http:';
}

/** A link; any other href (`javascript:`, `//host`, `data:`) gives the text alone. */
export function link(href: string, text: unknown): Markup {
  return acceptableHref(String(href ?? ''))
    ? markup(`<a href="${textOf(href)}">${textOf(text)}</a>`)
    : markup(textOf(text));
}

/** Several pieces in one value's place (a name in bold, then its host): Markups kept, text escaped. */
export function joined(...parts: (Markup | string | number)[]): Markup {
  return markup(parts.map((part) => (isMarkup(part) ? built.get(part)! : textOf(part))).join(''));
}

/** The constructors, as templates get them (`it.mark.code(…)`; `it.strong` too, the common one). */
export const mark = Object.freeze({ strong, code, span, time, link, joined });

export type Translate = (id: MessageId, values?: MessageValues) => string;

// Where a marked value stands while the sentence is worded and escaped: characters of the private use area.
const open = '\uE000';
const close = '\uE001';
const placeholder = new RegExp(`${open}(\\d+)${close}`, 'g');
const reserved = new RegExp(`[${open}${close}]`, 'g');

/**
 * The sentence `id` as HTML (`<%~ it.tHtml(id, { email: it.strong(it.email) }) %>`): the catalog's
 * words and the plain values escaped, each Markup put where the translation placed its value. Plain
 * values lose the placeholder characters, so no typed-in value can stand in for a Markup.
 */
export function markedSentence(translate: Translate, id: MessageId, values: MarkedValues = {}): string {
  const plain: MessageValues = {};
  const markups: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (isMarkup(value)) {
      plain[name] = `${open}${markups.length}${close}`;
      markups.push(built.get(value)!);
    } else if (typeof value === 'number') {
      plain[name] = value;
    } else {
      plain[name] = String(value ?? '').replace(reserved, '');
    }
  }
  return escapeHtml(translate(id, plain)).replace(placeholder, (_, index: string) => markups[Number(index)] ?? '');
}
