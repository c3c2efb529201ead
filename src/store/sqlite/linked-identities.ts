import type { DatabaseSync } from 'node:sqlite';

import type { LinkedIdentityRecord, LinkedIdentityStore } from '../types.ts';

type Row = {
  connection_id: string;
  subject: string;
  account_id: string;
  email: string | null;
  linked_at: number;
  last_used_at: number | null;
};

function toRecord(row: Row | undefined): LinkedIdentityRecord | undefined {
  if (!row) return undefined;
  return {
    connectionId: row.connection_id,
    subject: row.subject,
    accountId: row.account_id,
    email: row.email,
    linkedAt: new Date(row.linked_at),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at),
  };
}

export function createSqliteLinkedIdentityStore(db: DatabaseSync): LinkedIdentityStore {
  const statements = {
    // An identity already linked (to anyone) is left alone (changes 0): one winner among concurrent links.
    insert: db.prepare(`INSERT INTO linked_identities (connection_id, subject, account_id, email, linked_at, last_used_at)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (connection_id, subject) DO NOTHING`),
    find: db.prepare('SELECT * FROM linked_identities WHERE connection_id = ? AND subject = ?'),
    list: db.prepare('SELECT * FROM linked_identities WHERE account_id = ? ORDER BY linked_at, connection_id, subject'),
    count: db.prepare('SELECT count(*) AS count FROM linked_identities WHERE connection_id = ?'),
    recordUse: db.prepare('UPDATE linked_identities SET last_used_at = ? WHERE connection_id = ? AND subject = ?'),
    unlink: db.prepare('DELETE FROM linked_identities WHERE account_id = ? AND connection_id = ? AND subject = ?'),
    removeForConnection: db.prepare('DELETE FROM linked_identities WHERE connection_id = ?'),
  };
  return {
    async link(record) {
      const result = statements.insert.run(
        record.connectionId, record.subject, record.accountId, record.email, record.linkedAt.getTime(), record.lastUsedAt?.getTime() ?? null,
      );
      return Number(result.changes) === 1;
    },
    async find(connectionId, subject) {
      return toRecord(statements.find.get(connectionId, subject) as Row | undefined);
    },
    async listForAccount(accountId) {
      return (statements.list.all(accountId) as Row[]).map((row) => toRecord(row)!);
    },
    async countForConnection(connectionId) {
      return (statements.count.get(connectionId) as { count: number }).count;
    },
    async recordUse(connectionId, subject, at) {
      return Number(statements.recordUse.run(at.getTime(), connectionId, subject).changes) === 1;
    },
    async unlink(accountId, connectionId, subject) {
      return Number(statements.unlink.run(accountId, connectionId, subject).changes) === 1;
    },
    async removeForConnection(connectionId) {
      return Number(statements.removeForConnection.run(connectionId).changes);
    },
  };
}

/** Account erasure (account-erasure.ts): every identity linked to the account. */
export function linkedIdentityEraser(db: DatabaseSync) {
  const statement = db.prepare('DELETE FROM linked_identities WHERE account_id = ?');
  return (subject: { accountId: string }) => Number(statement.run(subject.accountId).changes);
}
