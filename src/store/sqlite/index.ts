import { accessSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';

import { GatehouseError } from '../../errors.ts';
import type { ModelStore, OidcStore, Store, StoreWriteFailure, StoreWriteProblem } from '../types.ts';
import { createSqliteAccountStore } from './accounts.ts';
import { createSqliteAuditStore } from './audit.ts';
import { createSqliteApiStore } from './apis.ts';
import { createSqliteClientStore } from './clients.ts';
import { openDatabase } from './database.ts';
import { createSqliteLeaseStore } from './leases.ts';
import { createSqliteMailStore } from './mail.ts';
import { createSqliteOneTimeCodeStore } from './one-time-codes.ts';
import { createSqliteOidcStore } from './oidc-models.ts';
import { createSqliteRateLimitStore } from './rate-limits.ts';
import { createSqliteSecondFactorStore } from './second-factors.ts';
import { createSqliteSigningKeyStore } from './signing-keys.ts';

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
 * out keep working after the connection under them was replaced.
 */
function following<T extends object>(current: () => T, fixed: Partial<T> = {}): T {
  // Methods are bound once per connection's store, not on every call (these are hot paths).
  let boundTo: T | undefined;
  let bound = new Map<PropertyKey, unknown>();
  return new Proxy(fixed as T, {
    get(_fixed, property) {
      if (Object.hasOwn(fixed, property)) return (fixed as Record<PropertyKey, unknown>)[property];
      const target = current();
      if (target !== boundTo) [boundTo, bound] = [target, new Map()];
      if (bound.has(property)) return bound.get(property);
      const value: unknown = Reflect.get(target, property);
      const result = typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      bound.set(property, result);
      return result;
    },
  });
}

/** Everything bound to one connection: its prepared statements live in the stores built on it. */
function connect(db: DatabaseSync, clock: () => number) {
  return {
    db,
    oidc: createSqliteOidcStore(db, clock),
    models: new Map<string, ModelStore>(),
    accounts: createSqliteAccountStore(db, clock),
    clients: createSqliteClientStore(db),
    apis: createSqliteApiStore(db),
    signingKeys: createSqliteSigningKeyStore(db),
    audit: createSqliteAuditStore(db),
    mail: createSqliteMailStore(db),
    codes: createSqliteOneTimeCodeStore(db),
    secondFactors: createSqliteSecondFactorStore(db),
    rateLimits: createSqliteRateLimitStore(db),
    leases: createSqliteLeaseStore(db),
    // Prepared once and kept: /readyz is polled by orchestrators.
    ping: db.prepare('SELECT 1') as StatementSync,
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

export function openSqliteStore(path: string, clock: () => number = Date.now): Store {
  let connection = connect(openDatabase(path), clock);
  let closed = false;

  function tryWrite(): StoreWriteProblem | undefined {
    try {
      connection.probe.run(clock());
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
    if (connection.db.isOpen) connection.db.close();
    try {
      connection = connect(openDatabase(path), clock);
      return true;
    } catch {
      // Left closed: requests fail as "unreachable" and the next probe tries again.
      return false;
    }
  }

  const oidc = following<OidcStore>(() => connection.oidc, {
    // The provider's adapters keep the model store they were given: it follows reopening too.
    model: (name: string) => following<ModelStore>(() => {
      const { models } = connection;
      let model = models.get(name);
      if (!model) models.set(name, (model = connection.oidc.model(name)));
      return model;
    }),
  });

  return {
    kind: 'sqlite',
    oidc,
    accounts: following(() => connection.accounts),
    clients: following(() => connection.clients),
    apis: following(() => connection.apis),
    signingKeys: following(() => connection.signingKeys),
    audit: following(() => connection.audit),
    mail: following(() => connection.mail),
    codes: following(() => connection.codes),
    secondFactors: following(() => connection.secondFactors),
    rateLimits: following(() => connection.rateLimits),
    leases: following(() => connection.leases),
    async ping() {
      try {
        connection.ping.get();
      } catch (error) {
        throw new GatehouseError('store_unavailable', `SQLite database ${path} does not answer: ${(error as Error).message}`, { cause: error });
      }
    },
    async probeWrite() {
      if (closed) return { reason: 'unreachable', message: `SQLite database ${path} is closed` };
      const problem = tryWrite();
      if (!problem || !reopenAfter.has(problem.reason) || !reopen()) return problem;
      return tryWrite();
    },
    // The embedded database migrates itself when opened (see openDatabase): nothing is pending.
    async migrate() {},
    async pendingMigrations() {
      return [];
    },
    async close() {
      closed = true;
      if (connection.db.isOpen) connection.db.close();
    },
  };
}
