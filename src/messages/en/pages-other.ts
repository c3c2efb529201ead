/**
 * The words of the registration, verification, recovery, device and general pages (their
 * templates in views/). Where a value is shown in bold, as code or as a link ({client}, {email},
 * {code}, {link}…), the page puts that markup around it: keep the value where the language needs it.
 */
export const pagesOther = {
  // Create account (views/register.eta). {client} is an application's name.
  'register.to_continue': 'to continue to {client}',
  // Between the other providers' buttons and the form, and between the password and the passkey.
  'register.or': 'or',
  'register.email_label': 'Email',
  'register.name_label': 'Name',
  // After the name field's label.
  'register.optional': '(optional)',
  'register.password_label': 'Password',
  // Also under the new password on the reset page. {max} is a number of bytes (1024).
  'register.password_hint': 'At least {min, plural, one {# character} other {# characters}}. Long passphrases are welcome (up to {max} bytes); common and easily guessed passwords are refused.',
  'register.submit': 'Create account',
  'register.passkey_button': 'Use a passkey instead of a password',
  'register.passkey_hint': 'We send a code to your address first. Once it is confirmed, your device creates a passkey: you sign in with your fingerprint, face, PIN or security key, and there is no password to remember or leak.',
  'register.passkey_needs_javascript': 'Creating an account with a passkey needs JavaScript. Turn it on for this site, then reload the page.',
  'register.passkey_unsupported': 'This browser cannot create passkeys. Open this page in a browser that can, or on a device that can keep a passkey.',
  'register.sign_in_instead': 'Already have an account? Sign in',
  // Check your email (views/verify-email.eta). {email} is an email address.
  'verify_email.confirmed': 'Your address {email} is confirmed.',
  'verify_email.continue': 'Continue',
  'verify_email.code_sent_to': 'We sent a 6-digit code to {email}. Enter it below, or open the link in the email.',
  'verify_email.code_label': 'Code',
  'verify_email.confirm': 'Confirm',
  'verify_email.opened_link': 'I opened the link: continue',
  'verify_email.send_new_code': 'Send a new code',
  'verify_email.skip': 'Skip for now',
  'verify_email.cancel': 'Cancel',
  // Behind the link in the mail (views/confirm-email.eta, views/email-confirmed.eta).
  'confirm_email.question': 'Confirm that {email} is your address.',
  'confirm_email.confirm': 'Confirm',
  'email_confirmed.confirmed': '{email} is confirmed.',
  // {button} is the name of the "Continue" button of the page that sent the code (verify_email.continue).
  'email_confirmed.go_back': 'Go back to the page where you signed up or signed in and choose {button}. You can close this tab.',
  // Forgot password (views/forgot-password.eta).
  'forgot_password.sent': 'If an account exists for that address, we sent it a link to choose a new password.',
  'forgot_password.sent_hint': 'The link works once and expires in {minutes, plural, one {# minute} other {# minutes}}. If nothing arrives, check your spam folder, or ask again in a minute.',
  'forgot_password.intro': 'Enter the email address of your account, and we will send you a link to choose a new password.',
  'forgot_password.email_label': 'Email',
  'forgot_password.submit': 'Send reset link',
  'forgot_password.back': 'Back to sign in',
  // Choose a new password (views/reset-password.eta). {email} is the account's address.
  'reset_password.for': 'for {email}',
  'reset_password.password_label': 'New password',
  'reset_password.submit': 'Set new password',
  'reset_password.signs_out': 'Setting a new password signs you out everywhere.',
  // Connect a device (views/device.eta): a TV or a command line shows a code, typed here.
  'device.intro': 'Type the code your device (a TV, a command line, an app without a browser) shows. Nothing is connected until you have checked what it asks for.',
  'device.code_label': 'Code on your device',
  // An example of a code, shown in the empty field: keep these letters as they are.
  'device.code_placeholder': 'BCDF-GHJK',
  'device.code_hint': 'Letters only; upper or lower case, with or without the dash.',
  'device.continue': 'Continue',
  'device.again': 'Type a code again',
  // Approve this device? (views/device-confirm.eta). {client} is an application's name, {api} an API's address.
  'device_confirm.check_code': 'Check that your device shows this code:',
  'device_confirm.asks': '{client} on a device wants to sign in as you and:',
  'device_confirm.use_api': 'Use {api} for you',
  // {address} is an IP address, {agent} what the device says it is (its User-Agent).
  'device_confirm.asked_from': 'The device asked from {address}.',
  'device_confirm.asked_as': 'The device asked as {agent}.',
  'device_confirm.asked_from_as': 'The device asked from {address} as {agent}.',
  'device_confirm.privacy_policy': 'Privacy policy of {client}',
  'device_confirm.terms': 'Terms of service of {client}',
  'device_confirm.deny_hint': 'If you did not start this on a device of yours, or the code differs, deny.',
  'device_confirm.approve': 'Continue and sign in',
  'device_confirm.deny': 'Deny',
  // After approving or denying a device (views/device-done.eta).
  'device_done.approved_client': '{client} on your device is signed in. Go back to it: it continues on its own.',
  'device_done.approved': 'Your device is signed in. Go back to it: it continues on its own.',
  'device_done.close': 'You can close this window.',
  'device_done.denied_client': 'You denied the request of {client}: the device gets no access. Nothing else changed.',
  'device_done.denied': 'You denied the request: the device gets no access. Nothing else changed.',
  'device_done.again': 'Connect another device',
  // Error pages (views/error.eta). {code} is a technical code such as invalid_request, {id} a request's id.
  'error_page.code': 'Error code: {code}',
  'error_page.request_id': 'Request id: {id} (quote it when you ask for help)',
  'error_page.start_again': 'Go back to the application you came from and start signing in again.',
  'error_page.home': '{product} home',
  // The home page (views/home.eta). {link} is the address of a document, as a link.
  'home.heading': '{product} is running',
  'home.intro': 'This is an OpenID Connect provider. Applications sign you in through it; there is nothing to do here directly.',
  'home.discovery': 'Discovery document: {link}',
  // An account scheduled for deletion, signing in (views/pending-deletion.eta). {date} is a date and time.
  'pending_deletion.scheduled': 'You asked to delete the account {email}. It will be erased on {date}, with everything {product} keeps about you.',
  'pending_deletion.explain': 'Keep your account to cancel the deletion and go on signing in. Or let the deletion go ahead: you will not be signed in.',
  // The buttons; pending_deletion.choose names them.
  'pending_deletion.keep': 'Keep my account',
  'pending_deletion.delete': 'Continue to delete',
} as const satisfies Record<string, string>;
