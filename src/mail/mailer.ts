import { randomUUID } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import { doublingDelay } from '../limits/backoff.ts';
import type { Logger } from '../logger.ts';
import type { MailStore, QueuedMail } from '../store/types.ts';
import type { MailSender, Transport } from './transports.ts';
import type { Config } from '../config/load-config.ts';

export type MailerOptions = {
  store: MailStore;
  transport: Transport;
  /** The From header: `Gatehouse <no-reply@example.com>`, or a name and address (senderOf) that nodemailer encodes. */
  from: string | MailSender;
  logger: Logger;
  clock?: Clock;
  /**
   * How long a claimed message is reserved for this instance (config mail.leaseSeconds). The lease
   * is renewed every third of it while the batch is being sent, so a slow SMTP server never lets
   * another instance claim (and send again) a message this one is still sending.
   */
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

/**
 * The From of every mail: MAIL_FROM's address, under the brand's From name (BRAND_MAIL_FROM_NAME,
 * else MAIL_FROM's own name, else the product name; src/config/load-config.ts). Given to nodemailer
 * as a name and an address, so it quotes and encodes the name itself; the name was refused at
 * start-up if it held a line break.
 */
export function senderOf(config: Pick<Config, 'mailFrom' | 'branding'>): MailSender {
  const address = /<([^<>\s]+)>\s*$/.exec(config.mailFrom)?.[1] ?? config.mailFrom.trim();
  const name = (config.branding.mailFromName ?? config.branding.productName).replace(/[\r\n]+/g, ' ');
  return { name, address };
}

/** After this many attempts a message fails for good. */
export const maxAttempts = 10;
const defaultFirstRetrySeconds = 30;
const maxRetrySeconds = 3600;

/** Seconds to wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, … at most 1 h. */
export function retryDelaySeconds(attempts: number, firstRetrySeconds = defaultFirstRetrySeconds): number {
  return doublingDelay({ free: 1, first: firstRetrySeconds, max: maxRetrySeconds }, Math.max(1, attempts));
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
  const clock = deps.clock ?? systemClock;
  const leaseSeconds = deps.leaseSeconds ?? 60;
  const batchSize = deps.batchSize ?? 20;

  async function deliver(mail: QueuedMail, handedOver: () => void): Promise<'sent' | 'retried' | 'failed'> {
    try {
      await transport.send({ id: mail.id, from, to: mail.to, subject: mail.subject, text: mail.text, ...(mail.html !== undefined ? { html: mail.html } : {}) });
    } catch (error) {
      handedOver();
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
    handedOver();
    await store.markSent(mail.id, clock());
    return 'sent';
  }

  /**
   * Keeps the leases of a claimed batch alive until each message is done: every third of the lease
   * the leases still held are moved one lease ahead. A lease found taken (this process stalled past
   * it) is dropped: its message is left to the instance that claimed it.
   */
  function holdLeases(due: QueuedMail[], claimedAt: Date) {
    const held = new Map(due.map((mail) => [mail.id, new Date(claimedAt.getTime() + leaseSeconds * 1000)]));
    let renewing: Promise<void> | undefined;
    const renew = async () => {
      for (const [id, heldUntil] of [...held]) {
        const until = new Date(Math.max(heldUntil.getTime(), clock().getTime() + leaseSeconds * 1000));
        let kept: boolean;
        try {
          kept = await store.extendLease(id, heldUntil, until);
        } catch (error) {
          // The lease we know may still be ours: try again on the next tick.
          logger.warn('renewing a mail lease failed', { mailId: id, error: describe(error) });
          continue;
        }
        if (held.get(id) !== heldUntil) continue; // handed over meanwhile
        if (kept) {
          held.set(id, until);
        } else {
          held.delete(id);
          logger.warn('mail lease lost to another instance; leaving the message to it', { mailId: id });
        }
      }
    };
    const timer = setInterval(() => {
      renewing ??= renew().finally(() => {
        renewing = undefined;
      });
    }, Math.max(50, (leaseSeconds * 1000) / 3));
    timer.unref();
    return {
      holds: (id: string) => held.has(id),
      release: (id: string) => held.delete(id),
      async stop() {
        clearInterval(timer);
        await renewing;
      },
    };
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
      const claimedAt = clock();
      const due = await store.claimDue(claimedAt, leaseSeconds, batchSize);
      if (due.length === 0) return result;
      const leases = holdLeases(due, claimedAt);
      try {
        for (const mail of due) {
          // Its lease was lost while earlier messages of the batch went out: another instance has it.
          if (!leases.holds(mail.id)) continue;
          result[await deliver(mail, () => leases.release(mail.id))] += 1;
        }
      } finally {
        await leases.stop();
      }
      return result;
    },
  };
}
