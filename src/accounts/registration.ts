import { randomUUID } from 'node:crypto';

import { recordAudit } from '../audit/audit.ts';
import { describeIssues, GatehouseError, isGatehouseError } from '../errors.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { AccountRecord } from '../store/types.ts';
import type { PasswordSettings } from './accounts.ts';
import type { VerificationDependencies, VerificationSubject } from './email-verification.ts';
import { sendVerificationCode } from './email-verification.ts';
import { checkPasswordPolicyAsync, defaultPasswordPolicy } from './password-policy.ts';
import { hashPassword } from './passwords.ts';
import { registrationFormSchema } from './schemas.ts';

export type RegistrationDependencies = VerificationDependencies & { passwords: PasswordSettings; sourceAddress?: string };

/**
 * Registers a person from the registration form. Whether or not the address already has an
 * account, the outcome looks the same from outside (a code is "sent" to it): a new address gets an
 * unverified account and a verification mail; a taken one gets a decoy code and its owner a mail
 * saying someone tried. Both paths hash the password, so they take about as long.
 *
 * Throws GatehouseError('invalid_input') for a bad form or a password the policy refuses; those
 * answers do not depend on whether the address is taken.
 */
export type Registration = {
  /** Who is being verified, with the code mailed for it (a decoy's own code for a taken address). */
  subject: VerificationSubject & { codeId: string };
  /** The account created, with the credentials this registration set; undefined for a taken address. */
  account?: AccountRecord;
};

export async function register(deps: RegistrationDependencies, form: { email: unknown; password: unknown; name: unknown }): Promise<Registration> {
  for (const [name, value] of Object.entries(form)) {
    if (value !== undefined && typeof value !== 'string') throw new GatehouseError('invalid_input', `${name}: fill it in once, as text`);
  }
  const parsed = registrationFormSchema.safeParse(form);
  if (!parsed.success) throw new GatehouseError('invalid_input', describeIssues(parsed.error.issues));
  const { email, password, name } = parsed.data;
  const verdict = await checkPasswordPolicyAsync(password, { email, ...(name ? { name } : {}) }, { ...defaultPasswordPolicy, minLength: deps.passwords.minLength });
  if (!verdict.ok) throw new GatehouseError('invalid_input', `password: ${verdict.reason}`);

  const passwordHash = await hashPassword(password, deps.passwords.hash);
  const existing = await deps.store.accounts.findByEmail(email);
  if (!existing) {
    try {
      const account = await deps.store.accounts.create({
        id: randomUUID(), email, passwordHash, emailVerified: false, profile: name ? { name } : {}, roles: [], disabled: false,
      });
      await recordAudit(deps.store.audit, { type: 'account_registered', actor: 'user', accountId: account.id, ...(deps.sourceAddress ? { sourceAddress: deps.sourceAddress } : {}), details: {} }, deps.logger);
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
