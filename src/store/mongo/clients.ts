import type { ClientMetadata, ClientRecord, ClientStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { escapeKeys, unescapeKeys } from './keys.ts';

const clientsCollection = 'clients';

type ClientDocument = { _id: string; metadata: ClientMetadata; encryptedSecret?: string; createdAt: Date };

function toRecord(document: ClientDocument | null): ClientRecord | undefined {
  if (!document) return undefined;
  return {
    metadata: unescapeKeys(document.metadata),
    ...(document.encryptedSecret ? { encryptedSecret: document.encryptedSecret } : {}),
    createdAt: document.createdAt,
  };
}

export function createMongoClientStore(database: MongoDatabase): ClientStore {
  const { run } = database;
  const clients = database.collection<ClientDocument>(clientsCollection);
  return {
    async create(client) {
      const document: ClientDocument = {
        _id: client.metadata.client_id,
        metadata: escapeKeys(client.metadata),
        ...(client.encryptedSecret ? { encryptedSecret: client.encryptedSecret } : {}),
        createdAt: client.createdAt,
      };
      await run(() => clients.insertOne(document), { id: 'store.client_exists', values: { clientId: client.metadata.client_id } });
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
  };
}
