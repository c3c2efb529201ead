import { hkdfSync, randomBytes } from 'node:crypto';

import type { Configuration, ErrorOut, KoaContextWithOIDC, UnknownObject } from 'oidc-provider';
import { errors, interactionPolicy } from 'oidc-provider';

import type { Clock } from '../clock.ts';
import { epochSeconds } from '../clock.ts';

import { accountClaims } from '../libraries/accounts.ts';
import { isActive } from '../libraries/second-factor.ts';
import type { Config } from '../config/load-config.ts';
import { accountClientMetadata } from './account-client.ts';
import type { PrivateJwk } from '../keys/key-ring.ts';
import type { AccountRecord, Store } from '../store/types.ts';
import type { ReadCache } from './read-cache.ts';
import { createAdapterFactory } from './adapter.ts';
import { grantFromRememberedConsent, rememberConsent } from './remembered-consent.ts';
import { allowsCors } from './cors.ts';
import { acrValues, isMultiFactor, levelOf, requiredLevel, satisfies } from './levels.ts';
import type { Level } from './levels.ts';
import { requestedAcrValues } from './claims-parameter.ts';
import { claimsByScope, managementApiIdentifier, supportedScopes } from './scopes.ts';
import { metadataDocumentHostAllowed } from '../network/outgoing-addresses.ts';
import { createOutgoingFetch } from './outgoing-requests.ts';
import { apiScopeProperty, loadedApiScopes, registrationRefusal, splitScope } from './registration-policy.ts';
import type { ClientWriter } from './adapter.ts';
import { urls } from '../urls.ts';
import type { DevicePages } from './device-sign-in.ts';
import { showDeviceSuccess, showUserCodeConfirm, showUserCodeInput } from './device-sign-in.ts';

/**
 * The pages the provider shows a browser itself, drawn by the web layer (src/web/provider-pages.ts)
 * and handed in: the provider's configuration never renders HTML.
 */
export type ProviderPages = {
  /** RP-initiated logout asks for confirmation; `form` is the provider's own (hidden) form. */
  logoutSource(ctx: KoaContextWithOIDC, form: string): Promise<void>;
  /** Logout done, and the client named no post_logout_redirect_uri. */
  postLogoutSuccessSource(ctx: KoaContextWithOIDC): Promise<void>;
  /** A protocol error answered to a browser (an authorization request that cannot go on). */
  renderError(ctx: KoaContextWithOIDC, out: ErrorOut, error: Error): Promise<void>;
} & DevicePages;

export type ProviderDependencies = {
  config: Config;
  store: Store;
  cookieKeys: string[];
  keyEncryptionKey: Buffer;
  jwks: { keys: PrivateJwk[] };
  pages: ProviderPages;
  /** Session lifetimes are counted from it. */
  clock: Clock;
  /** Clients, APIs and accounts as the hot paths read them (read-cache.ts: at most 1 s old). */
  reads: Pick<ReadCache, 'accounts' | 'clients' | 'apis'>;
  /**
   * Saves and removes the clients that register themselves (RFC 7591/7592) through the clients
   * library; without it (registration off) the provider never writes clients.
   */
  clientWriter?: ClientWriter;
};

/** The Client ID Metadata Document draft oidc-provider 9 implements, acknowledged as such (docs/mcp.md). */
export const clientIdMetadataDocumentDraft = 'draft-02';

/** How long a fetched Client ID Metadata Document is used, in seconds, whatever its cache headers say. */
export const metadataDocumentCacheSeconds = { min: 60, max: 3600 } as const;

/** The largest jwks_uri or sector identifier document the provider reads. */
const otherDocumentBytes = 256 * 1024;

/** Client metadata of our own on top of RFC 7591's. */
const extraClientProperties = ['first_party', 'pkce_exempt', 'require_mfa', 'gatehouse_require_phishing_resistant', apiScopeProperty] as const;

/** A Client ID Metadata Document's client: its id is the https URL of its document. */
export function isMetadataDocumentClientId(clientId: unknown): boolean {
  return typeof clientId === 'string' && clientId.startsWith('https://');
}

/**
 * The client schema's look at a whole client, before the provider's own validation: a client that
 * describes itself (a registration, an update, a metadata document) must pass the registration
 * policy (registration-policy.ts), and the scopes of APIs in its `scope` are kept apart, in
 * apiScopeProperty: the provider's `scope` lists only its own scopes (it restricts only those; an
 * API's scopes are checked against the API at each request).
 */
