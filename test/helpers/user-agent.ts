import { parse } from 'node-html-parser';
import type { HTMLElement } from 'node-html-parser';
import { CookieJar } from 'tough-cookie';

export type Page = { url: string; status: number; headers: Headers; body: string; document: HTMLElement };

/**
 * A browser without a screen: keeps cookies, follows redirects one by one (stopping at URLs that
 * are not ours, such as a client's redirect URI), reads pages and submits their real forms.
 */
export class UserAgent {
  readonly jar = new CookieJar();
  /** Every URL visited, in order: lets tests assert what was (not) redirected to. */
  readonly visited: string[] = [];
  /** The provider's origins (several instances of one provider); redirects elsewhere stop navigation. */
  readonly origins: Set<string>;
  /** Sent with every request (e.g. Accept-Language), unless a request sets its own. */
  readonly headers: Record<string, string> = {};

  constructor(...origins: string[]) {
    this.origins = new Set(origins.map((origin) => new URL(origin).origin));
  }

  async request(url: string, init: { method?: string; body?: URLSearchParams | string; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers = new Headers({ ...this.headers, ...init.headers });
    const cookie = await this.jar.getCookieString(url);
    if (cookie) headers.set('cookie', cookie);
    if (init.body instanceof URLSearchParams) headers.set('content-type', 'application/x-www-form-urlencoded');
    const response = await fetch(url, { method: init.method ?? 'GET', headers, body: init.body?.toString(), redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) await this.jar.setCookie(setCookie, url);
    this.visited.push(url);
    return response;
  }

  /** Follows redirects while they stay on the provider; returns the page, or the foreign URL reached. */
  async navigate(url: string, init: Parameters<UserAgent['request']>[1] = {}): Promise<Page | { redirectedTo: string }> {
    let response = await this.request(url, init);
    let current = url;
    for (let hops = 0; hops < 20 && response.status >= 300 && response.status < 400; hops += 1) {
      const location = new URL(response.headers.get('location')!, current).href;
      if (!this.origins.has(new URL(location).origin)) return { redirectedTo: location };
      current = location;
      response = await this.request(current);
    }
    const body = await response.text();
    return { url: current, status: response.status, headers: response.headers, body, document: parse(body) };
  }

  async page(url: string, init: Parameters<UserAgent['request']>[1] = {}): Promise<Page> {
    const result = await this.navigate(url, init);
    if ('redirectedTo' in result) throw new Error(`expected a page, was redirected to ${result.redirectedTo}`);
    return result;
  }

  /** Submits the form whose action contains `actionPart`, with its hidden fields plus `fields`. */
  async submit(page: Page, actionPart: string, fields: Record<string, string> = {}): Promise<Page | { redirectedTo: string }> {
    const form = page.document.querySelectorAll('form').find((candidate) => (candidate.getAttribute('action') ?? '').includes(actionPart));
    if (!form) throw new Error(`no form with action containing ${actionPart} on ${page.url}:\n${page.body}`);
    const body = new URLSearchParams();
    for (const input of form.querySelectorAll('input')) {
      const name = input.getAttribute('name');
      if (name && input.getAttribute('type') === 'hidden') body.set(name, input.getAttribute('value') ?? '');
    }
    for (const [name, value] of Object.entries(fields)) body.set(name, value);
    return this.navigate(new URL(form.getAttribute('action')!, page.url).href, { method: (form.getAttribute('method') ?? 'GET').toUpperCase(), body });
  }
}

export function isPage(result: Page | { redirectedTo: string }): result is Page {
  return 'document' in result;
}

/** The page a navigation ended on; a redirect away from the provider fails the test with where it went. */
export function asPage(result: Page | { redirectedTo: string }): Page {
  if (!isPage(result)) throw new Error(`expected a page, was redirected to ${result.redirectedTo}`);
  return result;
}

/** The text of the error shown with the form — its alert, else its first field's problem — or ''. */
export function alertOf(page: Page): string {
  return (page.document.querySelector('[role=alert]') ?? page.document.querySelector('.field-error'))?.text.trim() ?? '';
}

/** The absolute URL of the first link on the page whose text contains `text`. */
export function linkTo(page: Page, text: string): string {
  const anchor = page.document.querySelectorAll('a').find((candidate) => candidate.text.includes(text));
  if (!anchor) throw new Error(`no "${text}" link on ${page.url}`);
  return new URL(anchor.getAttribute('href')!, page.url).href;
}
