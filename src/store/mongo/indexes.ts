import type { mongo } from 'mongoose';

import { accountsCollection } from './accounts.ts';
import { auditCollection } from './audit.ts';
import { clientsCollection } from './clients.ts';
import type { MongoDatabase } from './database.ts';
import { knownDevicesCollection } from './known-devices.ts';
import { linkedIdentitiesCollection } from './linked-identities.ts';
import { logoutDeliveriesCollection } from './logout-deliveries.ts';
import { mailCollection } from './mail.ts';
import { oneTimeCodesCollection } from './one-time-codes.ts';
import { passkeysCollection } from './passkeys.ts';
import { rateLimitsCollection } from './rate-limits.ts';
import { appConsentsCollection, sessionActivityCollection } from './session-activity.ts';
import { listOidcCollections, oidcCollectionName, oidcModelNames } from './oidc-models.ts';
import { webhookDeliveriesCollection } from './webhooks.ts';

/** MongoDB's answer to listIndexes on a collection that does not exist yet. */
const namespaceNotFound = 26;

type IndexSpec = mongo.IndexDescription & { name: string };

/** Only documents that have the field are indexed: most oidc models have no grant, account, uid or user code. */
function onField(field: string, options: Partial<IndexSpec> = {}): IndexSpec {
  return { key: { [field]: 1 }, name: field, partialFilterExpression: { [field]: { $exists: true } }, ...options };
}

function oidcIndexes(collection: string): IndexSpec[] {
  const indexes: IndexSpec[] = [
    // Removes documents once expiresAt has passed (the monitor runs about once a minute; `find`
    // hides expired documents meanwhile). Documents without expiresAt never expire.
    { key: { expiresAt: 1 }, name: 'expiresAt', expireAfterSeconds: 0 },
    onField('payload.grantId'),
    onField('payload.accountId'),
  ];
  if (collection === oidcCollectionName('Session')) indexes.push(onField('payload.uid', { unique: true }));
  if (collection === oidcCollectionName('DeviceCode')) indexes.push(onField('payload.userCode', { unique: true }));
  return indexes;
}

/**
 * The indexes Gatehouse needs, by collection. oidc collections are created lazily, so the known
 * models are indexed in advance, and any other oidc collection already present is indexed too.
 * apis are only looked up by _id, clients by _id and (dynamic ones) by when they were last used.
 */
