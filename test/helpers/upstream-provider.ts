import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { JWK } from 'jose';
import Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * A real second OpenID Provider for tests: bare oidc-provider on an ephemeral loopback port, one
 * confidential client, and an interaction that signs the configured person in without any page.
 * Drive it with a real browser or a cookie-keeping HTTP user agent (test/helpers/user-agent.ts):
 * `/auth` → `/interaction/:uid` → `/auth/:uid` → the client's redirect URI, all redirects.
 *
 *   const upstream = await startUpstreamProvider({ redirectUris: [`${gatehouse.url}/connections/acme/callback`] });
 *   // add a connection with issuer upstream.issuer, upstream.clientId, upstream.clientSecret
 *   upstream.setUser({ sub: 'u-1', email: 'ada@example.com', email_verified: true, name: 'Ada' });
 *   upstream.misbehave('wrong-nonce');   // the next answers misbehave, until misbehave(null)
 *   await upstream.stop();
 */

/** The person the provider signs in: their claims, and the amr/acr of that sign-in. */
export type UpstreamUser = {
  sub: string;
  email?: string;
  email_verified?: boolean;
  name?: string;
  given_name?: string;
  family_name?: string;
  picture?: string;
  preferred_username?: string;
  locale?: string;
  amr?: string[];
  acr?: string;
  [claim: string]: unknown;
};

/**
 * Ways to misbehave, each applied from the call on:
 * - ID tokens (at the token endpoint, re-signed so only that one thing is wrong): `bad-signature`
 *   (signed with a key not in the JWKS, under the JWKS key's kid), `unknown-key` (a key and kid not
 *   in the JWKS), `wrong-issuer`, `wrong-audience`, `wrong-nonce`, `expired`, `missing-subject`;
 * - `access-denied`: the interaction refuses (an error redirect: error=access_denied);
 * - `slow`: every back-channel request (discovery, JWKS, token, userinfo) is held without an answer
 *   (until `slowMs`, default one minute, or stop());
 * - `unavailable`: every back-channel request answers 503 with an HTML page;
 * - `garbage`: the token endpoint answers 200 application/json that is not JSON;
 *   `garbage-discovery`: so does the discovery document.
 */
export type Misbehaviour =
  | 'bad-signature' | 'unknown-key' | 'wrong-issuer' | 'wrong-audience' | 'wrong-nonce' | 'expired' | 'missing-subject'
  | 'access-denied' | 'slow' | 'unavailable' | 'garbage' | 'garbage-discovery';

/** What the interaction decides: sign this person in, or refuse (an access_denied error redirect). */
export type InteractionDecision = UpstreamUser | 'refuse';

export type UpstreamProviderOptions = {
  /** The client's exact redirect URIs (oidc-provider compares them byte for byte). */
  redirectUris: string[];
  clientId?: string;
  clientSecret?: string;
  /** How the client authenticates at the token endpoint; `none` makes it a public client (PKCE only). */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
  /** The person signed in (until setUser). */
  user?: UpstreamUser;
  /**
   * The interaction: `auto` (default) signs the current user in; a function decides per request
   * (what the authorization asked for is passed to it): a test-driven choice.
   */
  interaction?: 'auto' | ((request: { clientId: string; scope: string; params: Record<string, unknown> }) => InteractionDecision | Promise<InteractionDecision>);
  /** Put the user's claims in the ID token too (by default, as oidc-provider does for the code flow, only in userinfo). */
  claimsInIdToken?: boolean;
  /** Claims beyond the standard ones the provider may release, by scope, e.g. { groups: ['groups'] } ('profile' adds to profile). */
  extraClaims?: Record<string, string[]>;
  /** acr values the provider may assert (the user's acr must be one). */
  acrValues?: string[];
  /** Keep the upstream session between authorizations (default: every authorization signs in afresh). */
  rememberSessions?: boolean;
  /** How long `slow` holds a request. */
  slowMs?: number;
};

export type UpstreamProvider = {
  /** The issuer (also the origin): http://127.0.0.1:<port>. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Who the next sign-in is. */
  setUser(user: UpstreamUser): void;
  /** Misbehave from now on, or behave again (null). */
  misbehave(kind: Misbehaviour | null): void;
  /** Every request received, as "METHOD /path" (e.g. to see whether userinfo was asked). */
  requests: string[];
  stop(): Promise<void>;
};

