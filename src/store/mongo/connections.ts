import type { ConnectionRecord, ConnectionStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { escapeKeys, unescapeKeys } from './keys.ts';

export const connectionsCollection = 'connections';

/** One connection, keyed by its id (as the SQLite table, src/store/sqlite/connections.ts). */
type ConnectionDocument = Omit<ConnectionRecord, 'id'> & { _id: string };

function toRecord(document: ConnectionDocument | null): ConnectionRecord | undefined {
  if (!document) return undefined;
  return {
    id: document._id,
    type: document.type,
    name: document.name,
    issuer: document.issuer,
    tenant: document.tenant,
    clientId: document.clientId,
    sealedSecret: document.sealedSecret,
    authorizationUrl: document.authorizationUrl,
    tokenUrl: document.tokenUrl,
    apiUrl: document.apiUrl,
    scopes: document.scopes,
    // Upstream claim names are free-form: stored with their keys escaped, as client metadata is.
    claimMapping: unescapeKeys(document.claimMapping),
    showOnLoginPage: document.showOnLoginPage,
    allowNewAccounts: document.allowNewAccounts,
    trustVerifiedEmails: document.trustVerifiedEmails,
    trustUpstreamMfa: document.trustUpstreamMfa,
    disabled: document.disabled,
    createdAt: document.createdAt,
    updatedAt: document.updatedAt,
  };
}

export function createMongoConnectionStore(database: MongoDatabase): ConnectionStore {
  const { run } = database;
  const connections = database.collection<ConnectionDocument>(connectionsCollection);
  return {
    async create(record) {
      const { id, ...rest } = record;
      await run(() => connections.insertOne({ _id: id, ...rest, claimMapping: escapeKeys(rest.claimMapping) }), { id: 'libraries.connection_exists', values: { id } });
    },
    async find(id) {
      return toRecord(await run(() => connections.findOne({ _id: id })));
    },
    async list() {
      const documents = await run(() => connections.find().sort({ createdAt: 1, _id: 1 }).toArray());
      return documents.map((document) => toRecord(document)!);
    },
    async update(id, patch) {
      // The fields present, as SQLite sets them: undefined ones are left alone, null is stored.
      const set: Record<string, unknown> = {};
      for (const [field, value] of Object.entries(patch)) {
        if (value !== undefined) set[field] = field === 'claimMapping' ? escapeKeys(value) : value;
      }
      if (Object.keys(set).length === 0) return toRecord(await run(() => connections.findOne({ _id: id })));
      return toRecord(await run(() => connections.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: 'after' })));
    },
    async remove(id) {
      return (await run(() => connections.deleteOne({ _id: id }))).deletedCount === 1;
    },
  };
}
