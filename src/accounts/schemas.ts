import { z } from 'zod';

import { maxPasswordBytes } from './passwords.ts';

export const emailSchema = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .pipe(z.email({ message: 'must be a valid email address' }));

export const passwordSchema = z
  .string()
  .min(8, 'must be at least 8 characters')
  .refine((value) => Buffer.byteLength(value, 'utf8') <= maxPasswordBytes, `must be at most ${maxPasswordBytes} bytes`);

/** Control characters and bidi overrides have no place in a name (they forge lines in terminals and logs). */
const controlCharacters = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

const nameSchema = z.string().trim().min(1).max(200).refine((value) => !controlCharacters.test(value), 'must not contain control characters');

export const roleSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'roles are 1-64 letters, digits or _ . : -');

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
  email: z.string().trim().min(1, 'Enter your email address').max(254),
  password: z.string().min(1, 'Enter your password').max(4096),
});

/** The registration form. The password's length and blocklist are the policy's job (clear reasons). */
export const registrationFormSchema = z.object({
  email: emailSchema,
  password: z.string().min(1, 'Choose a password').refine((value) => Buffer.byteLength(value, 'utf8') <= maxPasswordBytes, `must be at most ${maxPasswordBytes} bytes`),
  name: z.string().trim().max(200, 'must be at most 200 characters').refine((value) => !controlCharacters.test(value), 'must not contain control characters').optional().transform((value) => value || undefined),
});

/** A typed verification code: six digits, spaces and dashes forgiven. */
export const typedCodeSchema = z.string().max(32).transform((value) => value.replace(/[\s-]/g, '')).pipe(z.string().regex(/^\d{6}$/, 'Enter the 6-digit code from the email.'));
