import { z } from 'zod';

import { pendingLinkSchema } from '../login/state.ts';

/**
 * The password was right and the account has an authenticator app: the login step waits for its
 * code. `passwordAt` (unix seconds) bounds the wait (see passwordValidSeconds). `first` says what
 * the first step was when it was not the password: a sign-in with another provider (`federated`,
 * whose `amr` says `fed` instead of `pwd`). `link` is an identity link the proof page waits to make
 * once the account's sign-in is complete.
 */
export const awaitingSecondFactorSchema = z.object({
  step: z.literal('second_factor'),
  accountId: z.string().min(1),
  passwordAt: z.number().int(),
  first: z.literal('federated').optional(),
  link: pendingLinkSchema.optional(),
});

/** Inside the `mfa` prompt: the authenticator app was set up here and its first code checked. */
export const secondFactorEnrolledSchema = z.object({
  step: z.literal('mfa_enrolled'),
  accountId: z.string().min(1),
});

/** How long a checked password waits for its second factor. */
export const passwordValidSeconds = 10 * 60;
