import { isGatehouseError } from '../errors.ts';
import { message } from '../messages/messages.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { AccountRecord, RevocationExceptions } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import type { CodeDependencies } from './one-time-codes.ts';
import { codeTime, inspectLink, issueCode, redeemLink, redeemTypedCode } from './one-time-codes.ts';
import { describeTime } from './password-reset.ts';
import { emailSchema } from './schemas.ts';
import { endSessions } from './sessions.ts';
import { invalidInput } from './validation.ts';

/**
 * Changing an account's email address (the account page's /account/email).
 *
 * 1. `request`: the new address gets a six-digit code and a link (one-time codes of purpose
 *    `change_email`, living accounts.codeTtlSeconds). If the address belongs to another account,
 *    the answer is the same (a decoy code, which no code unlocks, is "sent") and that account's
 *    owner gets a notice instead, as registration does: the page never tells whether an address
 *    has an account. Audited `email_change_requested`.
 * 2. `confirmCode` / `confirmLink`: the address changes (the store keeps addresses unique
 *    case-insensitively: a registration of the same address at the same moment makes one of the
 *    two fail, never two accounts), email_verified becomes true, every other session of the account
 *    ends (its tokens with it), and the old address is told, with an undo link living
 *    accounts.emailChangeUndoDays days (purpose `undo_email_change`). Audited `email_changed`.
 * 3. `undo`: the link restores the old address (verified: its mailbox just proved it), ends every
 *    session, and hands back a password reset link, since whoever changed the address may know the
 *    password. Audited `email_change_undone`.
 *
 * The mails of steps 2 and 3 are sent here, not by the security notifications: they carry the undo
 * link, which only this library has. Nothing here depends on the page: the CLI or the management
 * API could call the same functions.
 */

export type EmailChangeDependencies = Pick<LibraryDependencies, 'store' | 'config' | 'outbox' | 'clock' | 'logger'> & {
  /** The code and link mailed to the new address. */
  changeCodes: CodeDependencies;
  /** The undo link mailed to the old address. */
  undoLinks: CodeDependencies;
  /** A password reset link, handed out after an undo. */
  resetLinks: CodeDependencies;
};

/** What the page keeps between asking and confirming: the code mailed (a decoy's for a taken address) and the address. */
export type PendingEmailChange = { codeId: string; email: string };

export type EmailChangeOutcome =
  | { ok: true; account: AccountRecord; previousEmail: string }
  | { ok: false; reason: 'wrong'; attemptsLeft: number }
  /** missing: no such code for this account; taken: the address got an account meanwhile; changed_meanwhile: the address changed meanwhile. */
  | { ok: false; reason: 'used' | 'expired' | 'exhausted' | 'missing' | 'taken' | 'changed_meanwhile' };

export type UndoOutcome =
  | { ok: true; email: string; accountId: string; resetToken: string }
  | { ok: false; reason: 'used' | 'expired' | 'missing' | 'taken' };

export type EmailChangeLinkState = { ok: true; email: string } | { ok: false; reason: 'used' | 'expired' | 'missing' };

/** The account page's address for confirming by link and for undoing (under /account: the page's cookies reach them). */
export const emailChangeLinks = {
  confirm: (token: string) => `/account/email/confirm/${encodeURIComponent(token)}`,
  undo: (token: string) => `/account/email/undo/${encodeURIComponent(token)}`,
};

function recorder(deps: EmailChangeDependencies) {
  return (type: string, source: AuditSource, accountId: string, details: Record<string, unknown>) =>
    recordAudit(deps.store.audit, auditEvent(type, source, { accountId, details }), deps.logger, deps.clock);
}

/**
 * Asks to change `accountId`'s address to `newEmail`. InvalidInputError (path `email`) for no email
 * address or the account's own; otherwise the same answer whether the address is free or taken.
 */
