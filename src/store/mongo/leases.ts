import type { LeaseStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { isDuplicateKey } from './database.ts';

const leasesCollection = 'leases';

type LeaseDocument = { _id: string; holder: string; expiresAt: Date };

/**
 * One document per lease, looked up by _id only (no index of its own). Taking or renewing it is
 * one upsert filtered on "ours or expired": when another holder has it, the filter matches
 * nothing and the upsert's insert collides with the existing _id.
 */
export function createMongoLeaseStore(database: MongoDatabase): LeaseStore {
  const { run } = database;
  const leases = database.collection<LeaseDocument>(leasesCollection);
  return {
    async acquire(name, holder, now, until) {
      try {
        await run(() => leases.updateOne(
          { _id: name, $or: [{ holder }, { expiresAt: { $lte: now } }] },
          { $set: { holder, expiresAt: until } },
          { upsert: true },
        ));
        return true;
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    },
    async release(name, holder) {
      await run(() => leases.deleteOne({ _id: name, holder }));
    },
  };
}
