import type { AppConsent, SessionActivity, SessionActivityStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { deleteBatch } from './delete-batch.ts';

export const sessionActivityCollection = 'session_activity';
export const appConsentsCollection = 'app_consents';

type SessionDocument = {
  _id: string;
  accountId: string;
  userAgent: string | null;
  sourceAddress: string | null;
  amr: string[];
  firstSeenAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
};

/** One per (account, client): `_id` is the pair, unambiguous as JSON. */
type AppDocument = {
  _id: string;
  accountId: string;
  clientId: string;
  remembered: boolean;
  scope: string;
  claims: string[];
  resourceScopes: Record<string, string>;
  grantedAt: Date | null;
  lastUsedAt: Date | null;
};

const appId = (accountId: string, clientId: string) => JSON.stringify([accountId, clientId]);

function toSession(document: SessionDocument): SessionActivity {
  return {
    sessionId: document._id,
    accountId: document.accountId,
    userAgent: document.userAgent ?? null,
    sourceAddress: document.sourceAddress ?? null,
    amr: document.amr ?? [],
    firstSeenAt: document.firstSeenAt,
    lastSeenAt: document.lastSeenAt,
    expiresAt: document.expiresAt,
  };
}

function toApp(document: AppDocument): AppConsent {
  return {
    accountId: document.accountId,
    clientId: document.clientId,
    remembered: document.remembered === true,
    scope: document.scope ?? '',
    claims: document.claims ?? [],
    resourceScopes: document.resourceScopes ?? {},
    grantedAt: document.grantedAt ?? null,
    lastUsedAt: document.lastUsedAt ?? null,
  };
}

const recency = (app: AppConsent) => Math.max(app.lastUsedAt?.getTime() ?? 0, app.grantedAt?.getTime() ?? 0);

/** The account centre's records in MongoDB: the SQLite tables' mirror (indexes in indexes.ts). */
export function createMongoSessionActivityStore(database: MongoDatabase): SessionActivityStore {
  const { run } = database;
  const sessions = database.collection<SessionDocument>(sessionActivityCollection);
  const apps = database.collection<AppDocument>(appConsentsCollection);
  return {
    async recordSession(activity) {
      const { sessionId, firstSeenAt, ...rest } = activity;
      await run(() => sessions.updateOne({ _id: sessionId }, { $set: rest, $setOnInsert: { firstSeenAt } }, { upsert: true }));
    },
    async listSessions(accountId, now) {
      const documents = await run(() => sessions.find({ accountId, expiresAt: { $gt: now } }).sort({ lastSeenAt: -1, _id: 1 }).limit(1000).toArray());
      return documents.map(toSession);
    },
    async removeSession(accountId, sessionId) {
      return (await run(() => sessions.deleteOne({ _id: sessionId, accountId }))).deletedCount > 0;
    },
    async removeSessions(accountId, exceptSessionId) {
      const filter = exceptSessionId === undefined ? { accountId } : { accountId, _id: { $ne: exceptSessionId } };
      return (await run(() => sessions.deleteMany(filter))).deletedCount;
    },
    async sweepSessions(now, limit) {
      return deleteBatch(database, sessions, { expiresAt: { $lte: now } }, limit);
    },
    async rememberConsent(consent) {
      const { accountId, clientId, scope, claims, resourceScopes, at } = consent;
      // The first grantedAt stays: set it only where it is still missing or null.
      await run(() => apps.updateOne(
        { _id: appId(accountId, clientId) },
        { $set: { accountId, clientId, remembered: true, scope, claims, resourceScopes }, $setOnInsert: { lastUsedAt: null } },
        { upsert: true },
      ));
      await run(() => apps.updateOne({ _id: appId(accountId, clientId), grantedAt: null }, { $set: { grantedAt: at } }));
    },
    async findApp(accountId, clientId) {
      const document = await run(() => apps.findOne({ _id: appId(accountId, clientId) }));
      return document ? toApp(document) : undefined;
    },
    async listApps(accountId, limit) {
      // An account has a handful of apps: sorted here by the later of last use and grant, as SQLite does.
      const documents = await run(() => apps.find({ accountId }).limit(1000).toArray());
      return documents.map(toApp).sort((a, b) => recency(b) - recency(a) || a.clientId.localeCompare(b.clientId)).slice(0, limit);
    },
    async recordAppUse(accountId, clientId, at) {
      await run(() => apps.updateOne(
        { _id: appId(accountId, clientId) },
        { $max: { lastUsedAt: at }, $setOnInsert: { accountId, clientId, remembered: false, scope: '', claims: [], resourceScopes: {}, grantedAt: null } },
        { upsert: true },
      ));
    },
    async forgetApp(accountId, clientId) {
      return (await run(() => apps.deleteOne({ _id: appId(accountId, clientId) }))).deletedCount > 0;
    },
    async forgetAccount(accountId) {
      const removedSessions = (await run(() => sessions.deleteMany({ accountId }))).deletedCount;
      const removedApps = (await run(() => apps.deleteMany({ accountId }))).deletedCount;
      return removedSessions + removedApps;
    },
  };
}

/** Account erasure (account-erasure.ts): what the account centre saw of the account's sessions, and its remembered consents. */
export function sessionActivityEraser(database: MongoDatabase) {
  return async (subject: { accountId: string }) => {
    const sessions = await database.run(() => database.collection<SessionDocument>(sessionActivityCollection).deleteMany({ accountId: subject.accountId }));
    const consents = await database.run(() => database.collection<AppDocument>(appConsentsCollection).deleteMany({ accountId: subject.accountId }));
    return sessions.deletedCount + consents.deletedCount;
  };
}
