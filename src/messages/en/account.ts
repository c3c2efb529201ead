/** The account page (src/flows/account/). */
export const account = {
  'account.title': 'Your account',
  'account.open_page': 'Open your account page',
  'account.done': 'Done',

  // Signing in to the account page.
  'account.sign_in_cannot_continue': 'This sign-in cannot continue',
  'account.sign_in_started_elsewhere': 'It was started in another tab or browser, or took too long. Open your account page again.',
  'account.sign_in_not_confirmed': 'Your sign-in could not be confirmed in this browser. Open your account page again.',
  'account.sign_in_cancelled': 'Sign-in cancelled',
  'account.sign_in_cancelled_text': 'You cancelled signing in to your account page.',
  'account.sign_in_failed': 'Sign-in failed',
  'account.sign_in_failed_text': 'Signing in to your account page did not succeed.',
  'account.signed_out': 'Signed out',
  'account.signed_out_text': 'You are signed out of your account page.',

  // Its forms.
  'account.form_expired': 'This form has expired. Try again.',
  'account.form_unexpected': 'The form was not filled in as expected. Try again.',
  'account.password_changed': 'Your password was changed.',
  'account.password_changed_signed_out': 'Your password was changed, and your other sessions were signed out.',
  'account.confirm_it_is_you': 'For your security, confirm it is you (sign in again) before changing two-step verification.',
  'account.mfa_setup_title': 'Set up two-step verification',
  'account.mfa_setup_wrong_code': 'That code is not right. Enter the 6-digit code your app shows now.',
  'account.mfa_already_set_up': 'An authenticator app is already set up.',
  'account.choose_change': 'Choose what to change.',
  'account.enter_factor_code': 'Enter a code from your authenticator app or a recovery code.',
  'account.mfa_off': 'Two-step verification is off. You sign in with your password only.',

  // Why its sign-in could not complete (logged; people see an error page without the detail).
  'account.id_token_not_jwt': 'the ID token is not a JWT',
  'account.id_token_not_json': 'the ID token payload is not JSON',
  'account.id_token_lacks_claims': 'the ID token lacks claims',
  'account.id_token_issuer': 'unexpected issuer',
  'account.id_token_audience': 'unexpected audience',
  'account.id_token_expired': 'the ID token has expired',
  'account.id_token_nonce': 'nonce mismatch',
  'account.token_endpoint_not_json': 'the token endpoint answered {status} without JSON',
  'account.token_endpoint_refused': 'the token endpoint answered {status} {error}',
  'account.in_process_timeout': 'in-process request timed out after {seconds} seconds',
  'account.in_process_too_large': 'in-process response larger than {kilobytes} KiB',
} as const satisfies Record<string, string>;
