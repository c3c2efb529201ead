/**
 * Which browser origins may read the answers of the endpoints a single-page app calls.
 *
 * oidc-provider asks `clientBasedCORS(ctx, origin, client)` on a cross-origin request to an
 * endpoint that identifies a client (token, userinfo, revocation, introspection, PAR), once it
 * knows the client; a `false` removes `Access-Control-Allow-Origin` and fails the request with
 * invalid_request, before anything is done. Discovery and the JWKS stay open to every origin (they
 * are public); the authorization endpoint is a page a browser navigates to and never sends CORS
 * headers.
 */

/** The endpoints (oidc-provider route names) a browser app calls with fetch. */
export const corsRoutes: ReadonlySet<string> = new Set(['token', 'userinfo', 'revocation']);

export type CorsClient = {
  /** `none` for a public client (a browser app has no secret). */
  readonly clientAuthMethod?: string | undefined;
  readonly redirectUris?: readonly string[] | undefined;
};

/** The web origins (`scheme://host[:port]`) of http(s) redirect URIs; custom schemes have none. */
export function webOrigins(redirectUris: readonly string[]): Set<string> {
  const origins = new Set<string>();
  for (const uri of redirectUris) {
    const url = URL.parse(uri);
    if (url && (url.protocol === 'https:' || url.protocol === 'http:')) origins.add(url.origin);
  }
  return origins;
}

/**
 * True when a page at `origin` may read `route`'s answer for `client`: only on the token, userinfo
 * and revocation endpoints, only for a public client, and only from the origin of one of its
 * redirect URIs (where the app that holds its tokens runs). Confidential clients call from their
 * servers and never need CORS.
 */
export function allowsCors(route: string | undefined, origin: string | undefined, client: CorsClient): boolean {
  if (!route || !corsRoutes.has(route)) return false;
  if (client.clientAuthMethod !== 'none') return false;
  // "null" is what sandboxed frames, file: pages and some redirects send: never an app's origin.
  if (!origin || origin === 'null') return false;
  return webOrigins(client.redirectUris ?? []).has(origin);
}

/**
 * The registration endpoints (RFC 7591 `POST /reg`, RFC 7592 `GET|PUT|DELETE /reg/:id`) answer
 * browsers from any origin: an MCP client running in a browser registers itself from its own page.
 * Nothing there rides on cookies (an initial access token or a registration access token is a
 * bearer token the page holds), so no credentials are allowed and the origin is echoed. oidc-provider
 * sends no CORS headers on these endpoints; this middleware (in front of it, and of the registration
 * limit, so a 429 is readable too) answers preflights and marks the answers.
 */
export const registrationCorsMaxAgeSeconds = 3600;

export function registrationCors(): (ctx: RegistrationCorsContext, next: () => Promise<unknown>) => Promise<unknown> {
  return async (ctx, next) => {
    const collection = ctx.path === '/reg';
    if (!collection && !/^\/reg\/[^/]+$/u.test(ctx.path)) return next();
    const origin = ctx.get('origin');
    if (!origin) return next();
    ctx.vary('Origin');
    if (ctx.method === 'OPTIONS' && ctx.get('access-control-request-method')) {
      ctx.set('access-control-allow-origin', origin);
      ctx.set('access-control-allow-methods', collection ? 'POST' : 'GET, PUT, DELETE');
      ctx.set('access-control-allow-headers', 'authorization, content-type');
      ctx.set('access-control-max-age', String(registrationCorsMaxAgeSeconds));
      ctx.status = 204;
      return undefined;
    }
    ctx.set('access-control-allow-origin', origin);
    ctx.set('access-control-expose-headers', 'www-authenticate, retry-after, location');
    return next();
  };
}

type RegistrationCorsContext = {
  path: string;
  method: string;
  status: number;
  get(name: string): string;
  set(name: string, value: string): void;
  vary(name: string): void;
};
