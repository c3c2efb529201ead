import { z } from 'zod';

import type { Outbox } from '../mail/outbox.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { AccountRecord, Store } from '../store/types.ts';
import type { CodeDependencies, CodeVerdict } from './one-time-codes.ts';
import { issueCode, redeemTypedCode } from './one-time-codes.ts';
import { credentialStamp } from './pending-registration.ts';

/**
 * The way in for the owner of an address that is limited as a whole (failed sign-ins from
 * elsewhere, up to the consecutive-failure lock): from a source that has not been failing on it, a
 * password is still checked, and a right one asks for a code mailed to the address. Whatever the
 * password (right, wrong, no such account), the page that follows is the same and comes after the
 * same time, so guessing from many sources learns nothing; only the owner's mailbox gets a code.
 */

export const pendingSignInCodeSchema = z.object({
  email: z.string().min(1).max(254),
  /** Null when the password was wrong (or there is no such account): no code can ever work. */
  accountId: z.string().min(1).nullable(),
  /** The code this sign-in waits for (a decoy's own record when the password was wrong). */
  codeId: z.string().min(1),
  /** Which credentials the right password was (credentialStamp): a change since ends it. */
  credentialStamp: z.string().nullable(),
});

export type PendingSignInCode = z.infer<typeof pendingSignInCodeSchema>;

export function pendingSignInCodeOf(result: unknown): PendingSignInCode | undefined {
  const parsed = pendingSignInCodeSchema.safeParse((result as { signInCode?: unknown } | undefined)?.signInCode);
  return parsed.success ? parsed.data : undefined;
}

export type SignInCodeDependencies = {
  store: Pick<Store, 'accounts'>;
  /** The sign_in codes: their store, hasher and rules (accounts.codeTtlSeconds, codeMaxAttempts). */
  codes: CodeDependencies;
  outbox: Outbox;
  keyEncryptionKey: Buffer;
};

/**
 * Issues the code this sign-in will wait for: a real one mailed to the account when the password
 * was right, a decoy otherwise (so typed codes are counted alike).
 */
export async function startSignInCode(deps: SignInCodeDependencies, input: { email: string; account: AccountRecord | undefined }): Promise<PendingSignInCode> {
  const email = normalizeEmail(input.email);
  const account = input.account && !input.account.disabled ? input.account : undefined;
  const issued = await issueCode(deps.codes, { purpose: 'sign_in', email, accountId: account?.id ?? null });
  if (account && issued.code !== null) {
    await deps.outbox.send(account.email, 'sign-in-code', { code: issued.code, minutes: Math.round(deps.codes.rules.ttlSeconds / 60) });
  }
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
