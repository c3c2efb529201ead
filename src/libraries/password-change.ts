import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { message } from '../messages/messages.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { AccountRecord, RevocationExceptions, Store } from '../store/types.ts';
import type { PasswordSettings } from './accounts.ts';
import { describeTime, newPasswordProblem } from './password-reset.ts';
import { checkPassword, hashPassword } from './passwords.ts';
import { endSessions } from './sessions.ts';

/** Changing the password of a signed-in person (the account page), which needs the current one. */

export type PasswordChangeDependencies = {
  store: Pick<Store, 'accounts' | 'oidc' | 'audit' | 'clients' | 'logoutDeliveries'>;
  outbox: Outbox;
  passwords: PasswordSettings;
  logger?: Logger;
  /** The start-up clock (createLibraries always passes it). */
  clock?: Clock;
};

export type PasswordChangeInput = {
  accountId: string;
  currentPassword: unknown;
  newPassword: unknown;
  /**
   * "Sign out of my other sessions": every other session ends and every grant and token goes,
   * except this session and the grants it holds (this browser stays signed in, with its apps).
   * Undefined leaves sessions and tokens alone.
   */
  signOutOthers?: RevocationExceptions;
  /** Who changes it, when no `source` is passed to changePassword. */
  sourceAddress?: string;
};

export type PasswordChangeOutcome =
  | { ok: true; account: AccountRecord; revoked: number }
  | { ok: false; reason: 'wrong_password' | 'policy' | 'changed_meanwhile' | 'no_account'; message: string };

/** Audited as `password_changed`; the outcome's `message` says in words why not. */
export async function changePassword(
  deps: PasswordChangeDependencies,
  input: PasswordChangeInput,
  source: AuditSource = { actor: 'user', ...(input.sourceAddress ? { sourceAddress: input.sourceAddress } : {}) },
): Promise<PasswordChangeOutcome> {
  const account = await deps.store.accounts.findById(input.accountId);
  if (!account || account.disabled) return { ok: false, reason: 'no_account', message: message('libraries.account_cannot_be_changed') };
  // Bounded like the login form: anything longer cannot be a password we accepted.
  const current = typeof input.currentPassword === 'string' && input.currentPassword.length > 0 && input.currentPassword.length <= 4096 ? input.currentPassword : undefined;
  if (current === undefined) return { ok: false, reason: 'wrong_password', message: message('libraries.enter_current_password') };
  const { valid } = await checkPassword(account.passwordHash, current, deps.passwords.hash);
  if (!valid) return { ok: false, reason: 'wrong_password', message: message('libraries.current_password_wrong') };
  const problem = await newPasswordProblem(input.newPassword, account, deps.passwords);
  if (problem) return { ok: false, reason: 'policy', message: problem };

  const passwordHash = await hashPassword(input.newPassword as string, deps.passwords.hash);
  // Compare-and-set: a reset (or another change) that happened meanwhile wins.
  const updated = await deps.store.accounts.update(account.id, { passwordHash }, { passwordHash: account.passwordHash, disabled: false });
  if (!updated) return { ok: false, reason: 'changed_meanwhile', message: message('libraries.password_changed_meanwhile') };

  // Any credential change ends the account's half-finished sign-ins (a registration waiting for its
  // code, a password waiting for its second factor); "sign out of my other sessions" ends the rest.
  const clock = deps.clock ?? systemClock;
  // The other sessions' applications are told (back-channel logout).
  const revoked = input.signOutOthers
    ? (await endSessions({ store: deps.store, clock, ...(deps.logger ? { logger: deps.logger } : {}) }, account.id, {
      source, reason: 'password_change', keep: input.signOutOthers,
    })).revoked
    : await deps.store.oidc.revokeInteractions(account.id);
  await deps.outbox.send(updated.email, 'password-changed', { email: updated.email, when: describeTime(clock()) });
  await recordAudit(deps.store.audit, auditEvent('password_changed', source, {
    accountId: updated.id, details: { signedOutOtherSessions: input.signOutOthers !== undefined, revoked },
  }), deps.logger, clock);
  return { ok: true, account: updated, revoked };
}
