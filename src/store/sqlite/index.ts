import { accessSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';

import { GatehouseError } from '../../errors.ts';
import type { ModelStore, OidcStore, Store, StoreWriteFailure, StoreWriteProblem } from '../types.ts';
import { createSqliteAccountErasureStore } from './account-erasure.ts';
import { createSqliteKnownDeviceStore } from './known-devices.ts';
import { createSqliteAccountStore } from './accounts.ts';
import { createSqliteAuditStore } from './audit.ts';
import { createSqliteApiStore } from './apis.ts';
import { createSqliteClientStore } from './clients.ts';
import { createSqliteConnectionStore } from './connections.ts';
import { migrateSchema, openDatabase, pendingSchemaMigrations } from './database.ts';
import { createSqliteLeaseStore } from './leases.ts';
import { createSqliteLinkedIdentityStore } from './linked-identities.ts';
import { createSqliteLogoutDeliveryStore } from './logout-deliveries.ts';
import { createSqliteMailStore } from './mail.ts';
import { createSqliteOneTimeCodeStore } from './one-time-codes.ts';
import { createSqliteOidcStore } from './oidc-models.ts';
import { createSqlitePasskeyStore } from './passkeys.ts';
import { createSqliteRateLimitStore } from './rate-limits.ts';
import { createSqliteSecondFactorStore } from './second-factors.ts';
import { createSqliteSessionActivityStore } from './session-activity.ts';
import { createSqliteSigningKeyStore } from './signing-keys.ts';
import { createSqliteWebhookDeliveryStore, createSqliteWebhookStore } from './webhooks.ts';

/** SQLite's primary result codes that say why a write failed (https://sqlite.org/rescode.html). */
const failureByResultCode = new Map<number, StoreWriteFailure>([
  [5, 'database locked'], // SQLITE_BUSY
  [6, 'database locked'], // SQLITE_LOCKED
  [8, 'read-only database'], // SQLITE_READONLY, also when the file was replaced under the connection
  [10, 'I/O error'], // SQLITE_IOERR
  [13, 'disk full'], // SQLITE_FULL
  [14, 'unreachable'], // SQLITE_CANTOPEN
]);

function writeFailure(error: unknown): StoreWriteFailure {
  const { errcode, code } = (error ?? {}) as { errcode?: unknown; code?: unknown };
  if (typeof errcode === 'number') return failureByResultCode.get(errcode & 0xff) ?? 'write failed';
  // node:sqlite's answer once the connection is closed.
  return code === 'ERR_INVALID_STATE' ? 'unreachable' : 'write failed';
}

/** A connection is reopened after these: a fresh one may well write (see `reopen`). */
const reopenAfter = new Set<StoreWriteFailure>(['read-only database', 'I/O error', 'unreachable']);

/**
 * An object whose methods run on whatever `current()` is when they are called: the stores handed
 * out keep working after the connection under them was replaced. When `current()` throws (the
 * schema is not migrated yet), a method rejects with its error, as the async method would.
 */
function following<T extends object>(current: () => T, fixed: Partial<T> = {}): T {
  // Methods are bound once per connection's store, not on every call (these are hot paths).
  let boundTo: T | undefined;
  let bound = new Map<PropertyKey, unknown>();
  return new Proxy(fixed as T, {
    get(_fixed, property) {
      if (Object.hasOwn(fixed, property)) return (fixed as Record<PropertyKey, unknown>)[property];
      let target: T;
      try {
        target = current();
      } catch (error) {
        // Not for `then`: the proxy itself must not look like a promise.
        return typeof property === 'string' && property !== 'then' ? () => Promise.reject(error) : undefined;
      }
      if (target !== boundTo) [boundTo, bound] = [target, new Map()];
      if (bound.has(property)) return bound.get(property);
      const value: unknown = Reflect.get(target, property);
      const result = typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      bound.set(property, result);
      return result;
    },
  });
}

/**
 * The stores bound to one connection: their prepared statements name the schema's tables, so they
 * are built only once the schema is up to date.
 */
function connect(db: DatabaseSync, clock: () => number) {
  return {
    oidc: createSqliteOidcStore(db, clock),
    models: new Map<string, ModelStore>(),
    accounts: createSqliteAccountStore(db, clock),
    clients: createSqliteClientStore(db),
    apis: createSqliteApiStore(db),
    signingKeys: createSqliteSigningKeyStore(db),
    audit: createSqliteAuditStore(db),
    mail: createSqliteMailStore(db),
    logoutDeliveries: createSqliteLogoutDeliveryStore(db),
    codes: createSqliteOneTimeCodeStore(db),
    secondFactors: createSqliteSecondFactorStore(db),
    passkeys: createSqlitePasskeyStore(db),
    connections: createSqliteConnectionStore(db),
    linkedIdentities: createSqliteLinkedIdentityStore(db),
    rateLimits: createSqliteRateLimitStore(db),
    leases: createSqliteLeaseStore(db),
    webhooks: createSqliteWebhookStore(db),
    webhookDeliveries: createSqliteWebhookDeliveryStore(db),
    accountErasure: createSqliteAccountErasureStore(db),
    knownDevices: createSqliteKnownDeviceStore(db),
    sessionActivity: createSqliteSessionActivityStore(db),
    probe: db.prepare('INSERT INTO write_probe (id, probed_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at'),
  };
}

/** Whether this process may write the file and create files next to it (-wal, -shm) now. */
function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    accessSync(dirname(path), constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens the SQLite file at `path`. With `migrate` (the default), its schema is brought up to date
 * at once, and again when a connection is reopened. Without (production, see openStore), the file
 * is left as it is: `pendingMigrations` lists what `migrate` would apply, and until it has, every
 * read and write fails with migration_required, as start-up does.
 */
export function openSqliteStore(path: string, clock: () => number = Date.now, options: { migrate?: boolean } = {}): Store {
  const migrateOnOpen = options.migrate ?? true;
  let db = openDatabase(path, { migrate: migrateOnOpen });
  // Prepared once and kept: /readyz is polled by orchestrators. It names no table, so `db status` pings before `db migrate` too.
  let ping = db.prepare('SELECT 1');
  let stores: ReturnType<typeof connect> | undefined;
  let closed = false;

  /** The stores on the open connection, built on first use once the schema is up to date. */
  function current(): ReturnType<typeof connect> {
    if (stores) return stores;
    const pending = pendingSchemaMigrations(db);
    if (pending.length) throw new GatehouseError('migration_required', 'server.database_missing_run_npx_gatehouse', { value1: pending.join(', ') });
    return (stores = connect(db, clock));
  }

  function tryWrite(): StoreWriteProblem | undefined {
    try {
      current().probe.run(clock());
      return undefined;
    } catch (error) {
      const reason = writeFailure(error);
      return { reason, message: `cannot write to SQLite database ${path} (${reason}): ${(error as Error).message}` };
    }
  }

  /**
   * A connection opened while the file was read-only stays read-only for good, even once the file
   * is writable again (and so does one whose file was replaced). Once the file is writable, it is
   * replaced by a fresh one. The old one is closed first: a second connection in this process
   * would share its read-only view of the WAL index. Statements run synchronously, so no request
   * is between two statements of a transaction at this point. True when a new connection is open.
   */
  function reopen(): boolean {
    if (closed || path === ':memory:' || !writable(path)) return false;
    if (db.isOpen) db.close();
    try {
      db = openDatabase(path, { migrate: migrateOnOpen });
      stores = undefined;
      ping = db.prepare('SELECT 1');
      return true;
    } catch {
      // Left closed: requests fail as "unreachable" and the next probe tries again.
      return false;
    }
  }

  const oidc = following<OidcStore>(() => current().oidc, {
    // The provider's adapters keep the model store they were given: it follows reopening too.
    model: (name: string) => following<ModelStore>(() => {
      const { models, oidc: store } = current();
      let model = models.get(name);
      if (!model) models.set(name, (model = store.model(name)));
      return model;
    }),
  });

  return {
    kind: 'sqlite',
    oidc,
    accounts: following(() => current().accounts),
    clients: following(() => current().clients),
    apis: following(() => current().apis),
    signingKeys: following(() => current().signingKeys),
    audit: following(() => current().audit),
    mail: following(() => current().mail),
    logoutDeliveries: following(() => current().logoutDeliveries),
    codes: following(() => current().codes),
    secondFactors: following(() => current().secondFactors),
    passkeys: following(() => current().passkeys),
    connections: following(() => current().connections),
    linkedIdentities: following(() => current().linkedIdentities),
    rateLimits: following(() => current().rateLimits),
    leases: following(() => current().leases),
    webhooks: following(() => current().webhooks),
    webhookDeliveries: following(() => current().webhookDeliveries),
    accountErasure: following(() => current().accountErasure),
    knownDevices: following(() => current().knownDevices),
    sessionActivity: following(() => current().sessionActivity),
    async ping() {
      try {
        ping.get();
      } catch (error) {
        throw new GatehouseError('store_unavailable', 'store.sqlite_database_does_not_answer', { path, value1: (error as Error).message }, { cause: error });
      }
    },
    async probeWrite() {
      if (closed) return { reason: 'unreachable', message: `SQLite database ${path} is closed` };
      const problem = tryWrite();
      if (!problem || !reopenAfter.has(problem.reason) || !reopen()) return problem;
      return tryWrite();
    },
    async migrate() {
      migrateSchema(db);
    },
    async pendingMigrations() {
      return pendingSchemaMigrations(db);
    },
    async close() {
      closed = true;
      if (db.isOpen) db.close();
    },
  };
}