const standardClaims = {
  // Every ID token says how the person signed in (oidc-provider releases amr and acr only when listed).
  openid: ['sub', 'acr', 'amr'],
  email: ['email', 'email_verified'],
  profile: ['name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'picture', 'website', 'locale', 'zoneinfo', 'updated_at'],
};

export async function startUpstreamProvider(options: UpstreamProviderOptions): Promise<UpstreamProvider> {
  const clientId = options.clientId ?? 'gatehouse';
  const clientSecret = options.clientSecret ?? 'upstream-client-secret-0123456789abcdef';
  const method = options.tokenEndpointAuthMethod ?? 'client_secret_basic';
  const slowMs = options.slowMs ?? 60_000;
  let user: UpstreamUser = options.user ?? { sub: 'upstream-user-1', email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace' };
  const users = new Map<string, UpstreamUser>([[user.sub, user]]);
  let misbehaviour: Misbehaviour | null = null;
  const requests: string[] = [];
  const held = new Set<NodeJS.Timeout>();

  const signing = await generateKeyPair('RS256', { extractable: true });
  const kid = 'upstream-key-1';
  const signingJwk = { ...(await exportJWK(signing.privateKey)), kid, alg: 'RS256', use: 'sig' } as JWK;
  const foreign = await generateKeyPair('RS256', { extractable: true });

  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const claims: Record<string, string[]> = { ...standardClaims };
  for (const [scope, names] of Object.entries(options.extraClaims ?? {})) claims[scope] = [...(claims[scope] ?? []), ...names];
  const acrValues = [...new Set([...(options.acrValues ?? []), ...(user.acr ? [user.acr] : []), 'urn:upstream:loa:1', 'urn:upstream:loa:2'])];

  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      ...(method === 'none' ? {} : { client_secret: clientSecret }),
      redirect_uris: options.redirectUris,
      token_endpoint_auth_method: method,
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    jwks: { keys: [signingJwk as never] },
    cookies: { keys: ['upstream-provider-cookie-key-0123456789'] },
    claims,
    scopes: ['openid', 'offline_access', ...Object.keys(claims).filter((scope) => scope !== 'openid')],
    acrValues,
    conformIdTokenClaims: !options.claimsInIdToken,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx: KoaContextWithOIDC, sub: string) => {
      const found = users.get(sub);
      if (!found) return undefined;
      return {
        accountId: sub,
        claims: () => {
          const { amr: _amr, acr: _acr, ...rest } = found;
          return { ...rest, sub };
        },
      };
    },
    // The upstream's own consent is given with the sign-in: the grant covers what was asked.
    loadExistingGrant: async (ctx: KoaContextWithOIDC) => {
      const { oidc } = ctx;
      if (!oidc.session?.accountId || !oidc.client) return undefined;
      const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      grant.addOIDCScope([...oidc.requestParamScopes].join(' '));
      if (oidc.requestParamClaims) grant.addOIDCClaims([...oidc.requestParamClaims]);
      await grant.save();
      return grant;
    },
    renderError: (ctx, out) => {
      ctx.type = 'text/plain';
      ctx.body = `upstream provider error: ${out.error}: ${out.error_description ?? ''}`;
    },
  });
  const handle = provider.callback();

  async function interaction(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const details = await provider.interactionDetails(req, res);
    const params = details.params as Record<string, unknown>;
    let decision: InteractionDecision = misbehaviour === 'access-denied' ? 'refuse' : user;
    if (misbehaviour !== 'access-denied' && typeof options.interaction === 'function') {
      decision = await options.interaction({ clientId: String(params.client_id), scope: String(params.scope ?? ''), params });
    }
    if (decision === 'refuse') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The person declined to sign in <here>' }, { mergeWithLastSubmission: false });
      return;
    }
    users.set(decision.sub, decision);
    const login = { accountId: decision.sub, ...(decision.amr ? { amr: decision.amr } : {}), ...(decision.acr ? { acr: decision.acr } : {}) };
    await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
  }

  /** Re-signs the ID token of a token response so exactly one thing is wrong with it. */
  async function tamper(idToken: string, kind: Misbehaviour): Promise<string> {
    const payload = { ...decodeJwt(idToken) } as Record<string, unknown>;
    const header = decodeProtectedHeader(idToken);
    let key = signing.privateKey;
    let keyId = header.kid ?? kid;
    if (kind === 'bad-signature') key = foreign.privateKey;
    if (kind === 'unknown-key') {
      key = foreign.privateKey;
      keyId = 'not-in-the-jwks';
    }
    if (kind === 'wrong-issuer') payload.iss = `${issuer}/elsewhere`;
    if (kind === 'wrong-audience') payload.aud = 'another-client';
    if (kind === 'wrong-nonce') payload.nonce = 'not-the-nonce-that-was-sent';
    if (kind === 'expired') {
      payload.iat = Math.floor(Date.now() / 1000) - 7200;
      payload.exp = Math.floor(Date.now() / 1000) - 3600;
    }
    if (kind === 'missing-subject') delete payload.sub;
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: keyId }).sign(key);
  }

  /** Lets oidc-provider answer, then rewrites the ID token in its JSON answer. */
  function rewriteIdToken(res: ServerResponse, kind: Misbehaviour): void {
    const chunks: Buffer[] = [];
    const end = res.end.bind(res) as (chunk?: unknown) => ServerResponse;
    res.write = ((chunk: unknown) => {
      chunks.push(Buffer.from(chunk as string));
      return true;
    }) as ServerResponse['write'];
    res.end = ((chunk?: unknown) => {
      if (chunk !== undefined && typeof chunk !== 'function') chunks.push(Buffer.from(chunk as string));
      void (async () => {
        let text = Buffer.concat(chunks).toString('utf8');
        try {
          const json = JSON.parse(text) as Record<string, unknown>;
          if (typeof json.id_token === 'string') text = JSON.stringify({ ...json, id_token: await tamper(json.id_token, kind) });
        } catch {
          // Not JSON: passed on as it is.
        }
        res.setHeader('content-length', Buffer.byteLength(text));
        end(text);
      })();
      return res;
    }) as ServerResponse['end'];
  }

  const idTokenKinds = new Set<Misbehaviour>(['bad-signature', 'unknown-key', 'wrong-issuer', 'wrong-audience', 'wrong-nonce', 'expired', 'missing-subject']);

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', issuer).pathname;
    requests.push(`${req.method} ${path}`);
    const kind = misbehaviour;
    const frontChannel = path.startsWith('/auth') || path.startsWith('/interaction/');
    if (kind === 'slow' && !frontChannel) {
      const timer = setTimeout(() => {
        held.delete(timer);
        res.destroy();
      }, slowMs);
      held.add(timer);
      return;
    }
    if (kind === 'unavailable' && !frontChannel) {
      res.writeHead(503, { 'content-type': 'text/html' }).end('<html><body><h1>503 Service Unavailable</h1></body></html>');
      return;
    }
    if ((kind === 'garbage' && path === '/token') || (kind === 'garbage-discovery' && path === '/.well-known/openid-configuration')) {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"access_token": "abc", "token_type": <oops>');
      return;
    }
    if (!options.rememberSessions && req.method === 'GET' && path === '/auth') {
      // Every authorization signs in afresh: the session cookies are not shown to the provider.
      const cookies = (req.headers.cookie ?? '').split(/;\s*/).filter((cookie) => cookie && !/^_session(\.legacy)?(\.sig)?=/.test(cookie));
      if (cookies.length) req.headers.cookie = cookies.join('; ');
      else delete req.headers.cookie;
    }
    if (path.startsWith('/interaction/')) {
      interaction(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`interaction failed: ${error instanceof Error ? error.message : String(error)}`);
      });
      return;
    }
    if (kind && idTokenKinds.has(kind) && req.method === 'POST' && path === '/token') rewriteIdToken(res, kind);
    handle(req, res);
  });

  return {
    issuer,
    clientId,
    clientSecret,
    setUser(next) {
      user = next;
      users.set(next.sub, next);
    },
    misbehave(kind) {
      misbehaviour = kind;
    },
    requests,
    async stop() {
      for (const timer of held) clearTimeout(timer);
      held.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
