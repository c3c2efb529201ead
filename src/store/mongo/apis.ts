import type { ApiRecord, ApiStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';

const apisCollection = 'apis';

type ApiDocument = Omit<ApiRecord, 'identifier'> & { _id: string };

function toRecord(document: ApiDocument | null): ApiRecord | undefined {
  if (!document) return undefined;
  return {
    identifier: document._id,
    ...(document.name ? { name: document.name } : {}),
    scopes: document.scopes,
    signingAlg: document.signingAlg,
    accessTokenTtl: document.accessTokenTtl,
    createdAt: document.createdAt,
  };
}

export function createMongoApiStore(database: MongoDatabase): ApiStore {
  const { run } = database;
  const apis = database.collection<ApiDocument>(apisCollection);
  return {
    async create(api) {
      const document: ApiDocument = {
        _id: api.identifier,
        ...(api.name ? { name: api.name } : {}),
        scopes: api.scopes,
        signingAlg: api.signingAlg,
        accessTokenTtl: api.accessTokenTtl,
        createdAt: api.createdAt,
      };
      await run(() => apis.insertOne(document), { id: 'store.api_exists', values: { identifier: api.identifier } });
    },
    async find(identifier) {
      return toRecord(await run(() => apis.findOne({ _id: identifier })));
    },
    async list() {
      const documents = await run(() => apis.find().sort({ createdAt: 1, _id: 1 }).toArray());
      return documents.map((document) => toRecord(document)!);
    },
    async remove(identifier) {
      return (await run(() => apis.deleteOne({ _id: identifier }))).deletedCount > 0;
    },
    async replace(api) {
      const fields = { scopes: api.scopes, signingAlg: api.signingAlg, accessTokenTtl: api.accessTokenTtl };
      const update = api.name ? { $set: { ...fields, name: api.name } } : { $set: fields, $unset: { name: '' as const } };
      return (await run(() => apis.updateOne({ _id: api.identifier }, update))).matchedCount > 0;
    },
  };
}
