import type { AuditEvent } from '../store/types.ts';

export type SignInMethod = 'password' | 'mailed_code' | 'passkey' | 'federated' | 'second_factor';
export type SignInOutcome = 'success' | 'failure' | 'limited';

/**
 * What an audit event says about a sign-in, for gatehouse_sign_ins_total{method,outcome}: the
 * sign-in trail (src/libraries/sign-ins.ts and the libraries that record a sign-in's refusal) is
 * the one source, so the metric and the audit trail cannot disagree. Undefined for other events.
 *
 * - `login`: a success; the method is the first step's (a passkey, a mailed code standing in for
 *   a password, another provider, or a password), whatever second factor followed.
 * - `login_failed`: refused; `limited` when a limit refused it (rate_limited, locked), else
 *   `failure`; the method the details name (passkey, connection), else a password.
 * - `login_second_factor_failed`: the second step refused (`limited` when told to wait).
 * - `upstream_sign_in_failed`: another provider's sign-in failed.
 */
export function signInOf(event: Pick<AuditEvent, 'type' | 'details'>): { method: SignInMethod; outcome: SignInOutcome } | undefined {
  const details = event.details ?? {};
  switch (event.type) {
    case 'login': {
      const amr = Array.isArray(details.amr) ? details.amr : [];
      const method: SignInMethod = details.passkeyId !== undefined ? 'passkey'
        : details.mailedCode === true ? 'mailed_code'
          : details.connectionId !== undefined || amr.includes('fed') ? 'federated'
            : 'password';
      return { method, outcome: 'success' };
    }
    case 'login_failed': {
      const method: SignInMethod = details.method === 'passkey' ? 'passkey' : details.method === 'connection' ? 'federated' : 'password';
      const outcome: SignInOutcome = details.reason === 'rate_limited' || details.reason === 'locked' ? 'limited' : 'failure';
      return { method, outcome };
    }
    case 'login_second_factor_failed':
      return { method: 'second_factor', outcome: details.reason === 'wait' || details.reason === 'passkey_rate_limited' ? 'limited' : 'failure' };
    case 'upstream_sign_in_failed':
      return { method: 'federated', outcome: 'failure' };
    default:
      return undefined;
  }
}
