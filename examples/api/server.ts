/**
 * A microservice that trusts Gatehouse's JWT access tokens (RFC 9068) and nothing else. It never
 * calls Gatehouse per request: it verifies each token's signature with the provider's published
 * keys (cached by jose, refetched when a token names an unknown `kid`), then the issuer, its own
 * audience, the lifetime and the scopes.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { base64url, calculateJwkThumbprint, createRemoteJWKSet, EmbeddedJWK, errors, jwtVerify } from 'jose';
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
  readonly code: 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof' | undefined;
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

/** The request a token came with: what a DPoP proof must be about (RFC 9449 §4.3). */
export type Presented = { method: string; url: string; dpop?: string | string[] | undefined };

/** How far a DPoP proof's iat may be from now, in seconds; a proof's jti is refused again within it. */
const proofWindowSeconds = 60;

/**
 * Checks a DPoP proof for a DPoP-bound access token (RFC 9449 §4.3, §7.1): one proof, signed by
 * the key in its own header, about this method and URL, made now, for this very token (ath), with
 * the key the token is bound to (cnf.jkt), never seen before (jti).
 */
async function checkProof(proof: Presented['dpop'], request: Presented, token: string, jkt: string, seen: Map<string, number>): Promise<void> {
  const refuse = (why: string) => new BearerError(401, 'invalid_dpop_proof', why);
  if (typeof proof !== 'string' || !proof) throw refuse('a DPoP proof (the DPoP header) is required with this token');
  let verified: Awaited<ReturnType<typeof jwtVerify>>;
  try {
    verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'], requiredClaims: ['jti', 'htm', 'htu', 'iat', 'ath'] });
  } catch {
    throw refuse('the DPoP proof is not valid');
  }
  const { payload, protectedHeader } = verified;
  const target = new URL(request.url);
  const htu = URL.canParse(String(payload.htu)) ? new URL(String(payload.htu)) : undefined;
  if (payload.htm !== request.method || !htu || `${htu.origin}${htu.pathname}` !== `${target.origin}${target.pathname}`) throw refuse('the DPoP proof is for another request');
  const now = Math.floor(Date.now() / 1000);
  if (Math.abs(now - Number(payload.iat)) > proofWindowSeconds) throw refuse('the DPoP proof is too old or from the future');
  if (payload.ath !== base64url.encode(createHash('sha256').update(token).digest())) throw refuse('the DPoP proof is for another access token');
  if (await calculateJwkThumbprint(protectedHeader.jwk!) !== jkt) throw refuse('the DPoP proof is signed by another key than the token is bound to');
  for (const [jti, until] of seen) if (until < now) seen.delete(jti);
  const jti = String(payload.jti);
  if (seen.has(jti)) throw refuse('the DPoP proof was used before');
  seen.set(jti, now + 2 * proofWindowSeconds);
}

/** Verifies tokens for one audience. Keys are fetched from the issuer's jwks_uri on first use. */
export function createVerifier(options: Pick<ApiOptions, 'issuer' | 'audience' | 'jwks'>) {
  // The jti of the DPoP proofs seen lately (one instance: several would share them in a store).
  const seenProofs = new Map<string, number>();
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

  return async function verify(authorization: string | undefined, request?: Presented): Promise<Caller> {
    if (!authorization) throw new BearerError(401, undefined, 'an access token is required');
    const match = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
    if (!match) throw new BearerError(401, 'invalid_token', 'the Authorization header must be "Bearer <token>" (or "DPoP <token>" with a proof)');
    const dpopScheme = match[1]!.toLowerCase() === 'dpop';
    const token = match[2]!;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, getKey, {
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
    // A token bound to a key (DPoP) is good only with a proof of that key; a bearer one only as Bearer.
    const jkt = (payload.cnf as { jkt?: unknown } | undefined)?.jkt;
    if (typeof jkt === 'string') {
      if (!dpopScheme || !request) throw new BearerError(401, 'invalid_token', 'this access token is bound to a key: send it as "DPoP <token>" with a DPoP proof');
      await checkProof(request.dpop, request, token, jkt, seenProofs);
    } else if (dpopScheme) {
      throw new BearerError(401, 'invalid_token', 'this access token is not bound to a key: send it as "Bearer <token>"');
    }
    const scopes = new Set(typeof payload.scope === 'string' ? payload.scope.split(' ') : []);
    return { sub: payload.sub!, clientId: String(payload.client_id), scopes, payload };
  };
}

function requireScope(caller: Caller, scope: string): void {
  if (!caller.scopes.has(scope)) throw new BearerError(403, 'insufficient_scope', `this needs the ${scope} scope`, scope);
}

/** RFC 6750 section 3: no error code when no token was sent at all. A DPoP request's answer names DPoP (RFC 9449 §7.1). */
function challenge(realm: string, error?: BearerError, dpop = false): string {
  const params = [`realm="${realm}"`];
  if (error?.code) params.push(`error="${error.code}"`, `error_description="${error.message}"`);
  if (error?.scope) params.push(`scope="${error.scope}"`);
  return dpop ? `DPoP algs="ES256 EdDSA PS256 RS256", ${params.join(', ')}` : `Bearer ${params.join(', ')}`;
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
  // This API's own URL (a DPoP proof's htu is checked against it), known once it listens.
  const running = { url: '' };

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
          'access-control-allow-headers': 'Authorization, Content-Type, DPoP',
          'access-control-max-age': '600',
        }).end();
        return;
      }
    }

    const path = new URL(req.url ?? '/', 'http://api').pathname;
    if (path !== '/notes') return send(res, 404, { error: 'not_found' });
    if (req.method !== 'GET' && req.method !== 'POST') return send(res, 405, { error: 'method_not_allowed' }, { allow: 'GET, POST' });

    try {
      const caller = await verify(req.headers.authorization, { method: req.method, url: `${running.url}${req.url ?? '/'}`, dpop: req.headers.dpop });
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
      const dpop = error.code === 'invalid_dpop_proof' || /^dpop /i.test(req.headers.authorization ?? '');
      return send(res, error.status, { error: error.code ?? 'unauthorized', error_description: error.message }, { 'www-authenticate': challenge(options.audience, error, dpop) });
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
  running.url = `http://${options.host ?? 'localhost'}:${port}`;
  return {
    url: running.url,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
