import type Koa from 'koa';

import type { Config } from '../config/load-config.ts';

// No inline scripts and no third-party origins. form-action is left out on purpose: browsers apply
// it to the redirect chain after our login form, which ends at the client's redirect URI. No
// connect-src either: the passkey pages run their WebAuthn ceremony with first-party scripts
// (views/assets/, @simplewebauthn/browser from our own origin) and post the answer in an ordinary
// form with its CSRF token, so nothing needs fetch.
export const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

/** The headers every answer carries (pages, protocol endpoints and errors alike). */
export function securityHeaders(config: Pick<Config, 'env' | 'issuer'>): Koa.Middleware {
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
export function pinnedHost(config: Pick<Config, 'issuer'>): Koa.Middleware {
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
