import type Provider from 'oidc-provider';
import { z } from 'zod';

import { GatehouseError } from '../errors.ts';
import { ceremonyTimeoutMs } from '../libraries/passkeys.ts';
import { message } from '../messages/messages.ts';
import { urls } from '../urls.ts';
import type { InteractionDetails } from './interaction.ts';

/**
 * A passkey ceremony inside a sign-in: its challenge, and what its page needs to run it.
 *
 * The challenge of a passkey ceremony inside a sign-in: issued when its page is drawn, kept
 * server-side in the interaction (never in the browser), and good for one verification.
 *
 * - **Bound to the interaction**: it is stored in the interaction's result under its own key
 *   (`gatehouse_passkey`), next to the flow state (state.ts) rather than in it, because a ceremony
 *   can be offered at several steps (the login page, the second factor at the login or the `mfa`
 *   prompt, a registration's new passkey). Saving the flow state replaces the whole result, so any
 *   step forward voids the challenge of the step before.
 * - **For one purpose, and one account when it names one**: a sign-in challenge cannot finish a
 *   second step or a registration, nor one account's second step another's.
 * - **Single use**: taking it removes it from the interaction before the answer is verified, so
 *   the first attempt consumes it, right or wrong; the next ceremony needs the page drawn again.
 *   (Two answers racing within one browser's interaction could both read it; the library's
 *   compare-and-set on the sign counter, and the interaction cookie, leave nothing to gain.)
 * - **Short-lived**: it expires `challengeLifetimeSeconds` after it was issued (the time browsers
 *   are told a ceremony may take), whatever is left of the interaction.
 */

export const passkeyChallengeKey = 'gatehouse_passkey';

export type CeremonyPurpose = 'sign_in' | 'second_factor' | 'registration';

/** How long an issued challenge may be answered: the ceremony's timeout (libraries/passkeys.ts). */
export const challengeLifetimeSeconds = ceremonyTimeoutMs / 1000;

export const storedChallengeSchema = z.object({
  purpose: z.enum(['sign_in', 'second_factor', 'registration']),
  /** base64url, as the library made it. */
  challenge: z.string().min(16).max(512),
  /** The account the ceremony is for; null for a discoverable sign-in (anyone's passkey). */
  accountId: z.string().min(1).nullable(),
  /** Unix seconds, from the injected clock. */
  issuedAt: z.number().int(),
});

export type StoredChallenge = z.infer<typeof storedChallengeSchema>;

export type ChallengeVerdict = { ok: true; challenge: string } | { ok: false; reason: 'missing' | 'expired' };

/**
 * Whether the stored entry is a challenge this ceremony may be verified against now: the same
 * purpose and account, issued at most challengeLifetimeSeconds ago.
 */
export function challengeVerdict(stored: unknown, expected: { purpose: CeremonyPurpose; accountId: string | null }, now: number): ChallengeVerdict {
  const parsed = storedChallengeSchema.safeParse(stored);
  if (!parsed.success) return { ok: false, reason: 'missing' };
  const entry = parsed.data;
  if (entry.purpose !== expected.purpose || entry.accountId !== expected.accountId) return { ok: false, reason: 'missing' };
  if (now - entry.issuedAt > challengeLifetimeSeconds) return { ok: false, reason: 'expired' };
  return { ok: true, challenge: entry.challenge };
}

/** Where the interaction is read again from (the provider serving now). */
export type InteractionSource = { provider: () => Pick<Provider, 'Interaction'> };

/**
 * The interaction as stored now. The request's own `details` may be older than a flow state saved
 * meanwhile in the same request (saveFlowState stores through the provider): writing `details`
 * back would undo that save.
 */
async function stored(deps: InteractionSource, details: InteractionDetails): Promise<InteractionDetails> {
  const interaction = await deps.provider().Interaction.find(details.uid);
  if (!interaction) throw new GatehouseError('invalid_input', 'flows.step_expired');
  return interaction;
}

/** Keeps a newly issued challenge in the interaction (replacing any earlier one). */
export async function rememberChallenge(deps: InteractionSource, details: InteractionDetails, entry: StoredChallenge): Promise<void> {
  const checked = storedChallengeSchema.parse(entry);
  const interaction = await stored(deps, details);
  interaction.result = { ...(interaction.result ?? {}), [passkeyChallengeKey]: checked };
  await interaction.persist();
  details.result = interaction.result;
}

/**
 * Takes the interaction's challenge for this ceremony: it is removed (whatever it was) before the
 * verdict is returned, so it cannot be used again, even by an answer that fails.
 */
export async function takeChallenge(deps: InteractionSource, details: InteractionDetails, expected: { purpose: CeremonyPurpose; accountId: string | null }, now: number): Promise<ChallengeVerdict> {
  const interaction = await stored(deps, details);
  const entry = (interaction.result as Record<string, unknown> | undefined)?.[passkeyChallengeKey];
  if (entry !== undefined) {
    const { [passkeyChallengeKey]: _taken, ...rest } = interaction.result as Record<string, unknown>;
    interaction.result = rest;
    await interaction.persist();
    details.result = interaction.result;
  }
  return challengeVerdict(entry, expected, now);
}

/**
 * What a page needs to run a ceremony in the browser (views/passkey-ceremony.eta and
 * views/assets/passkey-sign-in.js): a form posting the browser's answer (with the page's CSRF
 * token) to `action`, the options as JSON in an attribute (escaped by the template, read back by
 * the script: no inline script), whether to offer passkey autofill, and the words the script shows
 * when the browser's part fails.
 */
export type PasskeyCeremonyView = {
  kind: 'authenticate' | 'register';
  action: string;
  options: string;
  autofill: boolean;
  button: string;
  cancelled: string;
  failed: string;
};

/** The scripts of a page running a ceremony: the WebAuthn browser library, then ours. */
export const ceremonyScripts = (): string[] => [urls.webauthnBrowser(), urls.script('passkey-sign-in.js')];

/**
 * Issues a ceremony: remembers its challenge in the interaction (replacing any other) and returns
 * what the page shows.
 */
export async function issueCeremony(
  deps: InteractionSource,
  details: InteractionDetails,
  input: { purpose: CeremonyPurpose; accountId: string | null; now: number; options: { challenge: string }; action: string; button: string; autofill?: boolean },
): Promise<PasskeyCeremonyView> {
  await rememberChallenge(deps, details, { purpose: input.purpose, challenge: input.options.challenge, accountId: input.accountId, issuedAt: input.now });
  return {
    kind: input.purpose === 'registration' ? 'register' : 'authenticate',
    action: input.action,
    options: JSON.stringify(input.options),
    autofill: input.autofill === true,
    button: input.button,
    cancelled: message(input.purpose === 'registration' ? 'passkey.create_cancelled' : 'passkey.cancelled'),
    failed: message(input.purpose === 'registration' ? 'passkey.create_failed' : 'passkey.browser_failed'),
  };
}

/** Largest answer read from a form (an assertion is about 1 KB, a registration with attestation `none` a little more). */
export const maxResponseLength = 12_000;

/**
 * The browser's answer as the form carries it: JSON text in the `response` field. Undefined when
 * it is missing, too long or not JSON (the page answers 400 with its own words); its shape is the
 * library's to check.
 */
export function submittedResponse(value: unknown): unknown {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxResponseLength) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}
