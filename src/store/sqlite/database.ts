import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { GatehouseError } from '../../errors.ts';

/**
 * Schema migrations, applied in order by `migrateSchema` (`gatehouse db migrate`; in development and
 * test also when the file is opened). The database's `user_version` pragma records how many have
 * run; `name` is what `db status` lists while a step is pending. Append new steps; never edit a
 * released one.
 */
const migrations: ReadonlyArray<{ name: string; sql: string }> = [
  { name: '0001_initial', sql: `
  CREATE TABLE oidc_models (
    model TEXT NOT NULL,
    id TEXT NOT NULL,
    payload TEXT NOT NULL,
    grant_id TEXT,
    user_code TEXT,
    uid TEXT,
    account_id TEXT,
    expires_at INTEGER,
    PRIMARY KEY (model, id)
  ) STRICT;
  CREATE INDEX oidc_models_grant_id ON oidc_models (grant_id) WHERE grant_id IS NOT NULL;
  CREATE INDEX oidc_models_uid ON oidc_models (model, uid) WHERE uid IS NOT NULL;
  CREATE INDEX oidc_models_user_code ON oidc_models (model, user_code) WHERE user_code IS NOT NULL;
  CREATE INDEX oidc_models_account_id ON oidc_models (account_id) WHERE account_id IS NOT NULL;
  CREATE INDEX oidc_models_expires_at ON oidc_models (expires_at) WHERE expires_at IS NOT NULL;

  CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    email_normalized TEXT NOT NULL UNIQUE,
    password_hash TEXT,
    email_verified INTEGER NOT NULL DEFAULT 0,
    profile TEXT NOT NULL DEFAULT '{}',
    roles TEXT NOT NULL DEFAULT '[]',
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    metadata TEXT NOT NULL,
    encrypted_secret TEXT,
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE apis (
    identifier TEXT PRIMARY KEY,
    name TEXT,
    scopes TEXT NOT NULL,
    signing_alg TEXT NOT NULL,
    access_token_ttl INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    state TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    encrypted_private_jwk TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  ` },
  // At most one current signing key per algorithm, so instances starting together on an empty
  // database cannot each add their own.
  { name: '0002_one_current_signing_key', sql: `
  CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (alg) WHERE state = 'current';
  ` },
  // The key ring becomes one versioned row, replaced whole with compare-and-set (key rotation).
  { name: '0003_key_ring', sql: `
  CREATE TABLE key_ring (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    keys TEXT NOT NULL
  ) STRICT;
  INSERT INTO key_ring (id, version, keys)
    SELECT 1, 1, json_group_array(json_object(
      'kid', kid, 'alg', alg, 'state', state, 'createdAt', created_at, 'activatedAt', created_at,
      'publicJwk', json(public_jwk), 'encryptedPrivateJwk', encrypted_private_jwk))
    FROM signing_keys HAVING count(*) > 0;
  DROP TABLE signing_keys;
  ` },
  { name: '0004_audit_events', sql: `
  CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    type TEXT NOT NULL,
    actor TEXT NOT NULL,
    account_id TEXT,
    client_id TEXT,
    source_address TEXT,
    details TEXT NOT NULL
  ) STRICT;
  CREATE INDEX audit_events_account ON audit_events (account_id, seq) WHERE account_id IS NOT NULL;
  ` },
  // The outgoing mail queue (src/mail/mailer.ts); leased_until keeps two instances from sending
  // the same message at once.
  { name: '0005_mail_queue', sql: `
  CREATE TABLE mail_queue (
    id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text TEXT NOT NULL,
    html TEXT,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    leased_until INTEGER,
    last_error TEXT,
    last_attempt_at INTEGER
  ) STRICT;
  CREATE INDEX mail_queue_due ON mail_queue (status, next_attempt_at);
  ` },
  // Email verification codes and password reset links (src/accounts/one-time-codes.ts).
  { name: '0006_one_time_codes', sql: `
  CREATE TABLE one_time_codes (
    id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    email TEXT NOT NULL,
    account_id TEXT,
    code_hash TEXT,
    link_hash TEXT NOT NULL UNIQUE,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    consumed_at INTEGER
  ) STRICT;
  CREATE INDEX one_time_codes_email ON one_time_codes (email, purpose, created_at);
  CREATE INDEX one_time_codes_expires_at ON one_time_codes (expires_at);
  ` },
  // Authenticator apps (TOTP) and their recovery codes (src/accounts/second-factor.ts).
  { name: '0007_totp_factors', sql: `
  CREATE TABLE totp_factors (
    account_id TEXT PRIMARY KEY,
    sealed_secret TEXT NOT NULL,
    activated_at INTEGER,
    last_time_step INTEGER NOT NULL DEFAULT 0,
    recovery_codes TEXT NOT NULL DEFAULT '[]',
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    last_failure_at INTEGER,
    created_at INTEGER NOT NULL
  ) STRICT;
  ` },
  // Rate limiter counters shared by every instance (src/limits/).
  { name: '0008_rate_limits', sql: `
  CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    points INTEGER NOT NULL,
    expires_at INTEGER
  ) STRICT;
  CREATE INDEX rate_limits_expires_at ON rate_limits (expires_at) WHERE expires_at IS NOT NULL;
  ` },
  // One row the readiness probe rewrites to prove the database takes writes (src/health.ts).
  { name: '0009_write_probe', sql: `
  CREATE TABLE write_probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at INTEGER NOT NULL
  ) STRICT;
  ` },
  // Mail that was never queued (a recipient's budget spent, a notice coalesced), counted per day,
  // kind and reason: a flood of drops adds to a counter, not rows (src/mail/outbox.ts).
  { name: '0010_mail_drops', sql: `
  CREATE TABLE mail_drops (
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    count INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    last_recipient TEXT NOT NULL,
    PRIMARY KEY (day, kind, reason)
  ) STRICT;
  ` },
  // Named leases (src/sweeper.ts): a chore such as sweeping runs on one instance at a time.
  { name: '0011_leases', sql: `
  CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  ` },
  // Passkeys (WebAuthn credentials) of accounts (src/libraries/passkeys.ts): public keys only.
  { name: '0012_passkeys', sql: `
  CREATE TABLE passkeys (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    counter INTEGER NOT NULL,
    transports TEXT NOT NULL DEFAULT '[]',
    device_type TEXT NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
    backed_up INTEGER NOT NULL,
    aaguid TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
  ) STRICT;
  CREATE INDEX passkeys_account ON passkeys (account_id, created_at);
  ` },
  // Connections to upstream identity providers and the identities linked through them
  // (src/libraries/connections.ts, linked-identities.ts). Client secrets are sealed.
  { name: '0013_connections', sql: `
  CREATE TABLE connections (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL CHECK (type IN ('oidc', 'google', 'microsoft', 'github')),
    name TEXT NOT NULL,
    issuer TEXT,
    tenant TEXT,
    client_id TEXT NOT NULL,
    sealed_secret TEXT,
    authorization_url TEXT,
    token_url TEXT,
    api_url TEXT,
    scopes TEXT NOT NULL DEFAULT '[]',
    claim_mapping TEXT NOT NULL DEFAULT '{}',
    show_on_login_page INTEGER NOT NULL,
    allow_new_accounts INTEGER NOT NULL,
    trust_verified_emails INTEGER NOT NULL,
    trust_upstream_mfa INTEGER NOT NULL,
    disabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE linked_identities (
    connection_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    account_id TEXT NOT NULL,
    email TEXT,
    linked_at INTEGER NOT NULL,
    last_used_at INTEGER,
    PRIMARY KEY (connection_id, subject)
  ) STRICT;
  CREATE INDEX linked_identities_account ON linked_identities (account_id, linked_at);
  ` },
  // Clients that registered themselves (RFC 7591) and when clients were last used: unused dynamic
  // clients expire (src/libraries/clients.ts). Every existing client is an operator's.
  { name: '0014_dynamic_clients', sql: `
  ALTER TABLE clients ADD COLUMN dynamic INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE clients ADD COLUMN last_used_at INTEGER;
  CREATE INDEX clients_dynamic_unused ON clients (coalesce(last_used_at, created_at)) WHERE dynamic = 1;
  ` },
  // A client's secret before its last rotation, working until it expires (clients rotate-secret).
  { name: '0015_client_previous_secret', sql: `
  ALTER TABLE clients ADD COLUMN previous_encrypted_secret TEXT;
  ALTER TABLE clients ADD COLUMN previous_secret_expires_at INTEGER;
  ` },
  // Back-channel logout notifications owed to clients (src/libraries/sessions.ts), delivered by a
  // worker with retries (src/oidc/backchannel-logout.ts); leased_until as in mail_queue.
  { name: '0016_logout_deliveries', sql: `
  CREATE TABLE logout_deliveries (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    sid TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    leased_until INTEGER,
    last_error TEXT,
    last_attempt_at INTEGER,
    UNIQUE (client_id, sid)
  ) STRICT;
  CREATE INDEX logout_deliveries_due ON logout_deliveries (status, next_attempt_at);
  CREATE INDEX logout_deliveries_failures ON logout_deliveries (last_attempt_at) WHERE last_error IS NOT NULL AND status <> 'delivered';
  CREATE INDEX logout_deliveries_created ON logout_deliveries (created_at) WHERE status <> 'pending';
  ` },
  // When a person's information last changed (the updated_at claim), apart from updated_at, which
  // a password change moves too. Existing accounts start from updated_at: the value their
  // updated_at claim had until now, never earlier than their last real change.
  { name: '0017_profile_updated_at', sql: `
  ALTER TABLE accounts ADD COLUMN profile_updated_at INTEGER;
  UPDATE accounts SET profile_updated_at = updated_at;
  ` },
  // The account centre (src/libraries/devices.ts): each browser session as seen (device, address,
  // sign-in methods, first and last seen; a row expires with its session), and per account and
  // client the remembered consent and when the client was last used.
  { name: '0018_session_activity', sql: `
  CREATE TABLE session_activity (
    session_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    user_agent TEXT,
    source_address TEXT,
    amr TEXT NOT NULL DEFAULT '[]',
    first_seen_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX session_activity_account_id ON session_activity (account_id);
  CREATE INDEX session_activity_expires_at ON session_activity (expires_at);
  CREATE TABLE app_consents (
    account_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    remembered INTEGER NOT NULL DEFAULT 0,
    scope TEXT NOT NULL DEFAULT '',
    claims TEXT NOT NULL DEFAULT '[]',
    resource_scopes TEXT NOT NULL DEFAULT '{}',
    granted_at INTEGER,
    last_used_at INTEGER,
    PRIMARY KEY (account_id, client_id)
  ) STRICT;
  ` },
  // The browsers each account signed in from, by a keyed hash of their device cookie's random id:
  // a sign-in from one not seen before is told to the person (src/libraries/security-notifications.ts).
  { name: '0019_known_devices', sql: `
  CREATE TABLE known_devices (
    account_id TEXT NOT NULL,
    device_hash TEXT NOT NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, device_hash)
  );
  ` },
  // A person's request to delete their account waits out a grace period: when it is erased
  // (src/libraries/account-deletion.ts); the sweeper finds the due ones through the index.
  { name: '0020_account_deletion', sql: `
  ALTER TABLE accounts ADD COLUMN delete_after INTEGER;
  CREATE INDEX accounts_delete_after ON accounts (delete_after) WHERE delete_after IS NOT NULL;
  ` },
  // Webhooks (src/libraries/webhooks.ts): registered endpoints, and the durable queue of signed
  // deliveries owed to them (one per event and webhook; its id is the idempotency key), delivered by
  // a worker on every instance with retries; leased_until as in logout_deliveries.
  { name: '0021_webhooks', sql: `
  CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    sealed_secret TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    account_id TEXT,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    leased_until INTEGER,
    last_error TEXT,
    last_status_code INTEGER,
    last_attempt_at INTEGER,
    delivered_at INTEGER
  ) STRICT;
  CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
  CREATE INDEX webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
  CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
  CREATE INDEX webhook_deliveries_account ON webhook_deliveries (account_id) WHERE account_id IS NOT NULL;
  ` },
];

