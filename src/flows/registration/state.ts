import { z } from 'zod';

import type { AccountRecord } from '../../store/types.ts';

/**
 * What a sign-in remembers of the registration it waits to confirm (server-side, in the
 * interaction), and whether that registration may still finish signing in. A registration is a
 * claim on an address that someone else may own: it signs in only the browser that proved it reads
 * the mailbox (typed the mailed code, or confirmed the link with this browser), and only while the
 * account still has the password this registration set. A reset by the owner, or the address
 * confirmed in another browser, ends it: that browser must start again.
 */

export const pendingRegistrationSchema = z.object({
  step: z.literal('registration'),
  email: z.string().min(1).max(254),
  /** Null for a decoy (the address was taken): it never finishes. */
  accountId: z.string().min(1).nullable(),
  /** The verify_email code mailed for this registration (a decoy's own record, for a taken address). */
  codeId: z.string().min(1),
  /** Which credentials the registration set (credentialStamp); null for a decoy. */
  credentialStamp: z.string().nullable(),
  /** When this browser proved the mailbox (unix seconds): the code typed here, or the link confirmed here. */
  mailboxProvedAt: z.number().int().optional(),
  /**
   * How the account will sign in: its password (absent: registrations from before passkeys), or a
   * passkey created once the mailbox is proved (the account then has no password anyone knows).
   */
  credential: z.enum(['password', 'passkey']).optional(),
});

export type PendingRegistration = z.infer<typeof pendingRegistrationSchema>;

/**
 * A registration with a passkey whose mailbox this browser proved: the next page creates the
 * passkey, and creating it signs in. The same account and credentials as the registration had.
 */
export const passkeyRegistrationSchema = z.object({
  step: z.literal('passkey_registration'),
  email: z.string().min(1).max(254),
  accountId: z.string().min(1),
  credentialStamp: z.string(),
  mailboxProvedAt: z.number().int(),
});

export type PasskeyRegistration = z.infer<typeof passkeyRegistrationSchema>;

/** Where a pending registration stands: it may finish, it waits for the mailbox, or it is over. */
export type RegistrationProgress = 'continue' | 'awaiting_mailbox' | 'start_again';

/**
 * The rule, as a pure function of the pending state, the account as it is now and the stamp of its
 * current credentials.
 */
export function registrationProgress(
  pending: PendingRegistration,
  account: Pick<AccountRecord, 'id' | 'disabled' | 'emailVerified'> | undefined,
  currentStamp: string | undefined,
): RegistrationProgress {
  // A decoy looks like a registration waiting for its code, forever.
  if (pending.accountId === null) return 'awaiting_mailbox';
  if (!account || account.id !== pending.accountId || account.disabled) return 'start_again';
  // The password is no longer the one this registration set (a reset, a change): not ours to finish.
  if (pending.credentialStamp === null || currentStamp !== pending.credentialStamp) return 'start_again';
  if (pending.mailboxProvedAt !== undefined) return account.emailVerified ? 'continue' : 'awaiting_mailbox';
  // Confirmed, but not by this browser: whoever confirmed it is not necessarily who registered.
  return account.emailVerified ? 'start_again' : 'awaiting_mailbox';
}


/**
 * Whether the account of a registration waiting for its passkey may get one now: still the account
 * this browser registered and proved the mailbox of, enabled, confirmed, its credentials unchanged
 * (a reset by the owner meanwhile ends it, as for a password registration).
 */
export function passkeyRegistrationProgress(
  pending: PasskeyRegistration,
  account: Pick<AccountRecord, 'id' | 'disabled' | 'emailVerified'> | undefined,
  currentStamp: string | undefined,
): 'continue' | 'start_again' {
  if (!account || account.id !== pending.accountId || account.disabled || !account.emailVerified) return 'start_again';
  return currentStamp === pending.credentialStamp ? 'continue' : 'start_again';
}
