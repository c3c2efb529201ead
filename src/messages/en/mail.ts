/**
 * The mail Gatehouse sends people (views/mail/*.eta, src/mail/compose.ts): subjects and bodies.
 * Subjects of the account centre's mail are in account-profile-email.ts, of identity linking in flows.ts.
 */
export const mail = {
  'mail.subject_verify_email': 'Confirm your email address',
  'mail.subject_registration_attempt': 'Someone tried to create an account with your email address',
  'mail.subject_reset_password': 'Reset your password',
  'mail.subject_password_changed': 'Your password was changed',
  'mail.subject_sign_in_code': 'Your sign-in code',
} as const satisfies Record<string, string>;
