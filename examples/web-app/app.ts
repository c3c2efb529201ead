/**
 * "Login with Gatehouse" in a server-rendered web app, with openid-client: the authorization code
 * flow with PKCE as a confidential client (its secret stays on the server), claims from the ID
 * token and userinfo, token refresh, and logout through the provider back to the app. Gatehouse
 * tells it when a session ends elsewhere (OpenID Connect Back-Channel Logout): it verifies the
 * logout token and ends its own matching sessions.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';
import * as oidc from 'openid-client';

export type WebAppOptions = {
  /** Gatehouse's issuer URL; its discovery document is at `${issuer}/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  port?: number;
  host?: string;
  /** Where browsers reach this app (default http://host:port); the redirect URIs derive from it. */
  baseUrl?: string;
};

export type RunningWebApp = { url: string; close(): Promise<void> };

type LoggedIn = {
  claims: oidc.IDToken;
  userinfo: oidc.UserInfoResponse;
  idToken: string;
  accessToken: string;
  refreshToken?: string;
  expiresAt?: Date;
  refreshes: number;
};

type Session = {
  /** The checks of the authorization request in flight. */
  login?: { state: string; nonce: string; codeVerifier: string };
  user?: LoggedIn;
  notice?: string;
};

const cookieName = 'webapp_session';
const scope = 'openid profile email offline_access';

/** The event a logout token announces (OpenID Connect Back-Channel Logout 1.0 §2.4). */
const backchannelLogoutEvent = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * Verifies a logout token as §2.6 asks: signed by the issuer's keys (its JWKS) with the algorithm
 * the app expects, `typ` logout+jwt, for this client, recent, carrying the back-channel logout
 * event, a sid or a sub, and no nonce. Throws when any check fails.
 */
async function verifyLogoutToken(token: string, keys: ReturnType<typeof createRemoteJWKSet>, issuer: string, clientId: string): Promise<JWTPayload & { sid?: string }> {
  const { payload } = await jwtVerify(token, keys, {
    issuer, audience: clientId, algorithms: ['RS256'], typ: 'logout+jwt', maxTokenAge: '2 minutes', requiredClaims: ['iat', 'jti'],
  });
  const events = payload.events as Record<string, unknown> | undefined;
  if (!events || typeof events[backchannelLogoutEvent] !== 'object' || events[backchannelLogoutEvent] === null) throw new Error('no back-channel logout event');
  if ('nonce' in payload) throw new Error('a logout token has no nonce');
  if (typeof payload.sid !== 'string' && typeof payload.sub !== 'string') throw new Error('neither sid nor sub');
  return payload as JWTPayload & { sid?: string };
}

