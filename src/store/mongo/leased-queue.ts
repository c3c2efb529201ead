import type { mongo } from 'mongoose';

import type { MongoDatabase } from './database.ts';

/** What every queue's documents have (mail, back-channel logout deliveries, webhook deliveries). */
type Queued = { _id: string; status: string; createdAt: Date; nextAttemptAt: Date; leasedUntil: Date | null };

/**
 * Leases up to `limit` due pending documents of a queue to this instance until `now + leaseSeconds`,
 * the earliest due first. One findOneAndUpdate at a time: each is atomic, so a document leased by
 * another instance in between no longer matches the filter (the SQLite queues do the same with one
 * UPDATE … RETURNING).
 */
export async function claimDueDocuments<T extends Queued>(
  run: MongoDatabase['run'], queue: mongo.Collection<T>, now: Date, leaseSeconds: number, limit: number,
): Promise<T[]> {
  const leasedUntil = new Date(now.getTime() + leaseSeconds * 1000);
  const claimed: T[] = [];
  while (claimed.length < limit) {
    const document = await run(() => queue.findOneAndUpdate(
      { status: 'pending', nextAttemptAt: { $lte: now }, $or: [{ leasedUntil: null }, { leasedUntil: { $lte: now } }] } as mongo.Filter<T>,
      { $set: { leasedUntil } } as unknown as mongo.UpdateFilter<T>,
      { sort: { nextAttemptAt: 1, createdAt: 1, _id: 1 }, returnDocument: 'after' },
    ));
    if (!document) break;
    claimed.push(document as T);
  }
  return claimed;
}