async function indexPlan(database: MongoDatabase): Promise<Map<string, IndexSpec[]>> {
  const oidcCollections = new Set([...oidcModelNames.map(oidcCollectionName), ...(await listOidcCollections(database))]);
  const plan = new Map<string, IndexSpec[]>();
  for (const collection of oidcCollections) plan.set(collection, oidcIndexes(collection));
  plan.set(accountsCollection, [
    { key: { emailNormalized: 1 }, name: 'emailNormalized', unique: true },
    // Deletions waiting out their grace period, earliest first (dueForDeletion; SQLite's 0020).
    onField('deleteAfter', { key: { deleteAfter: 1, _id: 1 }, name: 'deleteAfter' }),
  ]);
  plan.set(auditCollection, [onField('accountId')]);
  // claimDue's filter and sort.
  plan.set(mailCollection, [{ key: { status: 1, nextAttemptAt: 1 }, name: 'status_nextAttemptAt' }]);
  // Back-channel logout deliveries: claimDue's filter and sort, one per (client, sid), the recent
  // failures, and pruning finished ones by age (as SQLite's migration 0016).
  plan.set(logoutDeliveriesCollection, [
    { key: { status: 1, nextAttemptAt: 1 }, name: 'status_nextAttemptAt' },
    { key: { clientId: 1, sid: 1 }, name: 'clientId_sid', unique: true },
    { key: { lastAttemptAt: -1 }, name: 'lastAttemptAt', partialFilterExpression: { lastError: { $exists: true } } },
    { key: { createdAt: 1 }, name: 'createdAt' },
  ]);
  // Webhook deliveries: claimDue's filter and sort, a webhook's newest (webhooks deliveries), pruning
  // finished ones by age, and an account's (its erasure), as SQLite's migration 0021. Webhooks are few: by _id only.
  plan.set(webhookDeliveriesCollection, [
    { key: { status: 1, nextAttemptAt: 1 }, name: 'status_nextAttemptAt' },
    { key: { webhookId: 1, createdAt: -1 }, name: 'webhookId_createdAt' },
    { key: { createdAt: 1 }, name: 'createdAt' },
    onField('accountId'),
  ]);
  plan.set(oneTimeCodesCollection, [
    { key: { email: 1, purpose: 1, createdAt: -1 }, name: 'email_purpose_createdAt' },
    { key: { linkHash: 1 }, name: 'linkHash', unique: true },
    // Codes are worthless once expired; the sweeper deletes them too (as in SQLite).
    { key: { expiresAt: 1 }, name: 'expiresAt', expireAfterSeconds: 0 },
  ]);
  // An account's passkeys, oldest first (listForAccount); credentials are looked up by _id.
  plan.set(passkeysCollection, [{ key: { accountId: 1, createdAt: 1 }, name: 'accountId_createdAt' }]);
  // An account's linked identities, oldest first (listForAccount), and a connection's (its removal);
  // an identity is looked up by _id, the pair (connection, subject). Connections are few: by _id only.
  plan.set(linkedIdentitiesCollection, [
    { key: { accountId: 1, linkedAt: 1 }, name: 'accountId_linkedAt' },
    { key: { connectionId: 1 }, name: 'connectionId' },
  ]);
  // An account's known devices (counted at each sign-in, listed, erased with it); a device by _id.
  plan.set(knownDevicesCollection, [{ key: { accountId: 1, lastSeenAt: -1 }, name: 'accountId_lastSeenAt' }]);
  // Dynamic clients unused for a while (the sweeper's expiry: lastUsedAt, or createdAt when never used).
  plan.set(clientsCollection, [{
    key: { dynamic: 1, lastUsedAt: 1, createdAt: 1 }, name: 'dynamic_lastUsedAt_createdAt', partialFilterExpression: { dynamic: true },
  }]);
  // The account centre (as SQLite's migration 0018): an account's sessions as seen, gone once
  // their session has expired (the sweeper deletes them too); an account's apps, by account.
  plan.set(sessionActivityCollection, [
    { key: { accountId: 1, lastSeenAt: -1 }, name: 'accountId_lastSeenAt' },
    { key: { expiresAt: 1 }, name: 'expiresAt', expireAfterSeconds: 0 },
  ]);
  plan.set(appConsentsCollection, [{ key: { accountId: 1 }, name: 'accountId' }]);
  // Expired counters go by themselves (the sweeper deletes them too, as in SQLite).
  plan.set(rateLimitsCollection, [{ key: { expiresAt: 1 }, name: 'expiresAt', expireAfterSeconds: 0 }]);
  return plan;
}

async function existingIndexNames(database: MongoDatabase, collection: string): Promise<Set<string>> {
  try {
    const indexes = await database.collection(collection).listIndexes().toArray();
    return new Set(indexes.map((index) => String(index.name)));
  } catch (error) {
    if ((error as { code?: unknown }).code === namespaceNotFound) return new Set();
    throw error;
  }
}

/** The planned indexes that do not exist yet, by collection. Compared by name. */
async function missingIndexes(database: MongoDatabase): Promise<Array<[string, IndexSpec[]]>> {
  const plan = await indexPlan(database);
  const missing = await Promise.all([...plan].map(async ([collection, indexes]): Promise<[string, IndexSpec[]]> => {
    const existing = await existingIndexNames(database, collection);
    return [collection, indexes.filter((index) => !existing.has(index.name))];
  }));
  return missing.filter(([, indexes]) => indexes.length > 0);
}

/** Readable names of what `migrateIndexes` would create, e.g. `oidc_Session.payload.uid`. */
export async function pendingIndexes(database: MongoDatabase): Promise<string[]> {
  const missing = await database.run(() => missingIndexes(database));
  return missing.flatMap(([collection, indexes]) => indexes.map((index) => `${collection}.${index.name}`)).sort();
}

/** Creates the missing indexes (and with them the collections). Idempotent; safe from several processes. */
export async function migrateIndexes(database: MongoDatabase): Promise<void> {
  await database.run(async () => {
    const missing = await missingIndexes(database);
    // createIndexes with an identical specification is a no-op, so a concurrent migrate is harmless.
    await Promise.all(missing.map(([collection, indexes]) => database.collection(collection).createIndexes(indexes)));
  });
}
