/** The scopes Gatehouse offers and the claims each releases (the consent page words them: flows/consent/view.ts). */
export const claimsByScope = {
  openid: ['sub'],
  profile: ['name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'picture', 'website', 'locale', 'zoneinfo', 'updated_at'],
  email: ['email', 'email_verified'],
  roles: ['roles'],
} as const;

export const supportedScopes = ['openid', 'offline_access', 'profile', 'email', 'roles'] as const;
