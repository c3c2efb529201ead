/**
 * Every address our pages link to or post to, in one place: the routers register these patterns
 * and the templates receive the same functions (as `it.urls`), so a route and the forms that reach
 * it cannot drift apart. `routes` are the router patterns; the functions build the addresses.
 */
const encode = encodeURIComponent;

export const routes = {
  home: '/',
  stylesheet: '/assets/gatehouse.css',
  /** Our own scripts (every views/assets/*.js, by name) and the WebAuthn browser library, from our origin. */
  script: '/assets/:file',
  webauthnBrowser: '/assets/vendor/simplewebauthn-browser.js',
  favicon: '/favicon.ico',
  /** The operator's brand (src/web/branding.ts): its logos, its colours and its theme's additions, from our origin. */
  brandLogo: '/assets/brand/logo',
  brandLogoDark: '/assets/brand/logo-dark',
  brandStylesheet: '/assets/brand/brand.css',
  themeStylesheet: '/assets/brand/theme.css',
  /** An application's logo, fetched by Gatehouse from its logo_uri and served from here (src/web/client-logo.ts). */
  clientLogo: '/assets/client-logos/:id',
  /** The language switcher on every page: remembers the choice in a cookie, then goes back (`?return=`). */
  language: '/language/:id',
  interaction: '/interaction/:uid',
  login: '/interaction/:uid/login',
  register: '/interaction/:uid/register',
  registerPasskey: '/interaction/:uid/register/passkey',
  consent: '/interaction/:uid/consent',
  abort: '/interaction/:uid/abort',
  signInCode: '/interaction/:uid/sign-in-code',
  passkeySignIn: '/interaction/:uid/passkey',
  secondFactor: '/interaction/:uid/second-factor',
  secondFactorPasskey: '/interaction/:uid/second-factor/passkey',
  mfaSetup: '/interaction/:uid/mfa/setup',
  mfaDone: '/interaction/:uid/mfa/done',
  verifyEmail: '/interaction/:uid/verify-email',
  verifyEmailContinue: '/interaction/:uid/verify-email/continue',
  verifyEmailResend: '/interaction/:uid/verify-email/resend',
  verifyEmailSkip: '/interaction/:uid/verify-email/skip',
  forgotPassword: '/interaction/:uid/forgot-password',
  /** "Continue with <connection>": starts the sign-in at that upstream provider (POST, from the login and registration pages). */
  connectionStart: '/interaction/:uid/connection/:id',
  /** Where the callback hands a verified upstream identity back to the interaction (GET, by redirect). */
  connectionReturn: '/interaction/:uid/connection/return',
  /** The proof page's mailed code (send it, then type it) and "sign in another way" (login/link.ts). */
  linkCode: '/interaction/:uid/link/code',
  linkCodeConfirm: '/interaction/:uid/link/code/confirm',
  linkCancel: '/interaction/:uid/link/cancel',
  /**
   * An upstream provider's redirect back to Gatehouse: a fixed address per connection, registered
   * at the upstream as the redirect URI (`<issuer>/connections/<id>/callback`).
   */
  connectionCallback: '/connections/:id/callback',
  verifyEmailLink: '/verify-email/:token',
  resetPasswordLink: '/reset-password/:token',
  account: '/account',
  accountCallback: '/account/callback',
  accountSignedOut: '/account/signed-out',
  accountReauthenticate: '/account/reauthenticate',
  accountSignOut: '/account/sign-out',
  accountPassword: '/account/password',
  accountMfaSetup: '/account/mfa/setup',
  accountMfaDone: '/account/mfa/done',
  accountMfaManage: '/account/mfa/manage',
  accountIdentityUnlink: '/account/identities/unlink',
  accountDelete: '/account/delete',
  accountExport: '/account/export',
  accountSessions: '/account/sessions',
  accountSessionEnd: '/account/sessions/end',
  accountSessionsEndOthers: '/account/sessions/end-others',
  accountApps: '/account/apps',
  accountAppRevoke: '/account/apps/revoke',
} as const;

type RouteName = keyof typeof routes;

