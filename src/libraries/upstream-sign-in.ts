import { timingSafeEqual } from 'node:crypto';

// openid-client is a runtime dependency (package.json "dependencies"), not only the tests' relying
// party: signing in with another provider runs the upstream protocol with it (discovery, the code
// flow with PKCE, the token exchange, and the ID token's signature against the upstream JWKS, its
// issuer, audience, nonce and expiry), rather than with code of our own.
import * as client from 'openid-client';

import type { Clock } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import { isLoopbackHost } from '../config/load-config.ts';
import { GatehouseError, isGatehouseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { AuditStore } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { Connection } from './connections.ts';

/** Who signed in upstream, in Gatehouse's terms. */
export type UpstreamIdentity = {
  /** The upstream's stable id of the person: the ID token's `sub`, or GitHub's numeric id as a string. */
  subject: string;
  email: string | null;
  /** True only when the upstream says so for this very email (Google's email_verified, GitHub's verified primary email, Microsoft's xms_edov). */
  emailVerified: boolean;
  /** Gatehouse profile claims after the connection's claimMapping (string values only). */
  profile: Record<string, unknown>;
  /** The upstream ID token's `amr` and `acr`, untouched (null when absent, and for GitHub). */
  amr: string[] | null;
  acr: string | null;
};

/** Where to send the browser, and what the caller keeps (single use, bound to the browser) until it comes back. */
export type UpstreamRequest = { url: string; state: string; nonce: string | null; codeVerifier: string };

export type UpstreamExpectation = { state: string; nonce: string | null; codeVerifier: string };

export type UpstreamLibrary = {
  /**
   * The upstream authorization URL: code flow, PKCE S256, a fresh random state and (OIDC) nonce,
   * the connection's scopes, our callback. The caller keeps state/nonce/codeVerifier single-use and
   * bound to the browser. With a `source`, a failure (the upstream's discovery down or malformed)
   * is audited like one of `complete`.
   */
  begin(connection: Connection, redirectUri: string, source?: AuditSource): Promise<UpstreamRequest>;
  /**
   * Completes from the callback URL the browser came back with: checks state, handles an error
   * redirect, exchanges the code, verifies the ID token against the upstream JWKS (issuer, audience,
   * nonce, expiry) or, for GitHub, reads /user and /user/emails. Every failure is audited
   * (upstream_sign_in_failed, with a reason) and thrown as upstream_unavailable, upstream_refused or
   * upstream_invalid.
   */
  complete(connection: Connection, callback: URL, expected: UpstreamExpectation, redirectUri: string, source: AuditSource): Promise<UpstreamIdentity>;
  /** Forgets every discovered configuration (the next sign-in discovers again). */
  forget(): void;
};

export type UpstreamDependencies = {
  config: Pick<Config, 'env'>;
  clock: Clock;
  store: { audit: AuditStore };
  logger?: Logger;
  /** The connection's client secret, unsealed (libraries.connections.clientSecret). */
  clientSecret(connectionId: string): Promise<string | undefined>;
  /** The bound of every upstream call (discovery, token, keys, userinfo, GitHub's API). Default 5 s. */
  timeoutMs?: number;
  /** How long a discovery document is used before it is fetched again. Default 10 minutes. */
  discoveryTtlMs?: number;
};

const defaultTimeoutMs = 5_000;
const defaultDiscoveryTtlMs = 10 * 60_000;
const maxCachedDiscoveries = 200;
/** The most of an upstream's answer read (GitHub's API; openid-client reads its own). */
const maxBodyBytes = 1024 * 1024;

const googleIssuer = 'https://accounts.google.com';
const microsoftAuthority = 'https://login.microsoftonline.com';
/** Microsoft's documented tenant of personal (consumer) accounts: the `tid` of their tokens. */
const microsoftConsumersTenant = '9188040d-6c67-4c5b-b112-36a304b66dad';
const github = { authorizationUrl: 'https://github.com/login/oauth/authorize', tokenUrl: 'https://github.com/login/oauth/access_token', apiUrl: 'https://api.github.com' };

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type Kind = 'unavailable' | 'refused' | 'invalid';

/** Failures after which the discovery (and its keys) is fetched again at the next sign-in. */
const staleReasons = new Set(['network', 'timeout', 'upstream_status', 'unexpected_status', 'unknown_signing_key', 'bad_signature', 'wrong_issuer', 'malformed_discovery']);

/** A failure on its way to becoming a GatehouseError and an audit event. */
class UpstreamFailure extends Error {
  readonly kind: Kind;
  readonly reason: string;
  readonly detail: Record<string, string>;
  constructor(kind: Kind, reason: string, detail: Record<string, string> = {}, cause?: unknown) {
    super(reason, { cause });
    this.kind = kind;
    this.reason = reason;
    this.detail = detail;
  }
}

/**
 * Where a connection (oidc, google, microsoft) is discovered: its issuer as the operator gave it
 * (issuers compare byte for byte, a trailing slash included); for microsoft the tenant's issuer,
 * https://login.microsoftonline.com/{tenant}/v2.0, also when only the authority is given.
 */
export function discoveryBase(connection: Pick<Connection, 'type' | 'issuer' | 'tenant'>): string {
  if (connection.type === 'google') return connection.issuer ?? googleIssuer;
  if (connection.type === 'microsoft') {
    const issuer = trimSlash(connection.issuer ?? microsoftAuthority);
    return /\/v2\.0$/.test(issuer) ? issuer : `${issuer}/${connection.tenant ?? 'common'}/v2.0`;
  }
  if (!connection.issuer) throw new UpstreamFailure('invalid', 'no_issuer');
  return connection.issuer;
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * Microsoft's issuer rule (https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer):
 * the multi-tenant endpoints (common, organizations) publish the issuer template
 * `https://login.microsoftonline.com/{tenantid}/v2.0`; a token's issuer is that template with the
 * token's own `tid`. A tenant named by a domain (or `consumers`) publishes its GUID's issuer.
 * Returns whether the discovered issuer fits the configured tenant.
 */
export function microsoftIssuerFits(base: string, discoveredIssuer: string): boolean {
  const match = /^(.*)\/([^/]+)\/v2\.0$/.exec(base);
  if (!match) return false;
  const [, authority, tenant] = match as unknown as [string, string, string];
  if (discoveredIssuer === base) return true;
  const prefix = `${authority}/`;
  if (!discoveredIssuer.startsWith(prefix) || !discoveredIssuer.endsWith('/v2.0')) return false;
  const published = discoveredIssuer.slice(prefix.length, -'/v2.0'.length);
  if (published === '{tenantid}') return tenant === 'common' || tenant === 'organizations';
  return guid.test(published) && !guid.test(tenant);
}

/** The issuer a Microsoft multi-tenant token must carry: the template with its `tid` (a GUID), or null. */
export function microsoftTenantIssuer(template: string, tid: unknown, tenant: string | null): string | null {
  if (typeof tid !== 'string' || !guid.test(tid)) return null;
  // The organizations endpoint serves work and school accounts only, never the personal accounts' tenant.
  if (tenant === 'organizations' && tid.toLowerCase() === microsoftConsumersTenant) return null;
  return template.replace('{tenantid}', tid);
}

/** http is allowed for a loopback address outside production only (tests, a developer's own provider). */
function insecureAllowed(env: Config['env'], url: string): boolean {
  const parsed = new URL(url);
  if (parsed.protocol === 'https:') return false;
  if (env === 'production' || parsed.protocol !== 'http:' || !isLoopbackHost(parsed.hostname)) {
    throw new UpstreamFailure('invalid', 'insecure_url', { url: parsed.origin });
  }
  return true;
}

/** Reads the claims of a JWT without checking it: only to choose what it will then be checked against. */
function peekClaims(jwt: unknown): Record<string, unknown> | undefined {
  if (typeof jwt !== 'string') return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** An upstream's words (an error code or description) as one short line of printable text. */
export function upstreamWords(value: string | null | undefined, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const text = (value ?? '').replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The status of a Response found in an openid-client error, if any. */
function statusOf(error: unknown): number | undefined {
  if (error instanceof client.ResponseBodyError) return error.status;
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof Response) return cause.status;
  return undefined;
}

/** What went wrong, from what openid-client (or fetch) threw. */
function classify(error: unknown): UpstreamFailure {
  if (error instanceof UpstreamFailure) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  const message = error instanceof Error ? error.message : '';
  const timedOut = (candidate: unknown) => candidate instanceof DOMException && (candidate.name === 'TimeoutError' || candidate.name === 'AbortError');
  if (code === 'OAUTH_TIMEOUT' || code === 'OAUTH_ABORT' || timedOut(error) || timedOut((error as { cause?: unknown })?.cause)) {
    return new UpstreamFailure('unavailable', 'timeout', {}, error);
  }
  // fetch's own failure: refused, reset, unknown host.
  if (error instanceof TypeError && code === undefined) return new UpstreamFailure('unavailable', 'network', {}, error);
  if (error instanceof client.ResponseBodyError) {
    if (error.status >= 500) return new UpstreamFailure('unavailable', 'upstream_status', { status: String(error.status) }, error);
    return new UpstreamFailure('invalid', 'token_error', { error: upstreamWords(error.error, 64) }, error);
  }
  if (error instanceof client.WWWAuthenticateChallengeError) return new UpstreamFailure('invalid', 'token_rejected', {}, error);
  if (error instanceof client.AuthorizationResponseError) return new UpstreamFailure('refused', 'error_redirect', { error: upstreamWords(error.error, 64) }, error);
  const status = statusOf(error);
  switch (code) {
    case 'OAUTH_RESPONSE_IS_NOT_CONFORM':
      if (status !== undefined && status >= 500) return new UpstreamFailure('unavailable', 'upstream_status', { status: String(status) }, error);
      return new UpstreamFailure('invalid', 'unexpected_status', status === undefined ? {} : { status: String(status) }, error);
    case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED': {
      // openid-client's error wraps oauth4webapi's, whose cause names the claim.
      const cause = (error as { cause?: { claim?: unknown; cause?: { claim?: unknown } } }).cause;
      const claim = cause?.cause?.claim ?? cause?.claim;
      const reasons: Record<string, string> = { iss: 'wrong_issuer', aud: 'wrong_audience', nonce: 'nonce_mismatch', azp: 'wrong_audience' };
      return new UpstreamFailure('invalid', reasons[String(claim)] ?? 'claim_mismatch', { claim: String(claim) }, error);
    }
    case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      return new UpstreamFailure('invalid', 'expired', {}, error);
    case 'OAUTH_KEY_SELECTION_FAILED':
      return new UpstreamFailure('invalid', 'unknown_signing_key', {}, error);
    case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
      return new UpstreamFailure('invalid', 'discovery_issuer_mismatch', {}, error);
    case 'OAUTH_PARSE_ERROR':
    case 'OAUTH_RESPONSE_IS_NOT_JSON':
      return new UpstreamFailure('invalid', 'malformed', {}, error);
    case 'OAUTH_HTTP_REQUEST_FORBIDDEN':
    case 'OAUTH_REQUEST_PROTOCOL_FORBIDDEN':
      return new UpstreamFailure('invalid', 'insecure_url', {}, error);
    case 'OAUTH_INVALID_RESPONSE': {
      const inner = (error as { cause?: unknown }).cause;
      const innerMessage = inner instanceof Error ? inner.message : '';
      if (/signature verification failed/i.test(innerMessage)) return new UpstreamFailure('invalid', 'bad_signature', {}, error);
      if (/"sub" \(subject\) claim missing/.test(innerMessage)) return new UpstreamFailure('invalid', 'missing_subject', {}, error);
      if (/"state"|"iss" \(issuer\) response parameter/.test(innerMessage)) return new UpstreamFailure('invalid', 'state_or_issuer_mismatch', {}, error);
      return new UpstreamFailure('invalid', 'malformed', {}, error);
    }
    default:
      if (/signature verification failed/i.test(message)) return new UpstreamFailure('invalid', 'bad_signature', {}, error);
      return new UpstreamFailure('invalid', 'malformed', {}, error);
  }
}

type Discovered = { metadata: client.ServerMetadata; at: number; jwks?: client.ExportedJWKSCache };

/** Sign-in with another provider: the upstream half of the protocol. Stores nothing; the flows keep the request state. */
export function upstreamLibrary(deps: UpstreamDependencies): UpstreamLibrary {
  const timeoutMs = deps.timeoutMs ?? defaultTimeoutMs;
  const ttlMs = deps.discoveryTtlMs ?? defaultDiscoveryTtlMs;
  const discoveries = new Map<string, Promise<Discovered>>();

  async function discover(connection: Connection): Promise<Discovered> {
    const base = discoveryBase(connection);
    const cached = discoveries.get(base);
    if (cached) {
      const entry = await cached.catch(() => undefined);
      if (entry && deps.clock().getTime() - entry.at < ttlMs) return entry;
      if (discoveries.get(base) === cached) discoveries.delete(base);
    }
    const pending = fetchDiscovery(connection, base);
    discoveries.set(base, pending);
    // A failed discovery is not kept: the next sign-in asks again.
    pending.catch(() => {
      if (discoveries.get(base) === pending) discoveries.delete(base);
    });
    while (discoveries.size > maxCachedDiscoveries) discoveries.delete(discoveries.keys().next().value!);
    return pending;
  }

  async function fetchDiscovery(connection: Connection, base: string): Promise<Discovered> {
    const insecure = insecureAllowed(deps.config.env, base);
    const options: client.DiscoveryRequestOptions = { timeout: timeoutMs / 1000, ...(insecure ? { execute: [client.allowInsecureRequests] } : {}) };
    let found: client.Configuration;
    if (connection.type === 'microsoft') {
      // Fetched from the tenant's well-known address as is: the issuer is checked by Microsoft's rule below.
      found = await client.discovery(new URL(`${base}/.well-known/openid-configuration`), connection.clientId, undefined, undefined, options);
      if (!microsoftIssuerFits(base, found.serverMetadata().issuer)) throw new UpstreamFailure('invalid', 'discovery_issuer_mismatch');
    } else {
      // openid-client checks that the discovered issuer is the one asked for.
      found = await client.discovery(new URL(base), connection.clientId, undefined, undefined, options);
    }
    const metadata = structuredClone(found.serverMetadata());
    for (const endpoint of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint'] as const) {
      const url = metadata[endpoint];
      if (url === undefined) continue;
      if (typeof url !== 'string' || !URL.canParse(url)) throw new UpstreamFailure('invalid', 'malformed_discovery');
      // An https provider's endpoints are https; a loopback one's (outside production) loopback.
      if (insecure) insecureAllowed(deps.config.env, url);
      else if (new URL(url).protocol !== 'https:') throw new UpstreamFailure('invalid', 'insecure_url', { url: new URL(url).origin });
    }
    if (!metadata.authorization_endpoint || !metadata.token_endpoint || !metadata.jwks_uri) throw new UpstreamFailure('invalid', 'malformed_discovery');
    return { metadata, at: deps.clock().getTime() };
  }

  /** The server metadata of a connection: discovered, or GitHub's (it has no discovery). */
  async function serverOf(connection: Connection): Promise<{ metadata: client.ServerMetadata; discovered?: Discovered; insecure: boolean }> {
    if (connection.type === 'github') {
      const authorizationUrl = connection.authorizationUrl ?? github.authorizationUrl;
      const tokenUrl = connection.tokenUrl ?? github.tokenUrl;
      const apiUrl = trimSlash(connection.apiUrl ?? github.apiUrl);
      const insecure = [authorizationUrl, tokenUrl, apiUrl].map((url) => insecureAllowed(deps.config.env, url));
      if (insecure.some((value) => value !== insecure[0])) throw new UpstreamFailure('invalid', 'insecure_url');
      return { metadata: { issuer: new URL(authorizationUrl).origin, authorization_endpoint: authorizationUrl, token_endpoint: tokenUrl }, insecure: insecure[0]! };
    }
    const discovered = await discover(connection);
    return { metadata: discovered.metadata, discovered, insecure: insecureAllowed(deps.config.env, discoveryBase(connection)) };
  }

  /** A configuration for one request: its clock skew follows Gatehouse's clock, its calls are bounded. */
  function configurationFor(connection: Connection, server: { metadata: client.ServerMetadata; discovered?: Discovered; insecure: boolean }, secret: string | undefined): client.Configuration {
    const { metadata } = server;
    let authentication: client.ClientAuth;
    if (!secret) authentication = client.None();
    else if (connection.type === 'github') authentication = client.ClientSecretPost(secret);
    else {
      // RFC 8414: client_secret_basic when the provider names no methods.
      const methods = metadata.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
      authentication = !methods.includes('client_secret_basic') && methods.includes('client_secret_post') ? client.ClientSecretPost(secret) : client.ClientSecretBasic(secret);
    }
    const skewSeconds = Math.round((deps.clock().getTime() - Date.now()) / 1000);
    const configuration = new client.Configuration(metadata, connection.clientId, { [client.clockSkew]: skewSeconds }, authentication);
    configuration.timeout = timeoutMs / 1000;
    if (server.insecure) client.allowInsecureRequests(configuration);
    if (connection.type !== 'github') {
      // The ID token's signature is checked against the upstream's JWKS (openid-client does not by default).
      client.enableNonRepudiationChecks(configuration);
      if (server.discovered?.jwks) client.setJwksCache(configuration, server.discovered.jwks);
    }
    return configuration;
  }

  function keepKeys(server: { discovered?: Discovered }, configuration: client.Configuration): void {
    const jwks = client.getJwksCache(configuration);
    if (server.discovered && jwks) server.discovered.jwks = jwks;
  }

  function scopesOf(connection: Connection): string {
    const scopes = [...connection.scopes];
    if (connection.type !== 'github' && !scopes.includes('openid')) scopes.unshift('openid');
    return scopes.join(' ');
  }

  async function failed(connection: Connection, failure: UpstreamFailure, stage: 'begin' | 'complete', source: AuditSource | undefined): Promise<GatehouseError> {
    if (source) {
      await recordAudit(deps.store.audit, auditEvent('upstream_sign_in_failed', source, {
        details: { connectionId: connection.id, connectionType: connection.type, stage, reason: failure.reason, ...failure.detail },
      }), deps.logger, deps.clock);
    }
    const values = { connection: connection.name };
    if (failure.kind === 'unavailable') return new GatehouseError('upstream_unavailable', 'libraries.upstream_unavailable', values, { cause: failure });
    if (failure.kind === 'refused') {
      const error = upstreamWords(failure.detail.error, 64) || 'error';
      const description = upstreamWords(failure.detail.description);
      return description
        ? new GatehouseError('upstream_refused', 'libraries.upstream_refused_described', { ...values, error, description }, { cause: failure })
        : new GatehouseError('upstream_refused', 'libraries.upstream_refused', { ...values, error }, { cause: failure });
    }
    return new GatehouseError('upstream_invalid', 'libraries.upstream_invalid', values, { cause: failure });
  }

  /** Runs `work`; whatever it throws becomes an audited GatehouseError (never a plain Error). */
  async function guarded<T>(connection: Connection, stage: 'begin' | 'complete', source: AuditSource | undefined, work: () => Promise<T>): Promise<T> {
    if (connection.disabled) {
      const error = new GatehouseError('forbidden', 'libraries.upstream_connection_disabled', { connection: connection.name });
      if (source) await recordAudit(deps.store.audit, auditEvent('upstream_sign_in_failed', source, { details: { connectionId: connection.id, connectionType: connection.type, stage, reason: 'connection_disabled' } }), deps.logger, deps.clock);
      throw error;
    }
    try {
      return await work();
    } catch (error) {
      if (isGatehouseError(error)) throw error;
      const failure = classify(error);
      // An answer that did not fit may come from keys or endpoints that changed: discover again next
      // time (not for what a browser can cause alone, such as a made-up code, state or error).
      if (staleReasons.has(failure.reason) && connection.type !== 'github') {
        try {
          discoveries.delete(discoveryBase(connection));
        } catch {
          // No issuer: nothing was cached.
        }
      }
      deps.logger?.warn(`upstream sign-in failed: ${failure.reason}`, { connectionId: connection.id, reason: failure.reason, cause: failure.cause instanceof Error ? failure.cause.message : undefined });
      throw await failed(connection, failure, stage, source);
    }
  }

  async function begin(connection: Connection, redirectUri: string, source?: AuditSource): Promise<UpstreamRequest> {
    return guarded(connection, 'begin', source, async () => {
      const server = await serverOf(connection);
      const configuration = configurationFor(connection, server, undefined);
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = connection.type === 'github' ? null : client.randomNonce();
      const url = client.buildAuthorizationUrl(configuration, {
        redirect_uri: redirectUri,
        scope: scopesOf(connection),
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        ...(nonce ? { nonce } : {}),
      });
      return { url: url.href, state, nonce, codeVerifier };
    });
  }

  async function complete(connection: Connection, callback: URL, expected: UpstreamExpectation, redirectUri: string, source: AuditSource): Promise<UpstreamIdentity> {
    // Read outside the upstream's part: a secret that cannot be opened is Gatehouse's own fault, not the upstream's.
    const secret = connection.disabled ? undefined : await deps.clientSecret(connection.id);
    return guarded(connection, 'complete', source, async () => {
      const parameters = callback.searchParams;
      // The state first: an answer (even an error) that is not this browser's is refused as such.
      const states = parameters.getAll('state');
      if (states.length !== 1 || !expected.state || !sameString(states[0]!, expected.state)) throw new UpstreamFailure('invalid', 'state_mismatch');
      const error = parameters.get('error');
      if (error !== null) {
        throw new UpstreamFailure('refused', 'error_redirect', { error: upstreamWords(error, 64), description: upstreamWords(parameters.get('error_description')) });
      }
      if (connection.type !== 'github' && !expected.nonce) throw new UpstreamFailure('invalid', 'nonce_mismatch');
      // The token request names the redirect URI the authorization request named, whatever address
      // this server was reached at; only the callback's parameters are taken from the browser.
      const currentUrl = new URL(redirectUri);
      currentUrl.search = parameters.toString();
      currentUrl.hash = '';
      const server = await serverOf(connection);
      const checks: client.AuthorizationCodeGrantChecks = {
        pkceCodeVerifier: expected.codeVerifier,
        expectedState: expected.state,
        ...(expected.nonce ? { expectedNonce: expected.nonce } : {}),
        idTokenExpected: connection.type !== 'github',
      };
      if (connection.type === 'github') return githubIdentity(connection, server, secret, currentUrl, checks);
      return oidcIdentity(connection, server, secret, currentUrl, checks);
    });
  }

  async function oidcIdentity(
    connection: Connection,
    server: { metadata: client.ServerMetadata; discovered?: Discovered; insecure: boolean },
    secret: string | undefined,
    currentUrl: URL,
    checks: client.AuthorizationCodeGrantChecks,
  ): Promise<UpstreamIdentity> {
    let configuration = configurationFor(connection, server, secret);
    if (server.metadata.issuer.includes('{tenantid}')) {
      // Microsoft's multi-tenant endpoints: the expected issuer depends on the token's tenant. The
      // code is exchanged once; the answer is kept, its tid read (unchecked) to name the issuer, and
      // the same answer is then checked in full (signature, that issuer, audience, nonce, expiry).
      const tokenEndpoint = server.metadata.token_endpoint!;
      let answer: { status: number; headers: Headers; body: string } | undefined;
      const kept = new Error('answer kept');
      configuration[client.customFetch] = async (url, options) => {
        const response = await fetch(url, options as RequestInit);
        if (url !== tokenEndpoint) return response;
        answer = { status: response.status, headers: response.headers, body: await response.text() };
        throw kept;
      };
      try {
        await client.authorizationCodeGrant(configuration, currentUrl, checks);
      } catch (error) {
        if (!answer) throw error;
      }
      const got = answer!;
      let idToken: unknown;
      try {
        idToken = (JSON.parse(got.body) as { id_token?: unknown }).id_token;
      } catch {
        // Left to openid-client to refuse below.
      }
      const issuer = microsoftTenantIssuer(server.metadata.issuer, peekClaims(idToken)?.tid, connection.tenant);
      if (idToken !== undefined && issuer === null) throw new UpstreamFailure('invalid', 'wrong_issuer', { claim: 'tid' });
      configuration = configurationFor(connection, { ...server, metadata: { ...server.metadata, issuer: issuer ?? server.metadata.issuer } }, secret);
      configuration[client.customFetch] = async (url, options) => (url === tokenEndpoint ? new Response(got.body, { status: got.status, headers: replayedHeaders(got.headers) }) : fetch(url, options as RequestInit));
    }
    const tokens = await client.authorizationCodeGrant(configuration, currentUrl, checks);
    keepKeys(server, configuration);
    const claims = tokens.claims();
    if (!claims || typeof claims.sub !== 'string' || !claims.sub) throw new UpstreamFailure('invalid', 'missing_subject');
    const wanted = ['email', 'email_verified', ...Object.values(connection.claimMapping)];
    let userinfo: Record<string, unknown> = {};
    if (server.metadata.userinfo_endpoint && wanted.some((claim) => claims[claim] === undefined)) {
      // Only when the ID token lacks a claim that is needed; its subject must be the ID token's.
      userinfo = await client.fetchUserInfo(configuration, tokens.access_token, claims.sub) as Record<string, unknown>;
    }
    // The email and whether it is verified come from one source together.
    const emailSource: Record<string, unknown> = typeof claims.email === 'string' ? claims : userinfo;
    const email = typeof emailSource.email === 'string' && emailSource.email ? emailSource.email : null;
    let emailVerified: boolean;
    if (connection.type === 'microsoft') {
      // Microsoft's email claim is not verified by Microsoft; xms_edov (an optional claim) says the
      // email's domain owner verified it (https://learn.microsoft.com/en-us/entra/identity-platform/optional-claims-reference).
      emailVerified = email !== null && isTrue(emailSource.xms_edov);
    } else {
      emailVerified = email !== null && isTrue(emailSource.email_verified);
    }
    const merged = { ...userinfo, ...claims };
    return {
      subject: claims.sub,
      email,
      emailVerified,
      profile: mapClaims(connection.claimMapping, merged),
      amr: Array.isArray(claims.amr) && claims.amr.every((value) => typeof value === 'string') ? [...claims.amr] as string[] : null,
      acr: typeof claims.acr === 'string' ? claims.acr : null,
    };
  }

  async function githubIdentity(
    connection: Connection,
    server: { metadata: client.ServerMetadata; insecure: boolean },
    secret: string | undefined,
    currentUrl: URL,
    checks: client.AuthorizationCodeGrantChecks,
  ): Promise<UpstreamIdentity> {
    const configuration = configurationFor(connection, server, secret);
    // GitHub answers its token endpoint with a form unless asked for JSON (openid-client asks), and
    // a refusal (bad_verification_code, incorrect_client_credentials) with status 200: it is read
    // as the 400 OAuth 2.0 says it is, so it is reported as the refusal it is.
    const tokenEndpoint = server.metadata.token_endpoint!;
    configuration[client.customFetch] = async (url, options) => {
      const response = await fetch(url, options as RequestInit);
      if (url !== tokenEndpoint || response.status !== 200) return response;
      const text = await response.text();
      let refused = false;
      try {
        refused = typeof (JSON.parse(text) as { error?: unknown }).error === 'string';
      } catch {
        // Left to openid-client to refuse.
      }
      return new Response(text, { status: refused ? 400 : 200, headers: replayedHeaders(response.headers) });
    };
    const tokens = await client.authorizationCodeGrant(configuration, currentUrl, checks);
    const apiUrl = trimSlash(connection.apiUrl ?? github.apiUrl);
    const api = async (path: string): Promise<{ status: number; json: unknown }> => {
      const headers = new Headers({ accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'Gatehouse' });
      const response = await client.fetchProtectedResource(configuration, tokens.access_token, new URL(`${apiUrl}${path}`), 'GET', undefined, headers);
      if (response.status >= 500) throw new UpstreamFailure('unavailable', 'upstream_status', { status: String(response.status) });
      const text = await readBounded(response);
      if (!response.ok) return { status: response.status, json: undefined };
      try {
        return { status: response.status, json: JSON.parse(text) };
      } catch (error) {
        throw new UpstreamFailure('invalid', 'malformed', {}, error);
      }
    };
    const user = await api('/user');
    if (user.status !== 200 || !user.json || typeof user.json !== 'object') throw new UpstreamFailure('invalid', 'unexpected_status', { status: String(user.status) });
    const profile = user.json as Record<string, unknown>;
    const id = profile.id;
    if (!(typeof id === 'number' && Number.isSafeInteger(id) && id > 0) && !(typeof id === 'string' && /^[1-9]\d{0,19}$/.test(id))) {
      throw new UpstreamFailure('invalid', 'missing_subject');
    }
    // The verified primary email (needs the user:email scope; without it GitHub answers 404 or 403: no email).
    const emails = await api('/user/emails');
    let email: string | null = null;
    if (emails.status === 200) {
      if (!Array.isArray(emails.json)) throw new UpstreamFailure('invalid', 'malformed');
      const primary = (emails.json as Array<Record<string, unknown>>).find((entry) => entry && entry.primary === true && entry.verified === true && typeof entry.email === 'string');
      email = primary ? (primary.email as string) : null;
    }
    return { subject: String(id), email, emailVerified: email !== null, profile: mapClaims(connection.claimMapping, profile), amr: null, acr: null };
  }

  return { begin, complete, forget: () => discoveries.clear() };
}

/** What openid-client reads of a token response's headers (the body is already decoded). */
function replayedHeaders(headers: Headers): Headers {
  const replayed = new Headers();
  for (const name of ['content-type', 'www-authenticate', 'dpop-nonce']) {
    const value = headers.get(name);
    if (value !== null) replayed.set(name, value);
  }
  return replayed;
}

function isTrue(value: unknown): boolean {
  return value === true || value === 'true' || value === 1 || value === '1';
}

/** Gatehouse profile claim ← upstream claim; non-empty strings only. */
export function mapClaims(mapping: Record<string, string>, claims: Record<string, unknown>): Record<string, unknown> {
  const profile: Record<string, unknown> = {};
  for (const [ours, theirs] of Object.entries(mapping)) {
    const value = Object.hasOwn(claims, theirs) ? claims[theirs] : undefined;
    if (typeof value === 'string' && value.trim()) profile[ours] = value;
  }
  return profile;
}

async function readBounded(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw new UpstreamFailure('invalid', 'too_large');
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBodyBytes) {
      await reader.cancel();
      throw new UpstreamFailure('invalid', 'too_large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
