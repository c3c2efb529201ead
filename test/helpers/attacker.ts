import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';

import { expect } from 'vitest';

import type { Page, UserAgent } from './user-agent.ts';

/**
 * Small tools for the tests that play the attacker (test/security/): raw requests built from a
 * page's real form, and the checks every answer to hostile input must pass.
 */

/** HTTP Basic client authentication (RFC 6749 §2.3.1: both parts form-urlencoded first). */
export function basicAuth(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

/** The form on `page` whose action contains `actionPart`: its absolute action URL and hidden fields (csrf included, when it has one). */
export function formOf(page: Page, actionPart: string): { action: string; method: string; hidden: URLSearchParams } {
  const form = page.document.querySelectorAll('form').find((candidate) => (candidate.getAttribute('action') ?? '').includes(actionPart));
  if (!form) throw new Error(`no form with action containing ${actionPart} on ${page.url}:\n${page.body}`);
  const hidden = new URLSearchParams();
  for (const input of form.querySelectorAll('input')) {
    const name = input.getAttribute('name');
    if (name && input.getAttribute('type') === 'hidden') hidden.append(name, input.getAttribute('value') ?? '');
  }
  return { action: new URL(form.getAttribute('action')!, page.url).href, method: (form.getAttribute('method') ?? 'GET').toUpperCase(), hidden };
}

/** What gives an implementation away: a stack frame, a file of ours or of a dependency, an error's string form. */
export const leaks: [string, RegExp][] = [
  ['a stack frame', /\bat \S+ \(/],
  ['a stack frame without a function name', /\n\s+at (file:|node:|\/)/],
  ['a dependency path', /node_modules/],
  ['an error string', /\b[A-Z]\w*Error: /],
  ['"Error:"', /\bError: /],
  ['a source file', /\/(src|lib)\/[\w/-]+\.(ts|js):\d+/],
];

/** The checks every answer to hostile input must pass: a client error at worst, nothing internal in it. */
export function expectCleanAnswer(response: { status: number }, body: string, label = ''): void {
  expect(response.status, `${label} status`).toBeLessThan(500);
  // A page shown again after a failure says so in its title ("Error: …", layout.title_error): our words, not a leak.
  const checked = body.replace(/<title>Error: /, '<title>');
  for (const [name, pattern] of leaks) expect(checked, `${label}: ${name} in the body`).not.toMatch(pattern);
}

/** A marker no template contains: if it comes back unescaped, markup typed by someone was reflected. */
export const scriptPayload = '<script>alert(1)</script>';
export const markupPayloads = [scriptPayload, '"><img src=x onerror=alert(1)>', "'><svg onload=alert(1)>"];

/** No payload above comes back as markup. */
export function expectNoReflectedMarkup(body: string, label = ''): void {
  expect(body, `${label}: reflected <script>`).not.toContain(scriptPayload);
  expect(body, `${label}: reflected <img onerror>`).not.toContain('<img src=x onerror');
  expect(body, `${label}: reflected <svg onload>`).not.toContain('<svg onload');
}

export type RawRequest = {
  method: string;
  /** Sent as is: no normalization of dot segments, percent-encoding or bytes (latin1 characters become single bytes). */
  path: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** The URL whose cookies go with the request (default: the path on `origin`, when it parses). */
  cookieUrl?: string;
};

export type RawResponse = { status: number; headers: IncomingHttpHeaders; body: string };

/**
 * One request exactly as given, over node:http rather than fetch (which would normalize the path and
 * insist on valid text), with the cookies of `ua` (and keeping the ones set). Resolves with the answer
 * as soon as it is complete, even when the server stopped reading an oversized body.
 */
export function rawRequest(origin: string, input: RawRequest, ua?: UserAgent, timeoutMs = 20_000): Promise<RawResponse> {
  const target = new URL(origin);
  const cookieUrl = input.cookieUrl ?? (() => {
    try {
      return new URL(input.path, origin).href;
    } catch {
      return origin;
    }
  })();
  return (async () => {
    const headers: Record<string, string> = { ...input.headers };
    const cookie = ua ? await ua.jar.getCookieString(cookieUrl) : '';
    if (cookie) headers.cookie = cookie;
    const body = input.body === undefined ? undefined : typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : Buffer.from(input.body);
    if (body) headers['content-length'] = String(body.length);
    const answer = await new Promise<RawResponse>((resolve, reject) => {
      let settled = false;
      const request = httpRequest({ host: target.hostname, port: target.port, method: input.method, path: input.path, headers, insecureHTTPParser: false }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          settled = true;
          clearTimeout(timer);
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        response.on('error', (error) => {
          if (!settled) reject(error);
        });
      });
      const timer = setTimeout(() => request.destroy(new Error(`no answer within ${timeoutMs} ms to ${input.method} ${input.path.slice(0, 200)}`)), timeoutMs);
      // The server may answer (413, 431) and close before reading all of a huge request: the answer counts.
      request.on('error', (error) => {
        if (!settled) setTimeout(() => !settled && reject(error), 200);
      });
      request.end(body);
    });
    if (ua) for (const setCookie of [answer.headers['set-cookie'] ?? []].flat()) await ua.jar.setCookie(setCookie, cookieUrl);
    return answer;
  })();
}
