import type { PasskeyRecord, PasskeyStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { isDuplicateKey } from './database.ts';

export const passkeysCollection = 'passkeys';

/** One passkey, keyed by its credential ID (as the SQLite table, src/store/sqlite/passkeys.ts). */
type PasskeyDocument = Omit<PasskeyRecord, 'id'> & { _id: string };

function toRecord(document: PasskeyDocument | null): PasskeyRecord | undefined {
  if (!document) return undefined;
  return {
    id: document._id,
    accountId: document.accountId,
    publicKey: document.publicKey,
    counter: document.counter,
    transports: document.transports,
    deviceType: document.deviceType,
    backedUp: document.backedUp,
    aaguid: document.aaguid,
    name: document.name,
    createdAt: document.createdAt,
    lastUsedAt: document.lastUsedAt,
  };
}

export function createMongoPasskeyStore(database: MongoDatabase): PasskeyStore {
  const { run } = database;
  const passkeys = database.collection<PasskeyDocument>(passkeysCollection);
  return {
    async create(record) {
      const { id, ...rest } = record;
      // A credential ID already stored collides on _id: the caller is told, nothing is overwritten.
      try {
        await run(() => passkeys.insertOne({ _id: id, ...rest }));
        return true;
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    },
    async find(id) {
      return toRecord(await run(() => passkeys.findOne({ _id: id })));
    },
    async listForAccount(accountId) {
      const documents = await run(() => passkeys.find({ accountId }).sort({ createdAt: 1, _id: 1 }).toArray());
      return documents.map((document) => toRecord(document)!);
    },
    async countForAccount(accountId) {
      return run(() => passkeys.countDocuments({ accountId }));
    },
    async recordUse(id, seenCounter, newCounter, backedUp, at) {
      // Compare-and-set on the counter: one winner among uses that saw the same counter. Matched,
      // not modified, as SQLite counts changes: a use that changes no value is still a use.
      const result = await run(() => passkeys.updateOne({ _id: id, counter: seenCounter }, { $set: { counter: newCounter, backedUp, lastUsedAt: at } }));
      return result.matchedCount === 1;
    },
    async rename(accountId, id, name) {
      const result = await run(() => passkeys.updateOne({ _id: id, accountId }, { $set: { name } }));
      return result.matchedCount === 1;
    },
    async remove(accountId, id) {
      const result = await run(() => passkeys.deleteOne({ _id: id, accountId }));
      return result.deletedCount === 1;
    },
    async removeAllForAccount(accountId) {
      const result = await run(() => passkeys.deleteMany({ accountId }));
      return result.deletedCount;
    },
  };
}

/** Account erasure (account-erasure.ts): every passkey of the account. */
export function passkeyEraser(database: MongoDatabase) {
  return async (subject: { accountId: string }) =>
    (await database.run(() => database.collection<PasskeyDocument>(passkeysCollection).deleteMany({ accountId: subject.accountId }))).deletedCount;
}
