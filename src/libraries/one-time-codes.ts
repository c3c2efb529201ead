import { randomBytes, randomInt, randomUUID } from 'node:crypto';

import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import { keyedHash } from '../keys/encryption.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { OneTimeCodePurpose, OneTimeCodeRecord, OneTimeCodeStore, Store } from '../store/types.ts';
import type { LibraryDependencies } from './dependencies.ts';

/**
 * Email verification codes and password reset links: what is mailed, how it is stored (keyed
 * hashes only), and whether a submitted one is accepted. The decisions are pure functions of the
 * stored record and the time, so every case is unit tested without a database.
 */

export type CodeRules = {
  /** Lifetime of a code or link. */
  ttlSeconds: number;
  /** Wrong codes allowed before the code stops working. */
  maxAttempts: number;
  /** Time between two mails of the same purpose to the same address. */
  resendCooldownSeconds: number;
};

/** Where a stored code stands at a given time. */
export type CodeState = 'missing' | 'used' | 'expired' | 'exhausted' | 'usable';

export function codeState(record: OneTimeCodeRecord | undefined, now: Date, rules: Pick<CodeRules, 'maxAttempts'>): CodeState {
  if (!record) return 'missing';
  if (record.consumedAt) return 'used';
  if (now.getTime() >= record.expiresAt.getTime()) return 'expired';
  if (record.attempts >= rules.maxAttempts) return 'exhausted';
  return 'usable';
}

/** The outcome of typing a code: accepted, or why not (with the tries left after a wrong one). */
export type CodeVerdict =
  | { ok: true; record: OneTimeCodeRecord & { accountId: string } }
  | { ok: false; reason: 'wrong'; attemptsLeft: number }
  | { ok: false; reason: Exclude<CodeState, 'usable'> };

/**
 * Judges a typed code against the latest record, before anything is written: `wrong` when the
 * hashes differ or the record is a decoy (which no code can unlock).
 */
export function judgeTypedCode(record: OneTimeCodeRecord | undefined, typedHash: string, now: Date, rules: Pick<CodeRules, 'maxAttempts'>): CodeVerdict {
  const state = codeState(record, now, rules);
  if (state !== 'usable') return { ok: false, reason: state };
  const current = record!;
  if (current.accountId === null || current.codeHash === null || current.codeHash !== typedHash) {
    return { ok: false, reason: 'wrong', attemptsLeft: Math.max(0, rules.maxAttempts - current.attempts - 1) };
  }
  return { ok: true, record: current as OneTimeCodeRecord & { accountId: string } };
}

/** Whether another mail may be sent now, or how many seconds to wait. */
export function resendWait(latest: OneTimeCodeRecord | undefined, now: Date, rules: Pick<CodeRules, 'resendCooldownSeconds'>): number {
  if (!latest) return 0;
  const readyAt = latest.createdAt.getTime() + rules.resendCooldownSeconds * 1000;
  return Math.max(0, Math.ceil((readyAt - now.getTime()) / 1000));
}

/** Six digits, uniformly random, leading zeros kept. */
export function generateCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

/** 256 bits for links: unguessable, so a link needs no attempt counter. */
export function generateLinkToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * Keyed hashing: a six-digit code has only a million values, so a plain hash in a leaked database
 * would be reversed at once; an HMAC under a key that is not in the database cannot be.
 */
export type CodeHasher = (purpose: OneTimeCodePurpose, kind: 'code' | 'link', secret: string) => string;

export function createCodeHasher(keyEncryptionKey: Buffer): CodeHasher {
  return (purpose, kind, secret) => keyedHash(keyEncryptionKey, 'one-time codes', `${purpose}\0${kind}\0${secret.trim()}`);
}

/** `clock`: the start-up clock (createLibraries and mailedCodes always pass it). */
export type CodeDependencies = { codes: OneTimeCodeStore; hash: CodeHasher; rules: CodeRules; clock?: Clock };

/** The time by the codes' clock. */
export function codeTime(deps: Pick<CodeDependencies, 'clock'>): Date {
  return (deps.clock ?? systemClock)();
}

/** The mailed codes of one kind (their store, keyed hasher and rules), living `ttlSeconds`. */
export function mailedCodes(
  deps: { store: Pick<Store, 'codes'>; config: Pick<Config, 'accounts'>; keyEncryptionKey: Buffer; clock?: Clock },
  ttlSeconds: number,
): CodeDependencies {
  const { codeMaxAttempts, resendCooldownSeconds } = deps.config.accounts;
  return {
    codes: deps.store.codes, hash: createCodeHasher(deps.keyEncryptionKey), rules: { ttlSeconds, maxAttempts: codeMaxAttempts, resendCooldownSeconds },
    ...(deps.clock ? { clock: deps.clock } : {}),
  };
}

