import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { JWK } from 'jose';

/**
 * Local stand-ins for the presets' providers, implementing the endpoints and claims their
 * documentation describes (there is no outside network in tests). Each runs on an ephemeral
 * loopback port, knows one client (id, secret, exact redirect URIs), signs the configured person
 * in without a page (an authorization request is answered with the redirect back at once), and
 * checks what the real one checks: the client's credentials, the redirect URI, the PKCE verifier
 * (S256), a code used once and soon.
 *
 * - Google (startGoogleStandIn), after https://developers.google.com/identity/openid-connect/openid-connect
 *   and its discovery document https://accounts.google.com/.well-known/openid-configuration: the
 *   issuer is an origin without a path (as https://accounts.google.com), the endpoints keep
 *   Google's paths (/o/oauth2/v2/auth, /token, /v1/userinfo, /oauth2/v3/certs), the ID token
 *   carries azp, email, email_verified, hd (a Workspace account's domain) and the profile claims.
 * - Microsoft (startMicrosoftStandIn), after https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc,
 *   https://learn.microsoft.com/en-us/entra/identity-platform/id-token-claims-reference and
 *   https://learn.microsoft.com/en-us/entra/identity-platform/access-tokens#validate-the-issuer:
 *   v2.0 endpoints under /{tenant}/ (/{tenant}/v2.0/.well-known/openid-configuration,
 *   /{tenant}/oauth2/v2.0/authorize and /token, /{tenant}/discovery/v2.0/keys); the multi-tenant
 *   endpoints (common, organizations) publish the issuer template .../{tenantid}/v2.0 and each
 *   ID token's iss is that template with its own tid; consumers is the tenant
 *   9188040d-6c67-4c5b-b112-36a304b66dad; ID tokens carry oid, tid, preferred_username, ver 2.0,
 *   and email and xms_edov when the person has them (optional claims).
 * - GitHub (startGitHubStandIn), after https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps,
 *   https://docs.github.com/en/rest/users/users#get-the-authenticated-user and
 *   https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user:
 *   /login/oauth/authorize, /login/oauth/access_token (JSON with Accept: application/json, a form
 *   otherwise; errors such as bad_verification_code with status 200), and the REST API under
 *   /api/v3 (as GitHub Enterprise Server serves it): /user and /user/emails (the latter needs the
 *   user:email or user scope, else 404).
 */

/** Common to every stand-in. */
export type StandIn = {
  /** The origin: http://127.0.0.1:<port>. */
  url: string;
  clientId: string;
  clientSecret: string;
  /** Every request received, as "METHOD /path". */
  requests: string[];
  /**
   * `access-denied`: authorizations come back with error=access_denied; `slow`: back-channel
   * requests are held (until slowMs, default one minute, or stop()); `bad-signature`: ID tokens are
   * signed with a key not in the JWKS (under its kid); `issuer-of-another-tenant` (Microsoft): the
   * ID token's iss names another tenant than its tid; `garbage-user` (GitHub): /user answers
   * malformed JSON; null: behave.
   */
  misbehave(kind: StandInMisbehaviour | null): void;
  stop(): Promise<void>;
};

export type StandInMisbehaviour = 'access-denied' | 'slow' | 'bad-signature' | 'issuer-of-another-tenant' | 'garbage-user';

export type StandInOptions = { redirectUris: string[]; clientId?: string; clientSecret?: string; slowMs?: number };

type Code = { redirectUri: string; challenge: string | null; scope: string[]; nonce: string | null; tenant: string; expiresAt: number; used: boolean };

