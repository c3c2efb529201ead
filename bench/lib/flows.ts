import { performance } from 'node:perf_hooks';

import type { RegisteredClient } from './fixture.ts';
import { basicAuth, benchUser, redirectUri } from './fixture.ts';
import type { Response } from './http.ts';
import { CookieJar, form, loopbackSource, pkcePair, randomState, send } from './http.ts';

export const flowSteps = ['authorize', 'login', 'consent', 'token'] as const;
export type FlowStep = (typeof flowSteps)[number];

type Page = Response & { url: string };
type Landing = Page | { redirectedTo: string };

/** A browser without a screen: one cookie jar, redirects followed while they stay on the server. */
export class Browser {
  readonly jar = new CookieJar();
  readonly base: string;
  /** This browser's own loopback source address (see loopbackSource). */
  readonly localAddress = loopbackSource();

  constructor(base: string) {
    this.base = base;
  }

  async navigate(url: string, init: { method?: string; body?: string } = {}): Promise<Landing> {
    let current = url;
    let response = await this.request(current, init);
    for (let hops = 0; hops < 10 && response.status >= 300 && response.status < 400; hops += 1) {
      const location = new URL(String(response.headers.location), current);
      if (location.origin !== new URL(this.base).origin) return { redirectedTo: location.href };
      current = location.href;
      response = await this.request(current);
    }
    if (response.status !== 200) throw new Error(`${init.method ?? 'GET'} ${current} answered ${response.status}: ${response.body.slice(0, 300)}`);
    return { ...response, url: current };
  }

  private async request(url: string, init: { method?: string; body?: string } = {}): Promise<Response> {
    const response = await send(url, { ...init, headers: this.jar.header(), localAddress: this.localAddress });
    this.jar.store(response.headers);
    return response;
  }
}

function isPage(landing: Landing): landing is Page {
  return 'body' in landing;
}

