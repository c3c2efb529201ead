import { randomUUID } from 'node:crypto';

import type { Logger } from '../logger.ts';
import type { MailStore, QueuedMail } from '../store/types.ts';
import type { Transport } from './transports.ts';

export type MailerOptions = {
  store: MailStore;
  transport: Transport;
  /** The From header, e.g. `Gatehouse <no-reply@example.com>`. */
  from: string;
  logger: Logger;
  clock?: () => Date;
  /** How long a claimed message is reserved for this instance (config mail.leaseSeconds). */
  leaseSeconds?: number;
  /** How many messages one deliverDue claims at most. */
  batchSize?: number;
  /** The wait after the first failure (config mail.firstRetrySeconds); it doubles after each. */
  firstRetrySeconds?: number;
};

export type Mailer = {
  /** Queues a message; delivery happens in deliverDue. Never fails because of SMTP. */
  send(message: { to: string; subject: string; text: string; html?: string }): Promise<void>;
  /** Claims the due messages and sends them; failures are retried with backoff or failed for good. */
  deliverDue(): Promise<{ sent: number; retried: number; failed: number }>;
};

/** After this many attempts a message fails for good. */
export const maxAttempts = 10;
const defaultFirstRetrySeconds = 30;
const maxRetrySeconds = 3600;

/** Seconds to wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, … at most 1 h. */
export function retryDelaySeconds(attempts: number, firstRetrySeconds = defaultFirstRetrySeconds): number {
  return Math.min(firstRetrySeconds * 2 ** Math.max(0, attempts - 1), maxRetrySeconds);
}

/** An SMTP 5xx answer: the server will refuse the message whenever it is tried. */
function isPermanent(error: unknown): boolean {
  const code = (error as { responseCode?: unknown } | null)?.responseCode;
  return typeof code === 'number' && code >= 500;
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim().slice(0, 500);
}

export function createMailer(deps: MailerOptions): Mailer {
  const { store, transport, from, logger } = deps;
  const clock = deps.clock ?? (() => new Date());
  const leaseSeconds = deps.leaseSeconds ?? 60;
  const batchSize = deps.batchSize ?? 20;

  async function deliver(mail: QueuedMail): Promise<'sent' | 'retried' | 'failed'> {
    try {
      await transport.send({ id: mail.id, from, to: mail.to, subject: mail.subject, text: mail.text, ...(mail.html !== undefined ? { html: mail.html } : {}) });
    } catch (error) {
      const attempts = mail.attempts + 1;
      const at = clock();
      const reason = describe(error);
      if (isPermanent(error) || attempts >= maxAttempts) {
        await store.markFailed(mail.id, { at, error: reason });
        logger.error('mail failed permanently', { mailId: mail.id, attempts, error: reason });
        return 'failed';
      }
      const nextAttemptAt = new Date(at.getTime() + retryDelaySeconds(attempts, deps.firstRetrySeconds) * 1000);
      await store.markFailed(mail.id, { at, error: reason, nextAttemptAt });
      logger.warn('mail delivery failed; will retry', { mailId: mail.id, attempts, nextAttemptAt: nextAttemptAt.toISOString(), error: reason });
      return 'retried';
    }
    await store.markSent(mail.id, clock());
    return 'sent';
  }

  return {
    async send(message) {
      await store.enqueue({
        id: randomUUID(), to: message.to, subject: message.subject, text: message.text,
        ...(message.html !== undefined ? { html: message.html } : {}),
        createdAt: clock(),
      });
    },
    async deliverDue() {
      const result = { sent: 0, retried: 0, failed: 0 };
      const due = await store.claimDue(clock(), leaseSeconds, batchSize);
      for (const mail of due) result[await deliver(mail)] += 1;
      return result;
    },
  };
}
