import type { AuditSource } from './audit.ts';
import type { PasswordSettings } from './accounts.ts';
import type { LibraryDependencies } from './dependencies.ts';
import type { CodeDependencies } from './one-time-codes.ts';
import type { PasswordChangeInput, PasswordChangeOutcome } from './password-change.ts';
import { changePassword } from './password-change.ts';
import type { PasswordResetDependencies, ResetLinkState, ResetOutcome } from './password-reset.ts';
import { inspectResetLink, newPasswordProblem, requestPasswordReset, resetPassword } from './password-reset.ts';
import type { AccountRecord } from '../store/types.ts';

/** Choosing a new password: with a mailed link ("Forgot password?"), or with the current one (the account page). */
export type RecoveryLibrary = {
  /**
   * "Forgot password?" (see requestPasswordReset); false only for input that is no email address.
   * `defer` runs the work only an existing account causes after the answer is out.
   */
  request(email: unknown, source: AuditSource, options?: { defer?: PasswordResetDependencies['defer'] }): Promise<boolean>;
  /** Whether a reset link can still be used, without using it. */
  inspectLink(token: unknown): Promise<ResetLinkState>;
  /** Sets a new password through a reset link (see resetPassword); audited as `password_reset`. */
  reset(input: { token: unknown; password: unknown }, source: AuditSource): Promise<ResetOutcome>;
  /** Changes the password of a signed-in person, who gives the current one; audited as `password_changed`. */
  change(input: Omit<PasswordChangeInput, 'sourceAddress'>, source: AuditSource): Promise<PasswordChangeOutcome>;
  /** The policy's verdict on a new password for this account: undefined when acceptable, else why not. */
  newPasswordProblem(password: unknown, account: Pick<AccountRecord, 'email' | 'profile'>): Promise<string | undefined>;
};

export function recoveryLibrary(
  deps: Pick<LibraryDependencies, 'store' | 'config' | 'outbox' | 'clock' | 'logger'> & { codes: CodeDependencies; passwords: PasswordSettings },
): RecoveryLibrary {
  const logger = deps.logger ? { logger: deps.logger } : {};
  const reset: PasswordResetDependencies = { store: deps.store, codes: deps.codes, outbox: deps.outbox, passwords: deps.passwords, issuer: deps.config.issuer, ...logger };
  const change = { store: deps.store, outbox: deps.outbox, passwords: deps.passwords, clock: deps.clock, ...logger };
  return {
    request: (email, source, options = {}) => requestPasswordReset(options.defer ? { ...reset, defer: options.defer } : reset, { email }, source),
    inspectLink: (token) => inspectResetLink(reset, token),
    reset: (input, source) => resetPassword(reset, input, source),
    change: (input, source) => changePassword(change, input, source),
    newPasswordProblem: (password, account) => newPasswordProblem(password, account, deps.passwords),
  };
}