function checkSelfDescribed(config: Config, ctx: KoaContextWithOIDC | undefined, metadata: UnknownObject): void {
  const route = ctx?.oidc?.route;
  const registering = route === 'registration' || route === 'client_update';
  const fromDocument = !registering && isMetadataDocumentClientId(metadata.client_id);
  if (registering || fromDocument) {
    const how = fromDocument ? 'metadata_document' : config.clientRegistration === 'open' ? 'open' : 'token';
    const refusal = registrationRefusal(metadata, how, fromDocument ? undefined : loadedApiScopes(ctx as unknown as { state?: Record<string, unknown> }) ?? new Set());
    if (refusal) {
      throw refusal.error === 'invalid_redirect_uri' ? new errors.InvalidRedirectUri(refusal.description) : new errors.InvalidClientMetadata(refusal.description);
    }
  }
  const { oidc, api } = splitScope(metadata.scope);
  if (!api.length && !registering && !fromDocument) return;
  // A stored client keeps what it registered; a client describing itself says it all anew.
  const stored = metadata[apiScopeProperty];
  const kept = registering || fromDocument || typeof stored !== 'string' ? [] : stored.split(' ').filter(Boolean);
  const apiScope = [...new Set([...kept, ...api])].join(' ');
  if (apiScope) metadata[apiScopeProperty] = apiScope;
  else delete metadata[apiScopeProperty];
  if (oidc.length) metadata.scope = oidc.join(' ');
  else delete metadata.scope;
}

/**
 * The API scopes a client may be granted: those it lists (its apiScopeProperty, from `--scope` or
 * its registration), or every scope of the API when it lists none (as a client without `scope` may
 * ask for any of the provider's own).
 */
export function grantableApiScopes(apiScopes: readonly string[], client: { [key: string]: unknown } | undefined, options: { onlyListed?: boolean } = {}): string[] {
  const listed = client?.[apiScopeProperty];
  if (typeof listed !== 'string' || !listed.trim()) return options.onlyListed ? [] : [...apiScopes];
  const allowed = new Set(listed.split(' ').filter(Boolean));
  return apiScopes.filter((scope) => allowed.has(scope));
}

function isFirstParty(client: { [key: string]: unknown } | undefined): boolean {
  return client?.first_party === true;
}

/**
 * First-party clients skip the consent page: their grant is created (or widened) with exactly what
 * the request asks for. Everyone else gets the grant already recorded for this client in the
 * session; else, in a session that holds none yet, a new grant with the consent the person gave
 * this client before and has not removed (remembered-consent.ts); else consent. A consent just
 * given is remembered.
 */
async function loadExistingGrant(ctx: KoaContextWithOIDC, store: Pick<Store, 'sessionActivity'>, clock: Clock) {
  const { oidc } = ctx;
  const client = oidc.client!;
  const session = oidc.session!;
  const consented = oidc.result?.consent?.grantId;
  const grantId = consented ?? session.grantIdFor(client.clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!isFirstParty(client as unknown as UnknownObject) || !session.accountId) {
    if (!session.accountId) return existing;
    if (existing && consented && existing.accountId === session.accountId) await rememberConsent(store, clock, existing);
    return existing ?? await grantFromRememberedConsent(ctx, store, session.accountId);
  }
  if (existing && existing.accountId !== session.accountId) return undefined;

  const grant = existing ?? new oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
  const requested = [...oidc.requestParamScopes];
  grant.addOIDCScope(requested.filter((scope) => (supportedScopes as readonly string[]).includes(scope)).join(' '));
  const claims = oidc.requestParamClaims ? [...oidc.requestParamClaims] : [];
  if (claims.length) grant.addOIDCClaims(claims);
  for (const [indicator, resourceServer] of Object.entries(oidc.resourceServers ?? {})) {
    const allowed = new Set(resourceServer.scopes);
    grant.addResourceScope(indicator, requested.filter((scope) => allowed.has(scope)).join(' '));
  }
  await grant.save();
  return grant;
}

/**
 * Who may introspect a token: the client it was issued to, and a confidential client named in its
 * audience (a resource server the token was issued for). Any other client learns nothing about it.
 */
