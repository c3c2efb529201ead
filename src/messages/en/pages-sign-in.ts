/**
 * The sign-in pages' own words (views/login.eta and the pages that follow it: the proof page of an
 * identity link, the mailed sign-in code, the second step and its setup, passkeys, consent, sign-out).
 * Titles and errors the handlers put on these pages are in flows.ts.
 */
export const pagesSignIn = {
  // Words several sign-in pages share.
  // Between two ways to do the same step ("Sign in with a passkey" — or — the password form).
  'sign_in.or': 'or',
  'sign_in.cancel': 'Cancel',
  'sign_in.continue': 'Continue',
  // Under the page's heading; {client} is the application's name (shown in bold).
  'sign_in.to_continue': 'to continue to {client}',
  'sign_in.forgot_password': 'Forgot password?',
  'sign_in.mailed_code_label': 'Code from the email',
  // The login page (views/login.eta). Its heading is login.title.
  'login.email_label': 'Email',
  'login.password_label': 'Password',
  'login.submit': 'Sign in',
  'login.create_account': 'Create account',
  'login.passkey_needs_javascript': 'Signing in with a passkey needs JavaScript. Turn it on for this site, then reload the page.',
  'login.passkey_unsupported': 'This browser cannot use passkeys. Open this page in a browser that can (most current browsers do), or on a device with your passkey.',
  'login.no_passkey_yet': 'No passkey yet? Add one on your account page',
  // The group of "Continue with …" buttons, named for screen readers.
  'login.other_ways': 'Other ways to sign in',
  // The proof page of an identity link (views/link-identity.eta). {connection} is another provider's
  // name ("Google"), {email} the address it gave; both shown in bold.
  'link.signed_in_as': 'You signed in with {connection} as {email}.',
  'link.prove_it': 'An account with this address already exists here. Prove it’s you by signing in to that account once: then {connection} is linked to it, and signs you in directly next time.',
  'link.password_label': 'Password of {email}',
  'link.submit': 'Sign in and link',
  'link.email_me_a_code': 'Email me a code instead',
  'link.email_me_a_code_hint': 'We send a 6-digit code to {email}. Use it if your account has no password, or you forgot it.',
  'link.another_way': 'Sign in another way',
  // The mailed sign-in code (views/sign-in-code.eta); {email} is shown in bold.
  'sign_in_code.explanation': 'There were many failed sign-ins for {email} from elsewhere. If the password you entered is right, we emailed a 6-digit code to that address: enter it to continue.',
  // The second step (views/second-factor.eta).
  'second_factor.passkey_intro': 'Confirm it’s you with one of your passkeys.',
  'second_factor.passkey_or_code_intro': 'Confirm it’s you with one of your passkeys, or with a code.',
  'second_factor.passkey_needs_javascript': 'Using a passkey needs JavaScript. Turn it on for this site, then reload the page.',
  'second_factor.passkey_unsupported': 'This browser cannot use passkeys. Open this page in a browser that can, or on a device with your passkey.',
  'second_factor.code_label': 'Code from your authenticator app',
  'second_factor.code_hint': 'Lost your phone? Enter one of your recovery codes instead.',
  'second_factor.submit': 'Verify',
  // Setting up an authenticator app (views/mfa-setup.eta: in a sign-in and on the account page).
  'mfa_setup.scan': 'Scan this code with an authenticator app (for example Google Authenticator, Microsoft Authenticator, 1Password or Aegis).',
  'mfa_setup.qr_label': 'QR code to scan with your authenticator app',
  'mfa_setup.cannot_scan': 'Can’t scan it? Enter this key in the app instead:',
  'mfa_setup.enter_code': 'Enter the 6-digit code the app shows.',
  'mfa_setup.code_label': 'Code',
  'mfa_setup.submit': 'Turn on',
  // The recovery codes, shown once (views/recovery-codes.eta).
  'recovery_codes.explanation': 'If you lose your phone, each of these codes lets you sign in once. Keep them somewhere safe: they are shown only now.',
  'recovery_codes.download': 'Download as a text file',
  // A new account's passkey (views/passkey-registration.eta); {email} is shown in bold.
  'passkey_registration.explanation': 'Your address {email} is confirmed. Now your device creates a passkey for this account: confirm with your fingerprint, face, PIN or security key when it asks.',
  'passkey_registration.needs_javascript': 'Creating a passkey needs JavaScript. Turn it on for this site, then reload the page.',
  // “Forgot password?” is the link's text on the sign-in page (sign_in.forgot_password).
  'passkey_registration.unsupported': 'This browser cannot create passkeys. Open this page in a browser that can, or use “Forgot password?” on the sign-in page to choose a password instead.',
  // The consent page (views/consent.eta). {client} is the application's name (in bold).
  'consent.heading': 'Allow access?',
  'consent.asking': '{client} is asking to:',
  // {host} is consent.client_host ("from example.com"), shown after the application's name.
  'consent.asking_from': '{client} {host} is asking to:',
  // Read with a claim's words (consent.claim_*): "See your" + "email address".
  'consent.see_your': 'See your {claim}',
  // {api} is an API's identifier (a URL), in bold; its permissions are listed below.
  'consent.on_api': 'On {api}:',
  'consent.privacy_policy': '{client}’s privacy policy',
  'consent.terms_of_service': '{client}’s terms of service',
  'consent.confirm_continue': 'Confirm that you want to continue.',
  // {accountPage} is a link whose text is consent.account_page.
  'consent.remembered': "If you allow it, you won't be asked again for {client} until it asks for more or you remove it on {accountPage}.",
  'consent.account_page': 'your account page',
  'consent.allow': 'Allow',
  'consent.deny': 'Deny',
  // Signing out (views/logout.eta, views/logged-out.eta). {product} is this service's name
  // ("Gatehouse", or the operator's brand); {client} an application's name, in bold.
  'logout.heading': 'Sign out?',
  'logout.client_asks': '{client} asks to sign you out of {product}.',
  'logout.question': 'Do you want to sign out of {product}?',
  'logout.submit': 'Sign out',
  'logout.stay': 'Stay signed in',
  'logged_out.heading': 'You are signed out',
  'logged_out.with_client': 'You have signed out of {product} and {client}.',
  'logged_out.text': 'You have signed out of {product}.',
  'logged_out.close_window': 'You can close this window.',
} as const satisfies Record<string, string>;
