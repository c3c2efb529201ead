import type { DatabaseSync } from 'node:sqlite';

import type { AuditEvent, AuditStore } from '../types.ts';

type Row = { at: number; type: string; actor: string; account_id: string | null; client_id: string | null; source_address: string | null; details: string };

function toEvent(row: Row): AuditEvent {
  return {
    at: new Date(row.at),
    type: row.type,
    actor: row.actor as AuditEvent['actor'],
    ...(row.account_id ? { accountId: row.account_id } : {}),
    ...(row.client_id ? { clientId: row.client_id } : {}),
    ...(row.source_address ? { sourceAddress: row.source_address } : {}),
    details: JSON.parse(row.details) as Record<string, unknown>,
  };
}

/** Append-only; `seq` keeps the order events were written in, whatever the clocks said. */
export function createSqliteAuditStore(db: DatabaseSync): AuditStore {
  const statements = {
    append: db.prepare('INSERT INTO audit_events (at, type, actor, account_id, client_id, source_address, details) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    tail: db.prepare('SELECT * FROM (SELECT * FROM audit_events ORDER BY seq DESC LIMIT ?) ORDER BY seq'),
    tailForAccount: db.prepare('SELECT * FROM (SELECT * FROM audit_events WHERE account_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq'),
  };
  return {
    async append(event) {
      statements.append.run(event.at.getTime(), event.type, event.actor, event.accountId ?? null, event.clientId ?? null, event.sourceAddress ?? null, JSON.stringify(event.details));
    },
    async tail({ limit, accountId }) {
      const rows = accountId ? statements.tailForAccount.all(accountId, limit) : statements.tail.all(limit);
      return (rows as Row[]).map(toEvent);
    },
  };
}

/**
 * Account erasure (account-erasure.ts): the account's events stay, pseudonymous. Their account id
 * becomes the pseudonym, their details and source address go; events that name the address
 * (`email` normalized) without the account lose their details too. Type, time, actor and client
 * remain, so they can still be counted and correlated.
 */
export function auditEraser(db: DatabaseSync) {
  const byAccount = db.prepare(`UPDATE audit_events SET account_id = ?, source_address = NULL, details = '{"erased":true}' WHERE account_id = ?`);
  const byAddress = db.prepare(`UPDATE audit_events SET source_address = NULL, details = '{"erased":true}'
    WHERE account_id IS NULL AND instr(lower(details), ?) > 0`);
  return (subject: { accountId: string; email: string; pseudonym: string }) =>
    Number(byAccount.run(subject.pseudonym, subject.accountId).changes) + Number(byAddress.run(JSON.stringify(subject.email).slice(1, -1)).changes);
}
