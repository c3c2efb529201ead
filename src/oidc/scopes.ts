/**
 * The scopes Gatehouse offers and the claims each releases (the consent page words them:
 * flows/consent/view.ts). The standard ones are OpenID Connect Core §5.4's; a claim the account does
 * not have is left out of the answer.
 */
export const claimsByScope = {
  openid: ['sub'],
  profile: [
    'name', 'family_name', 'given_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website',
    'gender', 'birthdate', 'zoneinfo', 'locale', 'updated_at',
  ],
  email: ['email', 'email_verified'],
  address: ['address'],
  phone: ['phone_number', 'phone_number_verified'],
  roles: ['roles'],
} as const;

export const supportedScopes = ['openid', 'offline_access', 'profile', 'email', 'address', 'phone', 'roles'] as const;

/** The management API's resource identifier (src/web/management-api/): the audience of its tokens. */
export function managementApiIdentifier(issuer: string): string {
  return `${issuer.replace(/\/+$/, '')}/api/v1`;
}
