/**
 * The account page's decisions about identities at other providers ("Signed in with"), without
 * I/O: what a submitted identity may be, and whether the page may unlink it. The routes
 * (handler.ts) only apply them; the identities library keeps the last-way-in rule too.
 */

/** A submitted identity: a connection id and the upstream's subject, as the page posts them back. */
export type SubmittedIdentity = { connectionId: string; subject: string };

/** The identity a form names, when both fields are well-formed text (else undefined: the page says "not linked"). */
export function submittedIdentity(connectionId: unknown, subject: unknown): SubmittedIdentity | undefined {
  if (typeof connectionId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(connectionId)) return undefined;
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > 255) return undefined;
  return { connectionId, subject };
}

export type UnlinkVerdict = { ok: true } | { ok: false; reason: 'unknown' | 'stale' | 'last_way_in' };

/**
 * Whether the page unlinks the identity now: it must be one of the account's, the sign-in behind
 * the page recent (removing a way in is a change to how the person signs in, like removing a
 * passkey), and another way in must remain (the library's canUnlink).
 */
export function unlinkVerdict(input: { linked: SubmittedIdentity[]; identity: SubmittedIdentity; fresh: boolean; canUnlink: boolean }): UnlinkVerdict {
  const known = input.linked.some((each) => each.connectionId === input.identity.connectionId && each.subject === input.identity.subject);
  if (!known) return { ok: false, reason: 'unknown' };
  if (!input.fresh) return { ok: false, reason: 'stale' };
  if (!input.canUnlink) return { ok: false, reason: 'last_way_in' };
  return { ok: true };
}
