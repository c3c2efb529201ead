import { z } from 'zod';

/**
 * An upstream identity waiting to be linked to an account (signing in with another provider,
 * login/connection.ts): the connection, the upstream's subject and email, the account its email
 * belongs to, and when the proof was asked for (unix seconds). The link is made only when that
 * account signs in, in this same interaction (login/complete.ts, connection-rules.ts linkToMake).
 */
export const pendingLinkSchema = z.object({
  connectionId: z.string().min(1).max(64),
  subject: z.string().min(1).max(255),
  email: z.string().min(3).max(254),
  accountId: z.string().min(1),
  issuedAt: z.number().int(),
});

export type PendingLink = z.infer<typeof pendingLinkSchema>;

/**
 * A sign-in whose address is limited as a whole (see libraries/sign-in-code.ts) waits for a code
 * mailed to the address, whatever the password was.
 */
export const awaitingSignInCodeSchema = z.object({
  step: z.literal('sign_in_code'),
  email: z.string().min(1).max(254),
  /** Null when the password was wrong (or there is no such account): no code can ever work. */
  accountId: z.string().min(1).nullable(),
  /** The code this sign-in waits for (a decoy's own record when the password was wrong). */
  codeId: z.string().min(1),
  /** Which credentials the right password was (credentialStamp): a change since ends it. */
  credentialStamp: z.string().nullable(),
  /** An identity link the proof page waits to make (see pendingLinkSchema), carried through this step. */
  link: pendingLinkSchema.optional(),
});

/**
 * The upstream's email belongs to an account, and the connection may not link by email alone: the
 * proof page asks the person to sign in to that account (its password, a passkey, or a code mailed
 * to it; `code` when one was mailed). Anything signing in to that account here makes the link.
 */
export const linkIdentitySchema = pendingLinkSchema.extend({
  step: z.literal('link_identity'),
  /** The code mailed to the account from the proof page, when the person asked for one. */
  code: z.object({ codeId: z.string().min(1), credentialStamp: z.string().nullable() }).optional(),
});
