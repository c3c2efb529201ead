/** The scopes Gatehouse offers, the claims each releases, and how the consent page words them. */
export const claimsByScope = {
  openid: ['sub'],
  profile: ['name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'picture', 'website', 'locale', 'zoneinfo', 'updated_at'],
  email: ['email', 'email_verified'],
  roles: ['roles'],
} as const;

export const supportedScopes = ['openid', 'offline_access', 'profile', 'email', 'roles'] as const;

const scopeWording: Record<string, string> = {
  openid: 'Know who you are (a stable identifier for your account)',
  profile: 'See your profile: name and other basic details',
  email: 'See your email address and whether it is verified',
  roles: 'See the roles assigned to your account',
  offline_access: 'Stay connected when you are not using it (keep access after you sign out of it)',
};

/** Words for the consent page; unknown scopes (an API's own) are shown by name. */
export function describeScope(scope: string): string {
  return scopeWording[scope] ?? `Use the permission “${scope}”`;
}
