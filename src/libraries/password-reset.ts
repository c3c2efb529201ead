import { AsyncResource } from 'node:async_hooks';

import { z } from 'zod';

import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { Logger } from '../logger.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { Locale } from '../messages/locales.ts';
import { currentLocale, message } from '../messages/messages.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { AccountRecord, Store } from '../store/types.ts';
import { urls } from '../urls.ts';
import type { PasswordSettings } from './accounts.ts';
import type { CodeDependencies } from './one-time-codes.ts';
import { codeTime, inspectLink, issueCode, redeemLink, resendWait } from './one-time-codes.ts';
import { checkPasswordPolicyAsync, defaultPasswordPolicy } from './password-policy.ts';
import { maxPasswordBytes } from './password-policy.ts';
import { hashPassword } from './passwords.ts';
import { emailSchema, words } from './schemas.ts';
import { endSessions } from './sessions.ts';

/**
 * Password reset: "Forgot password?" mails a single-use link; the page behind it sets a new
 * password, which ends every session and revokes every grant and token of the account. A reset
 * never signs anyone in: the person signs in afterwards, through every step a login requires.
 */

export type PasswordResetDependencies = {
  store: Pick<Store, 'accounts' | 'oidc' | 'audit' | 'clients' | 'logoutDeliveries'>;
  /** The reset_password codes: their store, hasher and rules (ttl = accounts.resetTokenTtlSeconds). */
  codes: CodeDependencies;
  outbox: Outbox;
  passwords: PasswordSettings;
  /** Links in mail point here. */
  issuer: string;
  logger?: Logger;
  /**
   * Runs work that only happens for an existing account (queueing its mail, auditing) once the
   * answer is out, so an unknown address is not told apart by a faster answer. Without it, that
   * work is done before returning.
   */
  defer?: (task: () => Promise<void>) => void;
};

export function resetLink(issuer: string, token: string): string {
  return `${issuer}${urls.resetPasswordLink(token)}`;
}

/** A new password as a form sends it; its length and blocklist are the policy's job (clear reasons). */
export const newPasswordSchema = z
  .string(words('libraries.choose_new_password'))
  .min(1, words('libraries.choose_new_password'))
  .refine((value) => Buffer.byteLength(value, 'utf8') <= maxPasswordBytes, words('libraries.use_at_most_bytes', { max: maxPasswordBytes }));

/** What a link token can look like (generateLinkToken: 32 bytes, base64url); anything else is unknown. */
const linkTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/);

/**
 * The policy's verdict on a new password for this account: undefined when acceptable, else why not.
 * The strength check runs off the main thread (password-policy.ts).
 */
export async function newPasswordProblem(password: unknown, account: Pick<AccountRecord, 'email' | 'profile'>, settings: PasswordSettings): Promise<string | undefined> {
  const parsed = newPasswordSchema.safeParse(password);
  if (!parsed.success) return parsed.error.issues[0]?.message ?? message('libraries.choose_new_password');
  const name = account.profile.name;
  const verdict = await checkPasswordPolicyAsync(parsed.data, { email: account.email, ...(name ? { name } : {}) }, { ...defaultPasswordPolicy, minLength: settings.minLength });
  return verdict.ok ? undefined : verdict.reason;
}

/** Who asks, from where: the source passed in, else a person at `sourceAddress`. */
function sourceOf(input: { sourceAddress?: string }, source: AuditSource | undefined): AuditSource {
  return source ?? { actor: 'user', ...(input.sourceAddress ? { sourceAddress: input.sourceAddress } : {}) };
}

/**
 * "Forgot password?": whatever the address (unknown, disabled, malformed only aside), the outcome
 * seen from outside is the same. An existing enabled account gets a mail with a link, at most once
 * per cooldown; any other address gets a decoy record (so both paths write alike) and no mail.
 * Returns false only for input that is not an email address (the form says so; that reveals nothing).
 * Audited as `password_reset_requested` (for an existing account only).
 */
