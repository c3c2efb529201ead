import type { DatabaseSync } from 'node:sqlite';

import type { LogoutDelivery, LogoutDeliveryStatus, LogoutDeliveryStore, LogoutQueueStatus } from '../types.ts';
import { transaction } from './database.ts';

type Row = {
  id: string;
  client_id: string;
  account_id: string;
  sid: string;
  reason: string;
  created_at: number;
  status: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  last_attempt_at: number | null;
};

function toDelivery(row: Row): LogoutDelivery {
  return {
    id: row.id,
    clientId: row.client_id,
    accountId: row.account_id,
    sid: row.sid,
    reason: row.reason,
    createdAt: new Date(row.created_at),
    status: row.status as LogoutDeliveryStatus,
    attempts: row.attempts,
    nextAttemptAt: new Date(row.next_attempt_at),
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
    ...(row.last_attempt_at !== null ? { lastAttemptAt: new Date(row.last_attempt_at) } : {}),
  };
}

/** The back-channel logout queue in SQLite (table logout_deliveries, migration 0016). */
export function createSqliteLogoutDeliveryStore(db: DatabaseSync): LogoutDeliveryStore {
  const statements = {
    enqueue: db.prepare(`INSERT INTO logout_deliveries (id, client_id, account_id, sid, reason, created_at, status, attempts, next_attempt_at)
      VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT (client_id, sid) DO NOTHING`),
    due: db.prepare(`SELECT * FROM logout_deliveries
      WHERE status = 'pending' AND next_attempt_at <= ? AND (leased_until IS NULL OR leased_until <= ?)
      ORDER BY next_attempt_at, created_at, id LIMIT ?`),
    lease: db.prepare('UPDATE logout_deliveries SET leased_until = ? WHERE id = ?'),
    delivered: db.prepare(`UPDATE logout_deliveries SET status = 'delivered', attempts = attempts + 1, leased_until = NULL, last_attempt_at = ? WHERE id = ?`),
    retry: db.prepare('UPDATE logout_deliveries SET attempts = attempts + 1, leased_until = NULL, last_error = ?, last_attempt_at = ?, next_attempt_at = ? WHERE id = ?'),
    failed: db.prepare(`UPDATE logout_deliveries SET status = 'failed', attempts = attempts + 1, leased_until = NULL, last_error = ?, last_attempt_at = ? WHERE id = ?`),
    counts: db.prepare('SELECT status, count(*) AS n FROM logout_deliveries GROUP BY status'),
    recentFailures: db.prepare(`SELECT * FROM logout_deliveries WHERE last_error IS NOT NULL AND status <> 'delivered'
      ORDER BY last_attempt_at DESC, id LIMIT ?`),
    prune: db.prepare(`DELETE FROM logout_deliveries WHERE rowid IN
      (SELECT rowid FROM logout_deliveries WHERE status <> 'pending' AND created_at < ? LIMIT ?)`),
  };
  return {
    async enqueue(delivery) {
      const at = delivery.createdAt.getTime();
      const result = statements.enqueue.run(delivery.id, delivery.clientId, delivery.accountId, delivery.sid, delivery.reason, at, at);
      return Number(result.changes) === 1;
    },
    async claimDue(now, leaseSeconds, limit) {
      // BEGIN IMMEDIATE takes the write lock before reading: no other connection selects the same
      // rows between this select and the lease.
      return transaction(db, () => {
        const rows = statements.due.all(now.getTime(), now.getTime(), limit) as Row[];
        const leasedUntil = now.getTime() + leaseSeconds * 1000;
        for (const row of rows) statements.lease.run(leasedUntil, row.id);
        return rows.map(toDelivery);
      });
    },
    async markDelivered(id, at) {
      statements.delivered.run(at.getTime(), id);
    },
    async markFailed(id, { at, error, nextAttemptAt }) {
      if (nextAttemptAt) statements.retry.run(error, at.getTime(), nextAttemptAt.getTime(), id);
      else statements.failed.run(error, at.getTime(), id);
    },
    async status(recentLimit) {
      const result: LogoutQueueStatus = { pending: 0, delivered: 0, failed: 0, recentFailures: [] };
      for (const { status, n } of statements.counts.all() as Array<{ status: LogoutDeliveryStatus; n: number }>) result[status] = n;
      result.recentFailures = (statements.recentFailures.all(recentLimit) as Row[]).map(toDelivery);
      return result;
    },
    async prune(before, limit) {
      return Number(statements.prune.run(before.getTime(), limit).changes);
    },
  };
}

/**
 * Account erasure (account-erasure.ts): the account's finished deliveries. Pending ones stay: they
 * are the applications being told that the account's sessions ended (they name the account only by
 * id and session), and are pruned once delivered or given up.
 */
export function logoutDeliveryEraser(db: DatabaseSync) {
  const statement = db.prepare("DELETE FROM logout_deliveries WHERE account_id = ? AND status <> 'pending'");
  return (subject: { accountId: string }) => Number(statement.run(subject.accountId).changes);
}
