import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import Koa from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GatehouseError } from '../../src/errors.ts';
import { supportedLocales } from '../../src/messages/locales.ts';
import { message } from '../../src/messages/messages.ts';
import { runInRequest } from '../../src/request-context.ts';
import { urls } from '../../src/urls.ts';
import { errorPages, withRequestIds } from '../../src/web/error-pages.ts';
import { languageMiddleware } from '../../src/web/language.ts';
import { createProviderPages } from '../../src/web/provider-pages.ts';
import { oversizedAuthorizationParameter } from '../../src/web/request-limits.ts';
import { createStaticRoutes } from '../../src/web/static-routes.ts';
import { createViews } from '../../src/web/views.ts';

const views = createViews();
const silent = { error: () => {}, warn: () => {}, info: () => {} } as never;
let base: string;
let close: () => void;

beforeAll(async () => {
  const app = new Koa();
  // As in the app: each request has its context (its id, its language), then the language is chosen.
  app.use((_ctx, next) => runInRequest({ requestId: 'req-pages-1' }, next));
  app.use(languageMiddleware({ languages: { default: 'en', available: [...supportedLocales] }, ttl: { interaction: 3600 } } as never, () => new Date()));
  app.use(errorPages(withRequestIds(views), silent));
  app.use(createStaticRoutes({ views, config: { issuer: 'http://localhost:3000' } }).routes());
  app.use((ctx, next) => {
    if (ctx.path === '/refused') throw new GatehouseError('forbidden', 'web.form_expired');
    if (ctx.path === '/broken') throw new Error('secret detail');
    return next();
  });
  const server = createServer(app.callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});

afterAll(() => close?.());

describe('static routes', () => {
  it('serves the home page with the discovery link', async () => {
    const response = await fetch(`${base}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const html = await response.text();
    expect(html).toContain('<title>Gatehouse</title>');
    expect(html).toContain('<a href="/.well-known/openid-configuration">http://localhost:3000/.well-known/openid-configuration</a>');
    expect(html).toContain('<link rel="stylesheet" href="/assets/gatehouse.css">');
  });

  it('serves the stylesheet, cached for an hour', async () => {
    const response = await fetch(`${base}${urls.stylesheet()}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('public, max-age=3600');
    expect((await response.text()).length).toBeGreaterThan(0);
  });

  it('answers the favicon with nothing, cached for a day', async () => {
    const response = await fetch(`${base}/favicon.ico`);
    expect(response.status).toBe(204);
    expect(response.headers.get('cache-control')).toBe('public, max-age=86400');
  });
});

describe('error pages', () => {
  it('draws a 404 page', async () => {
    const response = await fetch(`${base}/nowhere`);
    expect(response.status).toBe(404);
    const html = await response.text();
    expect(html).toContain('<title>Error: Page not found · Gatehouse</title>');
    expect(html).toContain('There is no page at this address.');
    expect(html).toContain('<a href="/">Gatehouse home</a>');
  });

  it('puts our own errors in words from the catalog', async () => {
    const response = await fetch(`${base}/refused`);
    expect(response.status).toBe(403);
    const html = await response.text();
    expect(html).toContain('<title>Error: This request cannot continue · Gatehouse</title>');
    expect(html).toContain('This form has expired or did not come from this site. Go back, reload the page and try again.');
    expect(html).toContain('<code>forbidden</code>');
  });

  it('says nothing internal about a failure', async () => {
    const response = await fetch(`${base}/broken`);
    expect(response.status).toBe(500);
    const html = await response.text();
    expect(html).toContain('<title>Error: Something went wrong · Gatehouse</title>');
    expect(html).not.toContain('secret detail');
  });
});

describe('in the reader’s language', () => {
  const german = { headers: { 'accept-language': 'de-DE,de;q=0.9' } };

  it('draws the home page in the browser’s language', async () => {
    const html = await (await fetch(`${base}/`, german)).text();
    expect(html).toContain('<html lang="de" dir="ltr">');
    expect(html).toContain(`<h1>${message('home.heading', undefined, 'de')}</h1>`);
    expect(html).toContain(message('home.intro', undefined, 'de'));
    const [before] = message('home.discovery', { link: '\u0001' }, 'de').split('\u0001');
    expect(html).toContain(`${before}<a href="/.well-known/openid-configuration">`);
  });

  it('draws an error page in the browser’s language, right to left for Arabic', async () => {
    const html = await (await fetch(`${base}/nowhere`, german)).text();
    expect(html).toContain('<html lang="de" dir="ltr">');
    expect(html).toContain(`<title>${message('layout.title_failed', { title: message('web.page_not_found_title', undefined, 'de') }, 'de')} · Gatehouse</title>`);
    expect(html).toContain(message('error.not_found', undefined, 'de'));
    expect(html).toContain(`<a href="/">${message('error_page.home', undefined, 'de')}</a>`);
    expect(html).toContain('<code>req-pages-1</code>');
    expect(html).not.toContain('Gatehouse home');
    const arabic = await (await fetch(`${base}/refused`, { headers: { 'accept-language': 'ar' } })).text();
    expect(arabic).toContain('<html lang="ar" dir="rtl">');
    expect(arabic).toContain(message('error_page.start_again', undefined, 'ar'));
  });
});

describe('templates', () => {
  it('receive the one URL module as it.urls', () => {
    const ctx = { set() {}, state: { csrf: 'token' } } as never as Parameters<typeof views.render>[0];
    views.render(ctx, 'login', { title: 'Sign in', uid: 'uid-1', clientName: 'App', email: '', registrationOpen: true });
    const html = String(ctx.body);
    for (const address of [urls.login('uid-1'), urls.forgotPassword('uid-1'), urls.register('uid-1'), urls.abort('uid-1')]) expect(html).toContain(`"${address}"`);
    expect(html).toContain('action="/interaction/uid-1/login"');
    expect(html).toContain('name="csrf" value="token"');
  });
});

describe('provider pages', () => {
  const pages = createProviderPages(views);
  const context = (client?: { clientId: string; clientName?: string }) => ({ set() {}, state: {}, status: 404, oidc: { client } }) as unknown as KoaContextWithOIDC;

  it('asks before signing out, naming the client', async () => {
    const ctx = context({ clientId: 'c1', clientName: 'Photo app' });
    await pages.logoutSource(ctx, '<form id="op.logoutForm"></form>');
    expect(ctx.body).toContain('<title>Sign out · Gatehouse</title>');
    expect(ctx.body).toContain('<strong>Photo app</strong> asks to sign you out');
    expect(ctx.body).toContain('<form id="op.logoutForm"></form>');
  });

  it('confirms the sign-out', async () => {
    const ctx = context({ clientId: 'c1' });
    await pages.postLogoutSuccessSource(ctx);
    expect(ctx.body).toContain('<title>Signed out · Gatehouse</title>');
    expect(ctx.body).toContain('<strong>c1</strong>');
  });

  it('draws a protocol error with its status', async () => {
    const ctx = context();
    (ctx as { status: number }).status = 400;
    await pages.renderError(ctx, { error: 'invalid_request', error_description: 'missing required parameter' }, new Error('x'));
    expect(ctx.status).toBe(400);
    expect(ctx.body).toContain('<title>Error: This request cannot continue · Gatehouse</title>');
    expect(ctx.body).toContain('missing required parameter');
  });
});

describe('authorization request limits', () => {
  it('names the parameter that is too long, in the same words', () => {
    expect(oversizedAuthorizationParameter(new URLSearchParams({ state: 'x'.repeat(1025) }))).toBe('state is too long (at most 1024 characters)');
    expect(oversizedAuthorizationParameter(new URLSearchParams({ id_token_hint: 'x'.repeat(8193) }))).toBe('id_token_hint is too long (at most 8192 characters)');
    expect(oversizedAuthorizationParameter(new URLSearchParams({ state: 'x'.repeat(1024) }))).toBeUndefined();
  });
});