/** Mailed one-time codes and links: what the verification, sign-in code and recovery libraries are built on. */
export type CodesLibrary = {
  /** Codes of any lifetime. */
  mailed(ttlSeconds: number): CodeDependencies;
  /** Six-digit codes typed back (email verification, sign-in codes): accounts.codeTtlSeconds. */
  emailCodes: CodeDependencies;
  /** Password reset links: accounts.resetTokenTtlSeconds. */
  resetLinks: CodeDependencies;
};

export function codesLibrary(deps: Pick<LibraryDependencies, 'store' | 'config' | 'keyEncryptionKey' | 'clock'>): CodesLibrary {
  const mailed = (ttlSeconds: number) => mailedCodes(deps, ttlSeconds);
  return { mailed, emailCodes: mailed(deps.config.accounts.codeTtlSeconds), resetLinks: mailed(deps.config.accounts.resetTokenTtlSeconds) };
}

/** What to mail: the code (verification only) and the link secret. Null secrets for decoys. */
export type IssuedCode = { record: OneTimeCodeRecord; code: string | null; linkToken: string };

/**
 * Issues a new code (voiding earlier ones). With `accountId: null` it issues a decoy, so an
 * address without an account (or one that must not be revealed) behaves the same from outside.
 */
export async function issueCode(deps: CodeDependencies, input: { purpose: OneTimeCodePurpose; email: string; accountId: string | null }): Promise<IssuedCode> {
  const now = codeTime(deps);
  const code = input.purpose === 'reset_password' ? null : generateCode();
  const linkToken = generateLinkToken();
  const record: OneTimeCodeRecord = {
    id: randomUUID(),
    purpose: input.purpose,
    email: normalizeEmail(input.email),
    accountId: input.accountId,
    codeHash: code === null ? null : deps.hash(input.purpose, 'code', code),
    linkHash: deps.hash(input.purpose, 'link', linkToken),
    attempts: 0,
    createdAt: now,
    expiresAt: new Date(now.getTime() + deps.rules.ttlSeconds * 1000),
    consumedAt: null,
  };
  await deps.codes.issue(record);
  return { record, code, linkToken };
}

/**
 * Checks a typed code against `record` (the code this page mailed: found by its id, or the newest
 * of the account). The attempt is reserved before the code is judged (one atomic increment), so a
 * burst of concurrent guesses gets no more evaluations than the tries allowed; an accepted code is
 * used up.
 */
export async function redeemTypedCode(deps: CodeDependencies, input: { record: OneTimeCodeRecord | undefined; purpose: OneTimeCodePurpose; code: string }): Promise<CodeVerdict> {
  const now = codeTime(deps);
  const typedHash = deps.hash(input.purpose, 'code', input.code);
  const before = input.record?.purpose === input.purpose ? input.record : undefined;
  const early = judgeTypedCode(before, typedHash, now, deps.rules);
  if (!early.ok && early.reason !== 'wrong') return early;
  const reserved = await deps.codes.recordFailure(before!.id);
  // Judged as it stood before this attempt: the reservation is this attempt, not an earlier one.
  const verdict = judgeTypedCode(reserved && { ...reserved, attempts: reserved.attempts - 1 }, typedHash, now, deps.rules);
  if (!verdict.ok) return verdict;
  // Two tabs submitting the right code at once: only one uses it.
  if (!(await deps.codes.consume(verdict.record.id, now))) return { ok: false, reason: 'used' };
  return verdict;
}

export type LinkVerdict = { ok: true; record: OneTimeCodeRecord & { accountId: string } } | { ok: false; reason: Exclude<CodeState, 'usable' | 'exhausted'> };

/** Whether a link may still be used, without using it (the page behind the link asks to confirm). */
export async function inspectLink(deps: CodeDependencies, purpose: OneTimeCodePurpose, token: string): Promise<LinkVerdict> {
  const now = codeTime(deps);
  const record = await deps.codes.findByLinkHash(deps.hash(purpose, 'link', token));
  // A link carries 256 bits: typing wrong codes does not make it guessable, so attempts do not count.
  const state = codeState(record && record.purpose === purpose ? record : undefined, now, { maxAttempts: Number.POSITIVE_INFINITY });
  if (state !== 'usable' || record!.accountId === null) return { ok: false, reason: state === 'usable' || state === 'exhausted' ? 'missing' : state };
  return { ok: true, record: record as OneTimeCodeRecord & { accountId: string } };
}

/** Uses a link: of concurrent uses exactly one succeeds. */
export async function redeemLink(deps: CodeDependencies, purpose: OneTimeCodePurpose, token: string): Promise<LinkVerdict> {
  const verdict = await inspectLink(deps, purpose, token);
  if (!verdict.ok) return verdict;
  const now = codeTime(deps);
  if (!(await deps.codes.consume(verdict.record.id, now))) return { ok: false, reason: 'used' };
  return verdict;
}
