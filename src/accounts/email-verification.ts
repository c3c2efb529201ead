import { recordAudit } from '../audit/audit.ts';
import type { Logger } from '../logger.ts';
import type { Outbox } from '../mail/outbox.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { OneTimeCodeRecord, Store } from '../store/types.ts';
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

/**
 * Someone being verified. `accountId: null` is a decoy: it behaves alike from outside, never
 * succeeds, gets no mail. `codeId` names the code a registration mailed (its own, decoys included);
 * without it, the account's newest code counts (someone signing in with an unconfirmed address).
 */
export type VerificationSubject = { email: string; accountId: string | null; codeId?: string };

export function verificationLink(issuer: string, token: string): string {
  return `${issuer}/verify-email/${token}`;
}

/** The code a subject's page is about: its own by id, or the newest of its account. */
export function currentCode(deps: VerificationDependencies, subject: VerificationSubject): Promise<OneTimeCodeRecord | undefined> {
  if (subject.codeId !== undefined) return deps.codes.codes.find(subject.codeId);
  if (subject.accountId === null) return Promise.resolve(undefined);
  return deps.codes.codes.latest(normalizeEmail(subject.email), 'verify_email', subject.accountId);
}

/**
 * Issues a fresh code (voiding the account's older ones; a decoy voids nothing) and mails it with
 * its link; decoys get no mail. Returns the new code's id.
 */
export async function sendVerificationCode(deps: VerificationDependencies, subject: VerificationSubject): Promise<string> {
  const issued = await issueCode(deps.codes, { purpose: 'verify_email', email: subject.email, accountId: subject.accountId });
  if (subject.accountId === null || issued.code === null) return issued.record.id;
  await deps.outbox.send(subject.email, 'verify-email', {
    code: issued.code,
    link: verificationLink(deps.issuer, issued.linkToken),
    minutes: Math.round(deps.codes.rules.ttlSeconds / 60),
  });
  return issued.record.id;
}

/** Sends a new code unless this subject's code went out within the cooldown: then how many seconds to wait. */
export async function resendVerificationCode(deps: VerificationDependencies, subject: VerificationSubject): Promise<{ sent: true; codeId: string } | { sent: false; waitSeconds: number }> {
  const now = (deps.codes.clock ?? (() => new Date()))();
  const waitSeconds = resendWait(await currentCode(deps, subject), now, deps.codes.rules);
  if (waitSeconds > 0) return { sent: false, waitSeconds };
  return { sent: true, codeId: await sendVerificationCode(deps, subject) };
}

async function markVerified(deps: VerificationDependencies, accountId: string, method: 'code' | 'link'): Promise<void> {
  await deps.store.accounts.update(accountId, { emailVerified: true });
  await recordAudit(deps.store.audit, { type: 'email_verified', actor: 'user', accountId, details: { method } }, deps.logger);
}

/** Checks a typed code against the subject's code; the account's email is verified when it is right. */
export async function confirmWithCode(deps: VerificationDependencies, subject: VerificationSubject, code: string): Promise<CodeVerdict> {
  const record = await currentCode(deps, subject);
  // The code was mailed to this address for this account; anything else is a stale page.
  const own = record && record.accountId === subject.accountId && record.email === normalizeEmail(subject.email) ? record : undefined;
  const verdict = await redeemTypedCode(deps.codes, { record: own ?? (record && { ...record, accountId: null }), purpose: 'verify_email', code });
  if (!verdict.ok) return verdict;
  await markVerified(deps, verdict.record.accountId, 'code');
  return verdict;
}

/** Uses the link from the mail (in whatever browser it was opened). */
export async function confirmWithLink(deps: VerificationDependencies, token: string): Promise<LinkVerdict> {
  const verdict = await redeemLink(deps.codes, 'verify_email', token);
  if (verdict.ok) await markVerified(deps, verdict.record.accountId, 'link');
  return verdict;
}
