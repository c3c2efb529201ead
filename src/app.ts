import type { RequestListener } from 'node:http';

import type Router from '@koa/router';
import Koa from 'koa';
import mount from 'koa-mount';
import Provider, { errors } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { Config } from './config/load-config.ts';
import { keySchedule } from './config/load-config.ts';
import type { Secrets } from './config/secrets.ts';
import { checkPasswordPolicyAsync } from './accounts/password-policy.ts';
import { recordAudit } from './audit/audit.ts';
import { isGatehouseError } from './errors.ts';
import { createStoreHealth, healthRoutes, storeOutage } from './health.ts';
import { createAccountRouter } from './interactions/account/routes.ts';
import { createPasswordResetRouter } from './interactions/password-reset-routes.ts';
import { createInteractionRouter } from './interactions/routes.ts';
import type { Views } from './interactions/views.ts';
import { createViews } from './interactions/views.ts';
import { advanceRing, providerJwks } from './keys/key-ring.ts';
import type { AbuseLimits } from './limits/abuse-limits.ts';
import type { Logger } from './logger.ts';
import type { Outbox } from './mail/outbox.ts';
import { buildProviderConfiguration } from './oidc/configuration.ts';
import type { PublishedDocuments } from './oidc/published-documents.ts';
import { answerPublished, recordPublishedDocuments } from './oidc/published-documents.ts';
import type { KeyRing, Store } from './store/types.ts';

export type AppDependencies = { config: Config; secrets: Secrets; store: Store; logger: Logger; outbox: Outbox; limits: AbuseLimits };

// No inline scripts and no third-party origins. form-action is left out on purpose: browsers apply
// it to the redirect chain after our login form, which ends at the client's redirect URI.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

function securityHeaders(config: Config): Koa.Middleware {
  return async (ctx, next) => {
    ctx.set('content-security-policy', contentSecurityPolicy);
    ctx.set('x-content-type-options', 'nosniff');
    ctx.set('referrer-policy', 'no-referrer');
    ctx.set('x-frame-options', 'DENY');
    if (config.env === 'production' && config.issuer.startsWith('https:')) {
      ctx.set('strict-transport-security', 'max-age=31536000; includeSubDomains');
    }
    await next();
  };
}

/**
 * The provider builds its URLs (discovery, form actions) from the request's host. A forged Host or
 * X-Forwarded-Host would put an attacker's origin into cacheable answers, so every request is
 * treated as addressed to the issuer's origin, whatever address it reached this instance by.
 */
function pinnedHost(config: Config): Koa.Middleware {
  const { host, protocol } = new URL(config.issuer);
  const https = protocol === 'https:';
  return async (ctx, next) => {
    ctx.req.headers.host = host;
    delete ctx.req.headers['x-forwarded-host'];
    // An https issuer is reached through TLS, whether or not the proxy says so: URLs are https and
    // cookies Secure (Koa reads ctx.request.protocol for both).
    if (https) Object.defineProperty(ctx.request, 'protocol', { value: 'https' });
    await next();
  };
}

type PageError = { status: number; code: string; description: string };

/** What a person is told about an error: a 4xx keeps its meaning, a 5xx says nothing internal. */
export function describeError(caught: unknown): PageError {
  const error = (caught ?? {}) as { status?: unknown; statusCode?: unknown; expose?: boolean; message?: string; error_description?: string };
  const raw = error.status ?? error.statusCode;
  let status = typeof raw === 'number' && Number.isInteger(raw) && raw >= 400 && raw <= 599 ? raw : 500;
  if (isGatehouseError(caught)) status = caught.status;
  if (status >= 500 || error.expose === false) {
    return { status, code: 'server_error', description: 'Something went wrong on our side. Try again in a moment.' };
  }
  if (isGatehouseError(caught)) return { status, code: caught.code, description: caught.message };
  if (caught instanceof errors.SessionNotFound) {
    return { status, code: 'session_not_found', description: 'This sign-in request has expired or was already completed. Go back to the application and start again.' };
  }
  if (status === 413) return { status, code: 'request_too_large', description: 'What you sent is too large.' };
  // oidc-provider's errors carry an OAuth error code as message and a description meant for people.
  const code = error.message && /^[a-z_]+$/.test(error.message) ? error.message : 'invalid_request';
  return { status, code, description: error.error_description ?? 'The request could not be processed.' };
}

