import { z } from 'zod';

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
});
