import type { LogoutDelivery, LogoutDeliveryStatus, LogoutDeliveryStore, LogoutQueueStatus } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { claimDueDocuments } from './leased-queue.ts';
import { deleteBatch } from './delete-batch.ts';

export const logoutDeliveriesCollection = 'logout_deliveries';

type DeliveryDocument = {
  _id: string;
  clientId: string;
  accountId: string;
  sid: string;
  reason: string;
  createdAt: Date;
  status: LogoutDeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  leasedUntil: Date | null;
  lastError?: string;
  lastAttemptAt?: Date;
};

function toDelivery(document: DeliveryDocument): LogoutDelivery {
  return {
    id: document._id,
    clientId: document.clientId,
    accountId: document.accountId,
    sid: document.sid,
    reason: document.reason,
    createdAt: document.createdAt,
    status: document.status,
    attempts: document.attempts,
    nextAttemptAt: document.nextAttemptAt,
    ...(document.lastError !== undefined ? { lastError: document.lastError } : {}),
    ...(document.lastAttemptAt !== undefined ? { lastAttemptAt: document.lastAttemptAt } : {}),
  };
}

/** The back-channel logout queue in MongoDB: the SQLite table's mirror (indexes in indexes.ts). */
export function createMongoLogoutDeliveryStore(database: MongoDatabase): LogoutDeliveryStore {
  const { run } = database;
  const deliveries = database.collection<DeliveryDocument>(logoutDeliveriesCollection);
  return {
    async enqueue(delivery) {
      const { id, clientId, sid, ...rest } = delivery;
      try {
        // One per (clientId, sid): an existing one is left as it is (the unique index settles a race).
        // An insert takes clientId and sid from the filter.
        const result = await run(() => deliveries.updateOne(
          { clientId, sid },
          { $setOnInsert: { _id: id, ...rest, status: 'pending', attempts: 0, nextAttemptAt: delivery.createdAt, leasedUntil: null } },
          { upsert: true },
        ));
        return result.upsertedCount === 1;
      } catch (error) {
        if ((error as { code?: unknown }).code === 11000) return false;
        throw error;
      }
    },
    async claimDue(now, leaseSeconds, limit) {
      return (await claimDueDocuments(run, deliveries, now, leaseSeconds, limit)).map(toDelivery);
    },
    async markDelivered(id, at) {
      await run(() => deliveries.updateOne({ _id: id }, { $set: { status: 'delivered', leasedUntil: null, lastAttemptAt: at }, $inc: { attempts: 1 } }));
    },
    async markFailed(id, { at, error, nextAttemptAt }) {
      const set = nextAttemptAt
        ? { leasedUntil: null, lastError: error, lastAttemptAt: at, nextAttemptAt }
        : { status: 'failed' as const, leasedUntil: null, lastError: error, lastAttemptAt: at };
      await run(() => deliveries.updateOne({ _id: id }, { $set: set, $inc: { attempts: 1 } }));
    },
    async status(recentLimit) {
      const result: LogoutQueueStatus = { pending: 0, delivered: 0, failed: 0, recentFailures: [] };
      const counts = await run(() => deliveries.aggregate<{ _id: LogoutDeliveryStatus; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }]).toArray());
      for (const { _id, n } of counts) result[_id] = n;
      const failures = await run(() => deliveries.find({ lastError: { $exists: true }, status: { $ne: 'delivered' } })
        .sort({ lastAttemptAt: -1, _id: 1 }).limit(recentLimit).toArray());
      result.recentFailures = failures.map(toDelivery);
      return result;
    },
    async prune(before, limit) {
      return deleteBatch(database, deliveries, { status: { $ne: 'pending' }, createdAt: { $lt: before } }, limit);
    },
  };
}

/**
 * Account erasure (account-erasure.ts): the account's finished deliveries. Pending ones stay: they
 * are the applications being told that the account's sessions ended, pruned once finished.
 */
export function logoutDeliveryEraser(database: MongoDatabase) {
  return async (subject: { accountId: string }) => (await database.run(() => database.collection<DeliveryDocument>(logoutDeliveriesCollection)
    .deleteMany({ accountId: subject.accountId, status: { $ne: 'pending' } }))).deletedCount;
}
