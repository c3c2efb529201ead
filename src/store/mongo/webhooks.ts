import type { mongo } from 'mongoose';

import type {
  WebhookDelivery, WebhookDeliveryStatus, WebhookDeliveryStore, WebhookQueueStatus, WebhookRecord, WebhookStore,
} from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { claimDueDocuments } from './leased-queue.ts';
import { deleteBatch } from './delete-batch.ts';

export const webhooksCollection = 'webhooks';
export const webhookDeliveriesCollection = 'webhook_deliveries';

type WebhookDocument = Omit<WebhookRecord, 'id'> & { _id: string };

function toWebhook(document: WebhookDocument): WebhookRecord {
  return {
    id: document._id,
    url: document.url,
    events: document.events,
    sealedSecret: document.sealedSecret,
    enabled: document.enabled,
    createdAt: document.createdAt,
    updatedAt: document.updatedAt,
  };
}

/** The registered webhooks in MongoDB: the SQLite table's mirror. */
export function createMongoWebhookStore(database: MongoDatabase): WebhookStore {
  const { run } = database;
  const webhooks = database.collection<WebhookDocument>(webhooksCollection);
  return {
    async add(record) {
      const { id, ...rest } = record;
      await run(() => webhooks.insertOne({ _id: id, ...rest }), { id: 'webhooks.id_taken', values: { id } });
    },
    async find(id) {
      const document = await run(() => webhooks.findOne({ _id: id }));
      return document ? toWebhook(document) : undefined;
    },
    async list() {
      return (await run(() => webhooks.find().sort({ createdAt: 1, _id: 1 }).toArray())).map(toWebhook);
    },
    async update(id, patch, at) {
      const set: Partial<WebhookDocument> = { updatedAt: at };
      if (patch.url !== undefined) set.url = patch.url;
      if (patch.events !== undefined) set.events = patch.events;
      if (patch.sealedSecret !== undefined) set.sealedSecret = patch.sealedSecret;
      if (patch.enabled !== undefined) set.enabled = patch.enabled;
      const document = await run(() => webhooks.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: 'after' }));
      return document ? toWebhook(document) : undefined;
    },
    async remove(id) {
      return (await run(() => webhooks.deleteOne({ _id: id }))).deletedCount === 1;
    },
  };
}

type DeliveryDocument = {
  _id: string;
  webhookId: string;
  eventId: string;
  eventType: string;
  payload: string;
  accountId?: string;
  createdAt: Date;
  status: WebhookDeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  leasedUntil: Date | null;
  lastError?: string;
  lastStatusCode?: number;
  lastAttemptAt?: Date;
  deliveredAt?: Date;
};

function toDelivery(document: DeliveryDocument): WebhookDelivery {
  return {
    id: document._id,
    webhookId: document.webhookId,
    eventId: document.eventId,
    eventType: document.eventType,
    payload: document.payload,
    ...(document.accountId !== undefined ? { accountId: document.accountId } : {}),
    createdAt: document.createdAt,
    status: document.status,
    attempts: document.attempts,
    nextAttemptAt: document.nextAttemptAt,
    ...(document.lastError !== undefined ? { lastError: document.lastError } : {}),
    ...(document.lastStatusCode !== undefined ? { lastStatusCode: document.lastStatusCode } : {}),
    ...(document.lastAttemptAt !== undefined ? { lastAttemptAt: document.lastAttemptAt } : {}),
    ...(document.deliveredAt !== undefined ? { deliveredAt: document.deliveredAt } : {}),
  };
}