export function mayIntrospect(
  client: { clientId: string; clientAuthMethod?: string | undefined },
  token: { clientId?: string | undefined; aud?: string | string[] | undefined },
): boolean {
  if (token.clientId !== undefined && token.clientId === client.clientId) return true;
  if (client.clientAuthMethod === 'none') return false;
  const audience = Array.isArray(token.aud) ? token.aud : token.aud !== undefined ? [token.aud] : [];
  return audience.includes(client.clientId);
}

/**
 * Seconds a session may live from `now`: its idle lifetime, cut at its absolute end. A sign-in with
 * more than one factor (the authenticator app, or a passkey) gets the longer lifetimes.
 */
export function sessionTtl(config: Pick<Config, 'sessions'>, session: { amr?: string[] | undefined; loginTs?: number | undefined }, now: number): number {
  const lifetime = isMultiFactor(session.amr) ? config.sessions.withSecondFactor : config.sessions.passwordOnly;
  const absoluteEnd = (session.loginTs ?? now) + lifetime.absoluteSeconds;
  return Math.max(1, Math.min(lifetime.idleSeconds, absoluteEnd - now));
}

/**
 * The level this authorization request needs (levels.ts): a phishing-resistant sign-in by client
 * flag or acr_values; a second factor globally, by client, or by acr_values; else a password.
 * An essential acr claim in the claims parameter counts as acr_values (claims-parameter.ts).
 */
export function requestedLevel(config: Pick<Config, 'accounts'>, ctx: KoaContextWithOIDC): Level {
  return requiredLevel({
    mfaEverywhere: config.accounts.mfa === 'required',
    client: ctx.oidc.client as unknown as UnknownObject | undefined,
    acrValues: requestedAcrValues(ctx.oidc.params ?? {}),
  });
}

/** Whether this authorization request needs a second factor (or more): globally, by client, or by acr_values. */
export function requiresMfa(config: Pick<Config, 'accounts'>, ctx: KoaContextWithOIDC): boolean {
  return satisfies(requestedLevel(config, ctx), 'mfa');
}

/**
 * The provider's interaction policy: its own login and consent, with our steps between them. A
 * person whose email is unverified cannot finish signing in to a client while verification is
 * required (checked again on every authorization, not only after registration).
 */
/** Looks an account up once per request: the provider and our prompt checks ask for it several times. */
type AccountLoader = (ctx: KoaContextWithOIDC | undefined, id: string) => Promise<AccountRecord | undefined>;

function accountLoader(accounts: ReadCache['accounts']): AccountLoader {
  const byRequest = new WeakMap<object, Map<string, Promise<AccountRecord | undefined>>>();
  return (ctx, id) => {
    if (!ctx) return accounts.findById(id);
    let loaded = byRequest.get(ctx);
    if (!loaded) {
      loaded = new Map();
      byRequest.set(ctx, loaded);
    }
    let account = loaded.get(id);
    if (!account) {
      account = accounts.findById(id);
      loaded.set(id, account);
    }
    return account;
  };
}

