import type Koa from 'koa';

import type { ApiStore } from '../store/types.ts';
import { isLoopbackAddress } from '../network/outgoing-addresses.ts';
import { supportedScopes } from './scopes.ts';

/**
 * What a client that describes itself may be: registered through RFC 7591 (`/reg`, with an
 * initial access token or openly) or changed through RFC 7592, or read from a Client ID Metadata
 * Document. Pure rules; configuration.ts applies them in the client schema's validator (so a
 * refusal is an OAuth error before anything is stored) and registrationScopes below gives them the
 * registered APIs' scopes.
 */

export type RegistrationMode = 'off' | 'token' | 'open';

/** How a client described itself. */
export type SelfDescription = 'token' | 'open' | 'metadata_document';

export type RegistrationRefusal = { error: 'invalid_client_metadata' | 'invalid_redirect_uri'; description: string };

/** The property that keeps a client's API scopes (the provider's `scope` may only hold its own). */
export const apiScopeProperty = 'gatehouse_api_scope';

const oidcScopes: ReadonlySet<string> = new Set(supportedScopes);

/** Splits a `scope` value into the provider's own scopes and the others (an API's). */
export function splitScope(scope: unknown): { oidc: string[]; api: string[] } {
  const tokens = typeof scope === 'string' ? [...new Set(scope.split(' ').filter(Boolean))] : [];
  return { oidc: tokens.filter((token) => oidcScopes.has(token)), api: tokens.filter((token) => !oidcScopes.has(token)) };
}

/** https, or http to this machine (127.0.0.1, [::1], localhost; any port): RFC 8252's loopback redirects. */
export function isAcceptableRedirectUri(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  const url = URL.parse(value);
  if (!url || url.hash || value.includes('#') || url.username || url.password) return false;
  if (url.protocol === 'https:') return true;
  if (url.protocol !== 'http:') return false;
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return host === 'localhost' || isLoopbackAddress(host);
}

/** Metadata only an operator sets, never a client describing itself. */
const operatorOnly = ['first_party', 'pkce_exempt'] as const;
/** Metadata that makes the provider fetch, or that needs keys: not from open registration. */
const notFromOpenRegistration = ['jwks_uri', 'jwks', 'sector_identifier_uri', 'request_uris', 'initiate_login_uri', 'backchannel_logout_uri'] as const;
const openGrantTypes: ReadonlySet<string> = new Set(['authorization_code', 'refresh_token']);

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : value === undefined ? [] : [value]);

/**
 * Why this self-described client is refused, or undefined. `apiScopes`: the scopes registered APIs
 * define (undefined: not known here, as for a metadata document, whose API scopes grant nothing by
 * themselves: an API's scopes are checked against the API at each request).
 */
export function registrationRefusal(
  metadata: Record<string, unknown>,
  how: SelfDescription,
  apiScopes: ReadonlySet<string> | undefined,
): RegistrationRefusal | undefined {
  const refuse = (description: string, error: RegistrationRefusal['error'] = 'invalid_client_metadata') => ({ error, description });
  for (const key of operatorOnly) {
    if (metadata[key] !== undefined && metadata[key] !== false) return refuse(`${key} is set by the operator only`);
  }
  for (const uri of list(metadata.redirect_uris)) {
    if (!isAcceptableRedirectUri(uri)) return refuse(`redirect_uris must be https, or http on a loopback address (127.0.0.1, [::1], localhost): ${JSON.stringify(uri)}`, 'invalid_redirect_uri');
  }
  for (const uri of list(metadata.post_logout_redirect_uris)) {
    if (!isAcceptableRedirectUri(uri)) return refuse(`post_logout_redirect_uris must be https, or http on a loopback address: ${JSON.stringify(uri)}`);
  }
  if (apiScopes) {
    const unknown = splitScope(metadata.scope).api.filter((scope) => !apiScopes.has(scope));
    if (unknown.length) return refuse(`scope must only contain OpenID Connect scopes or scopes of a registered API: ${unknown.join(' ')}`);
  }
  if (how === 'token') return undefined;
  // Open registration and metadata documents: public clients of the authorization code flow (with
  // PKCE, which the provider requires of every public client).
  if (metadata.token_endpoint_auth_method !== 'none' && how === 'open') {
    return refuse('open registration is for public clients only: token_endpoint_auth_method must be none');
  }
  const grants = list(metadata.grant_types);
  if (!grants.includes('authorization_code') || grants.some((grant) => typeof grant !== 'string' || !openGrantTypes.has(grant))) {
    return refuse('grant_types must be authorization_code (and refresh_token)');
  }
  const responseTypes = list(metadata.response_types);
  if (responseTypes.length !== 1 || responseTypes[0] !== 'code') return refuse('response_types must be code');
  if (how === 'open') {
    for (const key of notFromOpenRegistration) {
      if (metadata[key] !== undefined) return refuse(`${key} is not accepted from open registration`);
    }
  }
  return undefined;
}

/** Where the scopes of registered APIs are kept for the request (registrationScopes sets them). */
const apiScopesKey = 'gatehouseApiScopes';

/** The registered APIs' scopes loaded for this request, if it is a registration (see registrationScopes). */
export function loadedApiScopes(ctx: { state?: Record<string, unknown> } | undefined): ReadonlySet<string> | undefined {
  return ctx?.state?.[apiScopesKey] as ReadonlySet<string> | undefined;
}

const registrationPath = /^\/reg(?:\/[^/]+)?$/u;

/**
 * In front of the provider on the registration endpoints: loads the scopes registered APIs define
 * (the client schema's validator is synchronous), and answers a client's API scopes back in its
 * `scope`, as it asked for them (the provider keeps them apart: apiScopeProperty).
 */
export function registrationScopes(apis: Pick<ApiStore, 'list'>): Koa.Middleware {
  return async (ctx, next) => {
    if (!registrationPath.test(ctx.path)) return next();
    if (ctx.method === 'POST' || ctx.method === 'PUT') {
      const registered = await apis.list();
      ctx.state[apiScopesKey] = new Set(registered.flatMap((api) => api.scopes));
    }
    await next();
    const body = ctx.body as Record<string, unknown> | undefined;
    if (body && typeof body === 'object' && !Buffer.isBuffer(body) && apiScopeProperty in body) {
      const { [apiScopeProperty]: apiScope, ...rest } = body;
      const scope = [rest.scope, apiScope].filter((part) => typeof part === 'string' && part).join(' ');
      ctx.body = { ...rest, ...(scope ? { scope } : {}) };
    }
  };
}
