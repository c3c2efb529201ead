import { randomBytes } from 'node:crypto';

import type { Context } from 'koa';

/**
 * The device cookie: a random id this browser keeps for 400 days (the longest browsers allow),
 * signed with the app's cookie keys, httpOnly, sent on every path. A sign-in records the keyed hash
 * of the id on its `login` audit event (finishLogin), and the security notifications tell a person
 * about a sign-in from a browser their account was not used from before
 * (src/libraries/security-notifications.ts). It identifies a browser, not a person: it carries no
 * account, and the same cookie serves every account signed in from that browser.
 */

export const deviceCookieName = 'gatehouse.device';
const deviceCookieDays = 400;

/** 256 random bits, base64url. */
const deviceIdPattern = /^[A-Za-z0-9_-]{43}$/;

/** This browser's device id: the one its cookie holds, or a new one; the cookie is (re)set either way, so it lasts from the last sign-in. */
export function deviceIdOf(ctx: Context): string {
  const held = ctx.cookies.get(deviceCookieName, { signed: true });
  const id = held && deviceIdPattern.test(held) ? held : randomBytes(32).toString('base64url');
  ctx.cookies.set(deviceCookieName, id, {
    signed: true, httpOnly: true, sameSite: 'lax', path: '/', secure: ctx.secure, maxAge: deviceCookieDays * 86_400_000, overwrite: true,
  });
  return id;
}
