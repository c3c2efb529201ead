import { normalizeEmail } from '../normalize-email.ts';
import type { AccountPatch, AccountRecord, AccountStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { escapeKeys, unescapeKeys } from './keys.ts';

export const accountsCollection = 'accounts';

type AccountDocument = {
  _id: string;
  email: string;
  /** What emails are compared in; unique (see indexes.ts). */
  emailNormalized: string;
  passwordHash: string | null;
  emailVerified: boolean;
  profile: AccountRecord['profile'];
  roles: string[];
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
  /** Absent in a document written before it existed: updatedAt stands in (see update). */
  profileUpdatedAt?: Date;
  /** 0020: when the account is to be erased; absent when no deletion is pending. */
  deleteAfter?: Date;
};

function toRecord(document: AccountDocument | null): AccountRecord | undefined {
  if (!document) return undefined;
  return {
    id: document._id,
    email: document.email,
    passwordHash: document.passwordHash,
    emailVerified: document.emailVerified,
    profile: unescapeKeys(document.profile),
    roles: document.roles,
    disabled: document.disabled,
    createdAt: document.createdAt,
    updatedAt: document.updatedAt,
    profileUpdatedAt: document.profileUpdatedAt ?? document.updatedAt,
    ...(document.deleteAfter ? { deleteAfter: document.deleteAfter } : {}),
  };
}

/** The patch as stored fields; only the patchable ones, as the SQLite backend writes only those columns. */
function patchFields(patch: AccountPatch): Partial<AccountDocument> {
  const fields: Partial<AccountDocument> = {};
  if (patch.email !== undefined) {
    fields.email = patch.email;
    fields.emailNormalized = normalizeEmail(patch.email);
  }
  if (patch.passwordHash !== undefined) fields.passwordHash = patch.passwordHash;
  if (patch.emailVerified !== undefined) fields.emailVerified = patch.emailVerified;
  if (patch.profile !== undefined) fields.profile = sortedKeys(escapeKeys(patch.profile));
  if (patch.roles !== undefined) fields.roles = patch.roles;
  if (patch.disabled !== undefined) fields.disabled = patch.disabled;
  return fields;
}

/**
 * A profile with its keys sorted at every depth: MongoDB compares embedded documents field by field
 * in order, so profiles are stored in one order and an unchanged profile compares equal.
 */
function sortedKeys<T>(value: T): T {
  if (!value || typeof value !== 'object' || Array.isArray(value) || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value as Record<string, unknown>)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, item]) => [key, sortedKeys(item)])) as T;
}

export function createMongoAccountStore(database: MongoDatabase, clock: () => number = Date.now): AccountStore {
  const { run } = database;
  const accounts = database.collection<AccountDocument>(accountsCollection);

  return {
    async create(account) {
      const now = new Date(clock());
      const document: AccountDocument = {
        _id: account.id,
        email: account.email,
        emailNormalized: normalizeEmail(account.email),
        passwordHash: account.passwordHash,
        emailVerified: account.emailVerified,
        profile: sortedKeys(escapeKeys(account.profile)),
        roles: [...account.roles],
        disabled: account.disabled,
        createdAt: now,
        updatedAt: now,
        profileUpdatedAt: now,
      };
      await run(() => accounts.insertOne(document), { id: 'store.account_exists', values: { email: account.email } });
      return toRecord(document)!;
    },
    async findById(id) {
      return toRecord(await run(() => accounts.findOne({ _id: id })));
    },
    async findByEmail(email) {
      return toRecord(await run(() => accounts.findOne({ emailNormalized: normalizeEmail(email) })));
    },
    async list() {
      const documents = await run(() => accounts.find().sort({ createdAt: 1, _id: 1 }).toArray());
      return documents.map((document) => toRecord(document)!);
    },
    async update(id, patch, expected) {
      // One atomic findOneAndUpdate: no read-modify-write window for a concurrent writer; the
      // expected values go into the filter, which makes it a compare-and-set. An update pipeline,
      // so that profileUpdatedAt moves only when the stored profile or emailVerified changes
      // (compared with the values before this update); values are $literal, never read as
      // expressions.
      const now = new Date(clock());
      const fields = patchFields(patch);
      const changed: unknown[] = [];
      if (fields.profile !== undefined) changed.push({ $ne: [{ $ifNull: ['$profile', { $literal: {} }] }, { $literal: fields.profile }] });
      if (fields.emailVerified !== undefined) changed.push({ $ne: ['$emailVerified', { $literal: fields.emailVerified }] });
      if (fields.email !== undefined) changed.push({ $ne: ['$email', { $literal: fields.email }] });
      // A document from before profileUpdatedAt keeps its old updatedAt as it, before updatedAt moves.
      const unchanged = { $ifNull: ['$profileUpdatedAt', '$updatedAt'] };
      const set = Object.fromEntries(Object.entries(fields).map(([field, value]) => [field, { $literal: value }]));
      const updated = await run(() => accounts.findOneAndUpdate(
        { _id: id, ...(expected ? patchFields(expected) : {}) },
        [{ $set: { ...set, updatedAt: { $literal: now }, profileUpdatedAt: changed.length ? { $cond: [{ $or: changed }, { $literal: now }, unchanged] } : unchanged } }],
        { returnDocument: 'after' },
        // A new address taken by another account breaks the unique index (indexes.ts): a conflict, as at create.
      ), { id: 'store.account_exists', values: { email: patch.email ?? '' } });
      return toRecord(updated);
    },
    async scheduleDeletion(id, deleteAfter) {
      const change = deleteAfter ? { $set: { deleteAfter } } : { $unset: { deleteAfter: '' as const } };
      return toRecord(await run(() => accounts.findOneAndUpdate({ _id: id }, change, { returnDocument: 'after' })));
    },
    async dueForDeletion(now, limit) {
      const due = await run(() => accounts.find({ deleteAfter: { $lte: now } }, { projection: { _id: 1 } }).sort({ deleteAfter: 1, _id: 1 }).limit(limit).toArray());
      return due.map((document) => document._id);
    },
  };
}

/**
 * Account erasure (account-erasure.ts): marks the account due at once (so an erasure cut short
 * is finished by the next sweep), and, as the last step, removes it.
 */
export function accountDocumentEraser(database: MongoDatabase) {
  const accounts = database.collection<AccountDocument>(accountsCollection);
  return {
    mark: async (subject: { accountId: string }) => {
      await database.run(() => accounts.updateOne({ _id: subject.accountId }, { $set: { deleteAfter: new Date(0) } }));
    },
    erase: async (subject: { accountId: string }) => (await database.run(() => accounts.deleteOne({ _id: subject.accountId }))).deletedCount,
  };
}
