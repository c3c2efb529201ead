import type { ClientMetadata } from 'oidc-provider';

/**
 * The account page is a client of Gatehouse itself: it signs in through the authorization endpoint
 * like any application, so every rule of a login (email verification, and later a second factor)
 * applies to it too.
 *
 * It is a static client of the provider's configuration, derived from the issuer, rather than a
 * row in the client store: nothing to create at start-up, so nothing to race between instances or
 * workers, nothing an operator can remove by accident, and its redirect URIs follow the issuer when
 * it changes. Its id is not hex, so `gatehouse clients add` (random hex ids) can never collide.
 */
export const accountClientId = 'gatehouse-account';

export const accountScope = 'openid email profile';

export function accountRedirectUri(issuer: string): string {
  return `${issuer}/account/callback`;
}

export function accountSignedOutUri(issuer: string): string {
  return `${issuer}/account/signed-out`;
}

export function accountClientMetadata(issuer: string): ClientMetadata {
  return {
    client_id: accountClientId,
    client_name: 'Gatehouse account',
    redirect_uris: [accountRedirectUri(issuer)],
    post_logout_redirect_uris: [accountSignedOutUri(issuer)],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // A public client with PKCE: the code is redeemed in-process, so a secret would add nothing.
    token_endpoint_auth_method: 'none',
    scope: accountScope,
    // auth_time in every ID token: the page knows how fresh the login is (sensitive changes, issue 6).
    require_auth_time: true,
    first_party: true,
    pkce_exempt: false,
  };
}