/** The webhook delivery queue in MongoDB: the SQLite table's mirror (indexes in indexes.ts). */
export function createMongoWebhookDeliveryStore(database: MongoDatabase): WebhookDeliveryStore {
  const { run } = database;
  const deliveries = database.collection<DeliveryDocument>(webhookDeliveriesCollection);
  return {
    async enqueue(queued) {
      if (!queued.length) return 0;
      const documents: DeliveryDocument[] = queued.map(({ id, ...rest }) => ({
        _id: id, ...rest, status: 'pending', attempts: 0, nextAttemptAt: rest.createdAt, leasedUntil: null,
      }));
      try {
        // One write; unordered, so an id queued already (a duplicate key) leaves the others in.
        const result = await run(() => deliveries.insertMany(documents, { ordered: false }));
        return result.insertedCount;
      } catch (error) {
        const bulk = error as { code?: unknown; insertedCount?: unknown; writeErrors?: unknown; result?: { insertedCount?: number } };
        // The driver's MongoBulkWriteError: writeErrors is one error or a list.
        const given = bulk.writeErrors ?? (bulk.code === 11000 ? { code: 11000 } : undefined);
        const writeErrors = (Array.isArray(given) ? given : given ? [given] : []) as Array<{ code?: unknown }>;
        if (writeErrors.length && writeErrors.every((each) => each.code === 11000)) {
          return typeof bulk.insertedCount === 'number' ? bulk.insertedCount : (bulk.result?.insertedCount ?? documents.length - writeErrors.length);
        }
        throw error;
      }
    },
    async claimDue(now, leaseSeconds, limit) {
      return (await claimDueDocuments(run, deliveries, now, leaseSeconds, limit)).map(toDelivery);
    },
    async markDelivered(id, { at, statusCode }) {
      await run(() => deliveries.updateOne({ _id: id }, {
        $set: { status: 'delivered', leasedUntil: null, lastAttemptAt: at, lastStatusCode: statusCode, deliveredAt: at }, $inc: { attempts: 1 },
      }));
    },
    async markFailed(id, { at, error, statusCode, nextAttemptAt }) {
      const set: Partial<DeliveryDocument> = { leasedUntil: null, lastError: error, lastAttemptAt: at };
      if (statusCode !== undefined) set.lastStatusCode = statusCode;
      if (nextAttemptAt) set.nextAttemptAt = nextAttemptAt;
      else set.status = 'failed';
      const update: mongo.UpdateFilter<DeliveryDocument> = { $set: set, $inc: { attempts: 1 } };
      // As SQLite's NULL: an attempt without an answer leaves no status code of an earlier one.
      if (statusCode === undefined) update.$unset = { lastStatusCode: '' };
      await run(() => deliveries.updateOne({ _id: id }, update));
    },
    async requeue(id, now) {
      const result = await run(() => deliveries.updateOne({ _id: id }, { $set: { status: 'pending', nextAttemptAt: now, leasedUntil: null } }));
      return result.matchedCount === 1;
    },
    async find(id) {
      const document = await run(() => deliveries.findOne({ _id: id }));
      return document ? toDelivery(document) : undefined;
    },
    async list({ webhookId, status, limit }) {
      const filter: mongo.Filter<DeliveryDocument> = {};
      if (webhookId !== undefined) filter.webhookId = webhookId;
      if (status !== undefined) filter.status = status;
      return (await run(() => deliveries.find(filter).sort({ createdAt: -1, _id: -1 }).limit(limit).toArray())).map(toDelivery);
    },
    async status() {
      const result: WebhookQueueStatus = { pending: 0, delivered: 0, failed: 0 };
      const counts = await run(() => deliveries.aggregate<{ _id: WebhookDeliveryStatus; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }]).toArray());
      for (const { _id, n } of counts) result[_id] = n;
      const oldest = await run(() => deliveries.find({ status: 'pending' }).sort({ createdAt: 1 }).limit(1).toArray());
      if (oldest[0]) result.oldestPendingAt = oldest[0].createdAt;
      return result;
    },
    async prune(before, limit) {
      return deleteBatch(database, deliveries, { status: { $ne: 'pending' }, createdAt: { $lt: before } }, limit);
    },
  };
}

/** Account erasure (account-erasure.ts): the account's finished webhook deliveries; pending ones stay, to be sent, and are pruned once finished. */
export function webhookDeliveryEraser(database: MongoDatabase) {
  return async (subject: { accountId: string }) => (await database.run(() => database.collection<DeliveryDocument>(webhookDeliveriesCollection)
    .deleteMany({ accountId: subject.accountId, status: { $ne: 'pending' } }))).deletedCount;
}
