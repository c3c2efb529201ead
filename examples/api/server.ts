/**
 * A microservice that trusts Gatehouse's JWT access tokens (RFC 9068) and nothing else. It never
 * calls Gatehouse per request: it verifies each token's signature with the provider's published
 * keys (cached by jose, refetched when a token names an unknown `kid`), then the issuer, its own
 * audience, the lifetime and the scopes.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, RemoteJWKSetOptions } from 'jose';

export type ApiOptions = {
  /** Gatehouse's issuer URL, exactly as it appears in the tokens' `iss`. */
  issuer: string;
  /** This API's identifier as registered with `gatehouse apis add` (the tokens' `aud`). */
  audience: string;
  port?: number;
  host?: string;
  /** Browser origins allowed to call this API (the single-page apps that use it). */
  allowedOrigins?: string[];
  /** Passed to jose's createRemoteJWKSet (cacheMaxAge, cooldownDuration, …). */
  jwks?: RemoteJWKSetOptions;
};

export type RunningApi = { url: string; close(): Promise<void> };

/** Who is calling, from a verified token. */
export type Caller = { sub: string; clientId: string; scopes: Set<string>; payload: JWTPayload };

/** A failed check, answered with RFC 6750's WWW-Authenticate header. */
export class BearerError extends Error {
  readonly status: 401 | 403;
  readonly code: 'invalid_token' | 'insufficient_scope' | undefined;
  readonly scope: string | undefined;

  constructor(status: 401 | 403, code: BearerError['code'], description: string, scope?: string) {
    super(description);
    this.status = status;
    this.code = code;
    this.scope = scope;
  }
}

/** Gatehouse (its discovery document or JWKS) could not be reached: a 503, not the caller's fault. */
export class KeysUnavailable extends Error {}

/** Verifies tokens for one audience. Keys are fetched from the issuer's jwks_uri on first use. */
export function createVerifier(options: Pick<ApiOptions, 'issuer' | 'audience' | 'jwks'>) {
  let remote: Promise<JWTVerifyGetKey> | undefined;
  const discover = async (): Promise<JWTVerifyGetKey> => {
    const response = await fetch(`${options.issuer}/.well-known/openid-configuration`);
    if (!response.ok) throw new Error(`discovery answered ${response.status}`);
    const metadata = (await response.json()) as { issuer?: string; jwks_uri?: string };
    if (metadata.issuer !== options.issuer || !metadata.jwks_uri) throw new Error('discovery does not describe this issuer');
    return createRemoteJWKSet(new URL(metadata.jwks_uri), options.jwks);
  };
  const getKey: JWTVerifyGetKey = async (header, token) => {
    remote ??= discover().catch((error: unknown) => {
      remote = undefined; // try again on the next request
      throw new KeysUnavailable('discovery failed', { cause: error });
    });
    const keys = await remote;
    try {
      return await keys(header, token);
    } catch (error) {
      // The JWKS could not be fetched or read: ours. Anything else (no key with that kid, even
      // after refetching it): the token's problem.
      const unreachable = !(error instanceof errors.JOSEError) || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error.code === 'ERR_JOSE_GENERIC';
      if (unreachable) throw new KeysUnavailable('fetching the JWKS failed', { cause: error });
      throw error;
    }
  };

  return async function verify(authorization: string | undefined): Promise<Caller> {
    if (!authorization) throw new BearerError(401, undefined, 'an access token is required');
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
    if (!match) throw new BearerError(401, 'invalid_token', 'the Authorization header must be "Bearer <token>"');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(match[1]!, getKey, {
        issuer: options.issuer,
        audience: options.audience,
        typ: 'at+jwt', // an access token, not an ID token passed off as one
        algorithms: ['RS256', 'ES256'],
        requiredClaims: ['sub', 'client_id', 'iat', 'exp', 'jti'],
      }));
    } catch (error) {
      if (error instanceof KeysUnavailable) throw error;
      if (error instanceof errors.JWTExpired) throw new BearerError(401, 'invalid_token', 'the access token expired');
      throw new BearerError(401, 'invalid_token', 'the access token is not valid');
    }
    const scopes = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ') : []);
    return { sub: payload.sub!, clientId: String(payload.client_id), scopes, payload };
  };
}

function requireScope(caller: Caller, scope: string): void {
  if (!caller.scopes.has(scope)) throw new BearerError(403, 'insufficient_scope', `this needs the ${scope} scope`, scope);
}

/** RFC 6750 section 3: no error code when no token was sent at all. */
function challenge(realm: string, error?: BearerError): string {
  const params = [`realm="${realm}"`];
  if (error?.code) params.push(`error="${error.code}"`, `error_description="${error.message}"`);
  if (error?.scope) params.push(`scope="${error.scope}"`);
  return `Bearer ${params.join(', ')}`;
}

async function readJson(req: IncomingMessage, limit = 4096): Promise<unknown> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > limit) throw new Error('too large');
  }
  return JSON.parse(body);
}

/** Starts the example API: GET /notes (notes:read) and POST /notes (notes:write), per user. */
export async function startApi(options: ApiOptions): Promise<RunningApi> {
  const verify = createVerifier(options);
  const allowedOrigins = new Set(options.allowedOrigins ?? []);
  const notes = new Map<string, { text: string; at: string }[]>();

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const origin = req.headers.origin;
    res.setHeader('vary', 'Origin');
    if (origin && allowedOrigins.has(origin)) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-expose-headers', 'WWW-Authenticate');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'Authorization, Content-Type',
          'access-control-max-age': '600',
        }).end();
        return;
      }
    }

    const path = new URL(req.url ?? '/', 'http://api').pathname;
    if (path !== '/notes') return send(res, 404, { error: 'not_found' });
    if (req.method !== 'GET' && req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, POST' });

    try {
      const caller = await verify(req.headers.authorization);
      const mine = notes.get(caller.sub) ?? [];
      if (req.method === 'GET') {
        requireScope(caller, 'notes:read');
        return send(res, 200, { sub: caller.sub, client_id: caller.clientId, scope: [...caller.scopes].join(' '), notes: mine });
      }
      requireScope(caller, 'notes:write');
      const input = (await readJson(req).catch(() => undefined)) as { text?: unknown } | undefined;
      if (typeof input?.text !== 'string' || !input.text.trim() || input.text.length > 500) {
        return send(res, 400, { error: 'invalid_request', error_description: 'send {"text": "…"} (1 to 500 characters)' });
      }
      mine.push({ text: input.text.trim(), at: new Date().toISOString() });
      notes.set(caller.sub, mine);
      return send(res, 201, { notes: mine });
    } catch (error) {
      if (!(error instanceof BearerError)) throw error;
      return send(res, error.status, { error: error.code ?? 'unauthorized', error_description: error.message }, { 'www-authenticate': challenge(options.audience, error) });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error('api: request failed:', (error as Error).message);
      if (!res.headersSent) send(res, 503, { error: 'temporarily_unavailable' }, { 'retry-after': '5' });
    });
  });
  server.listen(options.port ?? 0, options.host ?? 'localhost');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? 'localhost'}:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
