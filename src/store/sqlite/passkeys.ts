import type { DatabaseSync } from 'node:sqlite';

import type { PasskeyDeviceType, PasskeyRecord, PasskeyStore } from '../types.ts';

type Row = {
  id: string;
  account_id: string;
  public_key: string;
  counter: number;
  transports: string;
  device_type: string;
  backed_up: number;
  aaguid: string;
  name: string;
  created_at: number;
  last_used_at: number | null;
};

function toRecord(row: Row | undefined): PasskeyRecord | undefined {
  if (!row) return undefined;
  return {
    id: row.id,
    accountId: row.account_id,
    publicKey: row.public_key,
    counter: row.counter,
    transports: JSON.parse(row.transports) as string[],
    deviceType: row.device_type as PasskeyDeviceType,
    backedUp: row.backed_up === 1,
    aaguid: row.aaguid,
    name: row.name,
    createdAt: new Date(row.created_at),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at),
  };
}

export function createSqlitePasskeyStore(db: DatabaseSync): PasskeyStore {
  const statements = {
    // A credential ID already stored is left alone (changes 0): the caller is told, nothing is overwritten.
    insert: db.prepare(`INSERT INTO passkeys (id, account_id, public_key, counter, transports, device_type, backed_up, aaguid, name, created_at, last_used_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`),
    find: db.prepare('SELECT * FROM passkeys WHERE id = ?'),
    list: db.prepare('SELECT * FROM passkeys WHERE account_id = ? ORDER BY created_at, id'),
    count: db.prepare('SELECT count(*) AS count FROM passkeys WHERE account_id = ?'),
    // Compare-and-set on the counter: one winner among uses that saw the same counter.
    recordUse: db.prepare('UPDATE passkeys SET counter = ?, backed_up = ?, last_used_at = ? WHERE id = ? AND counter = ?'),
    rename: db.prepare('UPDATE passkeys SET name = ? WHERE id = ? AND account_id = ?'),
    remove: db.prepare('DELETE FROM passkeys WHERE id = ? AND account_id = ?'),
    removeAll: db.prepare('DELETE FROM passkeys WHERE account_id = ?'),
  };
  return {
    async create(record) {
      const result = statements.insert.run(
        record.id, record.accountId, record.publicKey, record.counter, JSON.stringify(record.transports), record.deviceType,
        record.backedUp ? 1 : 0, record.aaguid, record.name, record.createdAt.getTime(), record.lastUsedAt?.getTime() ?? null,
      );
      return Number(result.changes) === 1;
    },
    async find(id) {
      return toRecord(statements.find.get(id) as Row | undefined);
    },
    async listForAccount(accountId) {
      return (statements.list.all(accountId) as Row[]).map((row) => toRecord(row)!);
    },
    async countForAccount(accountId) {
      return (statements.count.get(accountId) as { count: number }).count;
    },
    async recordUse(id, seenCounter, newCounter, backedUp, at) {
      return Number(statements.recordUse.run(newCounter, backedUp ? 1 : 0, at.getTime(), id, seenCounter).changes) === 1;
    },
    async rename(accountId, id, name) {
      return Number(statements.rename.run(name, id, accountId).changes) === 1;
    },
    async remove(accountId, id) {
      return Number(statements.remove.run(id, accountId).changes) === 1;
    },
    async removeAllForAccount(accountId) {
      return Number(statements.removeAll.run(accountId).changes);
    },
  };
}

/** Account erasure (account-erasure.ts): every passkey of the account. */
export function passkeyEraser(db: DatabaseSync) {
  const statement = db.prepare('DELETE FROM passkeys WHERE account_id = ?');
  return (subject: { accountId: string }) => Number(statement.run(subject.accountId).changes);
}
