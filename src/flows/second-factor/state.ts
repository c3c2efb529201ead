import { z } from 'zod';

/**
 * The password was right and the account has an authenticator app: the login step waits for its
 * code. `passwordAt` (unix seconds) bounds the wait (see passwordValidSeconds).
 */
export const awaitingSecondFactorSchema = z.object({
  step: z.literal('second_factor'),
  accountId: z.string().min(1),
  passwordAt: z.number().int(),
});

/** Inside the `mfa` prompt: the authenticator app was set up here and its first code checked. */
export const secondFactorEnrolledSchema = z.object({
  step: z.literal('mfa_enrolled'),
  accountId: z.string().min(1),
});

/** How long a checked password waits for its second factor. */
export const passwordValidSeconds = 10 * 60;