export const schemaVersion = migrations.length;

/** What the WAL file is truncated to after a checkpoint: twice what the automatic checkpoint (1000 pages) lets it reach. */
export const walSizeLimitBytes = 8 * 1024 * 1024;

/**
 * Opens (creating if needed) the SQLite file; with `migrate`, brings its schema up to date too.
 * Without, the schema is left as it is: production changes it only through `gatehouse db migrate`.
 */
export function openDatabase(path: string, options: { migrate: boolean }): DatabaseSync {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (error) {
    throw new GatehouseError('store_unavailable', 'store.cannot_open_sqlite_database', { path, value1: (error as Error).message }, { cause: error });
  }
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    refuseNewerSchema(db, path);
    // The CLI and other instances write to the same file while the server runs: WAL lets readers
    // and one writer work side by side, and busy_timeout waits for a lock instead of failing.
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = NORMAL');
    // The WAL grows while readers keep a checkpoint from reaching its end (and during big
    // transactions); once it is reset, it is truncated back to this size instead of keeping its peak.
    db.exec(`PRAGMA journal_size_limit = ${walSizeLimitBytes}`);
    db.exec('PRAGMA foreign_keys = ON');
    if (options.migrate) migrateSchema(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function readVersion(db: DatabaseSync): number {
  return (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
}

/** Checked before anything touches the file: a database from a newer Gatehouse is left as it is. */
function refuseNewerSchema(db: DatabaseSync, path: string): void {
  const current = readVersion(db);
  if (current > migrations.length) {
    throw new GatehouseError(
      'store_unavailable',
      'store.database_has_schema_version_newer', { path, current, length: migrations.length },
    );
  }
}

/** The names of the migrations this file has not had yet, in the order `migrateSchema` applies them. */
export function pendingSchemaMigrations(db: DatabaseSync): string[] {
  return migrations.slice(readVersion(db)).map((migration) => migration.name);
}

/**
 * Applies the pending migrations. Idempotent; safe from several processes at once. `upTo` stops at
 * an older schema version: tests build the file an older Gatehouse left with it.
 */
export function migrateSchema(db: DatabaseSync, upTo: number = migrations.length): void {
  const current = readVersion(db);
  for (let version = current; version < Math.min(upTo, migrations.length); version += 1) {
    // BEGIN IMMEDIATE takes the write lock first, so two processes starting together cannot both
    // run the same step; the loser re-reads the version inside the transaction and skips.
    db.exec('BEGIN IMMEDIATE');
    try {
      if (readVersion(db) === version) {
        db.exec(migrations[version]!.sql);
        db.exec(`PRAGMA user_version = ${version + 1}`);
      }
      db.exec('COMMIT');
    } catch (error) {
      rollback(db);
      throw error;
    }
  }
}

/**
 * Ends a failed transaction. After SQLITE_FULL or an I/O error SQLite may have rolled back by
 * itself; a ROLLBACK then fails, and its error would hide the one that says what went wrong.
 */
function rollback(db: DatabaseSync): void {
  if (db.isTransaction) db.exec('ROLLBACK');
}

/** Runs `work` in one write transaction. */
export function transaction<T>(db: DatabaseSync, work: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    rollback(db);
    throw error;
  }
}
