import type { DatabaseSync } from 'node:sqlite';

import { normalizeEmail } from '../normalize-email.ts';
import type { AccountErasureStore, ErasureCounts, ErasureSubject } from '../types.ts';
import { accountRowEraser } from './accounts.ts';
import { auditEraser } from './audit.ts';
import { transaction } from './database.ts';
import { linkedIdentityEraser } from './linked-identities.ts';
import { logoutDeliveryEraser } from './logout-deliveries.ts';
import { mailEraser } from './mail.ts';
import { oidcModelEraser } from './oidc-models.ts';
import { oneTimeCodeEraser } from './one-time-codes.ts';
import { passkeyEraser } from './passkeys.ts';
import { rateLimitEraser } from './rate-limits.ts';
import { secondFactorEraser } from './second-factors.ts';
import { sessionActivityEraser } from './session-activity.ts';
import { knownDeviceEraser } from './known-devices.ts';
import { webhookDeliveryEraser } from './webhooks.ts';

/** One table's part of an erasure: its rows about the subject gone (or scrubbed); how many. `email` is normalized. */
export type SqliteEraser = (subject: ErasureSubject) => number;

/**
 * Every table that keeps rows about an account, each with the eraser its own store file defines.
 * A new table with an account id (or an address) adds its eraser here; the account row goes last.
 */
const erasers: ReadonlyArray<[table: string, build: (db: DatabaseSync) => SqliteEraser]> = [
  ['oidc_models', oidcModelEraser],
  ['totp_factors', secondFactorEraser],
  ['passkeys', passkeyEraser],
  ['linked_identities', linkedIdentityEraser],
  ['one_time_codes', oneTimeCodeEraser],
  ['mail', mailEraser],
  ['logout_deliveries', logoutDeliveryEraser],
  ['rate_limits', rateLimitEraser],
  // Added with 0018 (the account centre's sessions and remembered consents), 0019 (known devices), 0021 (webhooks).
  ['session_activity', sessionActivityEraser],
  ['known_devices', knownDeviceEraser],
  ['webhook_deliveries', webhookDeliveryEraser],
  ['audit_events', auditEraser],
  ['accounts', accountRowEraser],
];

/** Erases an account and everything about it in one write transaction: all of it, or (on failure) none. */
export function createSqliteAccountErasureStore(db: DatabaseSync): AccountErasureStore {
  const parts = erasers.map(([table, build]) => [table, build(db)] as const);
  return {
    async erase(subject) {
      const normalized = { ...subject, email: normalizeEmail(subject.email) };
      return transaction(db, () => {
        const counts: ErasureCounts = {};
        for (const [table, erase] of parts) counts[table] = erase(normalized);
        return counts;
      });
    },
  };
}
