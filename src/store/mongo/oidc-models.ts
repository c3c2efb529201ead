import { deleteInBatches } from '../batches.ts';
import type { ModelPayload, ModelStore, OidcStore, StoredModel } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { deleteBatch } from './delete-batch.ts';
import { escapeKeys, unescapeKeys } from './keys.ts';

/** The oidc-provider models Gatehouse stores; migrate() indexes their collections before they exist. */
export const oidcModelNames = [
  'Session',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'ClientCredentials',
  'Client',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'Interaction',
  'ReplayDetection',
  'PushedAuthorizationRequest',
  'Grant',
  'BackchannelAuthenticationRequest',
] as const;

const oidcCollectionPrefix = 'oidc_';

export function oidcCollectionName(model: string): string {
  return `${oidcCollectionPrefix}${model}`;
}

/** The provider's ids are strings (not ObjectIds), so they are the `_id` as they are. */
type OidcDocument = { _id: string; payload: ModelPayload; expiresAt?: Date };

/** Every existing oidc collection, including models not in `oidcModelNames` (the provider names them). */
export async function listOidcCollections(database: MongoDatabase): Promise<string[]> {
  const collections = await database.db()
    .listCollections({ name: { $regex: `^${oidcCollectionPrefix}` }, type: 'collection' }, { nameOnly: true })
    .toArray();
  return collections.map((collection) => collection.name);
}

function parse(document: OidcDocument | null, now: number): ModelPayload | undefined {
  if (!document) return undefined;
  // The TTL monitor runs only once a minute: expired documents linger, and must stay invisible.
  if (document.expiresAt && document.expiresAt.getTime() <= now) return undefined;
  return unescapeKeys(document.payload);
}

/** oidc-provider's artifacts, one collection per model, with the lookups it needs indexed (see indexes.ts). */
export function createMongoOidcStore(database: MongoDatabase, clock: () => number = Date.now): OidcStore {
  const { run } = database;

  function model(name: string): ModelStore {
    const collection = database.collection<OidcDocument>(oidcCollectionName(name));
    return {
      async upsert(id, payload, expiresIn) {
        const document: Omit<OidcDocument, '_id'> = {
          payload: escapeKeys(payload),
          ...(typeof expiresIn === 'number' ? { expiresAt: new Date(clock() + expiresIn * 1000) } : {}),
        };
        // The only unique keys besides _id are a session's uid and a device code's user code.
        const unique = name === 'Session' ? `uid ${String(payload.uid)}` : `user code ${String(payload.userCode)}`;
        await run(() => collection.replaceOne({ _id: id }, document, { upsert: true }), { id: 'store.oidc_record_exists', values: { name, unique } });
      },
      async find(id) {
        return parse(await run(() => collection.findOne({ _id: id })), clock());
      },
      async findByUid(uid) {
        // Like the SQLite backend, only sessions are looked up by uid; other models carry unrelated uids.
        if (name !== 'Session') return undefined;
        return parse(await run(() => collection.findOne({ 'payload.uid': uid })), clock());
      },
      async findByUserCode(userCode) {
        return parse(await run(() => collection.findOne({ 'payload.userCode': userCode })), clock());
      },
      async consume(id) {
        await run(() => collection.updateOne({ _id: id }, { $set: { 'payload.consumed': Math.floor(clock() / 1000) } }));
      },
      async destroy(id) {
        await run(() => collection.deleteOne({ _id: id }));
      },
      async revokeByGrantId(grantId) {
        await run(() => collection.deleteMany({ 'payload.grantId': grantId }));
      },
    };
  }

  /** Deletes the documents matching `filter` (or the filter for each collection) in every oidc collection; returns how many. */
  async function deleteEverywhere(filter: Record<string, unknown> | ((collectionName: string) => Record<string, unknown>)): Promise<number> {
    const names = await run(() => listOidcCollections(database));
    const counts = await Promise.all(
      names.map((name) => run(() => database.collection<OidcDocument>(name).deleteMany(typeof filter === 'function' ? filter(name) : filter))),
    );
    return counts.reduce((total, result) => total + result.deletedCount, 0);
  }

  return {
    model,
    async revokeByAccountId(accountId, keep) {
      if (!keep) return deleteEverywhere({ 'payload.accountId': accountId });
      const grantIds = [...(keep.grantIds ?? [])];
      return deleteEverywhere((collectionName) => ({
        'payload.accountId': accountId,
        // $nin also matches records without a grantId.
        'payload.grantId': { $nin: grantIds },
        ...(collectionName === oidcCollectionName('Session') && keep.sessionId !== undefined ? { _id: { $ne: keep.sessionId } } : {}),
        ...(collectionName === oidcCollectionName('Grant') ? { _id: { $nin: grantIds } } : {}),
      }));
    },
    async listModel(name, limit) {
      const collection = database.collection<OidcDocument>(oidcCollectionName(name));
      const filter = { $or: [{ expiresAt: { $exists: false } }, { expiresAt: { $gt: new Date(clock()) } }] };
      const documents = await run(() => collection.find(filter, { limit }).toArray());
      return documents.map((document): StoredModel => ({ id: document._id, payload: unescapeKeys(document.payload), expiresAt: document.expiresAt ?? null }));
    },
    async listByAccountId(name, accountId, limit) {
      const collection = database.collection<OidcDocument>(oidcCollectionName(name));
      const filter = { 'payload.accountId': accountId, $or: [{ expiresAt: { $exists: false } }, { expiresAt: { $gt: new Date(clock()) } }] };
      const documents = await run(() => collection.find(filter, { limit }).toArray());
      return documents.map((document): StoredModel => ({ id: document._id, payload: unescapeKeys(document.payload), expiresAt: document.expiresAt ?? null }));
    },
    async revokeInteractions(accountId) {
      const collection = database.collection<OidcDocument>(oidcCollectionName('Interaction'));
      const result = await run(() => collection.deleteMany({ 'payload.accountId': accountId }));
      return result.deletedCount;
    },
    async sweepExpired(limit) {
      // Like SQLite's one table: at most `limit` in all, collection after collection.
      const sweepBatch = async (batch: number) => {
        const filter = { expiresAt: { $lte: new Date(clock()) } };
        let deleted = 0;
        for (const name of await run(() => listOidcCollections(database))) {
          if (deleted >= batch) break;
          deleted += await deleteBatch(database, database.collection<OidcDocument>(name), filter, batch - deleted);
        }
        return deleted;
      };
      return limit === undefined ? deleteInBatches(sweepBatch) : sweepBatch(limit);
    },
  };
}

/** Account erasure (account-erasure.ts): every session, grant, token and interaction of the account, in every oidc collection. */
export function oidcModelEraser(database: MongoDatabase) {
  return async (subject: { accountId: string }) => {
    const names = await database.run(() => listOidcCollections(database));
    const counts = await Promise.all(names.map((name) => database.run(() => database.collection<OidcDocument>(name).deleteMany({ 'payload.accountId': subject.accountId }))));
    return counts.reduce((total, result) => total + result.deletedCount, 0);
  };
}
