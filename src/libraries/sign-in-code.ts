import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { Outbox } from '../mail/outbox.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { AccountRecord, Store } from '../store/types.ts';
import type { CodeDependencies, CodeVerdict } from './one-time-codes.ts';
import { issueCode, redeemTypedCode } from './one-time-codes.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import { credentialStamp } from './credential-stamp.ts';

/**
 * The way in for the owner of an address that is limited as a whole (failed sign-ins from
 * elsewhere, up to the consecutive-failure lock): from a source that has not been failing on it, a
 * password is still checked, and a right one asks for a code mailed to the address. Whatever the
 * password (right, wrong, no such account), the page that follows is the same and comes after the
 * same time, so guessing from many sources learns nothing; only the owner's mailbox gets a code.
 */

/** What the sign-in waits for (kept in its flow state: src/flows/login/state.ts). */
export type PendingSignInCode = {
  email: string;
  /** Null when the password was wrong (or there is no such account): no code can ever work. */
  accountId: string | null;
  /** The code this sign-in waits for (a decoy's own record when the password was wrong). */
  codeId: string;
  /** Which credentials the right password was (credentialStamp): a change since ends it. */
  credentialStamp: string | null;
};

export type SignInCodeDependencies = {
  store: Pick<Store, 'accounts' | 'audit'>;
  /** The sign_in codes: their store, hasher and rules (accounts.codeTtlSeconds, codeMaxAttempts). */
  codes: CodeDependencies;
  outbox: Outbox;
  keyEncryptionKey: Buffer;
  clock?: Clock;
  logger?: Logger;
};

/**
 * Why a code is asked for: the address is limited from elsewhere (after a right password), or the
 * owner proves the account to link another provider's identity to it (src/flows/login/link.ts).
 */
export type SignInCodeStart = { email: string; account: AccountRecord | undefined; reason?: 'address_limited' | 'link_identity' };

/**
 * Issues the code this sign-in will wait for: a real one mailed to the account when the password
 * was right, a decoy otherwise (so typed codes are counted alike). Audited as
 * `login_code_requested`, or as the `login_failed` it is for a wrong password (naming the address's
 * account when there is one: looked up either way).
 */
export async function startSignInCode(deps: SignInCodeDependencies, input: SignInCodeStart, source: AuditSource): Promise<PendingSignInCode> {
  const email = normalizeEmail(input.email);
  const account = input.account && !input.account.disabled ? input.account : undefined;
  const issued = await issueCode(deps.codes, { purpose: 'sign_in', email, accountId: account?.id ?? null });
  if (account && issued.code !== null) {
    await deps.outbox.send(account.email, 'sign-in-code', { code: issued.code, minutes: Math.round(deps.codes.rules.ttlSeconds / 60) });
  }
  const known = input.account ?? (await deps.store.accounts.findByEmail(input.email));
  await recordAudit(deps.store.audit, auditEvent(input.account ? 'login_code_requested' : 'login_failed', source, {
    ...(known ? { accountId: known.id } : {}),
    details: input.account ? { reason: input.reason ?? 'address_limited' } : { reason: 'invalid_credentials', addressLimited: true },
  }), deps.logger, deps.clock);
  return { email, accountId: account?.id ?? null, codeId: issued.record.id, credentialStamp: account ? credentialStamp(deps.keyEncryptionKey, account) : null };
}

export type SignInCodeOutcome = { ok: true; account: AccountRecord } | Extract<CodeVerdict, { ok: false }> | { ok: false; reason: 'start_again' };

/** Checks a typed code: the sign-in continues for the account only while its credentials are the ones checked. */
export async function confirmSignInCode(deps: SignInCodeDependencies, pending: PendingSignInCode, code: string): Promise<SignInCodeOutcome> {
  const verdict = await redeemTypedCode(deps.codes, { record: await deps.codes.codes.find(pending.codeId), purpose: 'sign_in', code });
  if (!verdict.ok) return verdict;
  const account = await deps.store.accounts.findById(verdict.record.accountId);
  if (!account || account.disabled || account.id !== pending.accountId || credentialStamp(deps.keyEncryptionKey, account) !== pending.credentialStamp) {
    return { ok: false, reason: 'start_again' };
  }
  return { ok: true, account };
}

/** Signing in with a mailed code when the address is limited from elsewhere (see startSignInCode). */
export type SignInCodeLibrary = {
  /** Issues (and mails, for the right password) the code this sign-in waits for. */
  start(input: SignInCodeStart, source: AuditSource): Promise<PendingSignInCode>;
  /** Checks a typed code against the pending sign-in. */
  confirm(pending: PendingSignInCode, code: string): Promise<SignInCodeOutcome>;
};

export function signInCodeLibrary(deps: SignInCodeDependencies): SignInCodeLibrary {
  return {
    start: (input, source) => startSignInCode(deps, input, source),
    confirm: (pending, code) => confirmSignInCode(deps, pending, code),
  };
}
