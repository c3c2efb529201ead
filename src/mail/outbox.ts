import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { MailAdmission } from '../limits/abuse-limits.ts';
import type { Logger } from '../logger.ts';
import type { MailDrop } from '../store/types.ts';
import type { MailComposer, MailTemplate } from './compose.ts';
import type { Mailer } from './mailer.ts';

/** How the rest of Gatehouse sends mail: a template, an address, the data. */
export type Outbox = {
  /** Queues the message in the store (it survives restarts and SMTP outages) and asks for delivery soon. */
  send(to: string, template: MailTemplate, data: Record<string, unknown>): Promise<void>;
};

/** Whether a message may be queued now, or why it is dropped (the abuse limits decide). */
export type { MailAdmission };

/**
 * Notices that other people's actions cause (someone tried to register your address). They are
 * coalesced: one per recipient and window says it all, however often it happened.
 */
export const noticesCausedByOthers: ReadonlySet<MailTemplate> = new Set<MailTemplate>(['registration-attempt', 'email-change-attempt']);

export type OutboxOptions = {
  deliverSoon?: () => void;
  /**
   * Whether this message may go to this recipient now (counts it when it may). Each recipient has a
   * budget per kind of message, so notices caused by others can never use up the budget of mail the
   * owner asked for (a reset link, a verification code).
   */
  admit?: (to: string, template: MailTemplate, coalesce: boolean) => Promise<MailAdmission>;
  /** Counts a message that was not sent (shown by `gatehouse mail status`). */
  recordDrop?: (drop: MailDrop) => Promise<void>;
  logger?: Logger;
  clock?: Clock;
};

export function createOutbox(mailer: Pick<Mailer, 'send'>, compose: MailComposer, options: OutboxOptions = {}): Outbox {
  const clock = options.clock ?? systemClock;
  return {
    async send(to, template, data) {
      // Dropped silently for the sender: answering differently would tell whether an account exists.
      const admission = options.admit ? await options.admit(to, template, noticesCausedByOthers.has(template)) : { ok: true as const };
      if (!admission.ok) {
        options.logger?.warn('mail dropped', { template, reason: admission.reason });
        await options.recordDrop?.({ to, kind: template, reason: admission.reason, at: clock() })
          .catch((error: unknown) => options.logger?.warn('counting a dropped mail failed', { error }));
        return;
      }
      // Composed now, inside the request being served: the mail speaks the language of its page.
      await mailer.send({ to, ...compose(template, data) });
      options.deliverSoon?.();
    },
  };
}
