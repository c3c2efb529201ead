import type { LinkedIdentityRecord, LinkedIdentityStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { isDuplicateKey } from './database.ts';

export const linkedIdentitiesCollection = 'linked_identities';

/**
 * One linked identity. Its _id is the pair (connection, subject), so the pair is unique without
 * relying on an index (as the SQLite table's primary key, src/store/sqlite/linked-identities.ts).
 */
type LinkedIdentityDocument = LinkedIdentityRecord & { _id: string };

/** The pair as one string: JSON quotes both parts, so distinct pairs never share an id. */
function documentId(connectionId: string, subject: string): string {
  return JSON.stringify([connectionId, subject]);
}

function toRecord(document: LinkedIdentityDocument | null): LinkedIdentityRecord | undefined {
  if (!document) return undefined;
  return {
    connectionId: document.connectionId,
    subject: document.subject,
    accountId: document.accountId,
    email: document.email,
    linkedAt: document.linkedAt,
    lastUsedAt: document.lastUsedAt,
  };
}

export function createMongoLinkedIdentityStore(database: MongoDatabase): LinkedIdentityStore {
  const { run } = database;
  const identities = database.collection<LinkedIdentityDocument>(linkedIdentitiesCollection);
  return {
    async link(record) {
      // An identity already linked collides on _id: the caller is told, nothing is overwritten.
      try {
        await run(() => identities.insertOne({ _id: documentId(record.connectionId, record.subject), ...record }));
        return true;
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    },
    async find(connectionId, subject) {
      return toRecord(await run(() => identities.findOne({ _id: documentId(connectionId, subject) })));
    },
    async listForAccount(accountId) {
      const documents = await run(() => identities.find({ accountId }).sort({ linkedAt: 1, connectionId: 1, subject: 1 }).toArray());
      return documents.map((document) => toRecord(document)!);
    },
    async countForConnection(connectionId) {
      return run(() => identities.countDocuments({ connectionId }));
    },
    async recordUse(connectionId, subject, at) {
      // Matched, not modified, as SQLite counts changes.
      const result = await run(() => identities.updateOne({ _id: documentId(connectionId, subject) }, { $set: { lastUsedAt: at } }));
      return result.matchedCount === 1;
    },
    async unlink(accountId, connectionId, subject) {
      const result = await run(() => identities.deleteOne({ _id: documentId(connectionId, subject), accountId }));
      return result.deletedCount === 1;
    },
    async removeForConnection(connectionId) {
      return (await run(() => identities.deleteMany({ connectionId }))).deletedCount;
    },
  };
}

/** Account erasure (account-erasure.ts): every identity linked to the account. */
export function linkedIdentityEraser(database: MongoDatabase) {
  return async (subject: { accountId: string }) =>
    (await database.run(() => database.collection<LinkedIdentityDocument>(linkedIdentitiesCollection).deleteMany({ accountId: subject.accountId }))).deletedCount;
}