export async function requestEmailChange(deps: EmailChangeDependencies, accountId: string, newEmail: unknown, source: AuditSource): Promise<PendingEmailChange> {
  if (typeof newEmail !== 'string') throw invalidInput([{ path: ['email'], message: message('libraries.fill_in_once_as_text') }]);
  const parsed = emailSchema.safeParse(newEmail);
  if (!parsed.success) throw invalidInput(parsed.error.issues.map((issue) => ({ ...issue, path: ['email'] })));
  const email = parsed.data;
  const account = await deps.store.accounts.findById(accountId);
  if (!account) throw invalidInput([{ path: ['email'], message: message('libraries.account_cannot_be_changed') }]);
  if (normalizeEmail(email) === normalizeEmail(account.email)) throw invalidInput([{ path: ['email'], message: message('libraries.email_change_same_address') }]);

  const owner = await deps.store.accounts.findByEmail(email);
  // A taken address: a decoy code (it voids none of anyone's codes) and a notice to its owner.
  const issued = await issueCode(deps.changeCodes, { purpose: 'change_email', email, accountId: owner ? null : account.id });
  if (owner) {
    await deps.outbox.send(owner.email, 'email-change-attempt', { email: owner.email });
  } else {
    await deps.outbox.send(email, 'confirm-email-change', {
      email, code: issued.code, link: `${deps.config.issuer}${emailChangeLinks.confirm(issued.linkToken)}`,
      minutes: Math.round(deps.changeCodes.rules.ttlSeconds / 60),
    });
  }
  await recorder(deps)('email_change_requested', source, account.id, { email: account.email, new_email: normalizeEmail(email) });
  return { codeId: issued.record.id, email: normalizeEmail(email) };
}

/**
 * Makes the change the code or link proved: the address, verified; the old address told with its
 * undo link; every session but `keep` ended.
 */
async function applyChange(
  deps: EmailChangeDependencies, accountId: string, newEmail: string, keep: RevocationExceptions | undefined, source: AuditSource,
): Promise<EmailChangeOutcome> {
  const account = await deps.store.accounts.findById(accountId);
  if (!account || account.disabled) return { ok: false, reason: 'missing' };
  let updated: AccountRecord | undefined;
  try {
    // Compare-and-set on the old address: two confirmations racing (a code and a link) change it once.
    updated = await deps.store.accounts.update(account.id, { email: newEmail, emailVerified: true }, { email: account.email });
  } catch (error) {
    if (isGatehouseError(error) && error.code === 'conflict') return { ok: false, reason: 'taken' };
    throw error;
  }
  if (!updated) return { ok: false, reason: 'changed_meanwhile' };
  // One change at a time: other pending changes of the account (to other addresses) are void now.
  await deps.store.codes.voidForAccount(account.id, 'change_email', codeTime(deps.changeCodes));
  await recorder(deps)('email_changed', source, account.id, { email: updated.email, previous_email: account.email });
  const undo = await issueCode(deps.undoLinks, { purpose: 'undo_email_change', email: account.email, accountId: account.id });
  await deps.outbox.send(account.email, 'email-changed', {
    email: account.email, newEmail: updated.email, when: describeTime(codeTime(deps.undoLinks)),
    link: `${deps.config.issuer}${emailChangeLinks.undo(undo.linkToken)}`, days: deps.config.accounts.emailChangeUndoDays,
  });
  await endSessions({ store: deps.store, clock: deps.clock, ...(deps.logger ? { logger: deps.logger } : {}) }, account.id, {
    source, reason: 'email_changed', ...(keep ? { keep } : {}),
  });
  return { ok: true, account: updated, previousEmail: account.email };
}

/** Confirms with the code typed on the page (the pending change the page kept): a wrong code counts a try. */
export async function confirmEmailChangeCode(
  deps: EmailChangeDependencies, input: { accountId: string; pending: PendingEmailChange; code: unknown; keep?: RevocationExceptions }, source: AuditSource,
): Promise<EmailChangeOutcome> {
  const record = await deps.changeCodes.codes.find(input.pending.codeId);
  // Another account's code is no code; a decoy (accountId null) is judged, and is always wrong.
  const own = record && record.purpose === 'change_email' && (record.accountId === null || record.accountId === input.accountId) ? record : undefined;
  const code = typeof input.code === 'string' ? input.code.replace(/\s/g, '') : '';
  if (!/^\d{6}$/.test(code)) return own ? { ok: false, reason: 'wrong', attemptsLeft: Math.max(0, deps.changeCodes.rules.maxAttempts - own.attempts) } : { ok: false, reason: 'missing' };
  const verdict = await redeemTypedCode(deps.changeCodes, { record: own, purpose: 'change_email', code });
  if (!verdict.ok) return verdict;
  return applyChange(deps, verdict.record.accountId, verdict.record.email, input.keep, source);
}

/** Whether a confirmation link can still be used (its page asks to confirm: a mail scanner's GET changes nothing). */
export async function inspectEmailChangeLink(deps: EmailChangeDependencies, token: unknown): Promise<EmailChangeLinkState & { accountId?: string }> {
  if (typeof token !== 'string' || token.length > 200) return { ok: false, reason: 'missing' };
  const verdict = await inspectLink(deps.changeCodes, 'change_email', token);
  return verdict.ok ? { ok: true, email: verdict.record.email, accountId: verdict.record.accountId } : verdict;
}

