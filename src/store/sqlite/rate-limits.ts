import type { DatabaseSync } from 'node:sqlite';

import { deleteInBatches } from '../batches.ts';
import type { RateLimitCounter, RateLimitStore } from '../types.ts';

type Row = { points: number; expires_at: number | null };

const toCounter = (row: Row): RateLimitCounter => ({ points: row.points, expiresAt: row.expires_at === null ? null : new Date(row.expires_at) });

export function createSqliteRateLimitStore(db: DatabaseSync): RateLimitStore {
  const statements = {
    // One statement: a missing or expired counter restarts, a live one adds up, forceExpire resets.
    add: db.prepare(`INSERT INTO rate_limits (key, points, expires_at) VALUES (:key, :points, :expiresAt)
      ON CONFLICT (key) DO UPDATE SET
        points = CASE WHEN :force OR (rate_limits.expires_at IS NOT NULL AND rate_limits.expires_at <= :now) THEN excluded.points ELSE rate_limits.points + excluded.points END,
        expires_at = CASE WHEN :force OR (rate_limits.expires_at IS NOT NULL AND rate_limits.expires_at <= :now) THEN excluded.expires_at ELSE rate_limits.expires_at END
      RETURNING points, expires_at`),
    get: db.prepare('SELECT points, expires_at FROM rate_limits WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)'),
    delete: db.prepare('DELETE FROM rate_limits WHERE key = ?'),
    // Bounded batches through the expires_at index (see the oidc store's sweep).
    sweep: db.prepare(`DELETE FROM rate_limits WHERE rowid IN
      (SELECT rowid FROM rate_limits WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)`),
  };
  return {
    async add(key, points, durationMs, now, forceExpire) {
      const row = statements.add.get({
        key, points, now: now.getTime(), force: forceExpire ? 1 : 0, expiresAt: durationMs > 0 ? now.getTime() + durationMs : null,
      }) as Row;
      return toCounter(row);
    },
    async get(key, now) {
      const row = statements.get.get(key, now.getTime()) as Row | undefined;
      return row ? toCounter(row) : undefined;
    },
    async delete(key) {
      return Number(statements.delete.run(key).changes) === 1;
    },
    async sweep(now, limit) {
      const sweepBatch = async (batch: number) => Number(statements.sweep.run(now.getTime(), batch).changes);
      return limit === undefined ? deleteInBatches(sweepBatch) : sweepBatch(limit);
    },
  };
}

/** Account erasure (account-erasure.ts): counters whose key names the account or its address. */
export function rateLimitEraser(db: DatabaseSync) {
  const statement = db.prepare('DELETE FROM rate_limits WHERE instr(key, ?) > 0 OR instr(lower(key), ?) > 0');
  return (subject: { accountId: string; email: string }) => Number(statement.run(subject.accountId, subject.email).changes);
}
