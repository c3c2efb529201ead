import { z } from 'zod';

import type { MessageId } from '../../messages/messages.ts';
import type { Level } from '../../oidc/levels.ts';
import type { FlowState } from '../state.ts';
import type { PendingLink } from './state.ts';

/**
 * Signing in with another provider (a connection), as pure rules: what the interaction keeps of an
 * upstream sign-in between leaving for the upstream and coming back, whether the callback may use
 * it, what a verified upstream identity leads to (an account, a link to make, a proof to ask for,
 * a refusal), which profile claims it keeps, and what each refusal says. The routes
 * (connection.ts, link.ts) only carry these out.
 *
 * **The request in flight** is kept server-side in the interaction's result under its own key
 * (`gatehouse_upstream`), next to the flow state like a passkey ceremony's challenge: it is not a
 * page of the sign-in, and a save of the flow state (any step forward) voids it. It goes through
 * two phases, each taken (removed) by the first request that reads it:
 *
 * - `pending`: issued by "Continue with …" — the connection, the `state`, `nonce` and PKCE
 *   `codeVerifier` the upstream request was made with, and when. The browser is bound to it by a
 *   signed cookie naming the interaction (sent only to the connection's callback). The first
 *   callback takes it, right or wrong; it is good for `upstreamLifetimeSeconds`.
 * - `verified`: written by the callback once the upstream's answer checked out (the code redeemed,
 *   the ID token verified): the identity, already reduced to what Gatehouse keeps. The callback
 *   cannot finish the sign-in itself (the interaction's own cookie is not sent to it), so it sends
 *   the browser to the interaction's return address, which takes this entry, decides and goes on.
 */

/** The key of the interaction result that holds an upstream sign-in in flight. */
export const upstreamRequestKey = 'gatehouse_upstream';

/** How long an upstream sign-in may take (leaving for the upstream to coming back), and a proof page may wait. */
export const upstreamLifetimeSeconds = 10 * 60;

/** The cookie binding the browser that left for the upstream to its interaction (signed; path: the callback). */
export const upstreamCookieName = 'gatehouse.upstream';

/** A connection's id as it appears in an address: the store's slug, with room to spare; anything else is no connection. */
export function connectionIdFrom(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(value) ? value : undefined;
}

const connectionId = z.string().min(1).max(64);
const secret = z.string().min(1).max(512);

export const pendingUpstreamSchema = z.object({
  phase: z.literal('pending'),
  connectionId,
  state: secret,
  nonce: secret.nullable(),
  codeVerifier: secret,
  /** Unix seconds, from the injected clock. */
  issuedAt: z.number().int(),
});

/** The profile claims an account keeps (the store's ProfileClaims). */
export const profileClaimNames = [
  'name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'picture', 'website', 'locale', 'zoneinfo',
] as const;
export type ProfileClaimName = (typeof profileClaimNames)[number];
export type MappedProfile = Partial<Record<ProfileClaimName, string>>;

/** An upstream identity as the interaction keeps it: bounded, and only what the decision and a new account need. */
export const keptIdentitySchema = z.object({
  subject: z.string().min(1).max(255),
  email: z.string().min(3).max(254).nullable(),
  emailVerified: z.boolean(),
  profile: z.partialRecord(z.enum(profileClaimNames), z.string().max(2048)),
  amr: z.array(z.string().max(64)).max(16).nullable(),
  acr: z.string().max(256).nullable(),
});
export type KeptIdentity = z.infer<typeof keptIdentitySchema>;

export const verifiedUpstreamSchema = z.object({
  phase: z.literal('verified'),
  connectionId,
  identity: keptIdentitySchema,
  /** Unix seconds: when the callback verified it. */
  verifiedAt: z.number().int(),
});

export const upstreamRequestSchema = z.discriminatedUnion('phase', [pendingUpstreamSchema, verifiedUpstreamSchema]);
export type PendingUpstream = z.infer<typeof pendingUpstreamSchema>;
export type VerifiedUpstream = z.infer<typeof verifiedUpstreamSchema>;

export type UpstreamVerdict<Entry> = { ok: true; entry: Entry } | { ok: false; reason: 'missing' | 'other_connection' | 'expired' };

/**
 * Whether the entry taken from the interaction lets this callback of `connection` go on: a pending
 * request (not a verified one, not a malformed one), for this connection, at most
 * upstreamLifetimeSeconds old.
 */
export function pendingVerdict(stored: unknown, connection: string, now: number): UpstreamVerdict<PendingUpstream> {
  const parsed = upstreamRequestSchema.safeParse(stored);
  if (!parsed.success || parsed.data.phase !== 'pending') return { ok: false, reason: 'missing' };
  if (parsed.data.connectionId !== connection) return { ok: false, reason: 'other_connection' };
  if (!fresh(parsed.data.issuedAt, now)) return { ok: false, reason: 'expired' };
  return { ok: true, entry: parsed.data };
}

