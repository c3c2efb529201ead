import type Router from '@koa/router';
import type Koa from 'koa';

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
  '/session/end', '/session/end/confirm', '/session/end/success',
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
