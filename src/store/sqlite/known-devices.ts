import type { DatabaseSync } from 'node:sqlite';

import type { ErasureSubject, KnownDeviceStore } from '../types.ts';
import { transaction } from './database.ts';

type Row = { device_hash: string; first_seen_at: number; last_seen_at: number };

/** The browsers each account signed in from (migration 0019): keyed hashes of their device cookies. */
export function createSqliteKnownDeviceStore(db: DatabaseSync): KnownDeviceStore {
  const statements = {
    find: db.prepare('SELECT 1 AS found FROM known_devices WHERE account_id = ? AND device_hash = ?'),
    count: db.prepare('SELECT COUNT(*) AS count FROM known_devices WHERE account_id = ?'),
    upsert: db.prepare(`
      INSERT INTO known_devices (account_id, device_hash, first_seen_at, last_seen_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (account_id, device_hash) DO UPDATE SET last_seen_at = MAX(last_seen_at, excluded.last_seen_at)`),
    list: db.prepare('SELECT device_hash, first_seen_at, last_seen_at FROM known_devices WHERE account_id = ? ORDER BY last_seen_at DESC, device_hash'),
    remove: db.prepare('DELETE FROM known_devices WHERE account_id = ?'),
  };
  return {
    async remember(accountId, deviceHash, at) {
      // One write transaction: the answer describes the table as it was just before this sign-in.
      return transaction(db, () => {
        const known = statements.find.get(accountId, deviceHash) !== undefined;
        const { count } = statements.count.get(accountId) as { count: number };
        statements.upsert.run(accountId, deviceHash, at.getTime(), at.getTime());
        return { known, others: known ? count - 1 : count };
      });
    },
    async list(accountId) {
      return (statements.list.all(accountId) as Row[]).map((row) => ({
        deviceHash: row.device_hash, firstSeenAt: new Date(row.first_seen_at), lastSeenAt: new Date(row.last_seen_at),
      }));
    },
    async removeForAccount(accountId) {
      return Number(statements.remove.run(accountId).changes);
    },
  };
}

/** The account's known devices go with it (src/store/sqlite/account-erasure.ts). */
export function knownDeviceEraser(db: DatabaseSync): (subject: ErasureSubject) => number {
  const remove = db.prepare('DELETE FROM known_devices WHERE account_id = ?');
  return (subject) => Number(remove.run(subject.accountId).changes);
}