/** Whether the entry taken at the return address is a verified identity, verified at most upstreamLifetimeSeconds ago. */
export function verifiedVerdict(stored: unknown, now: number): UpstreamVerdict<VerifiedUpstream> {
  const parsed = upstreamRequestSchema.safeParse(stored);
  if (!parsed.success || parsed.data.phase !== 'verified') return { ok: false, reason: 'missing' };
  if (!fresh(parsed.data.verifiedAt, now)) return { ok: false, reason: 'expired' };
  return { ok: true, entry: parsed.data };
}

function fresh(at: number, now: number): boolean {
  return now - at <= upstreamLifetimeSeconds && at <= now + 60;
}

/**
 * Whether the address the upstream sent the browser to is the connection's registered redirect
 * URI, exactly (origin and path; the query is the upstream's answer). The callback never redirects
 * anywhere but to its own interaction, so this guards what is handed to the upstream library.
 */
export function isRegisteredCallback(callback: URL, redirectUri: string): boolean {
  const registered = new URL(redirectUri);
  return callback.origin === registered.origin && callback.pathname === registered.pathname && callback.hash === '' && callback.username === '' && callback.password === '';
}

/** RFC 8176 values as an upstream may send them: short tokens, a few of them, each once. */
export function upstreamAmr(amr: readonly unknown[] | null | undefined): string[] | null {
  if (!amr) return null;
  const values = amr.filter((value): value is string => typeof value === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(value));
  return [...new Set(values)].slice(0, 16);
}

/**
 * The profile claims a new account takes from the upstream identity (already mapped by the
 * connection's claimMapping, libraries/upstream-sign-in.ts): only the claims an account keeps, only
 * text, without control characters, trimmed and bounded; anything else is left out.
 */
