import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { Logger } from '../logger.ts';
import type { Outbox } from '../mail/outbox.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { OneTimeCodeRecord, Store } from '../store/types.ts';
import { urls } from '../urls.ts';
import type { LibraryDependencies } from './dependencies.ts';
import type { CodeDependencies, CodeVerdict, LinkVerdict } from './one-time-codes.ts';
import { codeState, codeTime, inspectLink, issueCode, redeemLink, redeemTypedCode, resendWait } from './one-time-codes.ts';

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
  return `${issuer}${urls.verifyEmailLink(token)}`;
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
  const now = codeTime(deps.codes);
  const waitSeconds = resendWait(await currentCode(deps, subject), now, deps.codes.rules);
  if (waitSeconds > 0) return { sent: false, waitSeconds };
  return { sent: true, codeId: await sendVerificationCode(deps, subject) };
}

/**
 * Sends a code unless a usable one is out or one went out within the cooldown (someone signing in
 * with an address never confirmed: the account's own code counts, not a decoy someone registering
 * the address meanwhile got). True when a code was sent.
 */
export async function sendUnlessPending(deps: VerificationDependencies, subject: VerificationSubject): Promise<boolean> {
  const latest = await currentCode(deps, subject);
  const now = codeTime(deps.codes);
  if (codeState(latest, now, deps.codes.rules) === 'usable' || resendWait(latest, now, deps.codes.rules) > 0) return false;
  await sendVerificationCode(deps, subject);
  return true;
}

/** A person confirming their own address: what a page passes when it gives no more. */
const person: AuditSource = { actor: 'user' };

async function markVerified(deps: VerificationDependencies, accountId: string, method: 'code' | 'link', source: AuditSource): Promise<void> {
  await deps.store.accounts.update(accountId, { emailVerified: true });
  await recordAudit(deps.store.audit, auditEvent('email_verified', source, { accountId, details: { method } }), deps.logger, deps.codes.clock);
}

/** Checks a typed code against the subject's code; the account's email is verified when it is right (audited as `email_verified`). */
export async function confirmWithCode(deps: VerificationDependencies, subject: VerificationSubject, code: string, source: AuditSource = person): Promise<CodeVerdict> {
  const record = await currentCode(deps, subject);
  // The code was mailed to this address for this account; anything else is a stale page.
  const own = record && record.accountId === subject.accountId && record.email === normalizeEmail(subject.email) ? record : undefined;
  const verdict = await redeemTypedCode(deps.codes, { record: own ?? (record && { ...record, accountId: null }), purpose: 'verify_email', code });
  if (!verdict.ok) return verdict;
  await markVerified(deps, verdict.record.accountId, 'code', source);
  return verdict;
}

/** Uses the link from the mail (in whatever browser it was opened). */
export async function confirmWithLink(deps: VerificationDependencies, token: string, source: AuditSource = person): Promise<LinkVerdict> {
  const verdict = await redeemLink(deps.codes, 'verify_email', token);
  if (verdict.ok) await markVerified(deps, verdict.record.accountId, 'link', source);
  return verdict;
}

/** Confirming email addresses with a mailed code or link. */
export type VerificationLibrary = {
  /** The code a subject's page is about (see currentCode). */
  currentCode(subject: VerificationSubject): Promise<OneTimeCodeRecord | undefined>;
  /** Mails a fresh code and link (none for a decoy); returns the code's id. */
  send(subject: VerificationSubject): Promise<string>;
  /** Sends a code unless a usable one is out or the cooldown runs (see sendUnlessPending); true when sent. */
  sendUnlessPending(subject: VerificationSubject): Promise<boolean>;
  /** Whether a mailed link still works, without using it (the page behind it only shows a button). */
  inspectLink(token: string): Promise<LinkVerdict>;
  /** Sends again unless within the cooldown. */
  resend(subject: VerificationSubject): ReturnType<typeof resendVerificationCode>;
  /** A typed code; audited as `email_verified` when right. */
  confirmWithCode(subject: VerificationSubject, code: string, source: AuditSource): Promise<CodeVerdict>;
  /** The mailed link; audited as `email_verified` when it works. */
  confirmWithLink(token: string, source: AuditSource): Promise<LinkVerdict>;
};

/** What the verification functions (and registration, which mails a code) are built with. */
export function verificationDependencies(deps: Pick<LibraryDependencies, 'store' | 'config' | 'outbox' | 'logger'> & { codes: CodeDependencies }): VerificationDependencies {
  return { store: deps.store, codes: deps.codes, outbox: deps.outbox, issuer: deps.config.issuer, ...(deps.logger ? { logger: deps.logger } : {}) };
}

export function verificationLibrary(verification: VerificationDependencies): VerificationLibrary {
  return {
    currentCode: (subject) => currentCode(verification, subject),
    send: (subject) => sendVerificationCode(verification, subject),
    resend: (subject) => resendVerificationCode(verification, subject),
    sendUnlessPending: (subject) => sendUnlessPending(verification, subject),
    inspectLink: (token) => inspectLink(verification.codes, 'verify_email', token),
    confirmWithCode: (subject, code, source) => confirmWithCode(verification, subject, code, source),
    confirmWithLink: (token, source) => confirmWithLink(verification, token, source),
  };
}