function buildInteractionPolicy(config: Config, store: Store, loadAccount: AccountLoader) {
  const policy = interactionPolicy.base();
  const { Check, Prompt } = interactionPolicy;
  // An essential acr claim (the claims parameter) is a level asked for, like acr_values
  // (requestedLevel reads both): the checks below and the mfa prompt reach it. The provider's own
  // check wants the session's acr to be one of the values exactly, and would send a person back to
  // the login page, sign-in after sign-in, when a second factor or a stronger sign-in is what is
  // missing (or already more than was asked).
  policy.get('login')!.checks.remove('essential_acrs');
  // A client (or a request's acr_values) that needs a phishing-resistant sign-in gets one: a
  // session that did not sign in with a passkey (and say so in its acr) signs in again, whatever
  // the login pages did. The pages offer only the passkey then; this check is what enforces it.
  policy.get('login')!.checks.add(new Check('phishing_resistant_required', 'a phishing-resistant sign-in (a passkey) is required', 'login_required', (ctx) => {
    const session = ctx.oidc.session;
    if (!session?.accountId || requestedLevel(config, ctx) !== 'phishing_resistant') return Check.NO_NEED_TO_PROMPT;
    return levelOf(session) === 'phishing_resistant' ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }));
  // A second factor: asked inline by the login page when the account has one; this prompt catches
  // sessions without it (a factor added later) and clients that demand one from people who have
  // none yet, who are led through setting one up.
  policy.add(new Prompt(
    { name: 'mfa', requestable: false },
    new Check('mfa_required', 'a second factor is required', 'interaction_required', async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      // A second factor after the password, or a passkey sign-in: already more than one factor.
      if (!accountId || isMultiFactor(ctx.oidc.session?.amr)) return Check.NO_NEED_TO_PROMPT;
      if (isActive(await store.secondFactors.find(accountId))) return Check.REQUEST_PROMPT;
      return requiresMfa(config, ctx) ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  ), policy.findIndex((prompt) => prompt.name === 'login') + 1);
  if (config.accounts.emailVerification === 'required') {
    policy.add(new interactionPolicy.Prompt(
      { name: 'verify_email', requestable: false },
      new interactionPolicy.Check('email_not_verified', 'the email address must be verified', 'interaction_required', async (ctx) => {
        const accountId = ctx.oidc.session?.accountId;
        if (!accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const account = await loadAccount(ctx, accountId);
        return account && !account.emailVerified ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
      }),
    ), policy.findIndex((prompt) => prompt.name === 'login') + 1);
  }
  // A person who asked to delete their account and signs in during the grace period is offered to
  // keep it (src/flows/pending-deletion/): after the login and its factors, before consent, at
  // every authorization while the deletion is pending. "Keep" clears deleteAfter; "continue to
  // delete" ends the request with access_denied.
  policy.add(new Prompt(
    { name: 'pending_deletion', requestable: false },
    new Check('account_deletion_pending', 'the account is scheduled for deletion', 'interaction_required', async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      if (!accountId) return Check.NO_NEED_TO_PROMPT;
      const account = await loadAccount(ctx, accountId);
      return account?.deleteAfter ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  ), policy.findIndex((prompt) => prompt.name === 'consent'));
  return policy;
}

/** Every oidc-provider setting lives here. */
export function buildProviderConfiguration(deps: ProviderDependencies): Configuration {
  const { config, store, pages, clock } = deps;
  const loadAccount = accountLoader(deps.reads.accounts);
  return {
    adapter: createAdapterFactory({
      oidc: store.oidc, clients: deps.reads.clients, encryptionKey: deps.keyEncryptionKey, ...(deps.clientWriter ? { writer: deps.clientWriter } : {}), clock,
    }),
    // The account page's own client (static: derived from the issuer, never stored; see interactions/account/client.ts).
    clients: [accountClientMetadata(config.issuer)],
    jwks: deps.jwks as unknown as Configuration['jwks'],
    cookies: {
      keys: deps.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },

    async findAccount(ctx, sub) {
      const account = await loadAccount(ctx, sub);
      // A disabled account has no claims, cannot refresh and cannot use userinfo.
      if (!account || account.disabled) return undefined;
      return { accountId: account.id, claims: () => ({ ...accountClaims(account), sub: account.id }) as { sub: string } };
    },
    claims: {
      ...Object.fromEntries(Object.entries(claimsByScope).map(([scope, claims]) => [scope, [...claims]])),
      // Every ID token says how the person authenticated (RFC 8176 amr: pwd, otp; hwk or swk,
      // user and mfa for a passkey) and the level reached (acr: levels.ts), so a client can check
      // for itself that a second factor, or a passkey, was used.
      openid: [...claimsByScope.openid, 'acr', 'amr'],
      sid: null, auth_time: null, iss: null,
    },
    acrValues: [...acrValues],
    scopes: [...supportedScopes],

    // Authorization code only: no implicit, no hybrid. The password grant does not exist here.
    responseTypes: ['code'],
    // Each client must use exactly the method it is registered with (`clients add --auth-method`).
    // The provider treats client_secret_basic and client_secret_post as one mechanism: the secret
    // comparison tells them apart (client-secret-guesses.ts). private_key_jwt assertions are signed
    // with the client's keys (jwks or jwks_uri, fetched through `fetch` below): RS256, PS256, ES256, EdDSA.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    extraClientMetadata: {
      properties: [...extraClientProperties],
      validator(ctx, key, value, metadata) {
        if (key === extraClientProperties[0]) checkSelfDescribed(config, ctx, metadata);
        if (key === apiScopeProperty) {
          if (metadata[key] !== undefined && typeof metadata[key] !== 'string') throw new errors.InvalidClientMetadata(`${key} must be a string`);
          return;
        }
        if (value !== undefined && typeof value !== 'boolean') throw new errors.InvalidClientMetadata(`${key} must be a boolean`);
        if (key === 'pkce_exempt' && value === true && metadata.token_endpoint_auth_method === 'none') {
          throw new errors.InvalidClientMetadata('only confidential clients may be exempt from PKCE');
        }
      },
    },
    // S256 is the only method the provider implements; require it unless a confidential client
    // was explicitly exempted.
    pkce: {
      required(_ctx, client) {
        return !(client.clientAuthMethod !== 'none' && (client as unknown as UnknownObject).pkce_exempt === true);
      },
    },

    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // A client may introspect the tokens issued to it; a resource server (a confidential client)
        // also the tokens issued for it, i.e. whose audience is its client_id. Anything else is
        // answered {"active": false}, as for an unknown token.
        async allowedPolicy(_ctx, client, token) {
          return mayIntrospect(client, token);
        },
      },
      revocation: {
        enabled: true,
        // Only the client a token was issued to may revoke it.
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      userinfo: { enabled: true },
      // The claims request parameter (OpenID Connect Core §5.5): a client may ask for claims by
      // name, in the ID token or at userinfo, essential or not. Only claims some scope releases
      // (the `claims` block above) can be asked for, and each is released only once granted: the
      // consent page lists it (a first-party client's grant takes it in loadExistingGrant).
      // Malformed ones are refused with invalid_request by the provider.
      claimsParameter: { enabled: true },
      // DPoP (RFC 9449): a proof at the token endpoint binds the tokens to the client's key
      // (cnf.jkt); one proof per request (jti kept, replays refused). With nonces, every proof must
      // carry a nonce the server handed out, derived from KEY_ENCRYPTION_KEY so every instance
      // shares them (docs/integrate.md#dpop).
      dPoP: {
        enabled: config.dpop.enabled,
        ...(config.dpop.enabled && config.dpop.nonces ? {
          nonceSecret: Buffer.from(hkdfSync('sha256', deps.keyEncryptionKey, Buffer.alloc(0), 'gatehouse dpop nonces', 32)),
          requireNonce: () => true,
        } : {}),
        allowReplay: false,
      },
      pushedAuthorizationRequests: { enabled: true },
      // RFC 7591 and 7592: off, with an initial access token, or open to public clients only
      // (registration-policy.ts, applied in the client schema's validator above). A client may
      // change or delete itself with its registration access token, rotated at each update.
      registration: config.clientRegistration === 'off' ? { enabled: false } : {
        enabled: true,
        initialAccessToken: config.clientRegistration === 'token',
        // Hex like an operator's client ids (never starting with '-').
        idFactory: () => randomBytes(16).toString('hex'),
        issueRegistrationAccessToken: true,
      },
      registrationManagement: { enabled: config.clientRegistration !== 'off', rotateRegistrationAccessToken: true },
      // An https client_id names a JSON document describing the client (an experimental draft the
      // library asks to be acknowledged by version). Fetched through outgoingFetch below, from the
      // operator's hosts only when listed, and used for a bounded time whatever its headers say.
      clientIdMetadataDocument: {
        enabled: config.clientIdMetadataDocuments.enabled,
        ...(config.clientIdMetadataDocuments.enabled ? { ack: clientIdMetadataDocumentDraft } : {}),
        async allowFetch(_ctx, clientId) {
          return metadataDocumentHostAllowed(clientId, config.clientIdMetadataDocuments.hosts);
        },
        cacheDuration: { ...metadataDocumentCacheSeconds },
      },
      resourceIndicators: {
        enabled: true,
        async getResourceServerInfo(_ctx, indicator, client) {
          const api = await deps.reads.apis.find(indicator);
          if (!api) throw new errors.InvalidTarget(`${indicator} is not a registered API`);
          return {
            // The management API's scopes only ever to a client that lists them (`--management-scope`).
            scope: grantableApiScopes(api.scopes, client as unknown as { [key: string]: unknown }, { onlyListed: api.identifier === managementApiIdentifier(config.issuer) }).join(' '),
            audience: api.identifier,
            // Never longer than retired signing keys stay published (an API registered before
            // the limit was lowered keeps working, with shorter tokens).
            accessTokenTTL: Math.min(api.accessTokenTtl, config.ttl.apiAccessTokenMax),
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: api.signingAlg } },
          };
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => pages.logoutSource(ctx, form),
        postLogoutSuccessSource: (ctx) => pages.postLogoutSuccessSource(ctx),
      },
      // OpenID Connect Back-Channel Logout 1.0: clients register a backchannel_logout_uri
      // (backchannel_logout_session_required defaults to true: `clients add`, and registration
      // through the clients library). The provider's own one-shot send is replaced by a durable
      // queue and a worker (backchannel-logout.ts, started in src/app.ts and src/server.ts).
      backchannelLogout: { enabled: true },
      // The device authorization grant (RFC 8628), for CLIs, TVs and devices without a browser
      // (docs/integrate.md#device-sign-in); only clients registered with its grant type may use it.
      // The person's pages and the limit on guessing codes: device-sign-in.ts; `interval`,
      // slow_down and expired_token, which the library does not send: device-polling.ts.
      deviceFlow: {
        enabled: true,
        // 20 consonants (no vowels: no words; no digits or look-alikes: nothing to confuse when
        // read aloud or typed from a TV), 8 of them: 20^8 ≈ 2.6 × 10^10 codes, each alive for the
        // DeviceCode lifetime (10 minutes, the provider's default) and guessed at a limited rate.
        charset: 'base-20',
        // Two groups of four, read and typed more easily than eight in a row; the dash (like any
        // space or case the person types) is ignored when the code is compared.
        mask: '****-****',
        // The pages are ours (the provider's own HTML would break our CSP and look): the code,
        // which device asks for what with approve or deny, and the outcome.
        userCodeInputSource: (ctx, _form, out, err) => showUserCodeInput(ctx, pages, out, err),
        userCodeConfirmSource: (ctx, _form, client, deviceInfo, userCode) => showUserCodeConfirm(ctx, pages, deps.reads.clients, client, deviceInfo, userCode),
        successSource: (ctx) => showDeviceSuccess(ctx, pages),
      },
    },

    loadExistingGrant: (ctx) => loadExistingGrant(ctx, store, clock),
    // Every request the provider makes itself goes through this fetch (outgoing-requests.ts):
    // addresses judged after DNS (loopback only outside production), no redirects, bounded in
    // time and size, JSON checked as such.
    fetch: createOutgoingFetch({
      allowLoopback: config.env !== 'production',
      timeoutMs: config.dynamicClients.fetchTimeoutSeconds * 1000,
      maxResponseBytes: Math.max(config.dynamicClients.maxDocumentBytes, otherDocumentBytes),
    }) as unknown as Configuration['fetch'],
    fetchResponseBodyLimits: {
      'client_id metadata document': config.dynamicClients.maxDocumentBytes,
      jwks_uri: otherDocumentBytes,
      sector_identifier_uri: otherDocumentBytes,
    },
    // RFC 8707 resource indicators are accepted at the authorization and token endpoints (the
    // discovery documents say so for clients that look, such as MCP clients).
    discovery: { resource_indicators_supported: true, ui_locales_supported: [...(config.languages?.available ?? ['en'])] },
    // CORS on token, userinfo and revocation only for the web origins of public clients (src/oidc/cors.ts).
    clientBasedCORS: (ctx, origin, client) => allowsCors(ctx.oidc.route, origin, client),
    interactions: {
      policy: buildInteractionPolicy(config, store, loadAccount),
      url: (_ctx, interaction) => urls.interaction(interaction.uid),
    },
    renderError: (ctx, out, error) => pages.renderError(ctx, out, error),

    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.clientCredentials,
      AuthorizationCode: config.ttl.authorizationCode,
      IdToken: config.ttl.idToken,
      RefreshToken(ctx, token, client) {
        // A rotated public-client refresh token keeps its chain's remaining lifetime: rotation does
        // not make a browser's session endless.
        const rotated = ctx?.oidc?.entities.RotatedRefreshToken;
        if (rotated && client.clientAuthMethod === 'none' && !token.isSenderConstrained()) return rotated.remainingTTL;
        return config.ttl.refreshToken;
      },
      Grant: config.ttl.grant,
      // Idle and absolute lifetimes, enforced by the store's expiry: the provider saves the session
      // (with this TTL) on every use, and never past the absolute limit from the login.
      Session: (_ctx, session) => sessionTtl(config, session, epochSeconds(clock)),
      Interaction: config.ttl.interaction,
    },
  };
}
