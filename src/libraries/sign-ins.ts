import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';

/**
 * The audit trail of sign-ins: what the sign-in flows report happened, recorded one way whichever
 * strategy got the person in (a password, a mailed code, later a passkey or another provider).
 */
export type SignInsLibrary = {
  /** Someone signed in: `login`, with how (`amr`, and e.g. the second factor used). */
  succeeded(accountId: string, source: AuditSource, details: { amr: string[] } & Record<string, unknown>): Promise<void>;
  /**
   * A sign-in was refused: `login_failed` with the reason. Given the address typed, the event names
   * its account when there is one (looked up either way: an unknown address costs the same).
   */
  failed(source: AuditSource, attempt: { reason: string; email?: string } & Record<string, unknown>): Promise<void>;
  /** A second-factor code was refused: `login_second_factor_failed`. */
  secondFactorFailed(accountId: string, source: AuditSource, reason: string): Promise<void>;
  /** The consent page's answer: `consent_given` or `consent_denied`, with the scope asked for. */
  consented(allowed: boolean, source: AuditSource, consent: { accountId: string | undefined; scope: string }): Promise<void>;
};

export function signInsLibrary(deps: Pick<LibraryDependencies, 'store' | 'clock' | 'logger'>): SignInsLibrary {
  const { store, clock, logger } = deps;
  const record = (type: string, source: AuditSource, event: Parameters<typeof auditEvent>[2]) => recordAudit(store.audit, auditEvent(type, source, event), logger, clock);
  return {
    succeeded: (accountId, source, details) => record('login', source, { accountId, details }),
    async failed(source, { email, ...details }) {
      const account = email === undefined ? undefined : await store.accounts.findByEmail(email);
      await record('login_failed', source, { ...(account ? { accountId: account.id } : {}), details });
    },
    secondFactorFailed: (accountId, source, reason) => record('login_second_factor_failed', source, { accountId, details: { reason } }),
    consented: (allowed, source, { accountId, scope }) => record(allowed ? 'consent_given' : 'consent_denied', source, { ...(accountId ? { accountId } : {}), details: { scope } }),
  };
}
