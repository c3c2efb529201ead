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
} as const;

type RouteName = keyof typeof routes;

/** The address of route `name` with its `:uid` or `:token` filled in. */
function address(name: RouteName, value?: string): string {
  const pattern = routes[name];
  if (!pattern.includes(':')) return pattern;
  if (value === undefined) throw new TypeError(`the address of ${name} needs a value`);
  return pattern.replace(/:(uid|token|file)/, encode(value));
}

export const urls = {
  home: () => address('home'),
  stylesheet: () => address('stylesheet'),
  /** A first-party script in views/assets, by file name (`passkey-sign-in.js`). */
  script: (file: string) => address('script', file),
  webauthnBrowser: () => address('webauthnBrowser'),
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
};

export type Urls = typeof urls;