/** Errors our own routes raise (or let through) become an error page; never a stack trace. */
function errorPages(views: Views, logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && !ctx.body && !ctx.res.headersSent) {
        views.render(ctx, 'error', { title: 'Page not found', error: 'not_found', description: 'There is no page at this address.' }, 404);
      }
    } catch (caught) {
      const { status, code, description } = describeError(caught);
      if (status >= 500) logger.error('request failed', { method: ctx.method, path: ctx.path, error: caught });
      if (ctx.res.headersSent) return;
      views.render(ctx, 'error', { title: status < 500 ? 'This request cannot continue' : 'Something went wrong', error: code, description }, status);
    }
  };
}

export type App = {
  app: Koa;
  /**
   * What the HTTP server runs: discovery and the JWKS from their recorded bytes (with an ETag),
   * everything else through `app`.
   */
  handler: RequestListener;
  /** The provider serving requests now (it is rebuilt when the key ring changes). */
  provider(): Provider;
  /**
   * Advances the key ring on the schedule and, when it changed (here or through another instance
   * or the CLI), rebuilds the provider with the new keys. Requests already running finish on the
   * old one; sessions and interactions live in the store, so nothing is dropped.
   */
  reloadKeys(): Promise<boolean>;
};

export async function createApp(deps: AppDependencies): Promise<App> {
  const { config, secrets, store, logger, outbox, limits } = deps;
  const views = createViews({ cache: config.env !== 'development' });
  // The policy's dictionaries are ranked on first use (~50 ms): on its thread, which every request
  // path uses, at start (not awaited: it warms up meanwhile).
  checkPasswordPolicyAsync('warming up the password dictionaries', {}).catch((error: unknown) => logger.warn('the password policy thread failed to start', { error }));
  const schedule = keySchedule(config);
  const buildProvider = (ring: KeyRing) => {
    const built = new Provider(config.issuer, buildProviderConfiguration({
      config, store, views, jwks: providerJwks(ring, secrets.keyEncryptionKey), cookieKeys: secrets.cookieKeys, keyEncryptionKey: secrets.keyEncryptionKey,
    }));
    built.on('server_error', (_ctx, error) => logger.error('provider error', { error }));
    // The provider revokes a whole grant at the token endpoint when a used code or a rotated
    // refresh token comes back: someone holds a copy. That belongs in the audit trail.
    built.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
      const reuse = ctx.oidc?.route === 'token';
      const accountId = ctx.oidc?.entities?.Grant?.accountId ?? ctx.oidc?.entities?.RefreshToken?.accountId;
      const clientId = ctx.oidc?.client?.clientId;
      recordAudit(store.audit, {
        type: reuse ? 'token_reuse_detected' : 'grant_revoked', actor: reuse ? 'system' : 'user',
        ...(accountId ? { accountId } : {}), ...(clientId ? { clientId } : {}), sourceAddress: ctx.ip,
        details: { grantId, ...(reuse ? { grantType: ctx.oidc?.params?.grant_type } : {}) },
      }, logger).catch((error: unknown) => logger.warn('writing an audit event failed', { error }));
    });
    return built;
  };

  /** Advances the ring on the schedule; what this instance changed goes to the audit trail. */
  const advance = async (): Promise<KeyRing> => {
    const { ring: advanced, changes } = await advanceRing(store.signingKeys, secrets.keyEncryptionKey, schedule);
    if (changes.length) await recordAudit(store.audit, { type: 'key_ring_changed', actor: 'system', details: { reason: 'schedule', changes, version: advanced.version } }, logger);
    return advanced;
  };

  let ring = await advance();
  let provider = buildProvider(ring);
  let mounted = mount(provider);

  const app = new Koa();
  // The provider runs mounted in this app, so its signed cookies use this app's keys.
  app.keys = secrets.cookieKeys;
  app.silent = true;
  // Behind a TLS-terminating proxy, X-Forwarded-Proto tells the provider the request was https
  // (secure cookies, correct URLs). Only when configured: otherwise anyone could claim it.
  app.proxy = config.trustProxy;
  app.use(pinnedHost(config));
  app.use(securityHeaders(config));
  // Whether the store takes writes: /readyz and the outage answers share one rate-limited probe.
  const health = createStoreHealth(store, logger);
  app.use(storeOutage(health, views));
  app.use(errorPages(views, logger));
  const pageDependencies = { provider: () => provider, store, views, config, outbox, logger, limits, keyEncryptionKey: secrets.keyEncryptionKey };
  app.use(pagesExceptOnProtocolPaths([
    healthRoutes(store, health).routes(),
    createInteractionRouter(pageDependencies).routes(),
    createPasswordResetRouter(pageDependencies).routes(),
    createAccountRouter(pageDependencies).routes(),
  ]));
  app.use(clientAuthenticationLimits(limits));
  app.use(authorizationRequestLimits(limits, views));
  app.use(jwksCaching(schedule.jwksCacheSeconds));
  app.use((ctx, next) => mounted(ctx, next));

  const fullStack = app.callback();
  const { host, protocol } = new URL(config.issuer);
  // Behind a trusted proxy, an http issuer's URLs follow X-Forwarded-Proto: the full stack decides.
  const forwardedProtocolMatters = protocol === 'http:' && config.trustProxy;
  let published: PublishedDocuments | undefined;
  /** Records the current provider's documents; a provider replaced meanwhile makes it moot. */
  const publish = async () => {
    const recordedFor = provider;
    try {
      const documents = await recordPublishedDocuments(fullStack, host);
      if (provider === recordedFor) published = documents;
    } catch (error) {
      logger.warn('recording the discovery document and JWKS failed; the full stack answers them', { error });
    }
  };
  await publish();
  const handler: RequestListener = (req, res) => {
    if (forwardedProtocolMatters && req.headers['x-forwarded-proto'] !== undefined) return fullStack(req, res);
    if (!answerPublished(published, req, res)) return fullStack(req, res);
  };

  return {
    app,
    handler,
    provider: () => provider,
    async reloadKeys() {
      const latest = await advance();
      if (latest.version === ring.version) return false;
      const rebuilt = buildProvider(latest);
      [ring, provider, mounted, published] = [latest, rebuilt, mount(rebuilt), undefined];
      await publish();
      logger.info('signing keys reloaded', { version: latest.version, kids: latest.keys.map((key) => `${key.kid} (${key.alg} ${key.state})`) });
      return true;
    },
  };
}

