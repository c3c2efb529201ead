import type { DatabaseSync, SQLInputValue } from 'node:sqlite';

import type {
  WebhookDelivery, WebhookDeliveryStatus, WebhookDeliveryStore, WebhookQueueStatus, WebhookRecord, WebhookStore,
} from '../types.ts';
import { transaction } from './database.ts';
import { insertOrConflict } from './unique.ts';

type WebhookRow = { id: string; url: string; events: string; sealed_secret: string; enabled: number; created_at: number; updated_at: number };

function toWebhook(row: WebhookRow): WebhookRecord {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as string[],
    sealedSecret: row.sealed_secret,
    enabled: row.enabled === 1,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** The registered webhooks in SQLite (table webhooks, migration 0021). */
export function createSqliteWebhookStore(db: DatabaseSync): WebhookStore {
  const statements = {
    add: db.prepare('INSERT INTO webhooks (id, url, events, sealed_secret, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    find: db.prepare('SELECT * FROM webhooks WHERE id = ?'),
    list: db.prepare('SELECT * FROM webhooks ORDER BY created_at, id'),
    update: db.prepare(`UPDATE webhooks SET url = coalesce(?, url), events = coalesce(?, events), sealed_secret = coalesce(?, sealed_secret),
      enabled = coalesce(?, enabled), updated_at = ? WHERE id = ? RETURNING *`),
    remove: db.prepare('DELETE FROM webhooks WHERE id = ?'),
  };
  return {
    async add(record) {
      insertOrConflict(
        () => statements.add.run(record.id, record.url, JSON.stringify(record.events), record.sealedSecret, record.enabled ? 1 : 0, record.createdAt.getTime(), record.updatedAt.getTime()),
        { id: 'webhooks.id_taken', values: { id: record.id } },
      );
    },
    async find(id) {
      const row = statements.find.get(id) as WebhookRow | undefined;
      return row ? toWebhook(row) : undefined;
    },
    async list() {
      return (statements.list.all() as WebhookRow[]).map(toWebhook);
    },
    async update(id, patch, at) {
      const row = statements.update.get(
        patch.url ?? null,
        patch.events ? JSON.stringify(patch.events) : null,
        patch.sealedSecret ?? null,
        patch.enabled === undefined ? null : patch.enabled ? 1 : 0,
        at.getTime(),
        id,
      ) as WebhookRow | undefined;
      return row ? toWebhook(row) : undefined;
    },
    async remove(id) {
      return Number(statements.remove.run(id).changes) === 1;
    },
  };
}

type DeliveryRow = {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  payload: string;
  account_id: string | null;
  created_at: number;
  status: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  last_status_code: number | null;
  last_attempt_at: number | null;
  delivered_at: number | null;
};

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    webhookId: row.webhook_id,
    eventId: row.event_id,
    eventType: row.event_type,
    payload: row.payload,
    ...(row.account_id !== null ? { accountId: row.account_id } : {}),
    createdAt: new Date(row.created_at),
    status: row.status as WebhookDeliveryStatus,
    attempts: row.attempts,
    nextAttemptAt: new Date(row.next_attempt_at),
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
    ...(row.last_status_code !== null ? { lastStatusCode: row.last_status_code } : {}),
    ...(row.last_attempt_at !== null ? { lastAttemptAt: new Date(row.last_attempt_at) } : {}),
    ...(row.delivered_at !== null ? { deliveredAt: new Date(row.delivered_at) } : {}),
  };
}

