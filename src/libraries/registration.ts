import { randomUUID } from 'node:crypto';

import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import { isGatehouseError } from '../errors.ts';
import { message } from '../messages/messages.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { AccountRecord } from '../store/types.ts';
import type { PasswordSettings } from './accounts.ts';
import type { VerificationDependencies, VerificationSubject } from './email-verification.ts';
import { sendVerificationCode } from './email-verification.ts';
import { checkPasswordPolicyAsync, defaultPasswordPolicy } from './password-policy.ts';
import { hashPassword } from './passwords.ts';
import { registrationFormSchema } from './schemas.ts';
import { invalidInput } from './validation.ts';

/** `sourceAddress`: who registers, when no `source` is passed to register. */
export type RegistrationDependencies = VerificationDependencies & { passwords: PasswordSettings; sourceAddress?: string };

/**
 * Registers a person from the registration form. Whether or not the address already has an
 * account, the outcome looks the same from outside (a code is "sent" to it): a new address gets an
 * unverified account and a verification mail; a taken one gets a decoy code and its owner a mail
 * saying someone tried. Both paths hash the password, so they take about as long.
 *
 * Throws InvalidInputError for a bad form or a password the policy refuses; those answers do not
 * depend on whether the address is taken. A new account is audited as `account_registered`.
 */
export type Registration = {
  /** Who is being verified, with the code mailed for it (a decoy's own code for a taken address). */
  subject: VerificationSubject & { codeId: string };
  /** The account created, with the credentials this registration set; undefined for a taken address. */
  account?: AccountRecord;
};

export async function register(
  deps: RegistrationDependencies,
  form: { email: unknown; password: unknown; name: unknown },
  source: AuditSource = { actor: 'user', ...(deps.sourceAddress ? { sourceAddress: deps.sourceAddress } : {}) },
): Promise<Registration> {
  const repeated = Object.entries(form).find(([, value]) => value !== undefined && typeof value !== 'string');
  if (repeated) throw invalidInput([{ path: [repeated[0]], message: message('libraries.fill_in_once_as_text') }]);
  const parsed = registrationFormSchema.safeParse(form);
  if (!parsed.success) throw invalidInput(parsed.error.issues);
  const { email, password, name } = parsed.data;
  const verdict = await checkPasswordPolicyAsync(password, { email, ...(name ? { name } : {}) }, { ...defaultPasswordPolicy, minLength: deps.passwords.minLength });
  if (!verdict.ok) throw invalidInput([{ path: ['password'], message: verdict.reason }]);
  return registerAccount(deps, { email, name, passwordHash: await hashPassword(password, deps.passwords.hash) }, source);
}

/**
 * Registers a person who will sign in with a passkey instead of a password: the same as register
 * (the same answer for a taken address, the same verification), but the account has no password
 * (passwordHash null) until its owner sets one through the mailed reset link. Neither path hashes
 * anything, so they take about as long.
 */
export async function registerForPasskey(
  deps: RegistrationDependencies,
  form: { email: unknown; name: unknown },
  source: AuditSource = { actor: 'user', ...(deps.sourceAddress ? { sourceAddress: deps.sourceAddress } : {}) },
): Promise<Registration> {
  const repeated = Object.entries(form).find(([, value]) => value !== undefined && typeof value !== 'string');
  if (repeated) throw invalidInput([{ path: [repeated[0]], message: message('libraries.fill_in_once_as_text') }]);
  const parsed = registrationFormSchema.omit({ password: true }).safeParse(form);
  if (!parsed.success) throw invalidInput(parsed.error.issues);
  return registerAccount(deps, { email: parsed.data.email, name: parsed.data.name, passwordHash: null }, source);
}

async function registerAccount(
  deps: RegistrationDependencies,
  { email, name, passwordHash }: { email: string; name: string | undefined; passwordHash: string | null },
  source: AuditSource,
): Promise<Registration> {
  const existing = await deps.store.accounts.findByEmail(email);
  if (!existing) {
    try {
      const account = await deps.store.accounts.create({
        id: randomUUID(), email, passwordHash, emailVerified: false, profile: name ? { name } : {}, roles: [], disabled: false,
      });
      await recordAudit(deps.store.audit, auditEvent('account_registered', source, { accountId: account.id, ...(passwordHash === null ? { details: { credential: 'passkey' } } : {}) }), deps.logger, deps.codes.clock);
      const subject = { email: normalizeEmail(email), accountId: account.id };
      return { subject: { ...subject, codeId: await sendVerificationCode(deps, subject) }, account };
    } catch (error) {
      // Someone registered the same address a moment ago: treat it as taken.
      if (!isGatehouseError(error) || error.code !== 'conflict') throw error;
    }
  }
  // A decoy of its own: it voids none of the owner's pending codes.
  const subject = { email: normalizeEmail(email), accountId: null };
  const codeId = await sendVerificationCode(deps, subject);
  const owner = existing ?? (await deps.store.accounts.findByEmail(email));
  if (owner) await deps.outbox.send(owner.email, 'registration-attempt', { email: owner.email });
  return { subject: { ...subject, codeId } };
}

/** People registering themselves (the registration form). */
export type RegistrationLibrary = {
  /** See register: a new address gets an account and a code, a taken one a decoy; the same outside. */
  register(form: { email: unknown; password: unknown; name: unknown }, source: AuditSource): Promise<Registration>;
  /** See registerForPasskey: the same, for an account without a password that signs in with a passkey. */
  registerForPasskey(form: { email: unknown; name: unknown }, source: AuditSource): Promise<Registration>;
};

export function registrationLibrary(deps: Omit<RegistrationDependencies, 'sourceAddress'>): RegistrationLibrary {
  return {
    register: (form, source) => register(deps, form, source),
    registerForPasskey: (form, source) => registerForPasskey(deps, form, source),
  };
}
