/**
 * The words of the account centre's pages (views/account*.eta, views/partials/profile-field.eta):
 * headings, labels, hints and buttons. What the flows say (notices, errors) is in account.ts,
 * account-profile-email.ts and account-sessions-apps.ts.
 */
export const pagesAccount = {
  // Shared by several account pages.
  'account.cancel': 'Cancel',
  'account.remove_button': 'Remove',
  'account.sign_out_button': 'Sign out',
  'account.confirm_it_is_you_button': 'Confirm it’s you',
  'account.current_password_label': 'Current password',
  // Between two facts on one line, as in “Added 5 May 2026, last used 7 May 2026”: a comma and a space in English.
  'account.list_separator': ', ',

  // The overview (views/account.eta): the sections.
  'account.sections_label': 'Account sections',
  'account.nav_sessions': 'Sessions and devices',
  'account.nav_apps': 'Connected apps',
  'account.nav_profile': 'Profile',
  'account.nav_email': 'Email address',
  'account.nav_export': 'Export my data',
  'account.nav_delete': 'Delete my account',
  'account.email_not_confirmed': 'Your email address is not confirmed yet.',

  // The overview: the password.
  'account.password_heading': 'Password',
  'account.password_none_passkey': 'Your account has no password: you sign in with a passkey. You can add a password too; we will email you a link to choose it.',
  'account.password_none_passkey_or_provider': 'Your account has no password: you sign in with a passkey or another provider. You can add a password too; we will email you a link to choose it.',
  'account.password_set_button': 'Email me a link to set a password',
  'account.password_change_heading': 'Change password',
  'account.password_change_button': 'Change password',
  'account.new_password_label': 'New password',
  'account.new_password_hint': 'At least {min, plural, one {# character} other {# characters}}. Long passphrases are welcome (up to 1024 bytes); common and easily guessed passwords are refused.',
  'account.sign_out_others_label': 'Sign out of my other sessions',

  // The overview: two-step verification.
  'account.mfa_heading': 'Two-step verification',
  'account.mfa_on': 'On: signing in asks for a code from your authenticator app.',
  'account.mfa_recovery_codes_left': '{count, plural, =0 {No recovery codes left.} one {# recovery code left.} other {# recovery codes left.}}',
  'account.mfa_code_label': 'Code from your app, or a recovery code',
  'account.mfa_regenerate_button': 'Get new recovery codes',
  'account.mfa_remove_button': 'Turn off two-step verification',
  'account.mfa_manage_reauth_hint': 'To get new recovery codes or turn it off, sign in again first.',
  'account.mfa_off_intro': 'Off. Protect your account with a code from an authenticator app when you sign in.',
  'account.mfa_setup_link': 'Set up authenticator app',
  'account.mfa_setup_reauth_hint': 'To set up an authenticator app, sign in again first.',

  // The overview: passkeys, and the “Add a passkey” step.
  'account.passkeys_heading': 'Passkeys',
  'account.passkeys_none': 'None yet. Sign in with your fingerprint, face or screen lock, or with a security key, instead of typing a password.',
  'account.passkeys_list_label': 'Your passkeys',
  'account.passkey_rename': 'Rename',
  'account.passkey_new_name_label': 'New name',
  'account.passkey_save_name': 'Save name',
  // {name} is the name the person gave the passkey. Read by screen readers on its Remove button.
  'account.passkey_remove_label': 'Remove {name}',
  'account.passkey_add_button': 'Add a passkey',
  'account.passkeys_reauth_hint': 'To add or remove a passkey, sign in again first.',
  'account.passkey_add_intro': 'A passkey lets you sign in with your fingerprint, face or screen lock, or with a security key, instead of typing a password.',
  'account.passkey_name_label': 'Name',
  // Examples of names people give their passkeys, shown inside the empty field.
  'account.passkey_name_placeholder': 'My laptop, My phone, Blue security key',
  'account.passkey_name_hint': 'So you can tell your passkeys apart. You can change it later.',
  'account.passkey_needs_javascript': 'Creating a passkey needs JavaScript.',
  'account.passkey_create_button': 'Create passkey',

  // The overview: identities at other providers.
  'account.identities_heading': 'Signed in with',
  'account.identities_list_label': 'Other providers you sign in with',
  // {name} is another provider's name (“Google”). Read by screen readers on its Unlink button.
  'account.identity_unlink_label': 'Unlink {name}',
  'account.identity_unlink_button': 'Unlink',
  'account.identities_reauth_hint': 'To unlink one, sign in again first.',

  // Sessions (views/account-sessions.eta).
  'account_sessions.intro': 'Where your account is signed in now. If you don’t recognise one, sign it out and change your password.',
  // {device} is a browser and system, like “Firefox 140 on Ubuntu”. Read by screen readers on its Sign out button.
  'account_sessions.sign_out_label': 'Sign out {device}',
  'account_sessions.sign_out_others': 'Sign out of all other sessions',
  'account_sessions.sign_out_this': 'Sign out of this device',

  // Connected apps (views/account-apps.eta).
  'account_apps.intro': 'Apps you have allowed to use your account. You won’t be asked again when you sign in to one, unless it asks for more; remove it and it loses access.',
  'account_apps.none': 'No apps yet.',
  'account_apps.list_label': 'Your connected apps',
  'account_apps.first_party': 'Part of this service',
  // {claim} is what the app may read, as the consent page says it (“email address”).
  'account_apps.see_claim': 'See your {claim}',
  // {api} is the address of an API; {scopes} what the app may do there, already a list.
  'account_apps.api_scopes': 'On {api}: {scopes}',
  // {name} is the app's name. Read by screen readers on its Remove button.
  'account_apps.remove_label': 'Remove {name}',

  // Your profile (views/account-profile.eta).
  'account_profile.intro': 'Applications you allow to see your profile receive what you enter here. Leave a field empty to remove it.',
  // A link to the email address page.
  'account_profile.email_elsewhere': 'Your email address is changed on its own page.',
  'account_profile.section_name': 'Name',
  'account_profile.section_about': 'About you',
  'account_profile.section_address': 'Address',
  'account_profile.name_label': 'Full name',
  'account_profile.name_hint': 'As you would like to be addressed.',
  'account_profile.given_name_label': 'Given name',
  'account_profile.middle_name_label': 'Middle name',
  'account_profile.family_name_label': 'Family name',
  'account_profile.nickname_label': 'Nickname',
  'account_profile.preferred_username_label': 'Preferred username',
  'account_profile.preferred_username_hint': 'Applications may show it; they must not rely on it being unique.',
  'account_profile.profile_label': 'Profile page',
  'account_profile.profile_hint': 'An http or https address.',
  'account_profile.picture_label': 'Picture',
  'account_profile.picture_hint': 'The address of an image of you.',
  'account_profile.website_label': 'Website',
  'account_profile.gender_label': 'Gender',
  'account_profile.birthdate_label': 'Birthdate',
  // The field takes digits in this order only (year-month-day); translate the letters, keep the order and the 0000.
  'account_profile.birthdate_hint': 'YYYY-MM-DD, just the year (YYYY), or 0000-MM-DD to keep the year to yourself.',
  'account_profile.zoneinfo_label': 'Time zone',
  // Time zone names stay as written (they are identifiers).
  'account_profile.zoneinfo_hint': 'Like Europe/Paris or America/New_York.',
  'account_profile.locale_label': 'Language',
  'account_profile.locale_hint': 'A language tag like en, en-GB or fr-CA.',
  'account_profile.phone_number_label': 'Phone number',
  'account_profile.phone_number_hint': 'With the country code, like +44 20 7946 0958.',
  'account_profile.phone_verified': 'Verified.',
  'account_profile.phone_unverified': 'Not verified; changing the number leaves it unverified.',
  'account_profile.street_address_label': 'Street address',
  'account_profile.locality_label': 'City or town',
  'account_profile.region_label': 'Region or state',
  'account_profile.postal_code_label': 'Postal code',
  'account_profile.country_label': 'Country',
  'account_profile.save_button': 'Save profile',

  // Your email address (views/account-email.eta).
  'account_email.confirm_button': 'Change my email address',
  'account_email.undo_button': 'Undo the change and choose a new password',
  'account_email.current': 'Your account uses {email}.',
  'account_email.not_confirmed': '(It is not confirmed yet.)',
  'account_email.current_use': 'You sign in with it, and we send your codes and links there.',
  'account_email.code_label': 'Code',
  'account_email.code_button': 'Confirm new address',
  'account_email.cancel_button': 'Use another address',
  'account_email.change_heading': 'Change your email address',
  'account_email.change_intro': 'We will send a code and a link to the new address; it changes once you confirm. Your other sessions will then be signed out, and your current address will be told, with a way to undo the change.',
  'account_email.new_label': 'New email address',
  'account_email.send_button': 'Send a code to the new address',
  'account_email.reauth_hint': 'Your account has no password, so to change its address, confirm it is you by signing in again first.',
  'account_email.reauth_button': 'Sign in again',

  // Delete your account (views/account-delete.eta).
  'account_delete.what': 'Deleting {email} erases your profile, password, two-step verification, passkeys, linked sign-ins, sessions and the access you gave applications. You are signed out everywhere at once, and your applications are told.',
  'account_delete.grace': 'The account is erased after {days, plural, one {# day} other {# days}}. Until then, signing in lets you keep it.',
  'account_delete.at_once': 'The account is erased at once. This cannot be undone.',
  'account_delete.audit_note': 'The security log keeps a record of what happened, under a code that does not name you. Your email address can be used for a new account afterwards.',
  // Followed by a link, “Export your data”.
  'account_delete.copy_first': 'Want a copy first?',
  // DELETE stays in English capitals: the form accepts exactly that word (or the email address).
  'account_delete.confirm_label': 'Type your email address or DELETE to confirm',
  'account_delete.button': 'Delete my account',
  'account_delete.reauth_hint': 'To delete your account, sign in again first; you come back to this page.',

  // Export your data (views/account-export.eta).
  // {email} is the account's address; JSON is a file format.
  'account_export.intro': 'Download everything {product} keeps about {email} as a JSON file: your profile, linked sign-ins, two-step verification and passkeys (described, never their secrets), sessions, the applications you gave access to, and the security log of your account.',
  'account_export.button': 'Download my data',
} as const satisfies Record<string, string>;
