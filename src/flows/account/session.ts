import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';

import { accountClientId } from '../../oidc/account-client.ts';

/**
 * The account page's own session: a signed cookie (the app's cookie keys, like the provider's)
 * holding who signed in, which provider session they signed in with, when, and until when. It is
 * only a view on the provider session: every request checks that the browser's provider session
 * still exists, is the same person, and still holds the account page's sign-in (its `sid`), so
 * signing out of Gatehouse, a password reset, or disabling the account ends it at once.
 */

export const accountCookieName = 'gatehouse.account';
export const pendingCookieName = 'gatehouse.account.sign-in';
const cookiePath = '/account';

/** Longest an account page session lasts, whatever the provider session does. */
export const accountSessionSeconds = 8 * 60 * 60;

export const accountSessionSchema = z.object({
  /** The account (the ID token's subject). */
  sub: z.string().min(1).max(255),
  /** The account page's session id within the provider session (what the ID token's `sid` claim would carry). */
  sid: z.string().min(1).max(255),
  /** When the person last authenticated (the ID token's auth_time), Unix seconds. */
  authTime: z.number().int(),
  amr: z.array(z.string().max(50)).max(10),
  acr: z.string().max(255).optional(),
  /** Unix seconds. */
  exp: z.number().int(),
});

export type AccountSession = z.infer<typeof accountSessionSchema>;

function cookieOptions(ctx: Context, maxAgeSeconds: number) {
  return { signed: true, httpOnly: true, sameSite: 'lax' as const, path: cookiePath, secure: ctx.secure, maxAge: maxAgeSeconds * 1000, overwrite: true };
}

export function writeCookie(ctx: Context, name: string, value: object, maxAgeSeconds: number): void {
  ctx.cookies.set(name, Buffer.from(JSON.stringify(value)).toString('base64url'), cookieOptions(ctx, maxAgeSeconds));
}

export function clearCookie(ctx: Context, name: string): void {
  ctx.cookies.set(name, null, { ...cookieOptions(ctx, 0), maxAge: undefined, expires: new Date(0) });
}

/** A cookie's value if its signature verifies, it parses, and it has not expired by `now`; else undefined. */
export function readCookie<T extends { exp: number }>(ctx: Context, name: string, schema: z.ZodType<T>, now: Date): T | undefined {
  const raw = ctx.cookies.get(name, { signed: true });
  if (!raw || raw.length > 4096) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success || parsed.data.exp * 1000 <= now.getTime()) return undefined;
  return parsed.data;
}

/** The provider session of this browser, from the provider's own (signed) session cookie. */
export type BrowserSession = { id: string; accountId?: string; sid?: string; loginTs?: number; grantIds: string[] };

export async function browserSession(provider: Provider, ctx: Context): Promise<BrowserSession | undefined> {
  const id = ctx.cookies.get(provider.cookieName('session'), { signed: true });
  if (!id) return undefined;
  const session = await provider.Session.find(id);
  if (!session) return undefined;
  const authorizations = (session.authorizations ?? {}) as Record<string, { sid?: unknown; grantId?: unknown }>;
  const ours = authorizations[accountClientId];
  return {
    id,
    ...(typeof session.accountId === 'string' ? { accountId: session.accountId } : {}),
    ...(typeof ours?.sid === 'string' ? { sid: ours.sid } : {}),
    ...(typeof session.loginTs === 'number' ? { loginTs: session.loginTs } : {}),
    grantIds: Object.values(authorizations).map((entry) => entry?.grantId).filter((grantId): grantId is string => typeof grantId === 'string'),
  };
}

/** Whether the account page session still stands on the browser's provider session. */
export function stillSignedIn(account: AccountSession, session: BrowserSession | undefined): boolean {
  return session !== undefined && session.accountId === account.sub && session.sid === account.sid;
}
