/** Accounts, codes, second factor, clients, APIs, imports (src/libraries/). */
export const libraries = {
  // Accounts.
  'libraries.account_exists': 'an account with email {email} already exists',
  'libraries.incorrect_email_or_password': 'Incorrect email or password.',
  'libraries.account_disabled_contact_your_administrator': 'This account is disabled. Contact your administrator.',
  'libraries.no_account': 'no account {who}',

  // Field problems (schemas.ts), read after the field's name ("email: must be a valid email address").
  'libraries.at_most_characters': 'must be at most {max} characters',
  'libraries.at_least_characters': 'must be at least {min} characters',
  'libraries.at_most_bytes': 'must be at most {max} bytes',
  'libraries.invalid_email': 'must be a valid email address',
  'libraries.no_control_characters': 'must not contain control characters',
  'libraries.role_format': 'roles are 1-64 letters, digits or _ . : -',
  'libraries.fill_in_once_as_text': 'fill it in once, as text',
  'libraries.enter_email': 'Enter your email address',
  'libraries.enter_password': 'Enter your password',
  'libraries.choose_password': 'Choose a password',
  'libraries.enter_mailed_code': 'Enter the 6-digit code from the email.',

  // The password policy (password-policy.ts): one sentence a person can act on.
  'libraries.policy_too_short': 'Use at least {min} {min, plural, one {character} other {characters}}.',
  'libraries.policy_too_long': 'Use at most {max} bytes (accented letters take 2 and emoji 4).',
  'libraries.policy_context': "Don't base your password on your name, your email address or {service}.",
  'libraries.policy_repetitive': 'Avoid repeated characters, sequences and keyboard patterns such as "aaaa", "1234" or "qwerty".',
  'libraries.policy_common': 'This password is too common or too easy to guess; try a few unrelated words.',
  'libraries.policy_failed': 'the password policy failed: {problem}',
  'libraries.policy_thread_exited': 'the password policy thread exited ({code})',

  // Changing a password (password-change.ts, password-reset.ts).
  'libraries.account_cannot_be_changed': 'This account cannot be changed. Sign in again.',
  'libraries.enter_current_password': 'Enter your current password.',
  'libraries.current_password_wrong': 'Your current password is not correct. Your password was not changed.',
  'libraries.password_changed_meanwhile': 'Your password was changed meanwhile, somewhere else. Sign in again.',
  'libraries.choose_new_password': 'Choose a new password.',
  'libraries.use_at_most_bytes': 'Use at most {max} bytes.',

  // The second factor.
  'libraries.authenticator_app_already_set_up': 'An authenticator app is already set up for this account.',
  'libraries.no_authenticator_app': 'There is no authenticator app set up for this account.',

  // Passkeys (passkeys.ts).
  'libraries.passkey_invalid': 'Your passkey could not be checked. Try again.',
  'libraries.passkey_user_not_verified': 'Your device did not confirm it is you (with a PIN, fingerprint or face). Try again and confirm when asked.',
  'libraries.passkey_unknown': 'This passkey is not registered here. Use another passkey, or sign in another way.',
  'libraries.passkey_already_registered': 'This passkey is already registered.',
  'libraries.passkey_limit': 'An account can have at most {max} passkeys. Remove one before adding another.',
  'libraries.no_passkey': 'There is no such passkey on this account.',
  'libraries.passkey_name_required': 'Give the passkey a name.',
  'libraries.passkey_default_name': 'Passkey added {date}',

  // Connections to upstream identity providers (connections.ts). Field problems are read after the field's name.
  'libraries.no_connection': 'no connection {id}',
  'libraries.connection_exists': 'a connection {id} already exists: give this one another id',
  'libraries.connection_identities_left': 'identities linked through an earlier connection {id} are still stored: remove connection {id} again to clear them, or give this one another id',
  'libraries.connection_type': 'the type is one of {list}',
  'libraries.connection_name_required': 'a name is required',
  'libraries.connection_id_format': 'must be 1-40 lowercase letters, digits or -',
  'libraries.connection_client_id_required': 'a client ID is required',
  'libraries.connection_client_id_format': 'must be at most 512 characters, without spaces or control characters',
  'libraries.connection_secret_length': 'must be 1-1024 characters',
  'libraries.connection_issuer_required': 'an OpenID Connect connection needs the issuer URL of its provider',
  'libraries.connection_tenant_required': 'a microsoft connection needs a tenant: a tenant ID (a GUID), common, organizations or consumers',
  'libraries.connection_tenant_format': 'must be a tenant ID (a GUID), common, organizations or consumers',
  'libraries.connection_tenant_microsoft_only': 'only a microsoft connection has a tenant',
  'libraries.connection_github_no_issuer': 'a github connection has no issuer (GitHub is not an OpenID provider): its endpoints are the authorization, token and API URLs',
  'libraries.connection_github_urls_only': 'only a github connection has authorization, token and API URLs',
  'libraries.connection_github_urls_together': 'give the authorization, token and API URLs together, or none (github.com itself)',
  'libraries.connection_url_too_long': 'must be at most 2048 characters',
  'libraries.connection_url_not_https': '{value} must use https',
  'libraries.connection_url_not_https_or_loopback': '{value} must use https (http is allowed only for localhost, 127.0.0.1 and [::1], and not in production)',
  'libraries.url_has_query': '{value} must not contain a query',
  'libraries.connection_scopes_required': 'at least one scope is required',
  'libraries.connection_scopes_too_many': 'at most {max} scopes',
  'libraries.connection_claim_unknown': '{claim} is not a profile claim Gatehouse keeps ({list})',
  'libraries.connection_claim_upstream_format': 'upstream claim names are 1-128 characters, without spaces or control characters',

  // Identities linked to accounts (linked-identities.ts).
  'libraries.identity_already_linked': 'This identity is already linked to an account.',
  'libraries.no_linked_identity': 'There is no such linked identity on this account.',
  'libraries.identity_last_way_in': 'This is the last way to sign in to this account. Add a password or a passkey, or link another identity, before unlinking it.',

  // Signing in with another provider (upstream-sign-in.ts). {connection} is the connection's name.
  'libraries.upstream_unavailable': '{connection} did not answer. Try again in a moment, or sign in another way.',
  'libraries.upstream_refused': '{connection} did not sign you in (it answered {error}).',
  'libraries.upstream_refused_described': '{connection} did not sign you in: "{description}" ({error}).',
  'libraries.upstream_invalid': 'The answer from {connection} could not be accepted. Start again, or sign in another way.',
  'libraries.upstream_connection_disabled': 'Signing in with {connection} is turned off.',

  // Clients and APIs (clients.ts, apis.ts).
  'libraries.no_client': 'no client {clientId}',
  'libraries.client_not_dynamic': 'the client {clientId} was added by an operator, not registered by itself; remove it with `gatehouse clients remove`',
  'libraries.no_api': 'no API {identifier}',

  // Initial access tokens for dynamic client registration (registration-tokens.ts).
  'libraries.token_days_range': 'must be more than 0 and at most {max} days',
  'libraries.token_note_control': 'must not contain control characters',
  'libraries.token_id_short': 'name the token by at least its first {length} characters (as `gatehouse registration tokens list` shows them)',
  'libraries.no_registration_token': 'no registration token starts with {id} (expired or revoked tokens are gone)',
  'libraries.registration_token_ambiguous': 'several registration tokens start with {id}; give more characters',
  'libraries.url_not_absolute': '{value} is not an absolute URL',
  'libraries.url_has_fragment': '{value} must not contain a fragment',
  'libraries.url_has_credentials': '{value} must not contain credentials',
  'libraries.url_not_https': '{value} must use https (http is allowed only for localhost, 127.0.0.1 and [::1])',
  'libraries.client_name_required': 'a name is required',
  'libraries.grant_types': 'grant types are {list}',
  'libraries.scope_format': 'scope must be space-separated scope names',
  'libraries.public_client_credentials': 'a public client cannot use client_credentials (it has no secret)',
  'libraries.public_client_pkce_exempt': 'only a confidential client may be exempt from PKCE',
  'libraries.redirect_uri_required': 'at least one redirect URI is required for the authorization_code grant',
  'libraries.refresh_token_needs_code': 'refresh_token needs authorization_code',
  'libraries.api_identifier_not_absolute': 'identifier {value} must be an absolute URI (RFC 8707)',
  'libraries.api_identifier_fragment': 'identifier must not contain a fragment',
  'libraries.scope_names': 'scopes are names without spaces or quotes',

  // Password hashes from elsewhere (passwords.ts, import-users.ts), read after "password_hash: ".
  'libraries.hash_unsupported': 'is not a supported hash (argon2, or bcrypt $2a$, $2b$ or $2y$)',
  'libraries.hash_bcrypt_cost_range': 'has a bcrypt cost outside 4-31',
  'libraries.hash_bcrypt_cost_above': 'has a bcrypt cost of {cost}, above the limit of {max} (passwords.bcryptMaxCost)',
  'libraries.hash_argon2_version': 'has an unknown argon2 version',
  'libraries.hash_argon2_malformed': 'is not a well-formed argon2 hash',
  'libraries.hash_argon2_memory': 'memory {value} KiB (at most {max}, passwords.argon2Max.memoryKiB)',
  'libraries.hash_argon2_memory_iterations': 'memory × iterations {value} (at most {max}, passwords.argon2Max.memoryKiBTimesIterations)',
  'libraries.hash_argon2_parallelism': 'parallelism {value} (at most {max}, passwords.argon2Max.parallelism)',
  'libraries.hash_argon2_above_limits': 'has argon2 parameters above the limits: {excess}',
  // Between two of the limits above.
  'libraries.hash_limits_joiner': ' and ',

  // Importing users (import-users.ts).
  'libraries.import_invalid_json': 'invalid JSON',
  'libraries.import_invalid_json_at': 'invalid JSON at column {column}',
  'libraries.import_exists_differently': '{email} already exists with different details ({fields}); left unchanged',
  'libraries.import_created_meanwhile': '{email} already exists (created meanwhile); left unchanged',
  'libraries.import_summary': 'imported {imported}, unchanged {unchanged}, {errors} {errors, plural, one {error} other {errors}}, {duplicates} {duplicates, plural, one {duplicate} other {duplicates}}',
  'libraries.import_summary_dry_run': 'dry run, nothing written: would import {imported}, unchanged {unchanged}, {errors} {errors, plural, one {error} other {errors}}, {duplicates} {duplicates, plural, one {duplicate} other {duplicates}}',
  'libraries.import_line_problem': 'line {line}: {problem}',
  'libraries.import_line_duplicate': "line {line}: duplicate of an earlier line's email {email}; skipped",
  'libraries.import_file_too_large': '{file} is larger than the limit of {megabytes} MB: split it into several files',
  'libraries.import_file_unreadable': 'cannot read {file}: {problem}',
  'libraries.import_file_not_utf8': 'cannot read {file}: it is not UTF-8 text',
  // Client authentication and metadata (clients.ts: register, update, rotateSecret).
  'libraries.url_not_https_link': '{value} must be an absolute https URL',
  'libraries.jwks_private_key': 'jwks must hold public keys only (no private key members)',
  'libraries.auth_methods': 'the authentication method must be one of {list}',
  'libraries.public_client_auth_method': 'a public client authenticates with none',
  'libraries.private_key_jwt_keys': 'private_key_jwt needs its public keys: either a jwks_uri or a jwks, not both',
  'libraries.keys_need_private_key_jwt': 'a jwks_uri or jwks is only for private_key_jwt',
  'libraries.client_dynamic_not_updatable': 'client {clientId} registered itself: it changes itself (RFC 7592)',
  'libraries.client_has_no_secret': 'client {clientId} authenticates without a secret: there is none to rotate',
  'libraries.overlap_days': 'the overlap is a whole number of days from 0 to {max}',
} as const satisfies Record<string, string>;