/**
 * The provider's own endpoints, as requested (exact path): no page route can match them, so they
 * skip the page routers' matching. Any other spelling still goes through the routers, as before.
 */
const protocolPaths = new Set([
  '/auth', '/token', '/token/introspection', '/token/revocation', '/me', '/request', '/jwks', '/.well-known/openid-configuration',
  '/session/end', '/session/end/confirm', '/session/end/success',
]);

/** Runs the page routers in order, except for the provider's endpoints, which go straight on. */
function pagesExceptOnProtocolPaths(routers: ReturnType<Router['routes']>[]): Koa.Middleware {
  const chain = routers.reduceRight<(ctx: Koa.Context, next: Koa.Next) => Promise<unknown>>(
    (rest, router) => async (ctx, next) => router(ctx as Parameters<typeof router>[0], () => rest(ctx, next) as Promise<void>),
    async (_ctx, next) => next(),
  );
  return (ctx, next) => (protocolPaths.has(ctx.path) ? next() : chain(ctx, next));
}

/** Where clients authenticate with their secret. */
const clientAuthenticationPaths = new Set(['/token', '/token/introspection', '/token/revocation', '/request']);

function refuseJson(ctx: Koa.Context, status: number, error: string, description: string, retryAfterSeconds?: number) {
  ctx.status = status;
  if (retryAfterSeconds !== undefined) ctx.set('retry-after', String(retryAfterSeconds));
  ctx.set('cache-control', 'no-store');
  ctx.body = { error, error_description: description };
}

/**
 * Guessing client secrets is slowed per source address, like passwords: after the free failures
 * each further request waits, and gets a JSON 429 (these are APIs) with Retry-After. Each request
 * is reserved before the provider checks the secret, so a burst gets no more than the free ones.
 */
