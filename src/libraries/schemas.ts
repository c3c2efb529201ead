import { z } from 'zod';

import type { MessageId, MessageValues } from '../messages/messages.ts';
import { message } from '../messages/messages.ts';
import { maxPasswordBytes } from './password-policy.ts';

/**
 * A schema's error in the reader's words: zod calls it when a value fails, inside the request being
 * served, so the sentence comes out in that request's language (a string fixed at import would not).
 */
export function words(id: MessageId, values?: MessageValues): { error: () => string } {
  return { error: () => message(id, values) };
}

export const emailSchema = z
  .string()
  .trim()
  .max(254, words('libraries.at_most_characters', { max: 254 }))
  .pipe(z.email(words('libraries.invalid_email')));

export const passwordSchema = z
  .string()
  .min(8, words('libraries.at_least_characters', { min: 8 }))
  .refine((value) => Buffer.byteLength(value, 'utf8') <= maxPasswordBytes, words('libraries.at_most_bytes', { max: maxPasswordBytes }));

/** Control characters and bidi overrides have no place in a name (they forge lines in terminals and logs). */
const controlCharacters = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

const noControlCharacters = words('libraries.no_control_characters');

const nameSchema = z.string().trim().min(1).max(200).refine((value) => !controlCharacters.test(value), noControlCharacters);

export const roleSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, words('libraries.role_format'));

export const newAccountSchema = z.object({
  email: emailSchema,
  password: passwordSchema,
  name: nameSchema.optional(),
  givenName: nameSchema.optional(),
  familyName: nameSchema.optional(),
  emailVerified: z.boolean().default(false),
  roles: z.array(roleSchema).max(100).default([]),
});

export type NewAccountInput = z.input<typeof newAccountSchema>;

/** The login form: anything may arrive, so bound sizes before doing any work. */
export const loginFormSchema = z.object({
  email: z.string().trim().min(1, words('libraries.enter_email')).max(254),
  password: z.string().min(1, words('libraries.enter_password')).max(4096),
});

/** The registration form. The password's length and blocklist are the policy's job (clear reasons). */
export const registrationFormSchema = z.object({
  // A field left out of the form is worded like an empty one (zod's own words are English).
  email: z.string(words('libraries.enter_email')).pipe(emailSchema),
  password: z.string(words('libraries.choose_password')).min(1, words('libraries.choose_password')).refine((value) => Buffer.byteLength(value, 'utf8') <= maxPasswordBytes, words('libraries.at_most_bytes', { max: maxPasswordBytes })),
  name: z.string().trim().max(200, words('libraries.at_most_characters', { max: 200 })).refine((value) => !controlCharacters.test(value), noControlCharacters).optional().transform((value) => value || undefined),
});

/** A typed verification code: six digits, spaces and dashes forgiven. */
export const typedCodeSchema = z.string().max(32).transform((value) => value.replace(/[\s-]/g, '')).pipe(z.string().regex(/^\d{6}$/, words('libraries.enter_mailed_code')));
