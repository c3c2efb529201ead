import type { MailDropReason, MailQueueStatus, MailStatus, MailStore, QueuedMail } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { claimDueDocuments } from './leased-queue.ts';

export const mailCollection = 'mail_queue';
const mailDropsCollection = 'mail_drops';

type DropDocument = { _id: string; day: string; kind: string; reason: MailDropReason; count: number; lastAt: Date; lastRecipient: string };

type MailDocument = {
  _id: string;
  to: string;
  subject: string;
  text: string;
  html?: string;
  createdAt: Date;
  status: MailStatus;
  attempts: number;
  nextAttemptAt: Date;
  leasedUntil: Date | null;
  lastError?: string;
  lastAttemptAt?: Date;
};

function toMail(document: MailDocument): QueuedMail {
  return {
    id: document._id,
    to: document.to,
    subject: document.subject,
    text: document.text,
    ...(document.html !== undefined ? { html: document.html } : {}),
    createdAt: document.createdAt,
    attempts: document.attempts,
    status: document.status,
    nextAttemptAt: document.nextAttemptAt,
    ...(document.lastError !== undefined ? { lastError: document.lastError } : {}),
  };
}

const recentFailureLimit = 10;

export function createMongoMailStore(database: MongoDatabase): MailStore {
  const { run } = database;
  const mail = database.collection<MailDocument>(mailCollection);
  const drops = database.collection<DropDocument>(mailDropsCollection);
  return {
    async enqueue(message) {
      const { id, html, ...rest } = message;
      await run(() => mail.insertOne({
        _id: id, ...rest, ...(html !== undefined ? { html } : {}),
        status: 'pending', attempts: 0, nextAttemptAt: message.createdAt, leasedUntil: null,
      }));
    },
    async claimDue(now, leaseSeconds, limit) {
      return (await claimDueDocuments(run, mail, now, leaseSeconds, limit)).map(toMail);
    },
    async extendLease(id, heldUntil, until) {
      const result = await run(() => mail.updateOne({ _id: id, status: 'pending', leasedUntil: heldUntil }, { $set: { leasedUntil: until } }));
      return result.matchedCount === 1;
    },
    async markSent(id, at) {
      await run(() => mail.updateOne({ _id: id }, { $set: { status: 'sent', leasedUntil: null, lastAttemptAt: at }, $inc: { attempts: 1 } }));
    },
    async markFailed(id, { at, error, nextAttemptAt }) {
      const set = nextAttemptAt
        ? { leasedUntil: null, lastError: error, lastAttemptAt: at, nextAttemptAt }
        : { status: 'failed' as const, leasedUntil: null, lastError: error, lastAttemptAt: at };
      await run(() => mail.updateOne({ _id: id }, { $set: set, $inc: { attempts: 1 } }));
    },
    async status() {
      const result: MailQueueStatus = { pending: 0, sent: 0, failed: 0, oldestPendingAt: null, recentFailures: [] };
      const counts = await run(() => mail.aggregate<{ _id: MailStatus; n: number }>([{ $group: { _id: '$status', n: { $sum: 1 } } }]).toArray());
      for (const { _id, n } of counts) result[_id] = n;
      const oldest = await run(() => mail.find({ status: 'pending' }).sort({ createdAt: 1, _id: 1 }).limit(1).toArray());
      result.oldestPendingAt = oldest[0]?.createdAt ?? null;
      const failures = await run(() => mail.find({ status: 'failed' }).sort({ lastAttemptAt: -1, _id: 1 }).limit(recentFailureLimit).toArray());
      result.recentFailures = failures.map((document) => ({
        id: document._id, to: document.to, subject: document.subject, attempts: document.attempts, lastError: document.lastError ?? '', at: document.lastAttemptAt ?? document.createdAt,
      }));
      return result;
    },
    async recordDrop(drop) {
      const day = drop.at.toISOString().slice(0, 10);
      await run(() => drops.updateOne(
        { _id: `${day}|${drop.kind}|${drop.reason}` },
        { $inc: { count: 1 }, $max: { lastAt: drop.at }, $set: { lastRecipient: drop.to }, $setOnInsert: { day, kind: drop.kind, reason: drop.reason } },
        { upsert: true },
      ));
    },
    async drops(limit) {
      const [total] = await run(() => drops.aggregate<{ n: number }>([{ $group: { _id: null, n: { $sum: '$count' } } }]).toArray());
      const recent = await run(() => drops.find({}).sort({ lastAt: -1, day: -1, kind: 1, reason: 1 }).limit(limit).toArray());
      return {
        dropped: total?.n ?? 0,
        recent: recent.map(({ day, kind, reason, count, lastAt, lastRecipient }) => ({ day, kind, reason, count, lastAt, lastRecipient })),
      };
    },
  };
}

/** A pattern matching exactly `text`, ignoring case (and surrounding spaces). */
function exactly(text: string): RegExp {
  return new RegExp(`^\\s*${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'i');
}

/**
 * Account erasure (account-erasure.ts): every message to the address, sent or not (`email`
 * normalized), and the address in the drop counters, which keep counting.
 */
export function mailEraser(database: MongoDatabase) {
  return async (subject: { email: string }) => {
    const address = exactly(subject.email);
    const messages = await database.run(() => database.collection<MailDocument>(mailCollection).deleteMany({ to: address }));
    const drops = await database.run(() => database.collection<DropDocument>(mailDropsCollection).updateMany({ lastRecipient: address }, { $set: { lastRecipient: '' } }));
    return messages.deletedCount + drops.modifiedCount;
  };
}
