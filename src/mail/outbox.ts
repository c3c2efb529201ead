import type { MailComposer, MailTemplate } from './compose.ts';
import type { Mailer } from './mailer.ts';

/** How the rest of Gatehouse sends mail: a template, an address, the data. */
export type Outbox = {
  /** Queues the message in the store (it survives restarts and SMTP outages) and asks for delivery soon. */
  send(to: string, template: MailTemplate, data: Record<string, unknown>): Promise<void>;
};

export function createOutbox(mailer: Pick<Mailer, 'send'>, compose: MailComposer, deliverSoon: () => void = () => {}): Outbox {
  return {
    async send(to, template, data) {
      await mailer.send({ to, ...compose(template, data) });
      deliverSoon();
    },
  };
}