/** What every stand-in is made of: a loopback server, the one client, codes, a signing key. */
async function standInBase(options: StandInOptions, defaults: { clientId: string }) {
  const clientId = options.clientId ?? defaults.clientId;
  const clientSecret = options.clientSecret ?? `stand-in-secret-${randomBytes(8).toString('hex')}`;
  const requests: string[] = [];
  const held = new Set<NodeJS.Timeout>();
  const codes = new Map<string, Code>();
  const tokens = new Map<string, { scope: string[]; tenant: string; expiresAt: number }>();
  const state = { misbehaviour: null as StandInMisbehaviour | null };
  const keys = await generateKeyPair('RS256', { extractable: true });
  const foreign = await generateKeyPair('RS256');
  const kid = `stand-in-${randomBytes(4).toString('hex')}`;
  const publicJwk = { ...(await exportJWK(keys.publicKey)), kid, alg: 'RS256', use: 'sig' } as JWK;
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function body(req: IncomingMessage): Promise<URLSearchParams> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
  }

  function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(JSON.stringify(value));
  }

  function redirect(res: ServerResponse, to: string, params: Record<string, string | null | undefined>): void {
    const target = new URL(to);
    for (const [name, value] of Object.entries(params)) if (value !== null && value !== undefined) target.searchParams.set(name, value);
    res.writeHead(302, { location: target.href }).end();
  }

  /** The client's credentials from client_secret_basic or client_secret_post; null when wrong. */
  function clientAuthenticated(req: IncomingMessage, form: URLSearchParams): boolean {
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const [id, secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').map((part) => decodeURIComponent(part.replace(/\+/g, ' ')));
      return id === clientId && secret === clientSecret;
    }
    return form.get('client_id') === clientId && form.get('client_secret') === clientSecret;
  }

  /** Checks an authorization request's client and redirect URI; answers 400 (no redirect) when they do not fit. */
  function authorizationClient(res: ServerResponse, query: URLSearchParams): boolean {
    if (query.get('client_id') !== clientId || !options.redirectUris.includes(query.get('redirect_uri') ?? '')) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('unknown client or redirect_uri mismatch');
      return false;
    }
    return true;
  }

  function issueCode(query: URLSearchParams, tenant: string): string {
    const code = randomBytes(24).toString('base64url');
    codes.set(code, {
      redirectUri: query.get('redirect_uri')!,
      challenge: query.get('code_challenge_method') === 'S256' ? query.get('code_challenge') : null,
      scope: (query.get('scope') ?? '').split(/[\s,]+/).filter(Boolean),
      nonce: query.get('nonce'),
      tenant,
      expiresAt: Date.now() + 10 * 60_000,
      used: false,
    });
    return code;
  }

  /** The code of a token request, after the checks a provider makes; a string is the error. */
  function redeem(form: URLSearchParams): Code | string {
    const code = codes.get(form.get('code') ?? '');
    if (!code || code.used || code.expiresAt < Date.now()) return 'invalid_grant';
    code.used = true;
    if (form.get('redirect_uri') !== code.redirectUri) return 'invalid_grant';
    if (code.challenge !== null) {
      const verifier = form.get('code_verifier') ?? '';
      if (createHash('sha256').update(verifier).digest('base64url') !== code.challenge) return 'invalid_grant';
    }
    return code;
  }

  function accessToken(scope: string[], tenant: string, prefix = ''): string {
    const token = `${prefix}${randomBytes(18).toString('hex')}`;
    tokens.set(token, { scope, tenant, expiresAt: Date.now() + 3600_000 });
    return token;
  }

  function bearer(req: IncomingMessage): { scope: string[]; tenant: string } | undefined {
    const match = /^(?:Bearer|token) (.+)$/i.exec(req.headers.authorization ?? '');
    const found = match ? tokens.get(match[1]!) : undefined;
    return found && found.expiresAt > Date.now() ? found : undefined;
  }

  function sign(claims: Record<string, unknown>): Promise<string> {
    const key = state.misbehaviour === 'bad-signature' ? foreign.privateKey : keys.privateKey;
    return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key);
  }

  /** Runs `route` for each request, after recording it and applying `slow` to the back channel. */
  function serve(route: (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => Promise<void> | void, frontChannel: (path: string) => boolean): void {
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const parsed = new URL(req.url ?? '/', url);
      requests.push(`${req.method} ${parsed.pathname}`);
      if (state.misbehaviour === 'slow' && !frontChannel(parsed.pathname)) {
        const timer = setTimeout(() => {
          held.delete(timer);
          res.destroy();
        }, options.slowMs ?? 60_000);
        held.add(timer);
        return;
      }
      Promise.resolve(route(req, res, parsed.pathname, parsed.searchParams)).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`stand-in failed: ${error instanceof Error ? error.message : String(error)}`);
      });
    });
  }

  return {
    clientId, clientSecret, requests, url, state, publicJwk, kid,
    body, json, redirect, clientAuthenticated, authorizationClient, issueCode, redeem, accessToken, bearer, sign, serve,
    common: {
      url, clientId, clientSecret, requests,
      misbehave(kind: StandInMisbehaviour | null) {
        state.misbehaviour = kind;
      },
      async stop() {
        for (const timer of held) clearTimeout(timer);
        held.clear();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    } satisfies StandIn,
  };
}