/** The webhook delivery queue in SQLite (table webhook_deliveries, migration 0021). */
export function createSqliteWebhookDeliveryStore(db: DatabaseSync): WebhookDeliveryStore {
  const statements = {
    enqueue: db.prepare(`INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, payload, account_id, created_at, status, attempts, next_attempt_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?) ON CONFLICT (id) DO NOTHING`),
    due: db.prepare(`SELECT * FROM webhook_deliveries
      WHERE status = 'pending' AND next_attempt_at <= ? AND (leased_until IS NULL OR leased_until <= ?)
      ORDER BY next_attempt_at, created_at, id LIMIT ?`),
    lease: db.prepare('UPDATE webhook_deliveries SET leased_until = ? WHERE id = ?'),
    delivered: db.prepare(`UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, leased_until = NULL,
      last_attempt_at = ?, last_status_code = ?, delivered_at = ? WHERE id = ?`),
    retry: db.prepare(`UPDATE webhook_deliveries SET attempts = attempts + 1, leased_until = NULL, last_error = ?, last_status_code = ?,
      last_attempt_at = ?, next_attempt_at = ? WHERE id = ?`),
    failed: db.prepare(`UPDATE webhook_deliveries SET status = 'failed', attempts = attempts + 1, leased_until = NULL, last_error = ?,
      last_status_code = ?, last_attempt_at = ? WHERE id = ?`),
    requeue: db.prepare(`UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = ?, leased_until = NULL WHERE id = ?`),
    find: db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?'),
    counts: db.prepare('SELECT status, count(*) AS n FROM webhook_deliveries GROUP BY status'),
    oldestPending: db.prepare(`SELECT min(created_at) AS at FROM webhook_deliveries WHERE status = 'pending'`),
    prune: db.prepare(`DELETE FROM webhook_deliveries WHERE rowid IN
      (SELECT rowid FROM webhook_deliveries WHERE status <> 'pending' AND created_at < ? LIMIT ?)`),
  };
  return {
    async enqueue(deliveries) {
      if (!deliveries.length) return 0;
      // One transaction: one write, however many webhooks the event goes to.
      return transaction(db, () => {
        let added = 0;
        for (const delivery of deliveries) {
          const at = delivery.createdAt.getTime();
          const result = statements.enqueue.run(delivery.id, delivery.webhookId, delivery.eventId, delivery.eventType, delivery.payload, delivery.accountId ?? null, at, at);
          added += Number(result.changes);
        }
        return added;
      });
    },
    async claimDue(now, leaseSeconds, limit) {
      // BEGIN IMMEDIATE takes the write lock before reading: no other connection selects the same
      // rows between this select and the lease.
      return transaction(db, () => {
        const rows = statements.due.all(now.getTime(), now.getTime(), limit) as DeliveryRow[];
        const leasedUntil = now.getTime() + leaseSeconds * 1000;
        for (const row of rows) statements.lease.run(leasedUntil, row.id);
        return rows.map(toDelivery);
      });
    },
    async markDelivered(id, { at, statusCode }) {
      statements.delivered.run(at.getTime(), statusCode, at.getTime(), id);
    },
    async markFailed(id, { at, error, statusCode, nextAttemptAt }) {
      if (nextAttemptAt) statements.retry.run(error, statusCode ?? null, at.getTime(), nextAttemptAt.getTime(), id);
      else statements.failed.run(error, statusCode ?? null, at.getTime(), id);
    },
    async requeue(id, now) {
      return Number(statements.requeue.run(now.getTime(), id).changes) === 1;
    },
    async find(id) {
      const row = statements.find.get(id) as DeliveryRow | undefined;
      return row ? toDelivery(row) : undefined;
    },
    async list({ webhookId, status, limit }) {
      const where: string[] = [];
      const values: SQLInputValue[] = [];
      if (webhookId !== undefined) {
        where.push('webhook_id = ?');
        values.push(webhookId);
      }
      if (status !== undefined) {
        where.push('status = ?');
        values.push(status);
      }
      const sql = `SELECT * FROM webhook_deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`;
      return (db.prepare(sql).all(...values, limit) as DeliveryRow[]).map(toDelivery);
    },
    async status() {
      const result: WebhookQueueStatus = { pending: 0, delivered: 0, failed: 0 };
      for (const { status, n } of statements.counts.all() as Array<{ status: WebhookDeliveryStatus; n: number }>) result[status] = n;
      const oldest = (statements.oldestPending.get() as { at: number | null }).at;
      if (oldest !== null) result.oldestPendingAt = new Date(oldest);
      return result;
    },
    async prune(before, limit) {
      return Number(statements.prune.run(before.getTime(), limit).changes);
    },
  };
}

/**
 * Account erasure (account-erasure.ts): the account's finished webhook deliveries (their payloads
 * may name the person). Pending ones stay, to be sent (the account's deletion among them), and are
 * pruned once finished.
 */
export function webhookDeliveryEraser(db: DatabaseSync) {
  const statement = db.prepare("DELETE FROM webhook_deliveries WHERE account_id = ? AND status <> 'pending'");
  return (subject: { accountId: string }) => Number(statement.run(subject.accountId).changes);
}