async function readForm(req: IncomingMessage, limit = 16_384): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const escapeHtml = (value: unknown) =>
  String(value).replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}form{display:inline}button,.button{font:inherit;padding:.4rem .9rem;cursor:pointer}.notice{background:#eef6ff;padding:.5rem 1rem}</style>
</head>
<body>
<h1>Example web app</h1>
${body}
</body>
</html>`;
}

function claimsTable(claims: Record<string, unknown>): string {
  const rows = Object.entries(claims).map(([name, value]) => `<tr><th>${escapeHtml(name)}</th><td>${escapeHtml(typeof value === 'string' ? value : JSON.stringify(value))}</td></tr>`);
  return `<table>${rows.join('')}</table>`;
}

function home(session: Session | undefined): string {
  const notice = session?.notice ? `<p class="notice" role="status">${escapeHtml(session.notice)}</p>` : '';
  const user = session?.user;
  if (!user) {
    return page('Example web app', `${notice}<p>You are not signed in.</p>
<p><a class="button" href="/login">Login with Gatehouse</a></p>`);
  }
  const who = user.userinfo.name ?? user.userinfo.email ?? user.claims.sub;
  return page('Example web app', `${notice}<p>Signed in as <strong id="who">${escapeHtml(who)}</strong>.</p>
<h2>ID token claims</h2>${claimsTable(user.claims)}
<h2>Userinfo</h2>${claimsTable(user.userinfo)}
<h2>Tokens</h2>
<p>Access token expires at <span id="expires">${escapeHtml(user.expiresAt?.toISOString() ?? 'unknown')}</span>; refreshed <span id="refreshes">${user.refreshes}</span> time(s).
${user.refreshToken ? '' : 'No refresh token was issued.'}</p>
<p><form method="post" action="/refresh"><button type="submit">Refresh tokens</button></form>
<form method="post" action="/logout"><button type="submit">Log out</button></form></p>`);
}

function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

export async function startWebApp(options: WebAppOptions): Promise<RunningWebApp> {
  const issuer = new URL(options.issuer);
  // Plain http is for a Gatehouse on this machine only; openid-client refuses it otherwise.
  const insecure = issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined;
  const config = await oidc.discovery(issuer, options.clientId, options.clientSecret, oidc.ClientSecretBasic(options.clientSecret), insecure);

  // Sessions in memory: a real app would use its framework's session store.
  const sessions = new Map<string, Session>();
  const server = createServer();
  server.listen(options.port ?? 0, options.host ?? 'localhost');
  await once(server, 'listening');
  const baseUrl = options.baseUrl ?? `http://${options.host ?? 'localhost'}:${(server.address() as AddressInfo).port}`;
  const redirectUri = `${baseUrl}/callback`;
  const keys = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
  /** Logout tokens already acted on (their jti), so a replayed one is refused; a real app would expire them. */
  const seenLogoutTokens = new Set<string>();
  const postLogoutRedirectUri = `${baseUrl}/`;

  const startSession = (res: ServerResponse, session: Session): void => {
    const id = randomBytes(24).toString('base64url');
    sessions.set(id, session);
    res.appendHeader('set-cookie', `${cookieName}=${id}; Path=/; HttpOnly; SameSite=Lax`);
  };
  const endSession = (req: IncomingMessage, res: ServerResponse): void => {
    sessions.delete(readCookie(req, cookieName) ?? '');
    res.appendHeader('set-cookie', `${cookieName}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
  };
  const redirect = (res: ServerResponse, location: string): void => {
    res.writeHead(303, { location }).end();
  };
  const html = (res: ServerResponse, status: number, body: string): void => {
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    }).end(body);
  };

  const keepTokens = async (tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers, previous?: LoggedIn): Promise<LoggedIn> => {
    const claims = tokens.claims() ?? previous?.claims;
    if (!claims) throw new Error('no ID token');
    const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
    const expiresIn = tokens.expiresIn();
    return {
      claims,
      userinfo,
      idToken: tokens.id_token ?? previous!.idToken,
      accessToken: tokens.access_token,
      // Gatehouse may rotate the refresh token: always keep the latest one.
      ...((tokens.refresh_token ?? previous?.refreshToken) ? { refreshToken: tokens.refresh_token ?? previous?.refreshToken } : {}),
      ...(expiresIn !== undefined ? { expiresAt: new Date(Date.now() + expiresIn * 1000) } : {}),
      refreshes: previous ? previous.refreshes + 1 : 0,
    };
  };

  const routes: Record<string, (req: IncomingMessage, res: ServerResponse, session: Session | undefined) => Promise<void>> = {
    'GET /': async (_req, res, session) => {
      html(res, 200, home(session));
      if (session) delete session.notice;
    },

    'GET /login': async (req, res) => {
      const login = { state: oidc.randomState(), nonce: oidc.randomNonce(), codeVerifier: oidc.randomPKCECodeVerifier() };
      endSession(req, res);
      startSession(res, { login });
      redirect(res, oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope,
        code_challenge: await oidc.calculatePKCECodeChallenge(login.codeVerifier),
        code_challenge_method: 'S256',
        state: login.state,
        nonce: login.nonce,
        // OpenID Connect grants offline_access (a refresh token) only with prompt=consent.
        prompt: 'consent',
      }).href);
    },

    'GET /callback': async (req, res, session) => {
      if (!session?.login) return html(res, 400, page('Sign-in failed', '<p>No sign-in was in progress. <a href="/login">Start again</a>.</p>'));
      const { login } = session;
      try {
        const tokens = await oidc.authorizationCodeGrant(config, new URL(req.url!, baseUrl), {
          pkceCodeVerifier: login.codeVerifier,
          expectedState: login.state,
          expectedNonce: login.nonce,
          idTokenExpected: true,
        });
        const user = await keepTokens(tokens);
        // A new session id once signed in (no session fixation).
        endSession(req, res);
        startSession(res, { user });
        redirect(res, '/');
      } catch (error) {
        delete session.login;
        const reason = error instanceof oidc.AuthorizationResponseError ? (error.error_description ?? error.error) : (error as Error).message;
        html(res, 400, page('Sign-in failed', `<p>Sign-in failed: ${escapeHtml(reason)}</p><p><a href="/">Back</a></p>`));
      }
    },

    'POST /refresh': async (req, res, session) => {
      const user = session?.user;
      if (!session || !user?.refreshToken) return redirect(res, '/');
      try {
        session.user = await keepTokens(await oidc.refreshTokenGrant(config, user.refreshToken), user);
        session.notice = 'Tokens refreshed.';
      } catch (error) {
        if (!(error instanceof oidc.ResponseBodyError)) throw error;
        // invalid_grant: the grant was revoked or expired at Gatehouse.
        endSession(req, res);
        startSession(res, { notice: 'Your session at Gatehouse has ended. Log in again.' });
      }
      redirect(res, '/');
    },

    // Back-channel logout: Gatehouse POSTs a logout token here when a session this app signed in
    // through ends (a logout elsewhere, a password reset, the account disabled, an operator's
    // sign-out). Every local session of that Gatehouse session (its sid; else its subject) ends.
    'POST /backchannel-logout': async (req, res) => {
      const refuse = (description: string) => {
        res.writeHead(400, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ error: 'invalid_request', error_description: description }));
      };
      if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return refuse('expected a form');
      const token = (await readForm(req)).get('logout_token');
      if (!token) return refuse('no logout_token');
      let claims: JWTPayload & { sid?: string };
      try {
        claims = await verifyLogoutToken(token, keys, config.serverMetadata().issuer, options.clientId);
      } catch (error) {
        return refuse(`the logout token is not valid: ${(error as Error).message}`);
      }
      if (seenLogoutTokens.has(claims.jti!)) return refuse('this logout token was used already');
      seenLogoutTokens.add(claims.jti!);
      for (const [id, session] of sessions) {
        const user = session.user;
        if (!user) continue;
        const matches = claims.sid !== undefined ? user.claims.sid === claims.sid : user.claims.sub === claims.sub;
        if (matches) sessions.delete(id);
      }
      res.writeHead(200, { 'cache-control': 'no-store' }).end();
    },

    'POST /logout': async (req, res, session) => {
      const user = session?.user;
      endSession(req, res);
      if (!user) return redirect(res, '/');
      // The refresh token outlives the session at Gatehouse (offline_access): revoke it too.
      if (user.refreshToken) await oidc.tokenRevocation(config, user.refreshToken).catch(() => undefined);
      redirect(res, oidc.buildEndSessionUrl(config, { id_token_hint: user.idToken, post_logout_redirect_uri: postLogoutRedirectUri }).href);
    },
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const route = routes[`${req.method} ${new URL(req.url ?? '/', baseUrl).pathname}`];
    if (!route) return html(res, 404, page('Not found', '<p>Not found. <a href="/">Home</a></p>'));
    const session = sessions.get(readCookie(req, cookieName) ?? '');
    route(req, res, session).catch((error: unknown) => {
      console.error('web app: request failed:', error);
      if (!res.headersSent) html(res, 500, page('Error', '<p>Something went wrong. <a href="/">Home</a></p>'));
    });
  });

  return {
    url: baseUrl,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
