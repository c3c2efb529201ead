import { normalizeEmail } from '../normalize-email.ts';
import type { AccountErasureStore, ErasureCounts, ErasureSubject } from '../types.ts';
import { accountDocumentEraser } from './accounts.ts';
import { auditEraser } from './audit.ts';
import type { MongoDatabase } from './database.ts';
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

/** One collection's part of an erasure: its documents about the subject gone (or scrubbed); how many. Idempotent. `email` is normalized. */
export type MongoEraser = (subject: ErasureSubject) => Promise<number>;

/**
 * Every collection that keeps documents about an account, each with the eraser its own store file
 * defines, in this order. A new collection with an account id (or an address) adds its eraser here.
 */
const erasers: ReadonlyArray<[collection: string, build: (database: MongoDatabase) => MongoEraser]> = [
  ['oidc', oidcModelEraser],
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
];

/**
 * Erases an account without a multi-document transaction (a standalone server has none): first the
 * account is marked due at once, then each collection does its part, and the account document goes
 * last. Every step can run again, so an erasure cut short (a crash, a lost connection) is finished
 * by the next sweep, which finds the account still due.
 */
export function createMongoAccountErasureStore(database: MongoDatabase): AccountErasureStore {
  const parts = erasers.map(([collection, build]) => [collection, build(database)] as const);
  const account = accountDocumentEraser(database);
  return {
    async erase(subject) {
      const normalized = { ...subject, email: normalizeEmail(subject.email) };
      await account.mark(normalized);
      const counts: ErasureCounts = {};
      for (const [collection, erase] of parts) counts[collection] = await erase(normalized);
      counts.accounts = await account.erase(normalized);
      return counts;
    },
  };
}
