import type { AuditEvent, AuditStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { escapeKeys, unescapeKeys } from './keys.ts';

export const auditCollection = 'audit_events';

type AuditDocument = Omit<AuditEvent, 'details'> & { details: Record<string, unknown> };

function toEvent(document: AuditDocument): AuditEvent {
  const { at, type, actor, accountId, clientId, sourceAddress, details } = document;
  return {
    at, type, actor,
    ...(accountId ? { accountId } : {}),
    ...(clientId ? { clientId } : {}),
    ...(sourceAddress ? { sourceAddress } : {}),
    details: unescapeKeys(details),
  };
}

/** Append-only; documents get ObjectIds, whose order is the order they were written in. */
export function createMongoAuditStore(database: MongoDatabase): AuditStore {
  const { run } = database;
  const events = database.collection<AuditDocument>(auditCollection);
  return {
    async append(event) {
      await run(() => events.insertOne({ ...event, details: escapeKeys(event.details) as Record<string, unknown> }));
    },
    async tail({ limit, accountId }) {
      const newest = await run(() => events.find(accountId ? { accountId } : {}, { projection: { _id: 0 } }).sort({ _id: -1 }).limit(limit).toArray());
      return newest.reverse().map((document) => toEvent(document as AuditDocument));
    },
  };
}

/**
 * Account erasure (account-erasure.ts): the account's events stay, pseudonymous. Their account id
 * becomes the pseudonym, their details and source address go; events without an account that
 * name the address (details.email, any case) lose their details too. Idempotent.
 */
export function auditEraser(database: MongoDatabase) {
  return async (subject: { accountId: string; email: string; pseudonym: string }) => {
    const events = database.collection<AuditDocument>(auditCollection);
    const erased = { $set: { details: { erased: true } }, $unset: { sourceAddress: '' as const } };
    const byAccount = await database.run(() => events.updateMany({ accountId: subject.accountId }, { ...erased, $set: { ...erased.$set, accountId: subject.pseudonym } }));
    const address = new RegExp(`^\\s*${subject.email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'i');
    const byAddress = await database.run(() => events.updateMany({ accountId: { $exists: false }, 'details.email': address }, erased));
    return byAccount.modifiedCount + byAddress.modifiedCount;
  };
}