const entities: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#x27;': "'", '&#x2F;': '/' };
const unescapeHtml = (text: string) => text.replace(/&(?:amp|lt|gt|quot|#39|#x27|#x2F);/g, (entity) => entities[entity]!);
const attribute = (tag: string, name: string) => {
  const value = new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
  return value === undefined ? undefined : unescapeHtml(value);
};

/** What a browser submits for the page's form whose action contains `actionPart`: its URL and hidden fields (a CSRF token). */
function formOf(page: Page, actionPart: string): { url: string; fields: Record<string, string> } {
  for (const [, attributes = '', content = ''] of page.body.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    const action = attribute(attributes, 'action');
    if (!action?.includes(actionPart)) continue;
    const fields: Record<string, string> = {};
    for (const [tag] of content.matchAll(/<input\b[^>]*>/g)) {
      const name = attribute(tag, 'name');
      if (name && attribute(tag, 'type') === 'hidden') fields[name] = attribute(tag, 'value') ?? '';
    }
    return { url: new URL(action, page.url).href, fields };
  }
  throw new Error(`no form posting to ${actionPart} at ${page.url}: ${page.body.slice(0, 300)}`);
}

export type TokenResponse = { access_token: string; refresh_token?: string; id_token?: string; expires_in: number };

/**
 * The authorization code flow with PKCE through the server's own pages, as a person clicks it:
 * authorize (to the login page), login (the form, to the consent page), consent (to the client's
 * redirect URI, with the code), token (the code exchange). A browser that is already signed in
 * skips the login page. `timings` receives each step's milliseconds.
 */
export async function authorizationCodeFlow(
  browser: Browser,
  client: RegisteredClient,
  scope: string,
  options: { prompt?: string; timings?: Partial<Record<FlowStep, number>> } = {},
): Promise<TokenResponse> {
  const timings = options.timings ?? {};
  const { verifier, challenge } = pkcePair();
  const state = randomState();
  const authorize = new URL('/auth', browser.base);
  authorize.search = form({
    client_id: client.clientId, response_type: 'code', redirect_uri: redirectUri, scope, state,
    code_challenge: challenge, code_challenge_method: 'S256', ...(options.prompt ? { prompt: options.prompt } : {}),
  });

  let started = performance.now();
  let landing = await browser.navigate(authorize.href);
  timings.authorize = performance.now() - started;
  for (let steps = 0; steps < 4 && isPage(landing); steps += 1) {
    started = performance.now();
    if (landing.body.includes('name="password"')) {
      const login = formOf(landing, '/login');
      landing = await browser.navigate(login.url, { method: 'POST', body: form({ ...login.fields, email: benchUser.email, password: benchUser.password }) });
      timings.login = performance.now() - started;
    } else if (landing.body.includes('value="allow"')) {
      const consent = formOf(landing, '/consent');
      landing = await browser.navigate(consent.url, { method: 'POST', body: form({ ...consent.fields, decision: 'allow' }) });
      timings.consent = performance.now() - started;
    } else {
      throw new Error(`unexpected page at ${landing.url}: ${landing.body.slice(0, 300)}`);
    }
  }
  if (isPage(landing)) throw new Error(`the flow did not reach the client: ${landing.url}`);
  const callback = new URL(landing.redirectedTo);
  const code = callback.searchParams.get('code');
  if (!code || callback.searchParams.get('state') !== state) throw new Error(`no code at the redirect: ${landing.redirectedTo}`);

  started = performance.now();
  const exchange = await send(new URL('/token', browser.base).href, {
    method: 'POST', localAddress: browser.localAddress,
    headers: client.clientSecret ? { authorization: basicAuth(client) } : {},
    body: form({ grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier, ...(client.clientSecret ? {} : { client_id: client.clientId }) }),
  });
  timings.token = performance.now() - started;
  if (exchange.status !== 200) throw new Error(`code exchange answered ${exchange.status}: ${exchange.body}`);
  return JSON.parse(exchange.body) as TokenResponse;
}

export type FlowLoadResult = {
  flows: number;
  seconds: number;
  flowsPerSecond: number;
  errors: number;
  firstError?: string;
  /** Milliseconds per whole flow and per step, every flow that completed. */
  samples: Record<FlowStep | 'total', number[]>;
};

/** `concurrency` people signing in over and over for `durationMs`, each time in a fresh browser. */
export async function flowLoad(base: string, client: RegisteredClient, scope: string, options: { concurrency: number; durationMs: number }): Promise<FlowLoadResult> {
  const samples: FlowLoadResult['samples'] = { authorize: [], login: [], consent: [], token: [], total: [] };
  let flows = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  const deadline = started + options.durationMs;
  const person = async () => {
    while (performance.now() < deadline) {
      const timings: Partial<Record<FlowStep, number>> = {};
      const flowStarted = performance.now();
      try {
        await authorizationCodeFlow(new Browser(base), client, scope, { timings });
        samples.total.push(performance.now() - flowStarted);
        for (const step of flowSteps) samples[step].push(timings[step] ?? 0);
        flows += 1;
      } catch (error) {
        errors += 1;
        firstError ??= (error as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, person));
  const seconds = (performance.now() - started) / 1000;
  return { flows, seconds, flowsPerSecond: flows / seconds, errors, ...(firstError ? { firstError } : {}), samples };
}

/**
 * Refresh tokens for the rotation scenario: a few browsers sign in once, then run the flow again
 * and again on their session (prompt=consent: offline_access is only granted on the consent page),
 * each flow ending in a new grant-bound refresh token. No password hash after the first login.
 */
export async function mintTokens(base: string, client: RegisteredClient, scope: string, count: number, parallel = 4): Promise<TokenResponse[]> {
  const minted: TokenResponse[] = [];
  await Promise.all(Array.from({ length: parallel }, async () => {
    const browser = new Browser(base);
    while (minted.length < count) minted.push(await authorizationCodeFlow(browser, client, scope, { prompt: 'consent' }));
  }));
  return minted;
}
