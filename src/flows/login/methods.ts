import type { Level } from '../../oidc/levels.ts';
import { levelAcr } from '../../oidc/levels.ts';

/**
 * The ways to sign in, what each is worth, and what a sign-in asserts (RFC 8176 `amr`, our `acr`),
 * as pure functions: the login and second-factor flows only carry out what these decide.
 *
 * | first step            | second step          | amr                              | acr (level)                   |
 * |-----------------------|----------------------|----------------------------------|-------------------------------|
 * | password, mailed code | none                 | pwd                              | password                      |
 * | password, mailed code | app or recovery code | pwd otp                          | mfa                           |
 * | password, mailed code | passkey              | pwd, the passkey's, mfa          | mfa                           |
 * | passkey (verified)    | none                 | the passkey's (hwk/swk user), mfa | mfa, or phishing-resistant when asked for |
 *
 * A phishing-resistant level can only be reached by a passkey sign-in; asked for, it is the only
 * way offered, and a password is refused before it is checked.
 */

/** A first step: what the login page accepts. */
export type FirstStep = 'password' | 'mailed_code' | 'passkey';

/** A second step after the password: the authenticator app's code, a recovery code, or a passkey. */
export type SecondStep = 'otp' | 'recovery' | 'passkey';

/** What a finished sign-in asserts. */
export type Assertion = { amr: string[]; acr: string };

/** Which first steps the login page offers (and accepts) for an authorization needing `required`. */
export function firstStepsFor(required: Level, passkeysPossible: boolean): { password: boolean; passkey: boolean } {
  if (required === 'phishing_resistant') return { password: false, passkey: passkeysPossible };
  return { password: true, passkey: passkeysPossible };
}

/** Whether a first step may finish an authorization needing `required` (the server-side rule behind the page). */
export function firstStepAllowed(step: FirstStep, required: Level): boolean {
  return step === 'passkey' || required !== 'phishing_resistant';
}

/**
 * After the first step, whether a second one is asked for in the login itself: always when the
 * account has the authenticator app (as before); when the authorization needs a second factor and
 * the account has a passkey (otherwise the `mfa` prompt leads through setting the app up). A
 * passkey sign-in is complete in itself.
 */
export function secondStepNeeded(input: { first: FirstStep; required: Level; totpActive: boolean; passkeys: number }): boolean {
  if (input.first === 'passkey') return false;
  if (input.totpActive) return true;
  return input.required !== 'password' && input.passkeys > 0;
}

/**
 * What the second-factor page offers: the app's code (and recovery codes) when the app is set up,
 * a passkey when the account has one and passkeys work here. Neither: the app is set up first.
 */
export function secondStepsOffered(input: { totpActive: boolean; passkeys: number; passkeysPossible: boolean }): { code: boolean; passkey: boolean } {
  return { code: input.totpActive, passkey: input.passkeysPossible && input.passkeys > 0 };
}

/** A password (or the mailed code standing in for it) alone. */
export function passwordAssertion(): Assertion {
  return { amr: ['pwd'], acr: levelAcr.password };
}

/**
 * A passkey as the only step: the library's `amr` (hwk or swk, and `user`: verification is
 * required) plus `mfa`. The level is mfa, or phishing-resistant when the authorization asked for
 * it (so that a client asking for mfa gets the value it asked for). Undefined when the person was
 * not verified: such an assertion cannot stand alone.
 */
export function passkeyAssertion(passkey: { amr: readonly string[]; userVerified: boolean }, required: Level): Assertion | undefined {
  if (!passkey.userVerified) return undefined;
  return { amr: withMfa(passkey.amr), acr: levelAcr[required === 'phishing_resistant' ? 'phishing_resistant' : 'mfa'] };
}

/**
 * The password and a second step. The app's code and a recovery code assert `pwd otp` as they
 * always have (RFC 8176 has no value for a recovery code); a passkey adds its own values and `mfa`.
 */
export function secondStepAssertion(step: SecondStep, passkeyAmr: readonly string[] = []): Assertion {
  if (step === 'passkey') return { amr: withMfa(['pwd', ...passkeyAmr]), acr: levelAcr.mfa };
  return { amr: ['pwd', 'otp'], acr: levelAcr.mfa };
}

function withMfa(amr: readonly string[]): string[] {
  return [...new Set([...amr, 'mfa'])];
}

/**
 * Whether passkeys can work with this relying party at all: browsers offer WebAuthn only in a
 * secure context (https, or http on localhost), and the relying party ID must be a domain, never an
 * IP address. Elsewhere the pages do not offer passkeys (an issuer at http://127.0.0.1 has none).
 */
export function passkeysPossible(relyingParty: { id: string; origin: string }): boolean {
  const { id, origin } = relyingParty;
  if (!id || /^[\d.]+$/.test(id) || id.includes(':') || id.startsWith('[')) return false;
  const url = new URL(origin);
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && (url.hostname === 'localhost' || url.hostname.endsWith('.localhost'));
}