export async function requestPasswordReset(deps: PasswordResetDependencies, input: { email: unknown; sourceAddress?: string }, source?: AuditSource): Promise<boolean> {
  const parsed = emailSchema.safeParse(input.email);
  if (!parsed.success) return false;
  const email = normalizeEmail(parsed.data);
  const now = codeTime(deps.codes);
  const [latest, account] = await Promise.all([deps.codes.codes.latest(email, 'reset_password'), deps.store.accounts.findByEmail(email)]);
  // A link went out moments ago (or a decoy was recorded): say the same thing, send nothing.
  if (resendWait(latest, now, deps.codes.rules) > 0) return true;
  const eligible = account && !account.disabled ? account : undefined;
  const issued = await issueCode(deps.codes, { purpose: 'reset_password', email, accountId: eligible?.id ?? null });
  if (!eligible) return true;
  const notify = async () => {
    await deps.outbox.send(eligible.email, 'reset-password', {
      link: resetLink(deps.issuer, issued.linkToken),
      minutes: Math.round(deps.codes.rules.ttlSeconds / 60),
    });
    await recordAudit(deps.store.audit, auditEvent('password_reset_requested', sourceOf(input, source), { accountId: eligible.id }), deps.logger, deps.codes.clock);
  };
  // Run later in this request's context all the same: the mail speaks its language, the logs carry its id.
  if (deps.defer) deps.defer(AsyncResource.bind(notify));
  else await notify();
  return true;
}

export type ResetLinkState = { ok: true; account: AccountRecord } | { ok: false };

/**
 * Whether a reset link can still be used, without using it: the page behind the link only shows a
 * form (mail scanners open links). Unknown, used, expired links and disabled accounts look alike.
 */
export async function inspectResetLink(deps: PasswordResetDependencies, token: unknown): Promise<ResetLinkState> {
  const parsed = linkTokenSchema.safeParse(token);
  if (!parsed.success) return { ok: false };
  const verdict = await inspectLink(deps.codes, 'reset_password', parsed.data);
  if (!verdict.ok) return { ok: false };
  const account = await deps.store.accounts.findById(verdict.record.accountId);
  if (!account || account.disabled) return { ok: false };
  return { ok: true, account };
}

export type ResetOutcome =
  | { ok: true; account: AccountRecord; revoked: number }
  /** The link cannot be used (any more). */
  | { ok: false; reason: 'invalid_link' }
  /** The policy refused the password; the link is still usable. */
  | { ok: false; reason: 'policy'; message: string; email: string };

/**
 * Sets a new password through a reset link: checks the policy (the link stays usable when the
 * password is refused), uses the link exactly once, stores the new hash, marks the address
 * verified (the mail reached it), ends every session and revokes every grant and token, mails
 * a notice and records the event (`password_reset`). Signs nobody in.
 */
export async function resetPassword(deps: PasswordResetDependencies, input: { token: unknown; password: unknown; sourceAddress?: string }, source?: AuditSource): Promise<ResetOutcome> {
  const link = await inspectResetLink(deps, input.token);
  if (!link.ok) return { ok: false, reason: 'invalid_link' };
  const problem = await newPasswordProblem(input.password, link.account, deps.passwords);
  if (problem) return { ok: false, reason: 'policy', message: problem, email: link.account.email };
  // Hashed before the link is used: a failure here leaves the link usable.
  const passwordHash = await hashPassword(input.password as string, deps.passwords.hash);

  const redeemed = await redeemLink(deps.codes, 'reset_password', input.token as string);
  if (!redeemed.ok || redeemed.record.accountId !== link.account.id) return { ok: false, reason: 'invalid_link' };
  // Disabled in the meantime: the link no longer counts.
  const account = await deps.store.accounts.update(link.account.id, { passwordHash, emailVerified: true }, { disabled: false });
  if (!account) return { ok: false, reason: 'invalid_link' };

  // Every session ends, and the applications signed in are told (back-channel logout).
  const { revoked } = await endSessions({ store: deps.store, clock: deps.codes.clock, ...(deps.logger ? { logger: deps.logger } : {}) }, account.id, {
    source: sourceOf(input, source), reason: 'password_reset',
  });
  await deps.outbox.send(account.email, 'password-changed', { email: account.email, when: describeTime(codeTime(deps.codes)) });
  await recordAudit(deps.store.audit, auditEvent('password_reset', sourceOf(input, source), { accountId: account.id, details: { revoked } }), deps.logger, deps.codes.clock);
  return { ok: true, account, revoked };
}

/**
 * A time in mail, in the mail's language (the request's): in UTC and saying so, unambiguous for
 * anyone whatever their time zone ("May 1, 2025 at 10:00 AM UTC", "1. Mai 2025 um 10:00 UTC").
 */
export function describeTime(at: Date, locale: Locale = currentLocale()): string {
  return new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' }).format(at);
}