function clientAuthenticationLimits(limits: AbuseLimits): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || !clientAuthenticationPaths.has(ctx.path)) return next();
    // Without a store there is no counting; the provider then answers its own JSON 503.
    const admission = await limits.clientAuthAttempt(ctx.ip).catch(() => undefined);
    if (admission && !admission.ok) {
      return refuseJson(ctx, 429, 'slow_down', `too many failed client authentications; retry after ${admission.retryAfterSeconds} seconds`, admission.retryAfterSeconds);
    }
    const attempt = admission?.attempt;
    try {
      await next();
    } catch (error) {
      await attempt?.cancel().catch(() => undefined);
      throw error;
    }
    const failed = ctx.status === 401 && (ctx.body as { error?: unknown } | undefined)?.error === 'invalid_client';
    await (failed ? attempt?.failed() : attempt?.succeeded())?.catch(() => undefined);
  };
}

/** Where an authorization request starts (each stores an interaction until someone signs in). */
const authorizationPaths = new Set(['/auth', '/request']);

/**
 * Longest accepted authorization parameters, in characters. `state` and `nonce` are opaque values
 * a client generates (a few dozen characters in practice); login_hint is an email address.
 */
export const authorizationParameterLimits: Record<string, number> = {
  state: 1024, nonce: 512, login_hint: 320, id_token_hint: 8192, redirect_uri: 2048, scope: 1024, claims: 4096, ui_locales: 128, acr_values: 512,
};
/** Longest query string or form body of an authorization request (a request object included). */
export const authorizationRequestMaxBytes = 16_384;

/** Why these authorization parameters are refused, or undefined when they are within bounds. */
export function oversizedAuthorizationParameter(query: URLSearchParams): string | undefined {
  for (const [name, value] of query) {
    const limit = authorizationParameterLimits[name];
    if (limit !== undefined && value.length > limit) return `${name} is too long (at most ${limit} characters)`;
  }
  return undefined;
}

/**
 * Authorization requests are anonymous and each one stores an interaction for a while: they are
 * counted per source address (an IPv6 /64) and their size is bounded, so nobody can fill the disk.
 * Refusals are a page for the browser (GET /auth) and JSON for the APIs (POST /request).
 */
function authorizationRequestLimits(limits: AbuseLimits, views: Views): Koa.Middleware {
  return async (ctx, next) => {
    if (!authorizationPaths.has(ctx.path) || (ctx.method !== 'GET' && ctx.method !== 'POST') || (ctx.path === '/request' && ctx.method !== 'POST')) return next();
    const page = ctx.path === '/auth';
    const length = Number(ctx.get('content-length') || 0);
    const tooLong = ctx.querystring.length > authorizationRequestMaxBytes || length > authorizationRequestMaxBytes
      ? 'the request is too large'
      : oversizedAuthorizationParameter(new URLSearchParams(ctx.querystring));
    if (tooLong) {
      if (page) return views.render(ctx, 'error', { title: 'This request cannot continue', error: 'invalid_request', description: `The sign-in request was refused: ${tooLong}.` }, 400);
      return refuseJson(ctx, 400, 'invalid_request', tooLong);
    }
    const verdict = await limits.authorizationRequest(ctx.ip).catch(() => ({ ok: true as const }));
    if (!verdict.ok) {
      const description = `Too many sign-in requests from your network. Wait ${verdict.retryAfterSeconds} seconds, then try again.`;
      if (page) {
        ctx.set('retry-after', String(verdict.retryAfterSeconds));
        return views.render(ctx, 'error', { title: 'Too many requests', error: 'slow_down', description }, 429);
      }
      return refuseJson(ctx, 429, 'slow_down', description, verdict.retryAfterSeconds);
    }
    await next();
  };
}

/** Verifiers cache the JWKS this long; the rotation schedule publishes keys at least this early. */
function jwksCaching(maxAgeSeconds: number): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.path === '/jwks' && ctx.status === 200) ctx.set('cache-control', `public, max-age=${Math.floor(maxAgeSeconds)}`);
  };
}
