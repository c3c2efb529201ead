import type { KnownDeviceStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { isDuplicateKey } from './database.ts';

export const knownDevicesCollection = 'known_devices';

/**
 * One device of one account (the SQLite table known_devices, migration 0019). Its _id is the pair
 * (account, device hash), so the pair is unique without relying on an index.
 */
type KnownDeviceDocument = { _id: string; accountId: string; deviceHash: string; firstSeenAt: Date; lastSeenAt: Date };

/** The pair as one string: JSON quotes both parts, so distinct pairs never share an id. */
function documentId(accountId: string, deviceHash: string): string {
  return JSON.stringify([accountId, deviceHash]);
}

export function createMongoKnownDeviceStore(database: MongoDatabase): KnownDeviceStore {
  const { run } = database;
  const devices = database.collection<KnownDeviceDocument>(knownDevicesCollection);
  return {
    async remember(accountId, deviceHash, at) {
      // The insert decides "known": of two sign-ins from one new device, one inserts, the other collides.
      const others = await run(() => devices.countDocuments({ accountId, deviceHash: { $ne: deviceHash } }));
      try {
        await run(() => devices.insertOne({ _id: documentId(accountId, deviceHash), accountId, deviceHash, firstSeenAt: at, lastSeenAt: at }));
        return { known: false, others };
      } catch (error) {
        if (!isDuplicateKey(error)) throw error;
        await run(() => devices.updateOne({ _id: documentId(accountId, deviceHash) }, { $max: { lastSeenAt: at } }));
        return { known: true, others };
      }
    },
    async list(accountId) {
      const found = await run(() => devices.find({ accountId }).sort({ lastSeenAt: -1, deviceHash: 1 }).toArray());
      return found.map((document) => ({ deviceHash: document.deviceHash, firstSeenAt: document.firstSeenAt, lastSeenAt: document.lastSeenAt }));
    },
    async removeForAccount(accountId) {
      return (await run(() => devices.deleteMany({ accountId }))).deletedCount;
    },
  };
}

/** The account's known devices go with it (src/store/mongo/account-erasure.ts). */
export function knownDeviceEraser(database: MongoDatabase) {
  return async (subject: { accountId: string }) =>
    (await database.run(() => database.collection<KnownDeviceDocument>(knownDevicesCollection).deleteMany({ accountId: subject.accountId }))).deletedCount;
}
