import { GatehouseError } from '../../errors.ts';
import type { Store } from '../types.ts';
import { createMongoAccountErasureStore } from './account-erasure.ts';
import { createMongoAccountStore } from './accounts.ts';
import { createMongoAuditStore } from './audit.ts';
import { createMongoApiStore } from './apis.ts';
import { createMongoClientStore } from './clients.ts';
import { createMongoConnectionStore } from './connections.ts';
import { describeWriteFailure, openDatabase } from './database.ts';
import { migrateIndexes, pendingIndexes } from './indexes.ts';
import { createMongoLeaseStore } from './leases.ts';
import { createMongoKnownDeviceStore } from './known-devices.ts';
import { createMongoLinkedIdentityStore } from './linked-identities.ts';
import { createMongoLogoutDeliveryStore } from './logout-deliveries.ts';
import { createMongoMailStore } from './mail.ts';
import { createMongoOneTimeCodeStore } from './one-time-codes.ts';
import { createMongoOidcStore } from './oidc-models.ts';
import { createMongoPasskeyStore } from './passkeys.ts';
import { createMongoRateLimitStore } from './rate-limits.ts';
import { createMongoSecondFactorStore } from './second-factors.ts';
import { createMongoSessionActivityStore } from './session-activity.ts';
import { createMongoSigningKeyStore } from './signing-keys.ts';
import { createMongoWebhookDeliveryStore, createMongoWebhookStore } from './webhooks.ts';

export { oidcModelNames } from './oidc-models.ts';

/** One document the readiness probe rewrites to prove the database takes writes (src/health.ts). */
const writeProbeCollection = 'write_probe';

/**
 * Opens the MongoDB backend at a mongodb:// or mongodb+srv:// URL. Pool size and timeouts come
 * from the URL's standard options (maxPoolSize, serverSelectionTimeoutMS, …). Indexes are not
 * created here: see `migrate()`.
 */
export async function openMongoStore(url: string, clock: () => number = Date.now): Promise<Store> {
  const database = await openDatabase(url);
  let closed = false;
  return {
    kind: 'mongodb',
    oidc: createMongoOidcStore(database, clock),
    accounts: createMongoAccountStore(database, clock),
    clients: createMongoClientStore(database),
    apis: createMongoApiStore(database),
    signingKeys: createMongoSigningKeyStore(database),
    audit: createMongoAuditStore(database),
    mail: createMongoMailStore(database),
    logoutDeliveries: createMongoLogoutDeliveryStore(database),
    codes: createMongoOneTimeCodeStore(database),
    secondFactors: createMongoSecondFactorStore(database),
    passkeys: createMongoPasskeyStore(database),
    connections: createMongoConnectionStore(database),
    linkedIdentities: createMongoLinkedIdentityStore(database),
    rateLimits: createMongoRateLimitStore(database),
    leases: createMongoLeaseStore(database),
    webhooks: createMongoWebhookStore(database),
    webhookDeliveries: createMongoWebhookDeliveryStore(database),
    sessionActivity: createMongoSessionActivityStore(database),
    accountErasure: createMongoAccountErasureStore(database),
    knownDevices: createMongoKnownDeviceStore(database),
    async ping() {
      try {
        await database.db().admin().command({ ping: 1 });
      } catch (error) {
        if (error instanceof GatehouseError) throw error;
        throw new GatehouseError('store_unavailable', 'store.mongodb_at_does_not_answer', { hosts: database.hosts, value1: (error as Error).message.replace(/\s+/g, ' ') }, { cause: error });
      }
    },
    async probeWrite() {
      if (closed) return { reason: 'unreachable', message: `the connection to MongoDB at ${database.hosts} is closed` };
      try {
        // Created by the first upsert; looked up by _id only, so it needs no index of its own.
        await database.run(() => database.collection<{ _id: number; probedAt: Date }>(writeProbeCollection)
          .updateOne({ _id: 1 }, { $set: { probedAt: new Date(clock()) } }, { upsert: true }));
        return undefined;
      } catch (error) {
        const reason = describeWriteFailure(error);
        return { reason, message: `cannot write to MongoDB at ${database.hosts} (${reason}): ${(error as Error).message.replace(/\s+/g, ' ')}` };
      }
    },
    async migrate() {
      await migrateIndexes(database);
    },
    async pendingMigrations() {
      return pendingIndexes(database);
    },
    async close() {
      closed = true;
      await database.close();
    },
  };
}
