/**
 * The account centre's profile, email change and security notifications (src/flows/account/profile.ts,
 * email.ts; src/libraries/email-change.ts, security-notifications.ts).
 */
export const accountProfileEmail = {
  // The navigation of the account centre and the profile page.
  'account.profile_title': 'Your profile',
  'account.profile_saved': 'Your profile was saved.',
  'account.profile_unchanged': 'Nothing changed.',
  'account.profile_has_problems': 'Some fields need another look: see below.',

  // Changing the email address.
  'account.email_title': 'Your email address',
  'account.email_confirm_title': 'Confirm your new address',
  'account.email_sent': 'We sent a code and a link to {email}. Type the code here, or open the link. They expire in {minutes, plural, one {# minute} other {# minutes}}.',
  'account.email_wrong_password': 'That is not your current password.',
  'account.email_needs_fresh_sign_in': 'Confirm it is you: sign in again, then ask for the change.',
  'account.email_too_many': 'Too many email change requests. Try again in {seconds, plural, one {# second} other {# seconds}}.',
  'account.email_code_wrong': 'That code is not right. {attemptsLeft, plural, =0 {No tries left: ask for a new code.} one {# try left.} other {# tries left.}}',
  'account.email_code_expired': 'That code has expired or was used. Ask for a new one.',
  'account.email_code_no_pending': 'There is no change waiting for a code. Enter the new address first.',
  'account.email_taken_meanwhile': 'That address cannot be used any more. Choose another one.',
  'account.email_changed_meanwhile': 'Your address changed meanwhile. Open the page again.',
  'account.email_changed': 'Your email address is now {email}. Your other sessions were signed out; we told your old address.',
  'account.email_link_title': 'Change your email address',
  'account.email_link_confirm': 'Confirm that {email} becomes the address of your account. Your other sessions will be signed out.',
  'account.email_link_unusable': 'This link has expired or was already used. Ask for a new one on your account page.',
  'account.email_link_done_title': 'Your email address was changed',
  'account.email_link_done': 'Your account now uses {email}. Sign in with it from now on.',
  'account.email_undo_title': 'Undo the change of your email address',
  'account.email_undo_confirm': 'Your account will use {email} again, every session will be signed out, and you will choose a new password.',
  'account.email_undo_unusable': 'This link has expired or was already used. If you still cannot get into your account, ask your administrator.',
  'account.email_undo_taken': 'Your old address now belongs to another account, so it cannot be restored. Ask your administrator.',
  'account.form_expired_reload': 'This form has expired. Open the page again.',

  // The libraries' words.
  'libraries.email_change_same_address': 'this is already your address',

  // Mail subjects.
  'mail.subject_confirm_email_change': 'Confirm your new email address',
  'mail.subject_email_change_attempt': 'Someone tried to use your email address for another account',
  'mail.subject_email_changed': 'The email address of your account was changed',
  'mail.subject_sign_in_method_changed': 'A change to how you sign in',
  'mail.subject_new_sign_in': 'A new sign-in to your account',

  // Security notifications (the line of the mail that says what happened).
  'mail.notice_mfa_enabled': 'An authenticator app was set up as your second step.',
  'mail.notice_mfa_removed': 'Your second step (the authenticator app) was turned off.',
  'mail.notice_passkey_added': 'A passkey named “{name}” was added.',
  'mail.notice_passkey_removed': 'The passkey named “{name}” was removed.',
} as const satisfies Record<string, string>;