const now = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------
// Google

export type GoogleUser = {
  sub: string;
  email?: string;
  email_verified?: boolean;
  /** The hosted domain of a Google Workspace account. */
  hd?: string;
  name?: string;
  given_name?: string;
  family_name?: string;
  picture?: string;
  locale?: string;
};

export type GoogleStandIn = StandIn & { issuer: string; setUser(user: GoogleUser): void };

export async function startGoogleStandIn(options: StandInOptions & { user?: GoogleUser }): Promise<GoogleStandIn> {
  const base = await standInBase(options, { clientId: '123456789012-stand-in.apps.googleusercontent.com' });
  let user: GoogleUser = options.user ?? { sub: '110169484474386276334', email: 'ada@example.com', email_verified: true, name: 'Ada Lovelace', given_name: 'Ada', family_name: 'Lovelace', picture: 'https://lh3.googleusercontent.com/a/ada', locale: 'en' };
  const issuer = base.url;
  const released = (scope: string[]) => {
    const { sub, email, email_verified, hd, ...profile } = user;
    return {
      sub,
      ...(hd ? { hd } : {}),
      ...(scope.includes('email') && email ? { email, email_verified: email_verified ?? false } : {}),
      ...(scope.includes('profile') ? profile : {}),
    };
  };

  base.serve(async (req, res, path, query) => {
    if (req.method === 'GET' && path === '/.well-known/openid-configuration') {
      return base.json(res, 200, {
        issuer,
        authorization_endpoint: `${base.url}/o/oauth2/v2/auth`,
        device_authorization_endpoint: `${base.url}/device/code`,
        token_endpoint: `${base.url}/token`,
        userinfo_endpoint: `${base.url}/v1/userinfo`,
        revocation_endpoint: `${base.url}/revoke`,
        jwks_uri: `${base.url}/oauth2/v3/certs`,
        response_types_supported: ['code', 'token', 'id_token', 'code token', 'code id_token', 'token id_token', 'code token id_token', 'none'],
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        scopes_supported: ['openid', 'email', 'profile'],
        token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
        claims_supported: ['aud', 'email', 'email_verified', 'exp', 'family_name', 'given_name', 'iat', 'iss', 'name', 'picture', 'sub'],
        code_challenge_methods_supported: ['plain', 'S256'],
        grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:jwt-bearer'],
      });
    }
    if (req.method === 'GET' && path === '/oauth2/v3/certs') return base.json(res, 200, { keys: [base.publicJwk] });
    if (req.method === 'GET' && path === '/o/oauth2/v2/auth') {
      if (!base.authorizationClient(res, query)) return;
      const redirectUri = query.get('redirect_uri')!;
      if (base.state.misbehaviour === 'access-denied') return base.redirect(res, redirectUri, { error: 'access_denied', state: query.get('state') });
      const code = base.issueCode(query, 'google');
      return base.redirect(res, redirectUri, { state: query.get('state'), code, scope: query.get('scope'), authuser: '0', prompt: 'consent' });
    }
    if (req.method === 'POST' && path === '/token') {
      const form = await base.body(req);
      if (!base.clientAuthenticated(req, form)) return base.json(res, 401, { error: 'invalid_client', error_description: 'Unauthorized' });
      if (form.get('grant_type') !== 'authorization_code') return base.json(res, 400, { error: 'unsupported_grant_type' });
      const code = base.redeem(form);
      if (typeof code === 'string') return base.json(res, 400, { error: code, error_description: 'Bad Request' });
      const accessToken = base.accessToken(code.scope, 'google');
      const idToken = await base.sign({
        iss: issuer, azp: base.clientId, aud: base.clientId, ...released(code.scope),
        at_hash: createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url'),
        ...(code.nonce ? { nonce: code.nonce } : {}),
        iat: now(), exp: now() + 3600,
      });
      return base.json(res, 200, { access_token: accessToken, expires_in: 3599, scope: code.scope.join(' '), token_type: 'Bearer', id_token: idToken });
    }
    if (req.method === 'GET' && path === '/v1/userinfo') {
      const token = base.bearer(req);
      if (!token) return base.json(res, 401, { error: 'invalid_request', error_description: 'Invalid Credentials' }, { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' });
      return base.json(res, 200, released(token.scope));
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }, (path) => path === '/o/oauth2/v2/auth');

  return { ...base.common, issuer, setUser: (next) => void (user = next) };
}

// ---------------------------------------------------------------------------------------------
// Microsoft

/** The tenant of personal Microsoft accounts (documented; the `tid` of their tokens). */
export const microsoftConsumersTenant = '9188040d-6c67-4c5b-b112-36a304b66dad';

export type MicrosoftUser = {
  /** The person's home tenant (a GUID). */
  tid: string;
  /** Their object id in that tenant. */
  oid: string;
  name?: string;
  preferred_username?: string;
  /** Only with the optional claim configured, and unverified by Microsoft unless xms_edov says so. */
  email?: string;
  /** The optional claim "email domain owner verified". */
  xms_edov?: boolean;
};

export type MicrosoftStandIn = StandIn & {
  /** The issuer a connection names for `tenant` (common, organizations, consumers or a GUID): <url>/<tenant>/v2.0. */
  issuerFor(tenant: string): string;
  setUser(user: MicrosoftUser): void;
};

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function startMicrosoftStandIn(options: StandInOptions & { user?: MicrosoftUser }): Promise<MicrosoftStandIn> {
  const base = await standInBase(options, { clientId: randomUUID() });
  let user: MicrosoftUser = options.user ?? { tid: '72f988bf-86f1-41af-91ab-2d7cd011db47', oid: randomUUID(), name: 'Ada Lovelace', preferred_username: 'ada@contoso.example', email: 'ada@contoso.example', xms_edov: true };
  const known = (tenant: string) => ['common', 'organizations', 'consumers'].includes(tenant) || guid.test(tenant);
  /** The issuer a tenant's discovery document publishes. */
  const publishedIssuer = (tenant: string) => {
    if (tenant === 'common' || tenant === 'organizations') return `${base.url}/{tenantid}/v2.0`;
    if (tenant === 'consumers') return `${base.url}/${microsoftConsumersTenant}/v2.0`;
    return `${base.url}/${tenant}/v2.0`;
  };
  /** Whether the person may sign in at this tenant's endpoints. */
  const admits = (tenant: string) => {
    const personal = user.tid === microsoftConsumersTenant;
    if (tenant === 'common') return true;
    if (tenant === 'organizations') return !personal;
    if (tenant === 'consumers') return personal;
    return tenant.toLowerCase() === user.tid.toLowerCase();
  };
  // The subject is pairwise: one person, one application, one value.
  const subject = () => createHash('sha256').update(`${user.oid}:${base.clientId}`).digest('base64url').slice(0, 43);

  base.serve(async (req, res, path, query) => {
    const match = /^\/([^/]+)(\/.*)$/.exec(path);
    const tenant = match?.[1] ?? '';
    const rest = match?.[2] ?? '';
    if (req.method === 'GET' && path === '/oidc/userinfo') {
      const token = base.bearer(req);
      if (!token) return base.json(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty.' } });
      return base.json(res, 200, { sub: subject(), ...(user.name ? { name: user.name } : {}), ...(user.email ? { email: user.email } : {}) });
    }
    if (!known(tenant)) return base.json(res, 400, { error: 'invalid_tenant', error_description: `AADSTS90002: Tenant '${tenant}' not found.` });
    if (req.method === 'GET' && rest === '/v2.0/.well-known/openid-configuration') {
      return base.json(res, 200, {
        token_endpoint: `${base.url}/${tenant}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        jwks_uri: `${base.url}/${tenant}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: publishedIssuer(tenant),
        request_uri_parameter_supported: false,
        userinfo_endpoint: `${base.url}/oidc/userinfo`,
        authorization_endpoint: `${base.url}/${tenant}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `${base.url}/${tenant}/oauth2/v2.0/devicecode`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: `${base.url}/${tenant}/oauth2/v2.0/logout`,
        claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
        kerberos_endpoint: `${base.url}/${tenant}/kerberos`,
        tenant_region_scope: null,
        cloud_instance_name: 'microsoftonline.com',
        cloud_graph_host_name: 'graph.windows.net',
        msgraph_host: 'graph.microsoft.com',
        rbac_url: 'https://pas.windows.net',
      });
    }
    if (req.method === 'GET' && rest === '/discovery/v2.0/keys') {
      return base.json(res, 200, { keys: [{ ...base.publicJwk, x5t: base.kid, issuer: publishedIssuer(tenant) }] });
    }
    if (req.method === 'GET' && rest === '/oauth2/v2.0/authorize') {
      if (!base.authorizationClient(res, query)) return;
      const redirectUri = query.get('redirect_uri')!;
      const refuse = base.state.misbehaviour === 'access-denied' || !admits(tenant);
      if (refuse) {
        return base.redirect(res, redirectUri, {
          error: 'access_denied',
          error_description: 'AADSTS65004: User declined to consent to access the app.\r\nTrace ID: 0000',
          state: query.get('state'),
        });
      }
      const code = base.issueCode(query, tenant);
      return base.redirect(res, redirectUri, { code, state: query.get('state'), session_state: randomUUID() });
    }
    if (req.method === 'POST' && rest === '/oauth2/v2.0/token') {
      const form = await base.body(req);
      if (!base.clientAuthenticated(req, form)) return base.json(res, 401, { error: 'invalid_client', error_description: 'AADSTS7000215: Invalid client secret provided.' });
      const code = base.redeem(form);
      if (typeof code === 'string' || code.tenant !== tenant) return base.json(res, 400, { error: 'invalid_grant', error_description: 'AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.' });
      const accessToken = base.accessToken(code.scope, tenant);
      const otherTenant = '00000000-0000-0000-0000-00000000beef';
      const iss = `${base.url}/${base.state.misbehaviour === 'issuer-of-another-tenant' ? otherTenant : user.tid}/v2.0`;
      const idToken = await base.sign({
        ver: '2.0', iss, sub: subject(), aud: base.clientId, exp: now() + 3600, iat: now(), nbf: now(),
        ...(code.nonce ? { nonce: code.nonce } : {}),
        ...(code.scope.includes('profile') ? { name: user.name, preferred_username: user.preferred_username } : {}),
        ...(code.scope.includes('email') && user.email ? { email: user.email } : {}),
        ...(user.xms_edov !== undefined ? { xms_edov: user.xms_edov } : {}),
        oid: user.oid, tid: user.tid, aio: randomBytes(12).toString('base64url'), uti: randomBytes(8).toString('base64url'), rh: '0.AAAA.',
      });
      return base.json(res, 200, { token_type: 'Bearer', scope: code.scope.join(' '), expires_in: 3599, ext_expires_in: 3599, access_token: accessToken, id_token: idToken });
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }, (path) => path.endsWith('/oauth2/v2.0/authorize'));

  return { ...base.common, issuerFor: (tenant) => `${base.url}/${tenant}/v2.0`, setUser: (next) => void (user = next) };
}

// ---------------------------------------------------------------------------------------------
// GitHub

export type GitHubUser = { id: number; login: string; name?: string | null; avatar_url?: string; html_url?: string; email?: string | null };
export type GitHubEmail = { email: string; primary: boolean; verified: boolean; visibility: 'public' | 'private' | null };

export type GitHubStandIn = StandIn & {
  /** The connection's three URLs. */
  authorizationUrl: string;
  tokenUrl: string;
  apiUrl: string;
  setUser(user: GitHubUser, emails?: GitHubEmail[]): void;
};

export async function startGitHubStandIn(options: StandInOptions & { user?: GitHubUser; emails?: GitHubEmail[] }): Promise<GitHubStandIn> {
  const base = await standInBase(options, { clientId: `Iv1.${randomBytes(8).toString('hex')}` });
  let user: GitHubUser = options.user ?? { id: 583231, login: 'octocat', name: 'The Octocat', avatar_url: 'https://avatars.githubusercontent.com/u/583231?v=4', html_url: 'https://github.com/octocat', email: null };
  let emails: GitHubEmail[] = options.emails ?? [
    { email: 'octocat@users.noreply.github.com', primary: false, verified: true, visibility: null },
    { email: 'octocat@example.com', primary: true, verified: true, visibility: 'private' },
  ];

  base.serve(async (req, res, path, query) => {
    if (req.method === 'GET' && path === '/login/oauth/authorize') {
      if (!base.authorizationClient(res, query)) return;
      const redirectUri = query.get('redirect_uri')!;
      if (base.state.misbehaviour === 'access-denied') {
        return base.redirect(res, redirectUri, {
          error: 'access_denied',
          error_description: 'The user has denied your application access.',
          error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied',
          state: query.get('state'),
        });
      }
      return base.redirect(res, redirectUri, { code: base.issueCode(query, 'github'), state: query.get('state') });
    }
    if (req.method === 'POST' && path === '/login/oauth/access_token') {
      const form = await base.body(req);
      const wantsJson = (req.headers.accept ?? '').includes('application/json');
      const answer = (value: Record<string, string>) => (wantsJson
        ? base.json(res, 200, value)
        : void res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }).end(new URLSearchParams(value).toString()));
      // GitHub answers its token endpoint's errors with 200.
      if (!base.clientAuthenticated(req, form)) {
        return answer({ error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.', error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials' });
      }
      const code = base.redeem(form);
      if (typeof code === 'string') {
        return answer({ error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.', error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code' });
      }
      return answer({ access_token: base.accessToken(code.scope, 'github', 'gho_'), scope: code.scope.join(','), token_type: 'bearer' });
    }
    if (req.method === 'GET' && path.startsWith('/api/v3/')) {
      const token = base.bearer(req);
      const api = (status: number, value: unknown) => base.json(res, status, value, { 'x-github-media-type': 'github.v3; format=json' });
      if (!token) return api(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
      if (path === '/api/v3/user') {
        if (base.state.misbehaviour === 'garbage-user') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"login": "octocat", "id": ');
        return api(200, { ...user, node_id: 'MDQ6VXNlcjU4MzIzMQ==', type: 'User', site_admin: false, created_at: '2011-01-25T18:44:36Z' });
      }
      if (path === '/api/v3/user/emails') {
        if (!token.scope.includes('user:email') && !token.scope.includes('user')) return api(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/users/emails#list-email-addresses-for-the-authenticated-user', status: '404' });
        return api(200, emails);
      }
      return api(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
  }, (path) => path === '/login/oauth/authorize');

  return {
    ...base.common,
    authorizationUrl: `${base.url}/login/oauth/authorize`,
    tokenUrl: `${base.url}/login/oauth/access_token`,
    apiUrl: `${base.url}/api/v3`,
    setUser(next, nextEmails) {
      user = next;
      if (nextEmails) emails = nextEmails;
    },
  };
}
