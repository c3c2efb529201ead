/**
 * What Gatehouse stores, as small interfaces. Every backend (SQLite now, MongoDB later)
 * implements all of them; nothing outside `src/store/` knows which backend is in use.
 */

/** A stored oidc-provider artifact (Session, AccessToken, Grant, …) as the provider hands it over. */
export type ModelPayload = Record<string, unknown> & {
  grantId?: string;
  userCode?: string;
  uid?: string;
  accountId?: string;
  consumed?: unknown;
};

/**
 * Storage for one oidc-provider model. Mirrors the provider's Adapter contract: `expiresIn` is in
 * seconds; `consume` marks the record with the consumption time; `revokeByGrantId` removes every
 * record of this model bound to the grant.
 */
export interface ModelStore {
  upsert(id: string, payload: ModelPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<ModelPayload | undefined>;
  findByUid(uid: string): Promise<ModelPayload | undefined>;
  findByUserCode(userCode: string): Promise<ModelPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

/** What revokeByAccountId spares: a session (its id, the provider's jti) and grants (their ids). */
export type RevocationExceptions = { sessionId?: string; grantIds?: readonly string[] };

/** A stored oidc-provider record with its id and expiry (null: it never expires). */
export type StoredModel = { id: string; payload: ModelPayload; expiresAt: Date | null };

export interface OidcStore {
  model(name: string): ModelStore;
  /**
   * Removes every session, grant, token and pending interaction of an account (disable, password
   * reset); returns how many records. With `keep`, spares one session (by id) and the grants given
   * (by id) with every record bound to them: "sign out of my other sessions" keeps the browser it
   * was asked from.
   */
  revokeByAccountId(accountId: string, keep?: RevocationExceptions): Promise<number>;
  /**
   * The unexpired records of one model, at most `limit`, in no particular order: for the few records
   * an operator lists (initial access tokens), never for the provider's busy models.
   */
  listModel(name: string, limit: number): Promise<StoredModel[]>;
  /** Removes the account's pending interactions only (a credential changed: half-finished sign-ins must start again). */
  revokeInteractions(accountId: string): Promise<number>;
  /**
   * The unexpired records of one model that belong to an account (its sessions), at most `limit`:
   * what ends with them is read before they are revoked (back-channel logout, src/libraries/sessions.ts).
   */
  listByAccountId(name: string, accountId: string, limit: number): Promise<StoredModel[]>;
  /**
   * Deletes expired records; returns how many were removed. With `limit`, at most that many (one
   * short statement per call: the sweeper calls it again until it returns less than `limit`).
   */
  sweepExpired(limit?: number): Promise<number>;
}

/** A postal address as OpenID Connect Core §5.1.1 gives it (the `address` claim). */
export type AddressClaim = {
  formatted?: string;
  street_address?: string;
  locality?: string;
  region?: string;
  postal_code?: string;
  country?: string;
};

/**
 * The standard claims (OpenID Connect Core §5.1) an account keeps, in their claim names; an absent
 * claim is absent (never an empty string). Checked by the accounts library (profileSchema).
 */
export type ProfileClaims = {
  name?: string;
  given_name?: string;
  family_name?: string;
  middle_name?: string;
  nickname?: string;
  preferred_username?: string;
  profile?: string;
  picture?: string;
  website?: string;
  gender?: string;
  birthdate?: string;
  locale?: string;
  zoneinfo?: string;
  phone_number?: string;
  phone_number_verified?: boolean;
  address?: AddressClaim;
};

export type AccountRecord = {
  id: string;
  email: string;
  passwordHash: string | null;
  emailVerified: boolean;
  profile: ProfileClaims;
  roles: string[];
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
  /**
   * When the person's information (profile, email_verified) last changed: the `updated_at` claim.
   * Set at creation; the store moves it only when an update changes one of them in value (not for
   * a password, roles or disabling), whereas `updatedAt` moves with every update. (Should the email
   * address become patchable, its change must move it too.)
   */
  profileUpdatedAt: Date;
  /**
   * Present while the person's request to delete the account waits out its grace period: when it
   * is erased (src/libraries/account-deletion.ts). Absent otherwise.
   */
  deleteAfter?: Date;
};

export type NewAccount = Omit<AccountRecord, 'createdAt' | 'updatedAt' | 'profileUpdatedAt' | 'deleteAfter'>;

/**
 * `email`: a new address (an email change, src/libraries/email-change.ts); the store keeps it unique
 * case-insensitively, as create does: GatehouseError('conflict') when another account has it.
 */
export type AccountPatch = Partial<Pick<AccountRecord, 'email' | 'passwordHash' | 'emailVerified' | 'profile' | 'roles' | 'disabled'>>;

export interface AccountStore {
  /** Throws GatehouseError('conflict') when the email (compared case-insensitively) is taken. */
  create(account: NewAccount): Promise<AccountRecord>;
  findById(id: string): Promise<AccountRecord | undefined>;
  /** Case-insensitive. */
  findByEmail(email: string): Promise<AccountRecord | undefined>;
  /**
   * Applies `patch` atomically. With `expected`, only if the account's current values equal it
   * (compare-and-set): of several concurrent updates expecting the same values, exactly one
   * succeeds. Returns the updated account, or undefined when it does not exist or did not match.
   * Undefined fields in `patch` and `expected` are ignored.
   */
  update(id: string, patch: AccountPatch, expected?: AccountPatch): Promise<AccountRecord | undefined>;
  list(): Promise<AccountRecord[]>;
  /**
   * Sets (a date) or clears (null) when the account is to be erased; moves neither updatedAt nor
   * profileUpdatedAt. Returns the account after the change, undefined when there is none.
   */
  scheduleDeletion(id: string, deleteAfter: Date | null): Promise<AccountRecord | undefined>;
  /** The ids of at most `limit` accounts whose deletion is due at `now` (deleteAfter <= now), earliest first. */
  dueForDeletion(now: Date, limit: number): Promise<string[]>;
}

/** Whom an erasure is about, and what replaces their account id in the audit trail. */
export type ErasureSubject = {
  accountId: string;
  /** The account's address as stored (compared normalized): mail to it, codes sent to it. */
  email: string;
  /** A keyed hash of the account id (src/libraries/account-deletion.ts): the audit events keep it instead. */
  pseudonym: string;
};

/** How many records each part of the store erased or scrubbed, by table (collection). */
export type ErasureCounts = Record<string, number>;

/**
 * Erasing an account and everything stored about it (src/libraries/account-deletion.ts). Every
 * table (collection) that keeps rows per account does its own part (an eraser next to its store
 * code); this runs them all. SQLite: one transaction. MongoDB: one collection after the other, the
 * account document last, each step idempotent, so an erasure cut short is finished by running it
 * again (the sweeper does, as the account stays due).
 */
export interface AccountErasureStore {
  erase(subject: ErasureSubject): Promise<ErasureCounts>;
}

/** Client metadata in the standard registration names (RFC 7591), plus Gatehouse's own flags. */
export type ClientMetadata = Record<string, unknown> & {
  client_id: string;
  client_name?: string;
  redirect_uris: string[];
  post_logout_redirect_uris?: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: string;
  scope?: string;
  first_party?: boolean;
  pkce_exempt?: boolean;
  require_mfa?: boolean;
  /** Every sign-in to this client needs a phishing-resistant method (a passkey). */
  gatehouse_require_phishing_resistant?: boolean;
};

export type ClientRecord = {
  metadata: ClientMetadata;
  /** Encrypted at rest; undefined for public clients (and for private_key_jwt ones). */
  encryptedSecret?: string;
  /**
   * The secret before the last rotation (`clients rotate-secret --overlap-days`), sealed as
   * `encryptedSecret` is, and when it stops working. Both are absent when there is no overlap.
   */
  previousEncryptedSecret?: string;
  previousSecretExpiresAt?: Date;
  createdAt: Date;
  /**
   * Registered by itself through dynamic client registration (RFC 7591), not by an operator. Such
   * a client may change or delete itself (RFC 7592) and expires once unused for a while.
   */
  dynamic: boolean;
  /** When it was last seen signing people in or calling an endpoint (recorded at most hourly); null: never. */
  lastUsedAt: Date | null;
};

/** What `create` takes: an operator's client is not dynamic, and new clients have not been used. */
export type NewClientRecord = Omit<ClientRecord, 'dynamic' | 'lastUsedAt'> & Partial<Pick<ClientRecord, 'dynamic' | 'lastUsedAt'>>;

export interface ClientStore {
  /** Throws GatehouseError('conflict') when a client with this id exists. `dynamic` defaults to false, `lastUsedAt` to null. */
  create(client: NewClientRecord): Promise<void>;
  find(clientId: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  remove(clientId: string): Promise<boolean>;
  /**
   * Replaces an existing client's metadata and secrets (current and previous, as given: an absent
   * one is removed), keeping its creation time, whether it is dynamic, and its last use (an
   * operator's `clients update` and `clients rotate-secret`). False when there is no such client.
   */
  replace(clientId: string, change: Pick<ClientRecord, 'metadata' | 'encryptedSecret' | 'previousEncryptedSecret' | 'previousSecretExpiresAt'>): Promise<boolean>;
  /**
   * Inserts or replaces a dynamic client (its metadata, secret, createdAt and lastUsedAt, as given):
   * the provider's adapter saving an RFC 7591 registration or an RFC 7592 update. Throws
   * GatehouseError('conflict') when an operator's client has this id (it is never replaced), and
   * GatehouseError('internal') when `record.dynamic` is false. One atomic statement.
   */
  save(record: ClientRecord): Promise<void>;
  /** Sets lastUsedAt to `at` (never moving it back); false when there is no such client. */
  touch(clientId: string, at: Date): Promise<boolean>;
  /**
   * Deletes up to `limit` dynamic clients whose `lastUsedAt ?? createdAt` is before `before`, and
   * returns their ids (the library audits each). One statement.
   */
  removeUnusedDynamic(before: Date, limit: number): Promise<string[]>;
  /**
   * Deletes dynamic clients whose `lastUsedAt ?? createdAt` is before `before`; returns how many.
   * With `limit`, at most that many (one statement); without, in batches until none is left.
   */
  sweepUnusedDynamic(before: Date, limit?: number): Promise<number>;
}

export type ApiRecord = {
  /** The resource indicator (RFC 8707), also the access token audience. */
  identifier: string;
  name?: string;
  scopes: string[];
  signingAlg: 'RS256' | 'ES256';
  accessTokenTtl: number;
  createdAt: Date;
};

export interface ApiStore {
  create(api: ApiRecord): Promise<void>;
  find(identifier: string): Promise<ApiRecord | undefined>;
  list(): Promise<ApiRecord[]>;
  remove(identifier: string): Promise<boolean>;
  /** Replaces an API's name, scopes, algorithm and token lifetime, keeping its creation time; false when there is none. */
  replace(api: Omit<ApiRecord, 'createdAt'>): Promise<boolean>;
}

export type SigningKeyState = 'next' | 'current' | 'retired';

/** One key of the signing key ring (see src/keys/rotation.ts for what the states and dates mean). */
export type SigningKeyRecord = {
  kid: string;
  alg: string;
  state: SigningKeyState;
  /** When it was first published. */
  createdAt: Date;
  /** next keys: when it may start signing. */
  activatesAt?: Date;
  /** current and retired keys: when it started signing. */
  activatedAt?: Date;
  /** retired keys: when it stopped signing. */
  retiredAt?: Date;
  publicJwk: Record<string, unknown>;
  /** The private JWK, encrypted (see src/keys/encryption.ts). */
  encryptedPrivateJwk: string;
};

/** The whole ring with its version; version 0 is the empty ring that was never written. */
export type KeyRing = { version: number; keys: SigningKeyRecord[] };

/**
 * The ring is read and replaced as a whole, with compare-and-set on its version: of several
 * instances deciding to rotate at the same moment, exactly one replaces it.
 */
export interface SigningKeyStore {
  read(): Promise<KeyRing>;
  /** Replaces the ring if its version is still `expectedVersion`; undefined when another writer won. */
  replace(expectedVersion: number, keys: SigningKeyRecord[]): Promise<KeyRing | undefined>;
}

/** One entry of the audit trail. `details` never holds passwords, codes, tokens or secrets. */
export type AuditEvent = {
  at: Date;
  /** What happened, e.g. key_ring_changed, client_added, account_disabled. */
  type: string;
  /** Who did it: `cli` (an operator), `api` (a machine client of the management API: clientId), `system` (Gatehouse itself), or `user`. */
  actor: 'cli' | 'api' | 'system' | 'user';
  accountId?: string;
  clientId?: string;
  sourceAddress?: string;
  details: Record<string, unknown>;
};

export interface AuditStore {
  append(event: AuditEvent): Promise<void>;
  /** The newest `limit` events (optionally of one account), oldest first. */
  tail(options: { limit: number; accountId?: string }): Promise<AuditEvent[]>;
}

export type MailMessage = {
  id: string;
  to: string;
  subject: string;
  text: string;
  html?: string;
  createdAt: Date;
};

export type MailStatus = 'pending' | 'sent' | 'failed';

/** A message in the outgoing queue with its delivery state. */
export type QueuedMail = MailMessage & {
  attempts: number;
  status: MailStatus;
  nextAttemptAt: Date;
  lastError?: string;
};

export type MailQueueStatus = {
  pending: number;
  sent: number;
  failed: number;
  /** When the oldest message still pending was queued (how far behind the queue is); null when none is. */
  oldestPendingAt: Date | null;
  /** The newest permanent failures, newest first. */
  recentFailures: Array<{ id: string; to: string; subject: string; attempts: number; lastError: string; at: Date }>;
};

/**
 * The outgoing mail queue. Messages are claimed with a lease, so several instances polling the
 * same database never send one message at the same time; a lease that expires (the instance died
 * mid-send) makes the message claimable again.
 */
export interface MailStore {
  /** Adds a pending message, due at once. */
  enqueue(message: MailMessage): Promise<void>;
  /**
   * Atomically leases up to `limit` pending messages that are due (`nextAttemptAt <= now`) and not
   * leased (or whose lease has expired) until now + leaseSeconds, and returns them, oldest due first.
   */
  claimDue(now: Date, leaseSeconds: number, limit: number): Promise<QueuedMail[]>;
  /**
   * Renews a lease while its message is being sent: moves `leasedUntil` from `heldUntil` (the
   * lease this instance holds) to `until`. False when that lease is no longer held (the message was
   * sent, failed, or claimed again by another instance after the lease expired).
   */
  extendLease(id: string, heldUntil: Date, until: Date): Promise<boolean>;
  markSent(id: string, at: Date): Promise<void>;
  /** Counts an attempt; with `nextAttemptAt` the message stays pending for a retry, otherwise it fails for good. */
  markFailed(id: string, failure: { at: Date; error: string; nextAttemptAt?: Date }): Promise<void>;
  status(): Promise<MailQueueStatus>;
  /** Counts a message that was never queued (per day, kind and reason). */
  recordDrop(drop: MailDrop): Promise<void>;
  /** How many messages were dropped in all, and the newest counters, newest first. */
  drops(limit: number): Promise<MailDropStatus>;
}

export type MailDropReason = 'budget' | 'coalesced';

/** A message that was not sent: to whom, of which kind (its template), why, when. */
export type MailDrop = { to: string; kind: string; reason: MailDropReason; at: Date };

type MailDropStatus = {
  dropped: number;
  recent: Array<{ day: string; kind: string; reason: MailDropReason; count: number; lastAt: Date; lastRecipient: string }>;
};

/** `sign_in`: the code a sign-in asks for when its address is limited from elsewhere (src/accounts/sign-in-code.ts). */
/**
 * `change_email`: the code and link mailed to a new address (its accountId the account changing);
 * `undo_email_change`: the link mailed to the old address after a change (src/libraries/email-change.ts).
 */
export type OneTimeCodePurpose = 'verify_email' | 'reset_password' | 'sign_in' | 'change_email' | 'undo_email_change';

/**
 * A code mailed to a person: an email verification code (typed by hand) and link, or a password
 * reset link. Only keyed hashes of the secrets are stored (see src/accounts/one-time-codes.ts).
 */
export type OneTimeCodeRecord = {
  id: string;
  purpose: OneTimeCodePurpose;
  /** The normalized address it was sent to. */
  email: string;
  /** Null for a decoy: issued for an address that must not be told apart, it never succeeds. */
  accountId: string | null;
  /** Hash of the code typed by hand; null when there is none (reset links). */
  codeHash: string | null;
  /** Hash of the secret in the link. */
  linkHash: string;
  /** Wrong codes typed so far. */
  attempts: number;
  createdAt: Date;
  expiresAt: Date;
  /** When it was used, or voided by a newer code. */
  consumedAt: Date | null;
};

export interface OneTimeCodeStore {
  /**
   * Stores a new code. A real one (with an account) voids every earlier unconsumed real code of the
   * same email and purpose; a decoy voids nothing, so someone else's attempt never cancels the
   * owner's own pending code.
   */
  issue(record: Omit<OneTimeCodeRecord, 'attempts' | 'consumedAt'>): Promise<void>;
  /** The newest code of this email and purpose, used or not; with `accountId`, only that account's (no decoys). */
  latest(email: string, purpose: OneTimeCodePurpose, accountId?: string): Promise<OneTimeCodeRecord | undefined>;
  find(id: string): Promise<OneTimeCodeRecord | undefined>;
  findByLinkHash(linkHash: string): Promise<OneTimeCodeRecord | undefined>;
  /**
   * Counts one try (atomically) and returns the record after the change. Called before a typed code
   * is judged, so concurrent guesses each take their own attempt.
   */
  recordFailure(id: string): Promise<OneTimeCodeRecord | undefined>;
  /** Marks it used if nobody has yet: of concurrent calls exactly one gets true. */
  consume(id: string, at: Date): Promise<boolean>;
  /**
   * Voids (marks used at `at`) every unused code of this account and purpose, whatever its address:
   * an email change undone must not leave a pending change to another address usable. How many.
   */
  voidForAccount(accountId: string, purpose: OneTimeCodePurpose, at: Date): Promise<number>;
  /** Deletes codes that expired before `before`; returns how many. With `limit`, at most that many. */
  sweep(before: Date, limit?: number): Promise<number>;
}

/** An authenticator app (TOTP, RFC 6238) registered to an account, with its recovery codes. */
export type TotpFactorRecord = {
  accountId: string;
  /** The base32 secret, sealed with AES-256-GCM (src/keys/encryption.ts; the seal names its key). */
  sealedSecret: string;
  /** Null while enrolling: the factor counts only after a first correct code. */
  activatedAt: Date | null;
  /** The newest time step a code was accepted for; later codes must be from a newer step. */
  lastTimeStep: number;
  /** Keyed hashes of the recovery codes; each works once. */
  recoveryCodes: Array<{ hash: string; usedAt: Date | null }>;
  /** Wrong codes since the last right one (limits guessing). */
  failedAttempts: number;
  lastFailureAt: Date | null;
  createdAt: Date;
};

/** Every change that decides whether a code is accepted is one atomic compare-and-set. */
export interface SecondFactorStore {
  find(accountId: string): Promise<TotpFactorRecord | undefined>;
  /** Starts (or restarts) enrolling with a new secret; false when an active factor exists. */
  begin(accountId: string, sealedSecret: string, at: Date): Promise<boolean>;
  /** Activates the enrolling factor whose secret is `sealedSecret`; false when it is no longer the one enrolling. */
  activate(accountId: string, sealedSecret: string, timeStep: number, recoveryCodeHashes: string[], at: Date): Promise<boolean>;
  /** Records an accepted code: true only when `timeStep` is newer than the last accepted one (one winner per step). */
  acceptTimeStep(accountId: string, timeStep: number): Promise<boolean>;
  /** Uses one unused recovery code; true only for the call that used it. */
  useRecoveryCode(accountId: string, hash: string, at: Date): Promise<boolean>;
  /** Replaces every recovery code of the active factor. */
  replaceRecoveryCodes(accountId: string, hashes: string[]): Promise<boolean>;
  /** Counts a wrong code; returns the record after the change. */
  recordFailure(accountId: string, at: Date): Promise<TotpFactorRecord | undefined>;
  /**
   * Reserves a try before the code is checked: counts it as a failure (failedAttempts + 1,
   * lastFailureAt = at) only if failedAttempts is still `seenFailures` (compare-and-set), so of
   * requests racing on one count exactly one gets the try. A right code then clears the failures.
   */
  reserveAttempt(accountId: string, seenFailures: number, at: Date): Promise<boolean>;
  clearFailures(accountId: string): Promise<void>;
  remove(accountId: string): Promise<boolean>;
}

/** Whether a passkey can leave its device (synced by a passkey provider) or is bound to it (a security key). */
export type PasskeyDeviceType = 'singleDevice' | 'multiDevice';

/**
 * A passkey (a WebAuthn public key credential) registered to an account. Only public material is
 * stored: the credential's public key, never a secret (src/libraries/passkeys.ts).
 */
export type PasskeyRecord = {
  /** The credential ID, base64url. */
  id: string;
  accountId: string;
  /** The COSE public key, base64url. */
  publicKey: string;
  /** The authenticator's signature counter at its last accepted use (0 for authenticators that keep none). */
  counter: number;
  /** How the browser may reach the authenticator (usb, nfc, ble, hybrid, internal, …). */
  transports: string[];
  deviceType: PasskeyDeviceType;
  /** Whether the credential is backed up (synced) now; updated at each use. */
  backedUp: boolean;
  /** The authenticator model's AAGUID (all zeroes when the authenticator does not say). */
  aaguid: string;
  /** What the person calls it. */
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
};

/** Each call is one atomic statement. */
export interface PasskeyStore {
  /** Stores a new passkey; false when one with this credential ID exists (of concurrent creates exactly one gets true). */
  create(record: PasskeyRecord): Promise<boolean>;
  find(id: string): Promise<PasskeyRecord | undefined>;
  /** The account's passkeys, oldest first. */
  listForAccount(accountId: string): Promise<PasskeyRecord[]>;
  countForAccount(accountId: string): Promise<number>;
  /**
   * Records an accepted use with compare-and-set on the counter: sets counter = `newCounter`,
   * backedUp and lastUsedAt = `at` only if the counter is still `seenCounter`. Of concurrent uses
   * that saw the same counter (one assertion replayed in a burst), exactly one gets true.
   */
  recordUse(id: string, seenCounter: number, newCounter: number, backedUp: boolean, at: Date): Promise<boolean>;
  /** False when the account has no passkey `id`. */
  rename(accountId: string, id: string, name: string): Promise<boolean>;
  /** False when the account has no passkey `id`. */
  remove(accountId: string, id: string): Promise<boolean>;
  /** Removes every passkey of the account; returns how many. */
  removeAllForAccount(accountId: string): Promise<number>;
}

/** The kinds of upstream identity provider a connection signs people in with. */
export type ConnectionType = 'oidc' | 'google' | 'microsoft' | 'github';

/**
 * A connection to an upstream identity provider ("Sign in with …", src/libraries/connections.ts):
 * where it is, how Gatehouse authenticates to it, and what the operator allows it to do.
 */
export type ConnectionRecord = {
  /** A slug, [a-z0-9-]{1,40}: in addresses and on the command line. */
  id: string;
  type: ConnectionType;
  /** What people see on the button. */
  name: string;
  /** oidc, google, microsoft: the upstream issuer URL (discovery). github: null. */
  issuer: string | null;
  /** microsoft: the tenant (a GUID, or common / organizations / consumers); null otherwise. */
  tenant: string | null;
  clientId: string;
  /** The client secret, sealed (src/keys/encryption.ts) with a context naming the connection; null for none. */
  sealedSecret: string | null;
  /** github: where its endpoints are; null for github.com's own (a stand-in in tests, GitHub Enterprise Server). Null for other types. */
  authorizationUrl: string | null;
  tokenUrl: string | null;
  apiUrl: string | null;
  scopes: string[];
  /** Gatehouse profile claim -> upstream claim, e.g. { name: 'name', picture: 'picture' }. */
  claimMapping: Record<string, string>;
  showOnLoginPage: boolean;
  /** Whether a first sign-in with an unknown identity creates an account (just-in-time). */
  allowNewAccounts: boolean;
  /** Whether the upstream's verified email is enough to link to the account with that email. */
  trustVerifiedEmails: boolean;
  /** Whether the upstream's own MFA counts as Gatehouse's second factor. */
  trustUpstreamMfa: boolean;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
};

/** What `update` may change: any field but the id, the type and the creation time. */
export type ConnectionPatch = Partial<Omit<ConnectionRecord, 'id' | 'type' | 'createdAt'>>;

/** Each call is one atomic statement. */
export interface ConnectionStore {
  /** Throws GatehouseError('conflict') when a connection with this id exists. */
  create(record: ConnectionRecord): Promise<void>;
  find(id: string): Promise<ConnectionRecord | undefined>;
  /** Every connection, oldest first (ties by id). */
  list(): Promise<ConnectionRecord[]>;
  /** Sets the fields present in `patch` (undefined ones are left alone); undefined when there is no such connection. */
  update(id: string, patch: ConnectionPatch): Promise<ConnectionRecord | undefined>;
  remove(id: string): Promise<boolean>;
}

/** An upstream identity (a connection and the upstream's stable id of the person) linked to an account. */
export type LinkedIdentityRecord = {
  connectionId: string;
  /** The upstream's stable user id: `sub`, or GitHub's numeric id as a string. */
  subject: string;
  accountId: string;
  /** The upstream's email when it was linked (for people and support; never used to find the account). */
  email: string | null;
  linkedAt: Date;
  lastUsedAt: Date | null;
};

/** Each call is one atomic statement. (connectionId, subject) is unique. */
export interface LinkedIdentityStore {
  /** Links the identity; false when (connectionId, subject) is linked already, to anyone (of concurrent links of one identity exactly one gets true). */
  link(record: LinkedIdentityRecord): Promise<boolean>;
  find(connectionId: string, subject: string): Promise<LinkedIdentityRecord | undefined>;
  /** The account's linked identities, oldest first. */
  listForAccount(accountId: string): Promise<LinkedIdentityRecord[]>;
  /** How many identities are linked through the connection (left over once it is removed: none). */
  countForConnection(connectionId: string): Promise<number>;
  /** Sets lastUsedAt; false when the identity is not linked. */
  recordUse(connectionId: string, subject: string, at: Date): Promise<boolean>;
  /** False when the identity is not linked to this account. */
  unlink(accountId: string, connectionId: string, subject: string): Promise<boolean>;
  /** Unlinks every identity of the connection; returns how many. */
  removeForConnection(connectionId: string): Promise<number>;
}

export type LogoutDeliveryStatus = 'pending' | 'delivered' | 'failed';

/**
 * A back-channel logout notification (OpenID Connect Back-Channel Logout 1.0) owed to a client:
 * a session of `accountId` ended, and the client knew it as `sid`. The logout token itself is
 * signed at each attempt (src/oidc/backchannel-logout.ts); only who, which session and why are kept.
 */
export type NewLogoutDelivery = {
  id: string;
  clientId: string;
  accountId: string;
  sid: string;
  /** What ended the session: rp_logout, password_reset, password_change, account_disabled, sign_out, … */
  reason: string;
  createdAt: Date;
};

export type LogoutDelivery = NewLogoutDelivery & {
  status: LogoutDeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastError?: string;
  lastAttemptAt?: Date;
};

export type LogoutQueueStatus = {
  pending: number;
  delivered: number;
  failed: number;
  /** The newest deliveries whose last attempt failed (retrying, or given up), newest first. */
  recentFailures: LogoutDelivery[];
};

/**
 * The queue of back-channel logout notifications, like the mail queue: claimed with a lease, so
 * several instances never deliver one at the same time, retried with backoff, given up after a
 * number of attempts. (clientId, sid) is unique: one session's end is owed to a client once.
 */
export interface LogoutDeliveryStore {
  /** Adds a pending delivery, due at once; false (nothing added) when one for (clientId, sid) exists. */
  enqueue(delivery: NewLogoutDelivery): Promise<boolean>;
  /**
   * Atomically leases up to `limit` pending deliveries that are due (`nextAttemptAt <= now`) and not
   * leased (or whose lease expired) until now + leaseSeconds, and returns them, oldest due first.
   * Of concurrent claimers, each delivery goes to one.
   */
  claimDue(now: Date, leaseSeconds: number, limit: number): Promise<LogoutDelivery[]>;
  markDelivered(id: string, at: Date): Promise<void>;
  /** Counts an attempt; with `nextAttemptAt` it stays pending for a retry, otherwise it fails for good. */
  markFailed(id: string, failure: { at: Date; error: string; nextAttemptAt?: Date }): Promise<void>;
  /** Counts by status and the newest `recentLimit` failures. */
  status(recentLimit: number): Promise<LogoutQueueStatus>;
  /** Deletes up to `limit` delivered or failed deliveries created before `before`; returns how many. */
  prune(before: Date, limit: number): Promise<number>;
}

/** A counter with an expiry, as rate-limiter-flexible keeps them (src/limits/). */
export type RateLimitCounter = { points: number; expiresAt: Date | null };

/**
 * Counters shared by every instance, so all of them agree on who is being limited. Each change is
 * one atomic statement: concurrent requests never lose a point.
 */
export interface RateLimitStore {
  /**
   * Adds `points` to the counter. A missing or expired counter starts again at `points`, expiring
   * `durationMs` from `now` (never, with 0). `forceExpire` sets both the points and the expiry.
   */
  add(key: string, points: number, durationMs: number, now: Date, forceExpire: boolean): Promise<RateLimitCounter>;
  /** The counter, unless missing or expired. */
  get(key: string, now: Date): Promise<RateLimitCounter | undefined>;
  delete(key: string): Promise<boolean>;
  /** Deletes expired counters; returns how many. With `limit`, at most that many. */
  sweep(now: Date, limit?: number): Promise<number>;
}

/**
 * Named leases shared by every instance, so a chore (the sweeper) runs on one instance at a time.
 * A lease has one holder until it expires; an instance that dies holding it blocks the chore only
 * until then.
 */
export interface LeaseStore {
  /**
   * Takes the lease `name` for `holder` until `until`, or renews it, in one atomic compare-and-set:
   * true when it was free, expired at `now`, or already held by `holder`; false when another
   * holder has it. Of concurrent callers exactly one gets true.
   */
  acquire(name: string, holder: string, now: Date, until: Date): Promise<boolean>;
  /** Gives the lease up, if `holder` still holds it. */
  release(name: string, holder: string): Promise<void>;
}

/**
 * A browser session as the account centre shows it (src/libraries/devices.ts): the provider's
 * Session (its id, the `jti`) seen from which browser and address, how it signed in, first and
 * last seen (written at most once a minute per session). A row lives as long as its session:
 * `expiresAt` follows the session's, the sweeper removes it after, and ending the session removes it.
 */
export type SessionActivity = {
  sessionId: string;
  accountId: string;
  userAgent: string | null;
  sourceAddress: string | null;
  /** The session's sign-in methods (RFC 8176 amr). */
  amr: string[];
  firstSeenAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
};

/**
 * A client a person has used, per (account, client): the consent they gave it, kept until they
 * remove the app on their account page (remembered consent: a new sign-in reuses it), and when it
 * was last used (tokens issued for it, written at most once a minute).
 */
export type AppConsent = {
  accountId: string;
  clientId: string;
  /** Whether a consent is remembered (false: only its use is recorded, e.g. a first-party client). */
  remembered: boolean;
  /** The OpenID Connect scopes consented to, space-separated. */
  scope: string;
  /** The claims consented to by name (the claims parameter). */
  claims: string[];
  /** The API scopes consented to, by resource indicator, space-separated. */
  resourceScopes: Record<string, string>;
  /** When consent was first given (null: never remembered). */
  grantedAt: Date | null;
  lastUsedAt: Date | null;
};

/** What is remembered of a consent: replaces the previous one of the (account, client); `at` becomes grantedAt the first time. */
export type RememberedConsent = { accountId: string; clientId: string; scope: string; claims: string[]; resourceScopes: Record<string, string>; at: Date };

/** Sessions seen (devices) and apps used (remembered consent, last use) of accounts: the account centre's records. */
export interface SessionActivityStore {
  /** Inserts or updates a session's row; firstSeenAt stays the first write's. */
  recordSession(activity: SessionActivity): Promise<void>;
  /** The account's rows not expired at `now`, most recently seen first. */
  listSessions(accountId: string, now: Date): Promise<SessionActivity[]>;
  /** Removes one session's row (only the account's); true if there was one. */
  removeSession(accountId: string, sessionId: string): Promise<boolean>;
  /** Removes the account's rows, but `exceptSessionId`'s; returns how many. */
  removeSessions(accountId: string, exceptSessionId?: string): Promise<number>;
  /** Deletes up to `limit` rows expired at `now`; returns how many. */
  sweepSessions(now: Date, limit: number): Promise<number>;
  /** Remembers (replaces) the consent of an (account, client); keeps the first grantedAt and the last use. */
  rememberConsent(consent: RememberedConsent): Promise<void>;
  findApp(accountId: string, clientId: string): Promise<AppConsent | undefined>;
  /** The account's apps (remembered or only used), most recently used or granted first, at most `limit`. */
  listApps(accountId: string, limit: number): Promise<AppConsent[]>;
  /** Records that an (account, client) was used at `at` (creating its row, not remembered, if none). */
  recordAppUse(accountId: string, clientId: string, at: Date): Promise<void>;
  /** Forgets an app of an account (its consent and use); true if there was a row. */
  forgetApp(accountId: string, clientId: string): Promise<boolean>;
  /** Removes every row of the account, sessions and apps (account erasure); returns how many. */
  forgetAccount(accountId: string): Promise<number>;
}

/** Why the store cannot write right now, as /readyz names it. */
export type StoreWriteFailure = 'read-only database' | 'disk full' | 'database locked' | 'no writable primary' | 'I/O error' | 'unreachable' | 'write failed';

/** What a write probe found out when the write did not go through. */
export type StoreWriteProblem = { reason: StoreWriteFailure; message: string };

/**
 * The browsers an account has signed in from (src/libraries/security-notifications.ts): each a keyed
 * hash of the random id in the browser's long-lived device cookie, never the id itself.
 */
export interface KnownDeviceStore {
  /**
   * Records a sign-in of this account from this device at `at` (first and last seen). Tells whether
   * the device was known before and how many other devices the account had then.
   */
  remember(accountId: string, deviceHash: string, at: Date): Promise<{ known: boolean; others: number }>;
  /** The account's devices, most recently seen first. */
  list(accountId: string): Promise<Array<{ deviceHash: string; firstSeenAt: Date; lastSeenAt: Date }>>;
  /** Forgets every device of the account (its erasure); returns how many. */
  removeForAccount(accountId: string): Promise<number>;
}

/** A registered webhook endpoint (src/libraries/webhooks.ts): where events go, which, and the sealed signing secret. */
export type WebhookRecord = {
  id: string;
  url: string;
  /** Public event names (user.created, …); `['*']` for every event but the webhook.* ones. */
  events: string[];
  /** The signing secret, sealed with KEY_ENCRYPTION_KEY (src/keys/encryption.ts). */
  sealedSecret: string;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
};

/** The registered webhooks. Each call is one atomic statement. */
export interface WebhookStore {
  /** Throws GatehouseError('conflict') when the id is taken. */
  add(record: WebhookRecord): Promise<void>;
  find(id: string): Promise<WebhookRecord | undefined>;
  /** Every webhook, oldest first. */
  list(): Promise<WebhookRecord[]>;
  /** Changes the fields given; the webhook after, undefined when there is none. */
  update(id: string, patch: Partial<Pick<WebhookRecord, 'enabled' | 'sealedSecret' | 'events' | 'url'>>, at: Date): Promise<WebhookRecord | undefined>;
  /** False when there was none. Its deliveries stay (the worker gives pending ones up). */
  remove(id: string): Promise<boolean>;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One event owed to one webhook. `id` is the idempotency key the receiver sees (Gatehouse-Delivery). */
export type NewWebhookDelivery = {
  id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  /** The exact JSON body POSTed at every attempt (only the signature's timestamp changes). */
  payload: string;
  /** The account the event is about, if any: an account's erasure can find its deliveries. */
  accountId?: string;
  createdAt: Date;
};

export type WebhookDelivery = NewWebhookDelivery & {
  status: WebhookDeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastError?: string;
  /** The HTTP status of the last answer, when there was one. */
  lastStatusCode?: number;
  lastAttemptAt?: Date;
  deliveredAt?: Date;
};

export type WebhookQueueStatus = {
  pending: number;
  delivered: number;
  failed: number;
  /** When the oldest pending delivery was queued; undefined when none is pending. */
  oldestPendingAt?: Date;
};

/**
 * The durable queue of webhook deliveries, like the back-channel logout queue: claimed with a
 * lease so several instances never deliver one at the same time, retried with backoff, given up
 * after a number of attempts, pruned once old.
 */
export interface WebhookDeliveryStore {
  /** Adds pending deliveries, due at once, in one write; an id already queued is left as it is. Returns how many were added. */
  enqueue(deliveries: NewWebhookDelivery[]): Promise<number>;
  /**
   * Atomically leases up to `limit` pending deliveries that are due and not leased (or whose lease
   * expired) until now + leaseSeconds, oldest due first. Of concurrent claimers, each goes to one.
   */
  claimDue(now: Date, leaseSeconds: number, limit: number): Promise<WebhookDelivery[]>;
  markDelivered(id: string, attempt: { at: Date; statusCode: number }): Promise<void>;
  /** Counts an attempt; with `nextAttemptAt` it stays pending for a retry, otherwise it fails for good. */
  markFailed(id: string, failure: { at: Date; error: string; statusCode?: number; nextAttemptAt?: Date }): Promise<void>;
  /** Makes a delivery pending and due at `now` again, whatever its status (attempts kept); false when there is none. */
  requeue(id: string, now: Date): Promise<boolean>;
  find(id: string): Promise<WebhookDelivery | undefined>;
  /** The newest deliveries first, optionally of one webhook and one status. */
  list(filter: { webhookId?: string; status?: WebhookDeliveryStatus; limit: number }): Promise<WebhookDelivery[]>;
  status(): Promise<WebhookQueueStatus>;
  /** Deletes up to `limit` delivered or failed deliveries created before `before`; returns how many. */
  prune(before: Date, limit: number): Promise<number>;
}

export interface Store {
  readonly kind: 'sqlite' | 'mongodb';
  /** Resolves when the database answers; throws GatehouseError('store_unavailable') otherwise. */
  ping(): Promise<void>;
  /**
   * Proves the store can write now: one tiny upsert into a one-row table (collection) of its own.
   * Resolves undefined when it went through, otherwise with why not; never throws. A write, so
   * callers rate-limit it (src/health.ts). A SQLite store whose connection was opened read-only
   * reopens it here once the file is writable again, so it recovers without a restart.
   */
  probeWrite(): Promise<StoreWriteProblem | undefined>;
  /** Brings the schema (tables, indexes) up to date. Idempotent; safe from several processes. */
  migrate(): Promise<void>;
  /** What `migrate` would still create (index or migration names); empty when up to date. */
  pendingMigrations(): Promise<string[]>;
  readonly oidc: OidcStore;
  readonly accounts: AccountStore;
  readonly clients: ClientStore;
  readonly apis: ApiStore;
  readonly signingKeys: SigningKeyStore;
  readonly audit: AuditStore;
  readonly mail: MailStore;
  readonly logoutDeliveries: LogoutDeliveryStore;
  readonly codes: OneTimeCodeStore;
  readonly secondFactors: SecondFactorStore;
  readonly passkeys: PasskeyStore;
  readonly connections: ConnectionStore;
  readonly linkedIdentities: LinkedIdentityStore;
  readonly rateLimits: RateLimitStore;
  readonly leases: LeaseStore;
  readonly accountErasure: AccountErasureStore;
  readonly knownDevices: KnownDeviceStore;
  readonly sessionActivity: SessionActivityStore;
  readonly webhooks: WebhookStore;
  readonly webhookDeliveries: WebhookDeliveryStore;
  close(): Promise<void>;
}
