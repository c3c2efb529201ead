import type { mongo } from 'mongoose';

import type { MongoDatabase } from './database.ts';

/**
 * Deletes at most `limit` documents matching `filter` (deleteMany has no limit): their ids are
 * read through the filter's index first, then deleted by id with the filter repeated, so a
 * document changed in between (renewed, no longer expired) stays. Returns how many were deleted.
 */
export async function deleteBatch<T extends { _id: string }>(
  database: MongoDatabase, collection: mongo.Collection<T>, filter: mongo.Filter<T>, limit: number,
): Promise<number> {
  if (limit <= 0) return 0; // find's limit 0 means no limit
  const { run } = database;
  const found = await run(() => collection.find(filter, { projection: { _id: 1 }, limit }).toArray());
  if (!found.length) return 0;
  const ids = found.map((document) => document._id);
  const result = await run(() => collection.deleteMany({ $and: [filter, { _id: { $in: ids } }] } as mongo.Filter<T>));
  return result.deletedCount;
}
