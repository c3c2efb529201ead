import type Router from '@koa/router';
import type Koa from 'koa';
import { koaBody } from 'koa-body';

import { message } from '../messages/messages.ts';
import type { Views } from './views.ts';

/**
 * How our pages and the provider's endpoints share one app: the page routers never see the
 * provider's paths, and the provider's answers get the caching we promise verifiers.
 */

/**
 * The provider's own endpoints, as requested (exact path): no page route can match them, so they
 * skip the page routers' matching. Any other spelling still goes through the routers, as before.
 */
const protocolPaths = new Set([
  '/auth', '/token', '/token/introspection', '/token/revocation', '/me', '/request', '/jwks', '/.well-known/openid-configuration',
  '/session/end', '/session/end/confirm', '/session/end/success', '/device', '/device/auth',
]);

/** Runs the page routers in order, except for the provider's endpoints, which go straight on. */
export function pagesExceptOnProtocolPaths(routers: ReturnType<Router['routes']>[]): Koa.Middleware {
  const chain = routers.reduceRight<(ctx: Koa.Context, next: Koa.Next) => Promise<unknown>>(
    (rest, router) => async (ctx, next) => router(ctx as Parameters<typeof router>[0], () => rest(ctx, next) as Promise<void>),
    async (_ctx, next) => next(),
  );
  return (ctx, next) => (protocolPaths.has(ctx.path) ? next() : chain(ctx, next));
}

/** Verifiers cache the JWKS this long; the rotation schedule publishes keys at least this early. */
export function jwksCaching(maxAgeSeconds: number): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.path === '/jwks' && ctx.status === 200) ctx.set('cache-control', `public, max-age=${Math.floor(maxAgeSeconds)}`);
  };
}

/**
 * OpenID Connect Core §3.1.2.1: the authorization endpoint must take POST too. oidc-provider 9
 * answers POST /auth only when its session cookies are SameSite=None, and ours are Lax (a
 * cross-site POST would not carry them). So a form-encoded POST is answered 303 to the same
 * parameters by GET: a top-level GET navigation, which carries Lax cookies, and which any site
 * could already start with a link, so nothing new is allowed. The size limits ran before this
 * (request-limits.ts) and run again on the GET.
 */
export function authorizationByPost(views: Views, maxBytes: number): Koa.Middleware {
  const parse = koaBody({ json: false, text: false, multipart: false, urlencoded: true, formLimit: maxBytes });
  return async (ctx, next) => {
    if (ctx.path !== '/auth' || ctx.method !== 'POST') return next();
    if (!ctx.is('application/x-www-form-urlencoded')) {
      return views.render(ctx, 'error', {
        title: message('web.request_cannot_continue_title'), code: 'invalid_request', description: message('web.authorization_post_not_form'),
      }, 400);
    }
    await parse(ctx, async () => {});
    const body = (ctx.request as { body?: unknown }).body;
    const parameters = new URLSearchParams();
    for (const [name, value] of Object.entries(body && typeof body === 'object' ? body : {})) {
      // A parameter given twice is left twice: the provider refuses repeated parameters itself.
      for (const one of Array.isArray(value) ? value : [value]) if (typeof one === 'string') parameters.append(name, one);
    }
    ctx.status = 303;
    ctx.redirect(`${ctx.path}?${parameters.toString()}`);
  };
}
