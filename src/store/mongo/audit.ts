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
