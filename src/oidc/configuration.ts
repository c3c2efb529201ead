import type { Configuration, KoaContextWithOIDC, UnknownObject } from 'oidc-provider';
import { errors } from 'oidc-provider';

import { accountClaims } from '../accounts/accounts.ts';
import type { Config } from '../config/load-config.ts';
import type { Views } from '../interactions/views.ts';
import type { PrivateJwk } from '../keys/key-ring.ts';
import type { Store } from '../store/types.ts';
import { createAdapterFactory } from './adapter.ts';
import { claimsByScope, supportedScopes } from './scopes.ts';

export type ProviderDependencies = {
  config: Config;
  store: Store;
  cookieKeys: string[];
  keyEncryptionKey: Buffer;
  jwks: { keys: PrivateJwk[] };
  views: Views;
};

/** Client metadata of our own on top of RFC 7591's. */
const extraClientProperties = ['first_party', 'pkce_exempt'] as const;

function isFirstParty(client: { [key: string]: unknown } | undefined): boolean {
  return client?.first_party === true;
}

/**
 * First-party clients skip the consent page: their grant is created (or widened) with exactly what
 * the request asks for. Everyone else gets the provider's default: the grant already recorded for
 * this client in the session, else consent.
 */
async function loadExistingGrant(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const client = oidc.client!;
  const session = oidc.session!;
  const grantId = oidc.result?.consent?.grantId ?? session.grantIdFor(client.clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (!isFirstParty(client as unknown as UnknownObject) || !session.accountId) return existing;
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

/** Every oidc-provider setting lives here. */
export function buildProviderConfiguration(deps: ProviderDependencies): Configuration {
  const { config, store, views } = deps;
  return {
    adapter: createAdapterFactory({ oidc: store.oidc, clients: store.clients, encryptionKey: deps.keyEncryptionKey }),
    jwks: deps.jwks as unknown as Configuration['jwks'],
    cookies: {
      keys: deps.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },

    async findAccount(_ctx, sub) {
      const account = await store.accounts.findById(sub);
      // A disabled account has no claims, cannot refresh and cannot use userinfo.
      if (!account || account.disabled) return undefined;
      return { accountId: account.id, claims: () => ({ ...accountClaims(account), sub: account.id }) as { sub: string } };
    },
    claims: Object.fromEntries(Object.entries(claimsByScope).map(([scope, claims]) => [scope, [...claims]])),
    scopes: [...supportedScopes],

    // Authorization code only: no implicit, no hybrid. The password grant does not exist here.
    responseTypes: ['code'],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    extraClientMetadata: {
      properties: [...extraClientProperties],
      validator(_ctx, key, value, metadata) {
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
      introspection: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      registration: { enabled: false },
      resourceIndicators: {
        enabled: true,
        async getResourceServerInfo(_ctx, indicator) {
          const api = await store.apis.find(indicator);
          if (!api) throw new errors.InvalidTarget(`${indicator} is not a registered API`);
          return {
            scope: api.scopes.join(' '),
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
        async logoutSource(ctx, form) {
          const client = ctx.oidc.client;
          views.render(ctx, 'logout', { title: 'Sign out', form, clientName: client?.clientName ?? client?.clientId });
        },
        async postLogoutSuccessSource(ctx) {
          const client = ctx.oidc.client;
          views.render(ctx, 'logged-out', { title: 'Signed out', clientName: client?.clientName ?? client?.clientId });
        },
      },
    },

    loadExistingGrant,
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    async renderError(ctx, out) {
      views.render(ctx, 'error', { title: 'This request cannot continue', error: out.error, description: out.error_description }, ctx.status >= 400 ? ctx.status : 400);
    },

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
      Session: config.ttl.session,
      Interaction: config.ttl.interaction,
    },
  };
}
