import { z } from 'zod';

import { ceremonyTimeoutMs, maxPasskeyNameLength } from '../../libraries/passkeys.ts';
import type { AccountSession } from './session.ts';

export { maxPasskeyNameLength };

/**
 * The account page's decisions about passkeys, without I/O: which changes need a recent sign-in,
 * what a submitted name, passkey id or browser response may be, and whether a pending "add a
 * passkey" challenge may still be used. The routes (handler.ts) only apply them.
 */

/** The account page's addresses for passkeys (the routes register these; the view links to them). */
export const passkeyRoutes = {
  add: '/account/passkeys/new',
  create: '/account/passkeys',
  rename: '/account/passkeys/rename',
  remove: '/account/passkeys/remove',
} as const;

/** Turning off the second factor, replacing recovery codes, adding or removing a passkey: a sign-in at most this old. */
export const freshSignInSeconds = 5 * 60;

/** Whether a sign-in at `authTime` (Unix seconds) is recent enough for changes to how the person signs in. */
export function isFreshSignIn(authTime: number, now: Date): boolean {
  return Math.floor(now.getTime() / 1000) - authTime <= freshSignInSeconds;
}

export type PasskeyAction = 'add' | 'rename' | 'remove';

/**
 * Adding a passkey or removing one changes how the person signs in (someone holding a stolen
 * session must not be able to add their own authenticator or remove the owner's): both need a
 * recent sign-in, the rule the second factor follows. Renaming changes nothing about signing in.
 */
export function needsFreshSignIn(action: PasskeyAction): boolean {
  return action !== 'rename';
}

export type NameVerdict = { ok: true; name: string | undefined } | { ok: false; reason: 'not_text' | 'empty' | 'too_long' };

/**
 * A submitted passkey name: control characters dropped, white space collapsed and trimmed, at most
 * `maxPasskeyNameLength` characters. Empty when adding means "let the library name it" (undefined);
 * a rename needs a name (`required`).
 */
export function passkeyName(value: unknown, options: { required: boolean }): NameVerdict {
  if (value === undefined && !options.required) return { ok: true, name: undefined };
  if (typeof value !== 'string' || value.length > 4 * maxPasskeyNameLength) {
    return { ok: false, reason: typeof value === 'string' ? 'too_long' : 'not_text' };
  }
  // Bidirectional overrides could make a name read as another one: dropped; line breaks are spaces.
  const name = value.replace(/[\u200E\u200F\u202A-\u202E\u2066-\u2069]/gu, '').replace(/[\p{Cc}\p{Zl}\p{Zp}]/gu, ' ').replace(/\s+/gu, ' ').trim();
  if (!name) return options.required ? { ok: false, reason: 'empty' } : { ok: true, name: undefined };
  if ([...name].length > maxPasskeyNameLength) return { ok: false, reason: 'too_long' };
  return { ok: true, name };
}

/** A passkey's id as the page submits it back (the library's id: base64url or a UUID), or undefined. */
export function passkeyId(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{1,1400}$/.test(value) ? value : undefined;
}

/** Largest browser response accepted (an attestation `none` response is about 1 KB; the form body limit is 16 KiB). */
export const maxResponseLength = 12_000;

const registrationResponseSchema = z.looseObject({
  id: z.string().min(1).max(1400),
  rawId: z.string().min(1).max(1400),
  type: z.literal('public-key'),
  response: z.looseObject({
    clientDataJSON: z.string().min(1),
    attestationObject: z.string().min(1),
  }),
});

/**
 * The browser's answer to `navigator.credentials.create()` as the page's script posts it (the JSON
 * of @simplewebauthn/browser's startRegistration), when it has the shape of one. What it proves is
 * the passkeys library's to check.
 */
export function registrationResponse(value: unknown): { ok: true; response: Record<string, unknown> } | { ok: false } {
  if (typeof value !== 'string' || !value || value.length > maxResponseLength) return { ok: false };
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { ok: false };
  }
  const parsed = registrationResponseSchema.safeParse(json);
  return parsed.success ? { ok: true, response: parsed.data } : { ok: false };
}

/**
 * How long the challenge of "Add a passkey" may be used: from the options the page shows to the
 * answer it posts, as long as the browser offers the ceremony (the library's timeout, 5 minutes).
 * The sign-in must be fresh at both ends too.
 */
export const passkeyChallengeSeconds = ceremonyTimeoutMs / 1000;

export const pendingPasskeyCookieName = 'gatehouse.account.passkey';

/**
 * A challenge handed out for adding a passkey, bound to the account page session it was handed to
 * (the person, the provider session's sid, the sign-in's time) and to an expiry. It travels in a
 * signed cookie; that it is used at most once is kept server-side (see handler.ts).
 */
export const pendingPasskeySchema = z.object({
  challenge: z.string().min(16).max(200),
  sub: z.string().min(1).max(255),
  sid: z.string().min(1).max(255),
  authTime: z.number().int(),
  /** Unix seconds. */
  exp: z.number().int(),
});

export type PendingPasskey = z.infer<typeof pendingPasskeySchema>;

export function newPendingPasskey(session: Pick<AccountSession, 'sub' | 'sid' | 'authTime'>, challenge: string, now: Date): PendingPasskey {
  return { challenge, sub: session.sub, sid: session.sid, authTime: session.authTime, exp: Math.floor(now.getTime() / 1000) + passkeyChallengeSeconds };
}

export type PendingVerdict = { ok: true; challenge: string } | { ok: false; reason: 'missing' | 'expired' | 'other_session' };

/**
 * Whether a pending challenge may finish adding a passkey for this account page session now: it
 * exists, has not expired, and was handed to this same sign-in (the same person, provider session
 * and sign-in time; signing in again starts over).
 */
export function pendingPasskeyVerdict(pending: PendingPasskey | undefined, session: Pick<AccountSession, 'sub' | 'sid' | 'authTime'>, now: Date): PendingVerdict {
  if (!pending) return { ok: false, reason: 'missing' };
  if (pending.sub !== session.sub || pending.sid !== session.sid || pending.authTime !== session.authTime) return { ok: false, reason: 'other_session' };
  if (pending.exp * 1000 <= now.getTime()) return { ok: false, reason: 'expired' };
  return { ok: true, challenge: pending.challenge };
}

/**
 * Whether the page lets the person remove a passkey: not the last way to sign in of an account
 * with no other (no password, no usable linked identity: it could then only come back through a
 * mailed reset). The passkey must exist.
 */
export function removalVerdict(input: { otherWayIn: boolean; passkeyIds: string[]; id: string }): { ok: true } | { ok: false; reason: 'unknown' | 'last_way_in' } {
  if (!input.passkeyIds.includes(input.id)) return { ok: false, reason: 'unknown' };
  if (!input.otherWayIn && input.passkeyIds.length === 1) return { ok: false, reason: 'last_way_in' };
  return { ok: true };
}

/** The password form: change the one the account has, or set a first one (an account registered with a passkey). */
export function passwordFormKind(account: { passwordHash: string | null }): 'change' | 'set' {
  return account.passwordHash === null ? 'set' : 'change';
}
