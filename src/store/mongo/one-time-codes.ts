import { deleteInBatches } from '../batches.ts';
import type { OneTimeCodePurpose, OneTimeCodeRecord, OneTimeCodeStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { deleteBatch } from './delete-batch.ts';

export const oneTimeCodesCollection = 'one_time_codes';

type CodeDocument = {
  _id: string;
  purpose: OneTimeCodePurpose;
  email: string;
  accountId: string | null;
  codeHash: string | null;
  linkHash: string;
  attempts: number;
  createdAt: Date;
  expiresAt: Date;
  consumedAt: Date | null;
};

function toRecord(document: CodeDocument | null): OneTimeCodeRecord | undefined {
  if (!document) return undefined;
  const { _id, ...rest } = document;
  return { id: _id, ...rest };
}

export function createMongoOneTimeCodeStore(database: MongoDatabase): OneTimeCodeStore {
  const { run } = database;
  const codes = database.collection<CodeDocument>(oneTimeCodesCollection);
  return {
    async issue(record) {
      if (record.accountId !== null) {
        await run(() => codes.updateMany({ email: record.email, purpose: record.purpose, consumedAt: null, accountId: { $ne: null } }, { $set: { consumedAt: record.createdAt } }));
      }
      const { id, ...rest } = record;
      await run(() => codes.insertOne({ _id: id, ...rest, attempts: 0, consumedAt: null }));
    },
    async latest(email, purpose, accountId) {
      const filter = accountId === undefined ? { email, purpose } : { email, purpose, accountId };
      return toRecord(await run(() => codes.findOne(filter, { sort: { createdAt: -1, _id: -1 } })));
    },
    async find(id) {
      return toRecord(await run(() => codes.findOne({ _id: id })));
    },
    async findByLinkHash(linkHash) {
      return toRecord(await run(() => codes.findOne({ linkHash })));
    },
    async recordFailure(id) {
      return toRecord(await run(() => codes.findOneAndUpdate({ _id: id }, { $inc: { attempts: 1 } }, { returnDocument: 'after' })));
    },
    async consume(id, at) {
      const result = await run(() => codes.updateOne({ _id: id, consumedAt: null }, { $set: { consumedAt: at } }));
      return result.modifiedCount === 1;
    },
    async voidForAccount(accountId, purpose, at) {
      return (await run(() => codes.updateMany({ accountId, purpose, consumedAt: null }, { $set: { consumedAt: at } }))).modifiedCount;
    },
    async sweep(before, limit) {
      const sweepBatch = (batch: number) => deleteBatch(database, codes, { expiresAt: { $lt: before } }, batch);
      return limit === undefined ? deleteInBatches(sweepBatch) : sweepBatch(limit);
    },
  };
}

/** Account erasure (account-erasure.ts): codes and links of the account or sent to its address (`email` normalized). */
export function oneTimeCodeEraser(database: MongoDatabase) {
  return async (subject: { accountId: string; email: string }) => (await database.run(() => database.collection<CodeDocument>(oneTimeCodesCollection)
    .deleteMany({ $or: [{ accountId: subject.accountId }, { email: subject.email }] }))).deletedCount;
}
