import type { Level } from '../../oidc/levels.ts';
import { isMultiFactor, levelAcr } from '../../oidc/levels.ts';

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
 * | another provider      | none                 | fed                              | password                      |
 * | another provider      | app or recovery code | fed otp                          | mfa                           |
 * | another provider      | passkey              | fed, the passkey's, mfa          | mfa                           |
 * | another provider whose MFA the connection trusts, and its `amr` says mfa (or otp) | none | fed and the upstream's amr | mfa |
 *
 * A phishing-resistant level can only be reached by a passkey sign-in; asked for, it is the only
 * way offered, and a password (or another provider) is refused before it is checked. Another
 * provider's `amr` is repeated only when the connection trusts its MFA (`trustUpstreamMfa`);
 * otherwise it is ignored, and a client needing a second factor gets Gatehouse's own.
 */

/** A first step: what the login page accepts (`federated`: another provider, login/connection.ts). */
export type FirstStep = 'password' | 'mailed_code' | 'passkey' | 'federated';

/** A second step after the password: the authenticator app's code, a recovery code, or a passkey. */
export type SecondStep = 'otp' | 'recovery' | 'passkey';

/** What a finished sign-in asserts. */
export type Assertion = { amr: string[]; acr: string };

/** Which first steps the login page offers (and accepts) for an authorization needing `required`. */
export function firstStepsFor(required: Level, passkeysPossible: boolean): { password: boolean; passkey: boolean; federated: boolean } {
  if (required === 'phishing_resistant') return { password: false, passkey: passkeysPossible, federated: false };
  return { password: true, passkey: passkeysPossible, federated: true };
}

/** Whether a first step may finish an authorization needing `required` (the server-side rule behind the page). */
export function firstStepAllowed(step: FirstStep, required: Level): boolean {
  return step === 'passkey' || required !== 'phishing_resistant';
}

/**
 * After the first step, whether a second one is asked for in the login itself: always when the
 * account has the authenticator app (as before); when the authorization needs a second factor and
 * the account has a passkey (otherwise the `mfa` prompt leads through setting the app up). A
 * passkey sign-in is complete in itself, and so is another provider's whose MFA the connection
 * trusts when it says it was used (`firstMultiFactor`).
 */
export function secondStepNeeded(input: { first: FirstStep; required: Level; totpActive: boolean; passkeys: number; firstMultiFactor?: boolean }): boolean {
  if (input.first === 'passkey' || input.firstMultiFactor === true) return false;
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
 * Another provider as the first step (RFC 8176 `fed`). Its own `amr` (and the level it implies) is
 * taken only when the connection trusts its MFA: then the upstream's values follow `fed`, and they
 * reach the mfa level when they say more than one factor was used, as Gatehouse reads its own
 * (`mfa`, or `otp`: levels.ts isMultiFactor). Otherwise the sign-in is worth a password, whatever
 * the upstream says. Never phishing-resistant: Gatehouse cannot know how the upstream was reached.
 */
export function federatedAssertion(upstream: { amr: readonly string[] | null; trustUpstreamMfa: boolean }): Assertion {
  if (!upstream.trustUpstreamMfa || !upstream.amr) return { amr: ['fed'], acr: levelAcr.password };
  const amr = [...new Set(['fed', ...upstream.amr])];
  return { amr, acr: isMultiFactor(upstream.amr) ? levelAcr.mfa : levelAcr.password };
}

/** What a first step asserts before any second step: `pwd`, or `fed` for another provider. */
export type FirstFactor = 'password' | 'federated';

/**
 * The first step of a session, from its `amr`, for a second step taken at the `mfa` prompt (the
 * login was finished already): another provider when it says `fed`, else a password.
 */
export function firstFactorOf(amr: readonly string[] | undefined): FirstFactor {
  return amr?.includes('fed') ? 'federated' : 'password';
}

/**
 * The first step and a second one. The app's code and a recovery code assert `pwd otp` as they
 * always have (RFC 8176 has no value for a recovery code); a passkey adds its own values and `mfa`.
 * After another provider, `fed` stands where `pwd` would.
 */
export function secondStepAssertion(step: SecondStep, passkeyAmr: readonly string[] = [], first: FirstFactor = 'password'): Assertion {
  const firstAmr = first === 'federated' ? 'fed' : 'pwd';
  if (step === 'passkey') return { amr: withMfa([firstAmr, ...passkeyAmr]), acr: levelAcr.mfa };
  return { amr: [firstAmr, 'otp'], acr: levelAcr.mfa };
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
