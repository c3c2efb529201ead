/**
 * An MCP server (Model Context Protocol, Streamable HTTP transport) protected by Gatehouse. It is an
 * OAuth resource server and nothing more: it never sees a password or a client secret. MCP clients
 * find their way to Gatehouse by themselves:
 *
 * 1. An MCP request without a token is answered `401` with
 *    `WWW-Authenticate: Bearer resource_metadata="<this server>/.well-known/oauth-protected-resource"`.
 * 2. That document (RFC 9728) names this server's resource identifier, Gatehouse as its
 *    authorization server and the scopes it understands.
 * 3. The client reads Gatehouse's metadata (RFC 8414), registers itself (dynamic client
 *    registration, or a Client ID Metadata Document), and runs the authorization code flow with PKCE
 *    and `resource=<this server>`. Gatehouse issues a JWT access token whose `aud` is this server.
 * 4. This server verifies that token with Gatehouse's published keys alone (jose): signature,
 *    issuer, audience, lifetime, then the scope.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { OAuthProtectedResourceMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import { createRemoteJWKSet, errors, jwtVerify } from 'jose';
import type { JWTVerifyGetKey, RemoteJWKSetOptions } from 'jose';

export type McpServerOptions = {
  /** Gatehouse's issuer URL, exactly as it appears in the tokens' `iss`. */
  issuer: string;
  port?: number;
  /** The interface to listen on (default `localhost`). */
  host?: string;
  /**
   * This server's public URL, which is also its resource identifier: the `resource` MCP clients
   * send, the tokens' `aud`, and the identifier it is registered under with `gatehouse apis add`.
   * By default `http://<host>:<port>`; behind a reverse proxy, the https URL clients use.
   */
  resource?: string;
  /** The scope every MCP request needs (default `mcp:tools`). */
  scope?: string;
  /** Browser origins allowed to call the MCP endpoint (browser-based MCP clients). */
  allowedOrigins?: string[];
  /** Passed to jose's createRemoteJWKSet (cacheMaxAge, cooldownDuration, …). */
  jwks?: RemoteJWKSetOptions;
};

export type RunningMcpServer = {
  /** The MCP endpoint (`<resource>/mcp`): what an MCP client is configured with. */
  url: string;
  /** The resource identifier (the tokens' audience). */
  resource: string;
  /** Where the protected resource metadata (RFC 9728) is published. */
  resourceMetadataUrl: string;
  close(): Promise<void>;
};

/** A failed check, answered with RFC 6750's WWW-Authenticate header (plus RFC 9728's resource_metadata). */
class BearerError extends Error {
  readonly status: 401 | 403;
  readonly code: 'invalid_token' | 'insufficient_scope' | undefined;

  constructor(status: 401 | 403, code: BearerError['code'], description: string) {
    super(description);
    this.status = status;
    this.code = code;
  }
}

/** Gatehouse (its metadata or JWKS) could not be reached: a 503, not the caller's fault. */
class KeysUnavailable extends Error {}

/**
 * The RFC 9728 location of a resource's metadata: the well-known path inserted before the
 * resource's own path (`https://mcp.example.com/tools` → `…/.well-known/oauth-protected-resource/tools`).
 */
