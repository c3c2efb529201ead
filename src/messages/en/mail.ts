/**
 * The mail Gatehouse sends people (views/mail/*.eta, src/mail/compose.ts): subjects and bodies.
 * Subjects of the account centre's mail are in account-profile-email.ts, of identity linking in flows.ts.
 * Each sentence is used in both bodies: the plain-text one and the HTML one (where {email} and
 * similar values may be shown in bold). A subject is also the heading of its mail.
 * “Forgot password?” is the words of the link on the sign-in page: use that page’s translation.
 */
export const mail = {
  // Subjects.
  'mail.subject_verify_email': 'Confirm your email address',
  'mail.subject_registration_attempt': 'Someone tried to create an account with your email address',
  'mail.subject_reset_password': 'Reset your password',
  'mail.subject_password_changed': 'Your password was changed',
  'mail.subject_sign_in_code': 'Your sign-in code',

  // Shared by several mails.
  // Followed by the code (six digits), on the same line or the next.
  'mail.your_code': 'Your code:',
  // The words of a link (HTML mail) that confirms an email address; it comes after the code.
  'mail.confirm_link': 'Or confirm with this link',
  // Plain-text mail: the link follows on the next line.
  'mail.confirm_link_text': 'Or open this link to confirm:',
  'mail.code_and_link_expiry': 'The code and the link work once and expire in {minutes, plural, one {# minute} other {# minutes}}.',
  // {email} is an email address.
  'mail.detail_account': 'Account: {email}',
  // {when} is a date and time, already written in this language (for example “1 May 2025 at 10:00 UTC”).
  'mail.detail_when': 'When: {when}',
  // {address} is the IP address the change or sign-in came from.
  'mail.detail_address': 'From address: {address}',
  'mail.if_you_did_this': 'If you did this, there is nothing else to do.',
  'mail.if_this_was_you': 'If this was you, there is nothing else to do.',
  'mail.if_not_you_ignore': 'If it was not you, you can ignore this message; your account has not changed.',
  // The words of a link (HTML mail) to the account page.
  'mail.account_page_link': 'Open your account page',
  // Plain-text mail: {url} is the account page’s address.
  'mail.account_page_text': 'Your account page: {url}',

  // Confirm your email address (after registering).
  'mail.verify_email_ignore': 'If you did not ask for this, ignore this message: nothing happens until the address is confirmed.',

  // Someone tried to register with an address that already has an account.
  'mail.registration_attempt_heading': 'You already have an account',
  'mail.registration_attempt_what': 'Someone (maybe you) tried to register a new account with {email}, which already has an account.',
  'mail.registration_attempt_if_you': 'If it was you, sign in with your existing password. If you forgot it, use “Forgot password?” on the sign-in page.',

  // Reset your password.
  // The words of the link (HTML mail).
  'mail.reset_password_link': 'Choose a new password',
  // Plain-text mail: the link follows on the next line.
  'mail.reset_password_link_text': 'Open this link to choose a new password:',
  'mail.reset_password_expiry': 'The link works once and expires in {minutes, plural, one {# minute} other {# minutes}}.',
  'mail.reset_password_ignore': 'If you did not ask for this, ignore this message: your password stays as it is.',

  // Your password was changed. {when}: see mail.detail_when.
  'mail.password_changed_what': 'The password of your account {email} was changed on {when}.',
  'mail.password_changed_if_not': 'If you did not, reset your password at once with “Forgot password?” on the sign-in page.',

  // Your sign-in code.
  'mail.sign_in_code_why': 'Someone, hopefully you, is signing in to your account and was asked for a code from this mailbox: after a right password, because of many failed sign-ins for this address; or to connect a sign-in with another provider (such as Google or Microsoft) to your account.',
  'mail.sign_in_code_expiry': 'It works once and expires in {minutes, plural, one {# minute} other {# minutes}}. Never give it to anyone.',
  'mail.sign_in_code_if_not': 'If this was not you, nothing happens without the code. If you did not just type your password, someone may know it: choose a new one with “Forgot password?” on the sign-in page.',

  // A sign-in with another provider was linked to the account. {connection} is that provider’s name (such as Google).
  'mail.identity_linked_what': 'A sign-in with {connection} was linked to your account {email} on {when}, because {connection} confirmed that this email address belongs to the person signing in.',
  'mail.identity_linked_from_now': 'From now on, signing in with {connection} opens your account.',
  // “Signed in with” is the heading of that section of the account page: use that page’s translation.
  'mail.identity_linked_if_not': 'If it was not you, remove “{connection}” under “Signed in with” on your account page, and choose a new password with “Forgot password?” on the sign-in page.',

  // Confirm a new email address (asked for on the account page). {product} is the name of the service (such as Gatehouse).
  'mail.confirm_email_change_what': 'Someone (we hope you) asked to use {email} as the address of a {product} account.',
  'mail.confirm_email_change_ignore': 'If you did not ask for this, ignore this message: nothing changes until the address is confirmed.',

  // Someone tried to change another account’s address to this one.
  'mail.email_change_attempt_what': 'Someone (maybe you, signed in to another account) asked to change that account’s address to {email}, which already has an account: yours.',
  'mail.email_change_attempt_if_you': 'Nothing was changed. If it was you, use a different address for the other account.',

  // The address of the account was changed (sent to the old address, with a link that undoes it).
  'mail.email_changed_what': 'The address of your account was changed from {email} to {newEmail} on {when}.',
  'mail.email_changed_if_not': 'If you did not, undo the change with the link below within {days, plural, one {# day} other {# days}}. It gives your account this address back, signs out every session, and lets you choose a new password.',
  // The words of the undo link (HTML mail).
  'mail.email_changed_undo_link': 'Undo the change',

  // A new sign-in from a browser or device the account was not used from before.
  'mail.new_sign_in_what': 'Your account {email} was signed in to from a browser or device it was not used from before.',
  'mail.new_sign_in_if_not': 'If it was not, change your password at once (or reset it with “Forgot password?” on the sign-in page) and sign out of your other sessions on your account page.',

  // A change to how the account signs in (the first line, what changed, is one of mail.notice_*).
  'mail.method_changed_if_not': 'If you did not, change your password at once (or reset it with “Forgot password?” on the sign-in page) and review your account page.',
} as const satisfies Record<string, string>;
