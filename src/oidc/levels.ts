import { acr as secondFactorAcr } from '../libraries/second-factor.ts';

/**
 * The levels a sign-in reaches and an authorization request may ask for, as pure rules: the
 * provider's prompt checks (configuration.ts) and the sign-in flows (src/flows/login/methods.ts)
 * decide with the same functions.
 *
 * - `password`: a password (or the mailed code that stands in for a limited password), or another
 *   provider (`amr` `fed`) whose own MFA is not trusted or not used.
 * - `mfa`: a password or another provider, and a second factor (authenticator app, recovery code,
 *   passkey); a passkey with user verification alone (something you have, unlocked by something you
 *   know or are); or another provider whose MFA the connection trusts, saying it was used.
 * - `phishing_resistant`: a passkey sign-in. A passkey is bound to Gatehouse's origin by the
 *   browser, so a look-alike site can neither use nor relay it; a password or a typed code can be.
 *   Another provider never reaches it (its sign-in is not Gatehouse's to see), whatever its `amr`.
 *
 * Each level includes the ones before it.
 */
export type Level = 'password' | 'mfa' | 'phishing_resistant';

/** The `acr` value of each level (what ID tokens carry and what `acr_values` may ask for). */
export const acr = { ...secondFactorAcr, phishingResistant: 'urn:gatehouse:loa:phr' } as const;

export const levelAcr: Record<Level, string> = { password: acr.password, mfa: acr.mfa, phishing_resistant: acr.phishingResistant };

/** Published in discovery (`acr_values_supported`), weakest first. */
export const acrValues = [acr.password, acr.mfa, acr.phishingResistant];

const order: Level[] = ['password', 'mfa', 'phishing_resistant'];

/** Whether `reached` is at least `required`. */
export function satisfies(reached: Level, required: Level): boolean {
  return order.indexOf(reached) >= order.indexOf(required);
}

/** RFC 8176 `amr` values of a passkey: a hardware- or software-secured key was used. */
const passkeyMethods = ['hwk', 'swk'];

/** Whether an `amr` says a passkey was used. */
export function usedPasskey(amr: readonly string[] | undefined): boolean {
  return (amr ?? []).some((method) => passkeyMethods.includes(method));
}

/**
 * Whether a sign-in with this `amr` had more than one factor: an authenticator app or recovery code
 * after the password (`otp`, as Gatehouse has always said it), or anything that says `mfa` (a
 * passkey with user verification, alone or after the password).
 */
export function isMultiFactor(amr: readonly string[] | undefined): boolean {
  return (amr ?? []).some((method) => method === 'otp' || method === 'mfa');
}

/**
 * The level a session's sign-in reached. Phishing-resistant only when the sign-in asserted it
 * (its `acr`) and a passkey was used: the `acr` of a session is what every ID token from it says,
 * so a session that reached it without saying so signs in again to say so.
 */
export function levelOf(session: { amr?: readonly string[] | undefined; acr?: string | undefined }): Level {
  if (session.acr === acr.phishingResistant && usedPasskey(session.amr)) return 'phishing_resistant';
  return isMultiFactor(session.amr) ? 'mfa' : 'password';
}

/**
 * What an authorization request needs: a phishing-resistant sign-in when its client is flagged so
 * (`gatehouse_require_phishing_resistant`) or its `acr_values` name that level; a second factor when
 * MFA=required, the client is flagged `require_mfa`, or `acr_values` names the mfa level.
 */
export function requiredLevel(input: {
  mfaEverywhere: boolean;
  client: { [key: string]: unknown } | undefined;
  acrValues: unknown;
}): Level {
  const asked = typeof input.acrValues === 'string' ? input.acrValues.split(' ') : [];
  if (input.client?.gatehouse_require_phishing_resistant === true || asked.includes(acr.phishingResistant)) return 'phishing_resistant';
  if (input.mfaEverywhere || input.client?.require_mfa === true || asked.includes(acr.mfa)) return 'mfa';
  return 'password';
}
