import type { Logger } from '../logger.ts';
import type { AuditEvent, AuditStore } from '../store/types.ts';

export type AuditInput = Omit<AuditEvent, 'at'> & { at?: Date };

/**
 * Records an event in the audit trail (the store, so every instance and the CLI see one trail)
 * and, when a logger is given, in the log. Callers pass curated details: never a password, code,
 * token or secret.
 */
export async function recordAudit(store: AuditStore, event: AuditInput, logger?: Logger): Promise<void> {
  const entry: AuditEvent = { ...event, at: event.at ?? new Date() };
  logger?.info(`audit: ${entry.type}`, { audit: entry });
  await store.append(entry);
}
