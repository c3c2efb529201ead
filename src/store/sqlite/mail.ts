import type { DatabaseSync } from 'node:sqlite';

import type { MailDropReason, MailQueueStatus, MailStatus, MailStore, QueuedMail } from '../types.ts';
import { transaction } from './database.ts';

type Row = {
  id: string;
  recipient: string;
  subject: string;
  text: string;
  html: string | null;
  created_at: number;
  status: string;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  last_attempt_at: number | null;
};

function toMail(row: Row): QueuedMail {
  return {
    id: row.id,
    to: row.recipient,
    subject: row.subject,
    text: row.text,
    ...(row.html !== null ? { html: row.html } : {}),
    createdAt: new Date(row.created_at),
    attempts: row.attempts,
    status: row.status as MailStatus,
    nextAttemptAt: new Date(row.next_attempt_at),
    ...(row.last_error !== null ? { lastError: row.last_error } : {}),
  };
}

const recentFailureLimit = 10;

type DropRow = { day: string; kind: string; reason: string; count: number; last_at: number; last_recipient: string };

export function createSqliteMailStore(db: DatabaseSync): MailStore {
  const statements = {
    recordDrop: db.prepare(`INSERT INTO mail_drops (day, kind, reason, count, last_at, last_recipient) VALUES (?, ?, ?, 1, ?, ?)
      ON CONFLICT (day, kind, reason) DO UPDATE SET count = count + 1, last_at = max(last_at, excluded.last_at), last_recipient = excluded.last_recipient`),
    dropTotal: db.prepare('SELECT coalesce(sum(count), 0) AS n FROM mail_drops'),
    recentDrops: db.prepare('SELECT * FROM mail_drops ORDER BY last_at DESC, day DESC, kind, reason LIMIT ?'),
    enqueue: db.prepare(`INSERT INTO mail_queue (id, recipient, subject, text, html, created_at, status, attempts, next_attempt_at)
      VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?)`),
    due: db.prepare(`SELECT * FROM mail_queue
      WHERE status = 'pending' AND next_attempt_at <= ? AND (leased_until IS NULL OR leased_until <= ?)
      ORDER BY next_attempt_at, created_at, id LIMIT ?`),
    lease: db.prepare('UPDATE mail_queue SET leased_until = ? WHERE id = ?'),
    extend: db.prepare(`UPDATE mail_queue SET leased_until = ? WHERE id = ? AND status = 'pending' AND leased_until = ?`),
    sent: db.prepare(`UPDATE mail_queue SET status = 'sent', attempts = attempts + 1, leased_until = NULL, last_attempt_at = ? WHERE id = ?`),
    retry: db.prepare(`UPDATE mail_queue SET attempts = attempts + 1, leased_until = NULL, last_error = ?, last_attempt_at = ?, next_attempt_at = ? WHERE id = ?`),
    failed: db.prepare(`UPDATE mail_queue SET status = 'failed', attempts = attempts + 1, leased_until = NULL, last_error = ?, last_attempt_at = ? WHERE id = ?`),
    counts: db.prepare('SELECT status, count(*) AS n FROM mail_queue GROUP BY status'),
    oldestPending: db.prepare(`SELECT min(created_at) AS at FROM mail_queue WHERE status = 'pending'`),
    recentFailures: db.prepare(`SELECT * FROM mail_queue WHERE status = 'failed' ORDER BY last_attempt_at DESC, id LIMIT ?`),
  };
  return {
    async enqueue(message) {
      const at = message.createdAt.getTime();
      statements.enqueue.run(message.id, message.to, message.subject, message.text, message.html ?? null, at, at);
    },
    async claimDue(now, leaseSeconds, limit) {
      // BEGIN IMMEDIATE takes the write lock before reading, so another process cannot select
      // the same rows between this select and the lease.
      return transaction(db, () => {
        const rows = statements.due.all(now.getTime(), now.getTime(), limit) as Row[];
        const leasedUntil = now.getTime() + leaseSeconds * 1000;
        for (const row of rows) statements.lease.run(leasedUntil, row.id);
        return rows.map(toMail);
      });
    },
    async extendLease(id, heldUntil, until) {
      return Number(statements.extend.run(until.getTime(), id, heldUntil.getTime()).changes) === 1;
    },
    async markSent(id, at) {
      statements.sent.run(at.getTime(), id);
    },
    async markFailed(id, { at, error, nextAttemptAt }) {
      if (nextAttemptAt) statements.retry.run(error, at.getTime(), nextAttemptAt.getTime(), id);
      else statements.failed.run(error, at.getTime(), id);
    },
    async status() {
      const result: MailQueueStatus = { pending: 0, sent: 0, failed: 0, oldestPendingAt: null, recentFailures: [] };
      for (const { status, n } of statements.counts.all() as Array<{ status: MailStatus; n: number }>) result[status] = n;
      const { at } = statements.oldestPending.get() as { at: number | null };
      result.oldestPendingAt = at === null ? null : new Date(at);
      result.recentFailures = (statements.recentFailures.all(recentFailureLimit) as Row[]).map((row) => ({
        id: row.id, to: row.recipient, subject: row.subject, attempts: row.attempts, lastError: row.last_error ?? '', at: new Date(row.last_attempt_at ?? row.created_at),
      }));
      return result;
    },
    async recordDrop(drop) {
      statements.recordDrop.run(drop.at.toISOString().slice(0, 10), drop.kind, drop.reason, drop.at.getTime(), drop.to);
    },
    async drops(limit) {
      const { n } = statements.dropTotal.get() as { n: number };
      const recent = (statements.recentDrops.all(limit) as DropRow[]).map((row) => ({
        day: row.day, kind: row.kind, reason: row.reason as MailDropReason, count: row.count, lastAt: new Date(row.last_at), lastRecipient: row.last_recipient,
      }));
      return { dropped: n, recent };
    },
  };
}

/**
 * Account erasure (account-erasure.ts): every message to the address, sent or not (`email`
 * normalized), and the address in the drop counters, which keep counting.
 */
export function mailEraser(db: DatabaseSync) {
  const messages = db.prepare('DELETE FROM mail_queue WHERE lower(trim(recipient)) = ?');
  const drops = db.prepare("UPDATE mail_drops SET last_recipient = '' WHERE lower(trim(last_recipient)) = ?");
  return (subject: { email: string }) => Number(messages.run(subject.email).changes) + Number(drops.run(subject.email).changes);
}
