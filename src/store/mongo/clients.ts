import type { mongo } from 'mongoose';

import { GatehouseError } from '../../errors.ts';
import { deleteInBatches } from '../batches.ts';
import type { ClientMetadata, ClientRecord, ClientStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { escapeKeys, unescapeKeys } from './keys.ts';

export const clientsCollection = 'clients';

/** `dynamic` and `lastUsedAt` are missing from documents written before dynamic registration: read as false and null. */
type ClientDocument = {
  _id: string; metadata: ClientMetadata; encryptedSecret?: string; createdAt: Date; dynamic?: boolean; lastUsedAt?: Date | null;
  previousEncryptedSecret?: string; previousSecretExpiresAt?: Date;
};

function toRecord(document: ClientDocument | null): ClientRecord | undefined {
  if (!document) return undefined;
  return {
    metadata: unescapeKeys(document.metadata),
    ...(document.encryptedSecret ? { encryptedSecret: document.encryptedSecret } : {}),
    ...(document.previousEncryptedSecret && document.previousSecretExpiresAt
      ? { previousEncryptedSecret: document.previousEncryptedSecret, previousSecretExpiresAt: document.previousSecretExpiresAt }
      : {}),
    createdAt: document.createdAt,
    dynamic: document.dynamic === true,
    lastUsedAt: document.lastUsedAt ?? null,
  };
}

function toDocument(client: Omit<ClientRecord, 'dynamic' | 'lastUsedAt'> & { dynamic?: boolean; lastUsedAt?: Date | null }): ClientDocument {
  return {
    _id: client.metadata.client_id,
    metadata: escapeKeys(client.metadata),
    ...(client.encryptedSecret ? { encryptedSecret: client.encryptedSecret } : {}),
    ...(client.previousEncryptedSecret && client.previousSecretExpiresAt
      ? { previousEncryptedSecret: client.previousEncryptedSecret, previousSecretExpiresAt: client.previousSecretExpiresAt }
      : {}),
    createdAt: client.createdAt,
    dynamic: client.dynamic === true,
    lastUsedAt: client.lastUsedAt ?? null,
  };
}

/** Dynamic clients whose `lastUsedAt ?? createdAt` is before `before` (the dynamic_lastUsedAt_createdAt index). */
function unusedFilter(before: Date): mongo.Filter<ClientDocument> {
  return { dynamic: true, $or: [{ lastUsedAt: { $lt: before } }, { lastUsedAt: null, createdAt: { $lt: before } }] };
}

export function createMongoClientStore(database: MongoDatabase): ClientStore {
  const { run } = database;
  const clients = database.collection<ClientDocument>(clientsCollection);

  /** One batch: the candidates' ids through the index, then each deleted with the filter repeated (a client used meanwhile stays). */
  async function removeUnused(before: Date, limit: number): Promise<string[]> {
    if (limit <= 0) return [];
    const filter = unusedFilter(before);
    const found = await run(() => clients.find(filter, { projection: { _id: 1 }, limit }).toArray());
    const removed = await Promise.all(found.map(async ({ _id }) => {
      const result = await run(() => clients.deleteOne({ $and: [filter, { _id }] }));
      return result.deletedCount > 0 ? _id : undefined;
    }));
    return removed.filter((id): id is string => id !== undefined);
  }

  return {
    async create(client) {
      await run(() => clients.insertOne(toDocument(client)), { id: 'store.client_exists', values: { clientId: client.metadata.client_id } });
    },
    async find(clientId) {
      return toRecord(await run(() => clients.findOne({ _id: clientId })));
    },
    async list() {
      const documents = await run(() => clients.find().sort({ createdAt: 1, _id: 1 }).toArray());
      return documents.map((document) => toRecord(document)!);
    },
    async remove(clientId) {
      return (await run(() => clients.deleteOne({ _id: clientId }))).deletedCount > 0;
    },
    async replace(clientId, change) {
      const previous = change.previousEncryptedSecret && change.previousSecretExpiresAt
        ? { previousEncryptedSecret: change.previousEncryptedSecret, previousSecretExpiresAt: change.previousSecretExpiresAt }
        : undefined;
      const set = { metadata: escapeKeys(change.metadata), ...(change.encryptedSecret ? { encryptedSecret: change.encryptedSecret } : {}), ...previous };
      const unset = {
        ...(change.encryptedSecret ? {} : { encryptedSecret: '' as const }),
        ...(previous ? {} : { previousEncryptedSecret: '' as const, previousSecretExpiresAt: '' as const }),
      };
      const result = await run(() => clients.updateOne({ _id: clientId }, { $set: set, ...(Object.keys(unset).length ? { $unset: unset } : {}) }));
      return result.matchedCount > 0;
    },
    async save(record) {
      const clientId = record.metadata.client_id;
      if (!record.dynamic) throw new GatehouseError('internal', 'store.client_not_dynamic', { clientId });
      // Matches only a dynamic client: with an operator's client of this id, the upsert's insert
      // fails on the _id (a conflict), and the operator's client is left as it is.
      await run(
        () => clients.replaceOne({ _id: clientId, dynamic: true }, toDocument(record), { upsert: true }),
        { id: 'store.client_exists', values: { clientId } },
      );
    },
    async touch(clientId, at) {
      const result = await run(() => clients.updateOne({ _id: clientId }, { $max: { lastUsedAt: at } }));
      return result.matchedCount > 0;
    },
    removeUnusedDynamic: removeUnused,
    async sweepUnusedDynamic(before, limit) {
      const sweepBatch = async (batch: number) => (await removeUnused(before, batch)).length;
      return limit === undefined ? deleteInBatches(sweepBatch) : sweepBatch(limit);
    },
  };
}
