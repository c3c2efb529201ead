import type { DatabaseSync } from 'node:sqlite';

import { deleteInBatches } from '../batches.ts';
import type { OneTimeCodePurpose, OneTimeCodeRecord, OneTimeCodeStore } from '../types.ts';
import { transaction } from './database.ts';

type Row = {
  id: string;
  purpose: string;
  email: string;
  account_id: string | null;
  code_hash: string | null;
  link_hash: string;
  attempts: number;
  created_at: number;
  expires_at: number;
  consumed_at: number | null;
};

function toRecord(row: Row | undefined): OneTimeCodeRecord | undefined {
  if (!row) return undefined;
  return {
    id: row.id,
    purpose: row.purpose as OneTimeCodePurpose,
    email: row.email,
    accountId: row.account_id,
    codeHash: row.code_hash,
    linkHash: row.link_hash,
    attempts: row.attempts,
    createdAt: new Date(row.created_at),
    expiresAt: new Date(row.expires_at),
    consumedAt: row.consumed_at === null ? null : new Date(row.consumed_at),
  };
}

export function createSqliteOneTimeCodeStore(db: DatabaseSync): OneTimeCodeStore {
  const statements = {
    voidEarlier: db.prepare('UPDATE one_time_codes SET consumed_at = ? WHERE email = ? AND purpose = ? AND consumed_at IS NULL AND account_id IS NOT NULL'),
    insert: db.prepare(`INSERT INTO one_time_codes (id, purpose, email, account_id, code_hash, link_hash, attempts, created_at, expires_at)
      VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`),
    latest: db.prepare('SELECT * FROM one_time_codes WHERE email = ? AND purpose = ? ORDER BY created_at DESC, id DESC LIMIT 1'),
    latestOfAccount: db.prepare('SELECT * FROM one_time_codes WHERE email = ? AND purpose = ? AND account_id = ? ORDER BY created_at DESC, id DESC LIMIT 1'),
    byLinkHash: db.prepare('SELECT * FROM one_time_codes WHERE link_hash = ?'),
    byId: db.prepare('SELECT * FROM one_time_codes WHERE id = ?'),
    failure: db.prepare('UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = ?'),
    consume: db.prepare('UPDATE one_time_codes SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL'),
    // Bounded batches through the expires_at index (see the oidc store's sweep).
    sweep: db.prepare('DELETE FROM one_time_codes WHERE rowid IN (SELECT rowid FROM one_time_codes WHERE expires_at < ? LIMIT ?)'),
  };
  // Rare (an email change undone) and over a table the sweeper keeps small: no index of its own.
  const voidForAccount = db.prepare('UPDATE one_time_codes SET consumed_at = ? WHERE account_id = ? AND purpose = ? AND consumed_at IS NULL');
  return {
    async issue(record) {
      transaction(db, () => {
        if (record.accountId !== null) statements.voidEarlier.run(record.createdAt.getTime(), record.email, record.purpose);
        statements.insert.run(record.id, record.purpose, record.email, record.accountId, record.codeHash, record.linkHash, record.createdAt.getTime(), record.expiresAt.getTime());
      });
    },
    async latest(email, purpose, accountId) {
      const row = accountId === undefined ? statements.latest.get(email, purpose) : statements.latestOfAccount.get(email, purpose, accountId);
      return toRecord(row as Row | undefined);
    },
    async find(id) {
      return toRecord(statements.byId.get(id) as Row | undefined);
    },
    async findByLinkHash(linkHash) {
      return toRecord(statements.byLinkHash.get(linkHash) as Row | undefined);
    },
    async recordFailure(id) {
      statements.failure.run(id);
      return toRecord(statements.byId.get(id) as Row | undefined);
    },
    async consume(id, at) {
      return Number(statements.consume.run(at.getTime(), id).changes) === 1;
    },
    async voidForAccount(accountId, purpose, at) {
      return Number(voidForAccount.run(at.getTime(), accountId, purpose).changes);
    },
    async sweep(before, limit) {
      const sweepBatch = async (batch: number) => Number(statements.sweep.run(before.getTime(), batch).changes);
      return limit === undefined ? deleteInBatches(sweepBatch) : sweepBatch(limit);
    },
  };
}

/** Account erasure (account-erasure.ts): codes and links of the account or sent to its address (`email` normalized). */
export function oneTimeCodeEraser(db: DatabaseSync) {
  const statement = db.prepare('DELETE FROM one_time_codes WHERE account_id = ? OR email = ?');
  return (subject: { accountId: string; email: string }) => Number(statement.run(subject.accountId, subject.email).changes);
}
