import type { Transport } from '../mail/transports.ts';
import type { Metrics } from './metrics.ts';
import { SpanKind, inSpan } from './tracing.ts';

/**
 * The mail transport, observed: each message handed over is counted and timed by outcome
 * (gatehouse_mail_sends_total, gatehouse_mail_send_duration_seconds) and, when tracing is on, is a
 * client span `smtp send`. The mailer and its queue are unchanged.
 */
export function observeTransport(transport: Transport, metrics: Metrics | undefined): Transport {
  return {
    async send(mail) {
      const started = process.hrtime.bigint();
      const done = (outcome: 'sent' | 'failed') => {
        metrics?.mailSends.inc({ outcome });
        metrics?.mailSendDuration.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
      };
      await inSpan('smtp send', { kind: SpanKind.CLIENT, attributes: { 'gatehouse.mail.id': mail.id } }, async () => {
        try {
          await transport.send(mail);
        } catch (error) {
          done('failed');
          throw error;
        }
        done('sent');
      });
    },
    close: () => transport.close(),
  };
}