export function keptProfile(profile: Readonly<Record<string, unknown>>): MappedProfile {
  const kept: MappedProfile = {};
  for (const name of profileClaimNames) {
    const value = Object.hasOwn(profile, name) ? profile[name] : undefined;
    if (typeof value !== 'string') continue;
    // Control characters and bidirectional overrides have no place in a name (they forge lines, or reverse text).
    const text = value.replace(/[\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu, '').replace(/[\p{Cc}\u2028\u2029]/gu, ' ').replace(/\s+/gu, ' ').trim();
    if (text && text.length <= 2048) kept[name] = text;
  }
  return kept;
}

const emailShape = z.string().trim().max(254).pipe(z.email());

/**
 * The upstream identity as the interaction keeps it (keptIdentitySchema), from what the upstream
 * library verified: an email that is not an address is no email (it can neither find nor create an
 * account); the profile as keptProfile keeps it; the `amr` as upstreamAmr keeps it. Undefined when
 * the subject cannot be kept (empty, or longer than OpenID Connect allows): such an answer is refused.
 */
export function keptIdentity(identity: { subject: unknown; email: unknown; emailVerified: unknown; profile: unknown; amr: unknown; acr: unknown }): KeptIdentity | undefined {
  const email = emailShape.safeParse(identity.email);
  const profile = identity.profile && typeof identity.profile === 'object' ? keptProfile(identity.profile as Record<string, unknown>) : {};
  const kept = keptIdentitySchema.safeParse({
    subject: identity.subject,
    email: email.success ? email.data : null,
    emailVerified: email.success && identity.emailVerified === true,
    profile,
    amr: Array.isArray(identity.amr) ? upstreamAmr(identity.amr) : null,
    acr: typeof identity.acr === 'string' && identity.acr.length <= 256 ? identity.acr : null,
  });
  return kept.success ? kept.data : undefined;
}

/** What the decision knows of an account. */
export type AccountFacts = { id: string; disabled: boolean };

export type UpstreamDecisionInput = {
  connection: { allowNewAccounts: boolean; trustVerifiedEmails: boolean; disabled: boolean };
  identity: { email: string | null; emailVerified: boolean };
  /** The account the identity is linked to; undefined when it is not linked, null when its account is gone. */
  linked: AccountFacts | null | undefined;
  /** The account with the upstream's email (asked only when the identity is not linked). */
  sameEmail: AccountFacts | undefined;
  /** The level the authorization needs (src/oidc/levels.ts). */
  required: Level;
};

export type UpstreamRefusal = 'connection_disabled' | 'phishing_resistant_required' | 'account_disabled' | 'no_account' | 'no_email' | 'linked_account_missing';

export type UpstreamDecision =
  | { kind: 'sign_in'; accountId: string }
  | { kind: 'link_trusted'; accountId: string }
  | { kind: 'prove'; accountId: string }
  | { kind: 'create'; emailVerified: boolean }
  | { kind: 'refuse'; reason: UpstreamRefusal };

/**
 * What a verified upstream identity leads to. Never a silent link:
 *
 * | identity                 | account with its email       | connection                              | outcome                    |
 * |--------------------------|------------------------------|-----------------------------------------|----------------------------|
 * | linked                   | (not asked)                  | any                                     | that account (not disabled)|
 * | not linked, no email     | (none to ask)                | any                                     | refused                    |
 * | not linked               | exists                       | trusts verified emails, email verified  | link, mail the owner, in   |
 * | not linked               | exists                       | otherwise                               | prove that account first   |
 * | not linked               | none                         | allows new accounts                     | create, link, in           |
 * | not linked               | none                         | does not                                | refused                    |
 *
 * A disabled account is refused when the person is known to be its owner (a linked identity, or a
 * verified email the operator trusts); otherwise the proof page is shown as for any account, and
 * the proof itself is refused (as a right password is for a disabled account): whether an account
 * is disabled is told only to its owner. A disabled connection, and an authorization that needs a
 * phishing-resistant sign-in (which another provider never is), are refused first.
 */
export function decideUpstreamSignIn(input: UpstreamDecisionInput): UpstreamDecision {
  if (input.connection.disabled) return { kind: 'refuse', reason: 'connection_disabled' };
  if (input.required === 'phishing_resistant') return { kind: 'refuse', reason: 'phishing_resistant_required' };
  if (input.linked === null) return { kind: 'refuse', reason: 'linked_account_missing' };
  if (input.linked) return input.linked.disabled ? { kind: 'refuse', reason: 'account_disabled' } : { kind: 'sign_in', accountId: input.linked.id };
  if (input.identity.email === null) return { kind: 'refuse', reason: 'no_email' };
  const trusted = input.connection.trustVerifiedEmails && input.identity.emailVerified;
  if (input.sameEmail) {
    if (!trusted) return { kind: 'prove', accountId: input.sameEmail.id };
    return input.sameEmail.disabled ? { kind: 'refuse', reason: 'account_disabled' } : { kind: 'link_trusted', accountId: input.sameEmail.id };
  }
  return input.connection.allowNewAccounts ? { kind: 'create', emailVerified: trusted } : { kind: 'refuse', reason: 'no_account' };
}

/**
 * The identity link a finished sign-in makes, if any: the proof page's (`link_identity`) or the one
 * it carried to the second step or the mailed code, when the account signed in to is the account
 * the proof was asked for and the proof page was drawn at most upstreamLifetimeSeconds ago.
 * Signing in to another account makes no link.
 */
export function linkToMake(state: FlowState | undefined, accountId: string, now: number): PendingLink | undefined {
  const link = pendingLinkOf(state);
  if (!link || link.accountId !== accountId || now - link.issuedAt > upstreamLifetimeSeconds) return undefined;
  return link;
}

/** The identity link a flow state waits to make (a proof page's, or carried by the step after it). */
export function pendingLinkOf(state: FlowState | undefined): PendingLink | undefined {
  switch (state?.step) {
    case 'link_identity':
      return { connectionId: state.connectionId, subject: state.subject, email: state.email, accountId: state.accountId, issuedAt: state.issuedAt };
    case 'second_factor':
    case 'sign_in_code':
      return state.link;
    default:
      return undefined;
  }
}

/** Everything that can stop an upstream sign-in, each with its page. */
export type UpstreamProblem =
  | 'unknown_connection' | 'no_cookie' | 'interaction_gone' | 'missing' | 'other_connection' | 'expired' | 'wrong_callback'
  | 'upstream_unavailable' | 'upstream_refused' | 'upstream_invalid' | 'conflict'
  | UpstreamRefusal;

export type ProblemPage = { status: number; title: MessageId; text: MessageId; offerRegistration: boolean };

/**
 * The page of each problem: its status (never a 5xx: nothing here is Gatehouse's fault, and the
 * person can always go back to the other ways to sign in) and its words.
 */
export function problemPage(problem: UpstreamProblem): ProblemPage {
  const page = (status: number, title: MessageId, text: MessageId, offerRegistration = false): ProblemPage => ({ status, title, text, offerRegistration });
  switch (problem) {
    case 'unknown_connection':
    case 'connection_disabled':
      return page(404, 'connection.problem_title', 'connection.unknown');
    case 'no_cookie':
      return page(400, 'connection.problem_title', 'connection.no_cookie');
    case 'interaction_gone':
      return page(400, 'connection.problem_title', 'connection.interaction_gone');
    case 'missing':
    case 'other_connection':
      return page(400, 'connection.problem_title', 'connection.missing');
    case 'expired':
      return page(400, 'connection.problem_title', 'connection.expired');
    case 'wrong_callback':
      return page(400, 'connection.problem_title', 'connection.wrong_callback');
    case 'upstream_unavailable':
      return page(502, 'connection.problem_title', 'connection.upstream_unavailable');
    case 'upstream_refused':
      return page(403, 'connection.problem_title', 'connection.upstream_refused');
    case 'upstream_invalid':
      return page(400, 'connection.problem_title', 'connection.upstream_invalid');
    case 'conflict':
      return page(409, 'connection.problem_title', 'connection.conflict');
    case 'phishing_resistant_required':
      return page(403, 'connection.refused_title', 'connection.phishing_resistant_required');
    case 'account_disabled':
      return page(403, 'connection.refused_title', 'connection.account_disabled');
    case 'no_account':
      return page(403, 'connection.no_account_title', 'connection.no_account', true);
    case 'no_email':
      return page(403, 'connection.refused_title', 'connection.no_email');
    case 'linked_account_missing':
      return page(403, 'connection.refused_title', 'connection.linked_account_missing');
  }
}
