import { deleteInBatches } from '../batches.ts';
import type { RateLimitStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { deleteBatch } from './delete-batch.ts';

export const rateLimitsCollection = 'rate_limits';

type CounterDocument = { _id: string; points: number; expiresAt: Date | null };

export function createMongoRateLimitStore(database: MongoDatabase): RateLimitStore {
  const { run } = database;
  const counters = database.collection<CounterDocument>(rateLimitsCollection);
  return {
    async add(key, points, durationMs, now, forceExpire) {
      const expiresAt = durationMs > 0 ? new Date(now.getTime() + durationMs) : null;
      // One atomic update (a pipeline): a missing or expired counter restarts, a live one adds up.
      const restart = forceExpire ? true : { $and: [{ $ne: [{ $ifNull: ['$expiresAt', null] }, null] }, { $lte: ['$expiresAt', now] }] };
      const document = await run(() => counters.findOneAndUpdate(
        { _id: key },
        [{
          $set: {
            points: { $cond: [{ $or: [restart, { $eq: [{ $type: '$points' }, 'missing'] }] }, points, { $add: ['$points', points] }] },
            expiresAt: { $cond: [{ $or: [restart, { $eq: [{ $type: '$points' }, 'missing'] }] }, expiresAt, '$expiresAt'] },
          },
        }],
        { upsert: true, returnDocument: 'after' },
      ));
      return { points: document!.points, expiresAt: document!.expiresAt };
    },
    async get(key, now) {
      const document = await run(() => counters.findOne({ _id: key, $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }] }));
      return document ? { points: document.points, expiresAt: document.expiresAt } : undefined;
    },
    async delete(key) {
      const result = await run(() => counters.deleteOne({ _id: key }));
      return result.deletedCount === 1;
    },
    async sweep(now, limit) {
      const sweepBatch = (batch: number) => deleteBatch(database, counters, { expiresAt: { $ne: null, $lte: now } }, batch);
      return limit === undefined ? deleteInBatches(sweepBatch) : sweepBatch(limit);
    },
  };
}

/** Account erasure (account-erasure.ts): counters whose key names the account or its address. */
export function rateLimitEraser(database: MongoDatabase) {
  const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return async (subject: { accountId: string; email: string }) => (await database.run(() => database.collection<CounterDocument>(rateLimitsCollection)
    .deleteMany({ $or: [{ _id: { $regex: literal(subject.accountId) } }, { _id: { $regex: literal(subject.email), $options: 'i' } }] }))).deletedCount;
}
