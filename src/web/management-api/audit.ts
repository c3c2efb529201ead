import { z } from 'zod';

import type { AuditEvent } from '../../store/types.ts';
import type { Route, RouteContext } from './kit.ts';
import { decodeCursor, encodeCursor, pageOf, pageQuery } from './kit.ts';

export const auditEventSchema = z.object({
  at: z.string(),
  type: z.string(),
  actor: z.enum(['cli', 'api', 'system', 'user']),
  account_id: z.string().optional(),
  client_id: z.string().optional(),
  source_address: z.string().optional(),
  details: z.record(z.string(), z.unknown()),
}).meta({ id: 'AuditEvent' });

function eventJson(event: AuditEvent): z.output<typeof auditEventSchema> {
  return {
    at: event.at.toISOString(), type: event.type, actor: event.actor,
    ...(event.accountId ? { account_id: event.accountId } : {}), ...(event.clientId ? { client_id: event.clientId } : {}),
    ...(event.sourceAddress ? { source_address: event.sourceAddress } : {}), details: event.details,
  };
}

const auditQuery = pageQuery.extend({
  type: z.string().max(100).optional().describe('Only events of this type (e.g. client_added).'),
  user: z.string().max(100).optional().describe('Only events about this user (account id).'),
  client: z.string().max(200).optional().describe('Only events with this client id.'),
  actor: z.enum(['cli', 'api', 'system', 'user']).optional(),
  since: z.iso.datetime({ offset: true }).optional().describe('Only events at or after this time (RFC 3339).'),
  until: z.iso.datetime({ offset: true }).optional().describe('Only events before this time (RFC 3339).'),
});

/** How far back a query looks: the newest this many events (of the user, with `user`). */
export const auditWindow = 10_000;

/**
 * The audit trail, newest first, filtered and paged. The store answers "the newest N" (AuditStore.tail);
 * filters and pages are cut from the newest `auditWindow` events. A cursor is where the last page
 * ended: its event's time and how many events of that same millisecond were given.
 */
export function auditRoutes({ libraries }: RouteContext): Route[] {
  return [
    {
      method: 'get', path: '/audit-events', operationId: 'listAuditEvents', summary: 'The audit trail, newest first', tag: 'Audit', scope: 'audit:read',
      query: auditQuery, problems: [],
      responses: { 200: { description: 'A page of events', schema: pageOf(auditEventSchema) } },
      async handle({ query }) {
        const filter = query as z.output<typeof auditQuery>;
        const position = decodeCursor(filter.cursor, z.object({ at: z.number().int(), seen: z.number().int().min(0) }));
        const since = filter.since ? Date.parse(filter.since) : undefined;
        const until = filter.until ? Date.parse(filter.until) : undefined;
        const events = (await libraries.audit.tail({ limit: auditWindow, ...(filter.user ? { accountId: filter.user } : {}) })).reverse().filter((event) => {
          const at = event.at.getTime();
          return (filter.type === undefined || event.type === filter.type) && (filter.client === undefined || event.clientId === filter.client)
            && (filter.actor === undefined || event.actor === filter.actor) && (since === undefined || at >= since) && (until === undefined || at < until);
        });
        let start = 0;
        if (position) {
          // Past every event newer than the cursor's, and the ones of its millisecond already given.
          while (start < events.length && events[start]!.at.getTime() > position.at) start += 1;
          start += position.seen;
        }
        const items = events.slice(start, start + filter.limit);
        const last = items.at(-1);
        let next: string | null = null;
        if (last && events.length > start + filter.limit) {
          const at = last.at.getTime();
          const seen = items.filter((event) => event.at.getTime() === at).length + (position && position.at === at ? position.seen : 0);
          next = encodeCursor({ at, seen });
        }
        return { status: 200, body: { items: items.map(eventJson), next_cursor: next } };
      },
    },
  ];
}