export function protectedResourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/oauth-protected-resource${path}`;
}

/** Finds Gatehouse's `jwks_uri`: RFC 8414 metadata first, OpenID Connect discovery otherwise. */
async function discoverJwksUri(issuer: string): Promise<string> {
  for (const wellKnown of ['oauth-authorization-server', 'openid-configuration']) {
    const response = await fetch(`${issuer}/.well-known/${wellKnown}`, { headers: { accept: 'application/json' } });
    if (response.status === 404) continue;
    if (!response.ok) throw new Error(`${wellKnown} answered ${response.status}`);
    const metadata = (await response.json()) as { issuer?: string; jwks_uri?: string };
    if (metadata.issuer !== issuer || !metadata.jwks_uri) throw new Error(`${wellKnown} does not describe ${issuer}`);
    return metadata.jwks_uri;
  }
  throw new Error(`${issuer} publishes no authorization server metadata`);
}

/** Verifies Gatehouse's JWT access tokens for one resource, into the SDK's AuthInfo. */
export function createTokenVerifier(options: { issuer: string; resource: string; jwks?: RemoteJWKSetOptions }) {
  let remote: Promise<JWTVerifyGetKey> | undefined;
  const getKey: JWTVerifyGetKey = async (header, token) => {
    remote ??= discoverJwksUri(options.issuer).then((uri) => createRemoteJWKSet(new URL(uri), options.jwks)).catch((error: unknown) => {
      remote = undefined; // try again on the next request
      throw new KeysUnavailable('discovery failed', { cause: error });
    });
    const keys = await remote;
    try {
      return await keys(header, token);
    } catch (error) {
      // The JWKS could not be fetched or read: ours. No key with that kid (even after a refetch): the token's.
      const unreachable = !(error instanceof errors.JOSEError) || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error.code === 'ERR_JOSE_GENERIC';
      if (unreachable) throw new KeysUnavailable('fetching the JWKS failed', { cause: error });
      throw error;
    }
  };

  return async function verify(authorization: string | undefined): Promise<AuthInfo> {
    if (!authorization) throw new BearerError(401, undefined, 'an access token is required');
    const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization);
    if (!match) throw new BearerError(401, 'invalid_token', 'the Authorization header must be "Bearer <token>"');
    const token = match[1]!;
    try {
      const { payload } = await jwtVerify(token, getKey, {
        issuer: options.issuer,
        audience: options.resource, // a token Gatehouse issued for another API is not for us
        typ: 'at+jwt', // an access token (RFC 9068), not an ID token passed off as one
        algorithms: ['RS256', 'ES256'],
        requiredClaims: ['sub', 'client_id', 'iat', 'exp', 'jti'],
      });
      return {
        token,
        clientId: String(payload.client_id),
        scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
        expiresAt: payload.exp!,
        resource: new URL(options.resource),
        extra: { sub: payload.sub! },
      };
    } catch (error) {
      if (error instanceof KeysUnavailable) throw error;
      if (error instanceof errors.JWTExpired) throw new BearerError(401, 'invalid_token', 'the access token expired');
      throw new BearerError(401, 'invalid_token', 'the access token is not valid');
    }
  };
}

/**
 * One MCP server per request (stateless Streamable HTTP): the tools see the verified token in
 * `extra.authInfo`. `whoami` answers with the person the token speaks for and what it allows.
 */
function buildMcpServer(): McpServer {
  const server = new McpServer({ name: 'gatehouse-example-mcp-server', version: '1.0.0' });
  server.registerTool('whoami', {
    title: 'Who am I?',
    description: 'Tells who the access token was issued to, by which client, and with which scopes.',
  }, (extra) => {
    const auth = extra.authInfo!;
    const answer = { sub: String(auth.extra?.sub), client_id: auth.clientId, scopes: auth.scopes };
    return {
      content: [{ type: 'text', text: `You are ${answer.sub}, signed in through ${answer.client_id}, with the scopes ${answer.scopes.join(' ')}.` }],
      structuredContent: answer,
    };
  });
  return server;
}

type Settings = { issuer: string; resource: string; scope: string; allowedOrigins: Set<string>; jwks?: RemoteJWKSetOptions };

/** The request handler: the metadata document, the MCP endpoint behind the token check, and 404. */
function requestHandler(settings: Settings) {
  const { issuer, resource, scope, allowedOrigins } = settings;
  const metadataUrl = protectedResourceMetadataUrl(resource);
  const metadataPath = new URL(metadataUrl).pathname;
  const mcpPath = `${new URL(resource).pathname.replace(/\/$/, '')}/mcp`;
  const verify = createTokenVerifier({ issuer, resource, ...(settings.jwks ? { jwks: settings.jwks } : {}) });

  const metadata: OAuthProtectedResourceMetadata = {
    resource,
    authorization_servers: [issuer],
    scopes_supported: [scope],
    bearer_methods_supported: ['header'],
    resource_name: 'Gatehouse example MCP server',
  };

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(body));
  };

  /** RFC 6750 + RFC 9728: where to find the metadata, always; an error code only when a token was sent. */
  const challenge = (error: BearerError): string => {
    const params: string[] = [];
    if (error.code) params.push(`error="${error.code}"`, `error_description="${error.message}"`);
    if (error.code === 'insufficient_scope') params.push(`scope="${scope}"`);
    params.push(`resource_metadata="${metadataUrl}"`);
    return `Bearer ${params.join(', ')}`;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://mcp').pathname;

    if (path === metadataPath) {
      // Public metadata: any origin may read it (browser-based MCP clients discover through it).
      res.setHeader('access-control-allow-origin', '*');
      if (req.method === 'OPTIONS') return void res.writeHead(204, { 'access-control-allow-methods': 'GET', 'access-control-allow-headers': 'MCP-Protocol-Version' }).end();
      if (req.method !== 'GET') return send(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
      return send(res, 200, metadata, { 'cache-control': 'public, max-age=3600' });
    }
    if (path !== mcpPath) return send(res, 404, { error: 'not_found' });

    const origin = req.headers.origin;
    res.setHeader('vary', 'Origin');
    if (origin && allowedOrigins.has(origin)) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-expose-headers', 'WWW-Authenticate, Mcp-Session-Id');
      if (req.method === 'OPTIONS') {
        return void res.writeHead(204, {
          'access-control-allow-methods': 'POST',
          'access-control-allow-headers': 'Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id',
          'access-control-max-age': '600',
        }).end();
      }
    }

    let auth: AuthInfo;
    try {
      auth = await verify(req.headers.authorization);
      if (!auth.scopes.includes(scope)) throw new BearerError(403, 'insufficient_scope', `this server needs the ${scope} scope`);
    } catch (error) {
      if (!(error instanceof BearerError)) throw error;
      return send(res, error.status, { error: error.code ?? 'unauthorized', error_description: error.message }, { 'www-authenticate': challenge(error) });
    }

    // Stateless: no sessions, so no server-to-client stream (GET) and nothing to end (DELETE).
    if (req.method !== 'POST') return send(res, 405, { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null }, { allow: 'POST' });

    const server = buildMcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(Object.assign(req, { auth }), res);
  };

  return (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      const unavailable = error instanceof KeysUnavailable;
      console.error('mcp-server: request failed:', (error as Error).message);
      if (!res.headersSent) send(res, unavailable ? 503 : 500, { error: unavailable ? 'temporarily_unavailable' : 'server_error' }, unavailable ? { 'retry-after': '5' } : {});
    });
  };
}

/** Starts the example MCP server: `POST <resource>/mcp` (Streamable HTTP) and its metadata. */
export async function startMcpServer(options: McpServerOptions): Promise<RunningMcpServer> {
  const host = options.host ?? 'localhost';
  const httpServer = createServer();
  httpServer.listen(options.port ?? 0, host);
  await once(httpServer, 'listening');
  const { port } = httpServer.address() as AddressInfo;
  const resource = options.resource?.replace(/\/$/, '') ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  httpServer.on('request', requestHandler({
    issuer: options.issuer,
    resource,
    scope: options.scope ?? 'mcp:tools',
    allowedOrigins: new Set(options.allowedOrigins ?? []),
    ...(options.jwks ? { jwks: options.jwks } : {}),
  }));

  return {
    url: `${resource}/mcp`,
    resource,
    resourceMetadataUrl: protectedResourceMetadataUrl(resource),
    close: () => new Promise<void>((resolve) => {
      httpServer.close(() => resolve());
      httpServer.closeAllConnections();
    }),
  };
}
