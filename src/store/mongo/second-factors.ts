import type { SecondFactorStore, TotpFactorRecord } from '../types.ts';
import type { MongoDatabase } from './database.ts';

const secondFactorsCollection = 'totp_factors';

type FactorDocument = Omit<TotpFactorRecord, 'accountId'> & { _id: string };

function toRecord(document: FactorDocument | null): TotpFactorRecord | undefined {
  if (!document) return undefined;
  const { _id, ...rest } = document;
  return { accountId: _id, ...rest };
}

const unused = (hashes: string[]) => hashes.map((hash) => ({ hash, usedAt: null }));

export function createMongoSecondFactorStore(database: MongoDatabase): SecondFactorStore {
  const { run } = database;
  const factors = database.collection<FactorDocument>(secondFactorsCollection);
  return {
    async find(accountId) {
      return toRecord(await run(() => factors.findOne({ _id: accountId })));
    },
    async begin(accountId, sealedSecret, at) {
      const fresh = { sealedSecret, activatedAt: null, lastTimeStep: 0, recoveryCodes: [], failedAttempts: 0, lastFailureAt: null, createdAt: at };
      // An enrolling factor is replaced; an active one is left alone (the upsert then collides on
      // _id, which means "refused").
      try {
        const result = await run(() => factors.updateOne({ _id: accountId, activatedAt: null }, { $set: fresh }, { upsert: true }));
        return result.modifiedCount + result.upsertedCount === 1;
      } catch (error) {
        if ((error as { code?: unknown }).code === 11000) return false;
        throw error;
      }
    },
    async activate(accountId, sealedSecret, timeStep, hashes, at) {
      const result = await run(() => factors.updateOne(
        { _id: accountId, sealedSecret, activatedAt: null },
        { $set: { activatedAt: at, lastTimeStep: timeStep, recoveryCodes: unused(hashes), failedAttempts: 0, lastFailureAt: null } },
      ));
      return result.modifiedCount === 1;
    },
    async acceptTimeStep(accountId, timeStep) {
      const result = await run(() => factors.updateOne({ _id: accountId, activatedAt: { $ne: null }, lastTimeStep: { $lt: timeStep } }, { $set: { lastTimeStep: timeStep } }));
      return result.modifiedCount === 1;
    },
    async useRecoveryCode(accountId, hash, at) {
      const result = await run(() => factors.updateOne(
        { _id: accountId, activatedAt: { $ne: null }, recoveryCodes: { $elemMatch: { hash, usedAt: null } } },
        { $set: { 'recoveryCodes.$.usedAt': at } },
      ));
      return result.modifiedCount === 1;
    },
    async replaceRecoveryCodes(accountId, hashes) {
      const result = await run(() => factors.updateOne({ _id: accountId, activatedAt: { $ne: null } }, { $set: { recoveryCodes: unused(hashes) } }));
      return result.matchedCount === 1;
    },
    async recordFailure(accountId, at) {
      return toRecord(await run(() => factors.findOneAndUpdate({ _id: accountId }, { $inc: { failedAttempts: 1 }, $set: { lastFailureAt: at } }, { returnDocument: 'after' })));
    },
    async reserveAttempt(accountId, seenFailures, at) {
      const result = await run(() => factors.updateOne({ _id: accountId, failedAttempts: seenFailures }, { $inc: { failedAttempts: 1 }, $set: { lastFailureAt: at } }));
      return result.modifiedCount === 1;
    },
    async clearFailures(accountId) {
      await run(() => factors.updateOne({ _id: accountId }, { $set: { failedAttempts: 0, lastFailureAt: null } }));
    },
    async remove(accountId) {
      const result = await run(() => factors.deleteOne({ _id: accountId }));
      return result.deletedCount === 1;
    },
  };
}

/** Account erasure (account-erasure.ts): the authenticator app and its recovery codes. */
export function secondFactorEraser(database: MongoDatabase) {
  return async (subject: { accountId: string }) =>
    (await database.run(() => database.collection<FactorDocument>(secondFactorsCollection).deleteMany({ _id: subject.accountId }))).deletedCount;
}
