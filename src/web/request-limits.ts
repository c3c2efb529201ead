import type Koa from 'koa';

import type { AbuseLimits } from '../limits/abuse-limits.ts';
import { clientSecretOutcome } from '../oidc/client-secret-guesses.ts';
import { message } from '../messages/messages.ts';
import type { Views } from './views.ts';

/**
 * The limits that guard the provider's own endpoints, in front of it: guessing client secrets,
 * and anonymous authorization requests (each stores an interaction). Refusals are JSON for the
 * APIs and our error page for the browser.
 */

/** Where clients authenticate with their secret. */
const clientAuthenticationPaths = new Set(['/token', '/token/introspection', '/token/revocation', '/request', '/device/auth']);

function refuseJson(ctx: Koa.Context, status: number, error: string, description: string, retryAfterSeconds?: number) {
  ctx.status = status;
  if (retryAfterSeconds !== undefined) ctx.set('retry-after', String(retryAfterSeconds));
  ctx.set('cache-control', 'no-store');
  ctx.body = { error, error_description: description };
}

/**
 * Guessing client secrets is slowed per source address, like passwords: after the free failures
 * each further request waits, and gets a JSON 429 (these are APIs) with Retry-After. The secret
 * itself is counted where the provider compares it (src/oidc/client-secret-guesses.ts), which
 * refuses an answer the limit does not allow; this turns that refusal into the 429, and counts the
 * other failed client authentications (an unknown client) after the fact.
 */
export function clientAuthenticationLimits(limits: AbuseLimits): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || !clientAuthenticationPaths.has(ctx.path)) return next();
    await next();
    const outcome = clientSecretOutcome(ctx);
    if (outcome?.refusedFor !== undefined) {
      const description = message('web.too_many_client_authentications', { seconds: String(outcome.refusedFor) });
      return refuseJson(ctx, 429, 'slow_down', description, outcome.refusedFor);
    }
    const failed = ctx.status === 401 && (ctx.body as { error?: unknown } | undefined)?.error === 'invalid_client';
    if (failed && !outcome) await limits.clientAuthFailed(ctx.ip).catch(() => undefined);
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
    if (limit !== undefined && value.length > limit) return message('web.authorization_parameter_too_long', { name, limit: String(limit) });
  }
  return undefined;
}

/**
 * Authorization requests are anonymous and each one stores an interaction for a while: they are
 * counted per source address (an IPv6 /64) and their size is bounded, so nobody can fill the disk.
 * Refusals are a page for the browser (GET /auth) and JSON for the APIs (POST /request).
 */
export function authorizationRequestLimits(limits: AbuseLimits, views: Views): Koa.Middleware {
  return async (ctx, next) => {
    if (!authorizationPaths.has(ctx.path) || (ctx.method !== 'GET' && ctx.method !== 'POST') || (ctx.path === '/request' && ctx.method !== 'POST')) return next();
    const page = ctx.path === '/auth';
    const length = Number(ctx.get('content-length') || 0);
    const tooLong = ctx.querystring.length > authorizationRequestMaxBytes || length > authorizationRequestMaxBytes
      ? message('web.authorization_request_too_large')
      : oversizedAuthorizationParameter(new URLSearchParams(ctx.querystring));
    if (tooLong) {
      if (page) {
        const description = message('web.authorization_request_refused', { reason: tooLong });
        return views.render(ctx, 'error', { title: message('web.request_cannot_continue_title'), code: 'invalid_request', description }, 400);
      }
      return refuseJson(ctx, 400, 'invalid_request', tooLong);
    }
    const verdict = await limits.authorizationRequest(ctx.ip).catch(() => ({ ok: true as const }));
    if (!verdict.ok) {
      const description = message('web.too_many_authorization_requests', { seconds: String(verdict.retryAfterSeconds) });
      if (page) {
        ctx.set('retry-after', String(verdict.retryAfterSeconds));
        return views.render(ctx, 'error', { title: message('web.too_many_requests_title'), code: 'slow_down', description }, 429);
      }
      return refuseJson(ctx, 429, 'slow_down', description, verdict.retryAfterSeconds);
    }
    await next();
  };
}

/**
 * Dynamic client registrations (POST /reg, RFC 7591) are anonymous with open registration and
 * each stores a client: they are counted per source address (an IPv6 /64) before the provider
 * looks at them, at most `perHour`; past it a JSON 429 `slow_down` with Retry-After.
 */
export function clientRegistrationLimits(limits: AbuseLimits, perHour: number): Koa.Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST' || ctx.path !== '/reg') return next();
    const verdict = await limits.clientRegistration(ctx.ip, perHour).catch(() => ({ ok: true as const }));
    if (!verdict.ok) {
      const description = message('web.too_many_client_registrations', { seconds: String(verdict.retryAfterSeconds) });
      return refuseJson(ctx, 429, 'slow_down', description, verdict.retryAfterSeconds);
    }
    await next();
  };
}