/** Confirms by the mailed link; `keep` spares the session of the browser that opened it when it is the account's. */
export async function confirmEmailChangeLink(
  deps: EmailChangeDependencies, input: { token: unknown; keep?: (accountId: string) => RevocationExceptions | undefined }, source: AuditSource,
): Promise<EmailChangeOutcome> {
  if (typeof input.token !== 'string' || input.token.length > 200) return { ok: false, reason: 'missing' };
  const verdict = await redeemLink(deps.changeCodes, 'change_email', input.token);
  if (!verdict.ok) return verdict;
  return applyChange(deps, verdict.record.accountId, verdict.record.email, input.keep?.(verdict.record.accountId), source);
}

/** Whether an undo link can still be used, and the address it restores. */
export async function inspectUndoLink(deps: EmailChangeDependencies, token: unknown): Promise<EmailChangeLinkState> {
  if (typeof token !== 'string' || token.length > 200) return { ok: false, reason: 'missing' };
  const verdict = await inspectLink(deps.undoLinks, 'undo_email_change', token);
  return verdict.ok ? { ok: true, email: verdict.record.email } : verdict;
}

/**
 * Undoes a change by the link mailed to the old address: the old address back (verified), every
 * session ended, and a password reset link for the browser to go on with.
 */
export async function undoEmailChange(deps: EmailChangeDependencies, token: unknown, source: AuditSource): Promise<UndoOutcome> {
  if (typeof token !== 'string' || token.length > 200) return { ok: false, reason: 'missing' };
  const verdict = await redeemLink(deps.undoLinks, 'undo_email_change', token);
  if (!verdict.ok) return verdict;
  const { accountId, email: restored } = verdict.record;
  const account = await deps.store.accounts.findById(accountId);
  if (!account) return { ok: false, reason: 'missing' };
  if (normalizeEmail(account.email) !== restored) {
    try {
      await deps.store.accounts.update(account.id, { email: restored, emailVerified: true });
    } catch (error) {
      if (isGatehouseError(error) && error.code === 'conflict') return { ok: false, reason: 'taken' };
      throw error;
    }
  }
  // A change asked meanwhile (by whoever made the first) must not be confirmable after the undo.
  await deps.store.codes.voidForAccount(account.id, 'change_email', codeTime(deps.undoLinks));
  await recorder(deps)('email_change_undone', source, account.id, { email: restored, previous_email: account.email });
  await endSessions({ store: deps.store, clock: deps.clock, ...(deps.logger ? { logger: deps.logger } : {}) }, account.id, { source, reason: 'email_changed' });
  const reset = await issueCode(deps.resetLinks, { purpose: 'reset_password', email: restored, accountId: account.id });
  return { ok: true, email: restored, accountId: account.id, resetToken: reset.linkToken };
}

/** Changing one's email address (see the top of this file). */
export type EmailChangeLibrary = {
  request(accountId: string, newEmail: unknown, source: AuditSource): Promise<PendingEmailChange>;
  confirmCode(input: { accountId: string; pending: PendingEmailChange; code: unknown; keep?: RevocationExceptions }, source: AuditSource): Promise<EmailChangeOutcome>;
  inspectLink(token: unknown): Promise<EmailChangeLinkState & { accountId?: string }>;
  confirmLink(input: { token: unknown; keep?: (accountId: string) => RevocationExceptions | undefined }, source: AuditSource): Promise<EmailChangeOutcome>;
  inspectUndo(token: unknown): Promise<EmailChangeLinkState>;
  undo(token: unknown, source: AuditSource): Promise<UndoOutcome>;
  /** Days an undo link lives. */
  undoDays: number;
};

export function emailChangeLibrary(deps: EmailChangeDependencies): EmailChangeLibrary {
  return {
    request: (accountId, newEmail, source) => requestEmailChange(deps, accountId, newEmail, source),
    confirmCode: (input, source) => confirmEmailChangeCode(deps, input, source),
    inspectLink: (token) => inspectEmailChangeLink(deps, token),
    confirmLink: (input, source) => confirmEmailChangeLink(deps, input, source),
    inspectUndo: (token) => inspectUndoLink(deps, token),
    undo: (token, source) => undoEmailChange(deps, token, source),
    undoDays: deps.config.accounts.emailChangeUndoDays,
  };
}
