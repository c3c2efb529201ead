import type { Logger } from '../logger.ts';
import type { MailComposer, MailTemplate } from './compose.ts';
import type { Mailer } from './mailer.ts';

/** How the rest of Gatehouse sends mail: a template, an address, the data. */
export type Outbox = {
  /** Queues the message in the store (it survives restarts and SMTP outages) and asks for delivery soon. */
  send(to: string, template: MailTemplate, data: Record<string, unknown>): Promise<void>;
};

export type OutboxOptions = {
  deliverSoon?: () => void;
  /** Whether another mail may go to this recipient now (a flood of mail to one inbox is dropped). */
  allow?: (to: string) => Promise<boolean>;
  logger?: Logger;
};

export function createOutbox(mailer: Pick<Mailer, 'send'>, compose: MailComposer, options: OutboxOptions = {}): Outbox {
  return {
    async send(to, template, data) {
      // Dropped silently for the sender: answering differently would tell whether an account exists.
      if (options.allow && !(await options.allow(to))) {
        options.logger?.warn('mail dropped: too many messages to one recipient', { template });
        return;
      }
      await mailer.send({ to, ...compose(template, data) });
      options.deliverSoon?.();
    },
  };
}
