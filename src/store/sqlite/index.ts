import type { StatementSync } from 'node:sqlite';

import { GatehouseError } from '../../errors.ts';
import type { Store } from '../types.ts';
import { createSqliteAccountStore } from './accounts.ts';
import { createSqliteAuditStore } from './audit.ts';
import { createSqliteApiStore } from './apis.ts';
import { createSqliteClientStore } from './clients.ts';
import { openDatabase } from './database.ts';
import { createSqliteMailStore } from './mail.ts';
import { createSqliteOneTimeCodeStore } from './one-time-codes.ts';
import { createSqliteOidcStore } from './oidc-models.ts';
import { createSqliteRateLimitStore } from './rate-limits.ts';
import { createSqliteSecondFactorStore } from './second-factors.ts';
import { createSqliteSigningKeyStore } from './signing-keys.ts';

export function openSqliteStore(path: string, clock: () => number = Date.now): Store {
  const db = openDatabase(path);
  let pingStatement: StatementSync | undefined;
  return {
    kind: 'sqlite',
    oidc: createSqliteOidcStore(db, clock),
    accounts: createSqliteAccountStore(db, clock),
    clients: createSqliteClientStore(db),
    apis: createSqliteApiStore(db),
    signingKeys: createSqliteSigningKeyStore(db),
    audit: createSqliteAuditStore(db),
    mail: createSqliteMailStore(db),
    codes: createSqliteOneTimeCodeStore(db),
    secondFactors: createSqliteSecondFactorStore(db),
    rateLimits: createSqliteRateLimitStore(db),
    async ping() {
      try {
        // Prepared on first use and kept: /readyz is polled by orchestrators.
        (pingStatement ??= db.prepare('SELECT 1')).get();
      } catch (error) {
        throw new GatehouseError('store_unavailable', `SQLite database ${path} does not answer: ${(error as Error).message}`, { cause: error });
      }
    },
    // The embedded database migrates itself when opened (see openDatabase): nothing is pending.
    async migrate() {},
    async pendingMigrations() {
      return [];
    },
    async close() {
      if (db.isOpen) db.close();
    },
  };
}
