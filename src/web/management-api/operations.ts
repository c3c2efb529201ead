import { z } from 'zod';

import type { Route, RouteContext } from './kit.ts';

/**
 * The deployment's queues, read as `gatehouse mail status` and `gatehouse logout status` read them
 * (the same library calls): counts and the newest failures, for a console or a monitor.
 */

/** How many of the newest failures (and mail drops) each answer lists, as the CLI does. */
const recentLimit = 10;

const mailStatusSchema = z.object({
  pending: z.number().int(),
  sent: z.number().int(),
  failed: z.number().int(),
  dropped: z.number().int().describe('Messages never queued (sending budget, coalesced), in all.'),
  oldest_pending_at: z.string().nullable().describe('When the oldest message still pending was queued (how far behind the queue is).'),
  recent_failures: z.array(z.object({
    id: z.string(), to: z.string(), subject: z.string(), attempts: z.number().int(), last_error: z.string(), at: z.string(),
  })).describe('The newest permanent failures, newest first.'),
  recent_drops: z.array(z.object({
    day: z.string(), kind: z.string(), reason: z.string(), count: z.number().int(), last_at: z.string(), last_recipient: z.string(),
  })).describe('The newest drop counters (per day, kind and reason), newest first.'),
}).meta({ id: 'MailStatus' });

const logoutStatusSchema = z.object({
  pending: z.number().int(),
  delivered: z.number().int(),
  failed: z.number().int(),
  recent_failures: z.array(z.object({
    id: z.string(), client_id: z.string(), account_id: z.string(), sid: z.string(), reason: z.string(),
    status: z.enum(['pending', 'delivered', 'failed']).describe('pending: will be retried; failed: given up.'),
    attempts: z.number().int(), last_error: z.string().nullable(), last_attempt_at: z.string().nullable(), next_attempt_at: z.string().nullable(),
  })).describe('The newest deliveries whose last attempt failed (retrying or given up), newest first.'),
}).meta({ id: 'LogoutStatus' });

export function operationRoutes({ libraries }: RouteContext): Route[] {
  return [
    {
      method: 'get', path: '/operations/mail', operationId: 'getMailStatus', summary: 'The outgoing mail queue: counts, the latest failures and drops', tag: 'Operations', scope: 'operations:read',
      problems: [],
      responses: { 200: { description: 'The mail queue', schema: mailStatusSchema } },
      async handle() {
        const [status, drops] = await Promise.all([libraries.mailQueue.status(), libraries.mailQueue.drops(recentLimit)]);
        const body: z.output<typeof mailStatusSchema> = {
          pending: status.pending, sent: status.sent, failed: status.failed, dropped: drops.dropped,
          oldest_pending_at: status.oldestPendingAt?.toISOString() ?? null,
          recent_failures: status.recentFailures.map((f) => ({ id: f.id, to: f.to, subject: f.subject, attempts: f.attempts, last_error: f.lastError, at: f.at.toISOString() })),
          recent_drops: drops.recent.map((d) => ({ day: d.day, kind: d.kind, reason: d.reason, count: d.count, last_at: d.lastAt.toISOString(), last_recipient: d.lastRecipient })),
        };
        return { status: 200, body };
      },
    },
    {
      method: 'get', path: '/operations/logouts', operationId: 'getLogoutStatus', summary: 'The back-channel logout queue: counts and the latest failures', tag: 'Operations', scope: 'operations:read',
      problems: [],
      responses: { 200: { description: 'The back-channel logout queue', schema: logoutStatusSchema } },
      async handle() {
        const status = await libraries.sessions.status(recentLimit);
        const body: z.output<typeof logoutStatusSchema> = {
          pending: status.pending, delivered: status.delivered, failed: status.failed,
          recent_failures: status.recentFailures.map((d) => ({
            id: d.id, client_id: d.clientId, account_id: d.accountId, sid: d.sid, reason: d.reason, status: d.status,
            attempts: d.attempts, last_error: d.lastError ?? null, last_attempt_at: d.lastAttemptAt?.toISOString() ?? null,
            next_attempt_at: d.status === 'pending' ? d.nextAttemptAt.toISOString() : null,
          })),
        };
        return { status: 200, body };
      },
    },
  ];
}
