import { recordAudit } from '../audit/audit.ts';
import type { Logger } from '../logger.ts';
import type { Outbox } from '../mail/outbox.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { Store } from '../store/types.ts';
import type { CodeDependencies, CodeVerdict, LinkVerdict } from './one-time-codes.ts';
import { issueCode, redeemLink, redeemTypedCode, resendWait } from './one-time-codes.ts';

/**
 * Email verification: a six-digit code and a link, mailed together, either of which confirms the
 * address. Who is being verified is an address plus, unless it is a decoy, its account.
 */
export type VerificationDependencies = {
  store: Pick<Store, 'accounts' | 'audit'>;
  codes: CodeDependencies;
  outbox: Outbox;
  /** Links in mail point here. */
  issuer: string;
  logger?: Logger;
};

/** Someone being verified. `accountId: null` is a decoy: it behaves alike from outside, never succeeds, gets no mail. */
export type VerificationSubject = { email: string; accountId: string | null };

export function verificationLink(issuer: string, token: string): string {
  return `${issuer}/verify-email/${token}`;
}

/** Issues a fresh code (voiding older ones) and mails it with its link; decoys get no mail. */
export async function sendVerificationCode(deps: VerificationDependencies, subject: VerificationSubject): Promise<void> {
  const issued = await issueCode(deps.codes, { purpose: 'verify_email', ...subject });
  if (subject.accountId === null || issued.code === null) return;
  await deps.outbox.send(subject.email, 'verify-email', {
    code: issued.code,
    link: verificationLink(deps.issuer, issued.linkToken),
    minutes: Math.round(deps.codes.rules.ttlSeconds / 60),
  });
}

/** Sends a new code unless one went out within the cooldown: then how many seconds to wait. */
export async function resendVerificationCode(deps: VerificationDependencies, subject: VerificationSubject): Promise<{ sent: true } | { sent: false; waitSeconds: number }> {
  const now = (deps.codes.clock ?? (() => new Date()))();
  const latest = await deps.codes.codes.latest(normalizeEmail(subject.email), 'verify_email');
  const waitSeconds = resendWait(latest, now, deps.codes.rules);
  if (waitSeconds > 0) return { sent: false, waitSeconds };
  await sendVerificationCode(deps, subject);
  return { sent: true };
}

async function markVerified(deps: VerificationDependencies, accountId: string, method: 'code' | 'link'): Promise<void> {
  await deps.store.accounts.update(accountId, { emailVerified: true });
  await recordAudit(deps.store.audit, { type: 'email_verified', actor: 'user', accountId, details: { method } }, deps.logger);
}

/** Checks a typed code; the account's email is verified when it is right. */
export async function confirmWithCode(deps: VerificationDependencies, subject: VerificationSubject, code: string): Promise<CodeVerdict> {
  const verdict = await redeemTypedCode(deps.codes, { purpose: 'verify_email', email: subject.email, code });
  if (!verdict.ok) return verdict;
  // The code was mailed to this address for this account; anything else is a stale page.
  if (verdict.record.accountId !== subject.accountId) return { ok: false, reason: 'missing' };
  await markVerified(deps, verdict.record.accountId, 'code');
  return verdict;
}

/** Uses the link from the mail (in whatever browser it was opened). */
export async function confirmWithLink(deps: VerificationDependencies, token: string): Promise<LinkVerdict> {
  const verdict = await redeemLink(deps.codes, 'verify_email', token);
  if (verdict.ok) await markVerified(deps, verdict.record.accountId, 'link');
  return verdict;
}