/** The address of route `name` with its parameters (`:uid`, `:token`, `:file`, `:id`) filled in, in order. */
function address(name: RouteName, ...values: string[]): string {
  const pattern = routes[name];
  let next = 0;
  return pattern.replace(/:(uid|token|file|id)/g, () => {
    const value = values[next++];
    if (value === undefined) throw new TypeError(`the address of ${name} needs ${next} values`);
    return encode(value);
  });
}

export const urls = {
  home: () => address('home'),
  stylesheet: () => address('stylesheet'),
  /** A first-party script in views/assets, by file name (`passkey-sign-in.js`). */
  script: (file: string) => address('script', file),
  webauthnBrowser: () => address('webauthnBrowser'),
  /** `version`: a digest of the logo_uri, so that a changed logo is a new address. */
  clientLogo: (clientId: string, version: string) => `${address('clientLogo', clientId)}?v=${encodeURIComponent(version)}`,
  language: (locale: string, returnTo: string) => `${address('language', locale)}?return=${encodeURIComponent(returnTo)}`,
  interaction: (uid: string) => address('interaction', uid),
  login: (uid: string) => address('login', uid),
  register: (uid: string) => address('register', uid),
  registerPasskey: (uid: string) => address('registerPasskey', uid),
  consent: (uid: string) => address('consent', uid),
  abort: (uid: string) => address('abort', uid),
  signInCode: (uid: string) => address('signInCode', uid),
  passkeySignIn: (uid: string) => address('passkeySignIn', uid),
  secondFactor: (uid: string) => address('secondFactor', uid),
  secondFactorPasskey: (uid: string) => address('secondFactorPasskey', uid),
  mfaSetup: (uid: string) => address('mfaSetup', uid),
  mfaDone: (uid: string) => address('mfaDone', uid),
  verifyEmail: (uid: string) => address('verifyEmail', uid),
  verifyEmailContinue: (uid: string) => address('verifyEmailContinue', uid),
  verifyEmailResend: (uid: string) => address('verifyEmailResend', uid),
  verifyEmailSkip: (uid: string) => address('verifyEmailSkip', uid),
  forgotPassword: (uid: string) => address('forgotPassword', uid),
  connectionStart: (uid: string, connectionId: string) => address('connectionStart', uid, connectionId),
  connectionReturn: (uid: string) => address('connectionReturn', uid),
  linkCode: (uid: string) => address('linkCode', uid),
  linkCodeConfirm: (uid: string) => address('linkCodeConfirm', uid),
  linkCancel: (uid: string) => address('linkCancel', uid),
  /** The callback path of a connection; its full address (the redirect URI) is the issuer followed by this. */
  connectionCallback: (connectionId: string) => address('connectionCallback', connectionId),
  verifyEmailLink: (token: string) => address('verifyEmailLink', token),
  resetPasswordLink: (token: string) => address('resetPasswordLink', token),
  account: () => address('account'),
  accountCallback: () => address('accountCallback'),
  accountSignedOut: () => address('accountSignedOut'),
  accountReauthenticate: () => address('accountReauthenticate'),
  accountSignOut: () => address('accountSignOut'),
  accountPassword: () => address('accountPassword'),
  accountMfaSetup: () => address('accountMfaSetup'),
  accountMfaDone: () => address('accountMfaDone'),
  accountMfaManage: () => address('accountMfaManage'),
  accountIdentityUnlink: () => address('accountIdentityUnlink'),
  accountDelete: () => address('accountDelete'),
  accountExport: () => address('accountExport'),
  accountSessions: () => address('accountSessions'),
  accountSessionEnd: () => address('accountSessionEnd'),
  accountSessionsEndOthers: () => address('accountSessionsEndOthers'),
  accountApps: () => address('accountApps'),
  accountAppRevoke: () => address('accountAppRevoke'),
};

/** The redirect URI of a connection, registered at its upstream: exact, fixed, on Gatehouse's own issuer. */
export function connectionRedirectUri(issuer: string, connectionId: string): string {
  return `${issuer.replace(/\/$/, '')}${urls.connectionCallback(connectionId)}`;
}

export type Urls = typeof urls;
