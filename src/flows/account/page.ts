import type { Context } from 'koa';

import type { AuditSource } from '../../libraries/audit.ts';
import type { AccountRecord } from '../../store/types.ts';
import type { FlowDependencies } from '../kit.ts';
import type { createInProcessClient } from './in-process.ts';
import type { AccountSession, BrowserSession } from './session.ts';
import {
  accountCookieName, accountSessionSchema, browserSession, clearCookie, pendingCookieName, readCookie, stillSignedIn, writeCookie,
} from './session.ts';
import { authorizationUrl, newPendingSignIn } from './sign-in.ts';

/**
 * What every part of the account page works with (the overview in handler.ts, and each section:
 * sessions.ts, apps.ts, profile.ts, email.ts, delete.ts, export.ts): who is signed in, how to send
 * the browser to sign in, who acts, and the scope of the page's form tokens.
 */

export type AccountPageDependencies = Pick<FlowDependencies, 'provider' | 'libraries' | 'views' | 'form' | 'forms' | 'config' | 'limits' | 'clock' | 'clientLogos'>;

/** Longest time from the redirect to the authorization endpoint back to the callback. */
export const signInSeconds = 15 * 60;

export type SignedIn = { session: AccountSession; browser: BrowserSession; account: AccountRecord };

/** The person at this browser, acting on their own account: what the libraries record. */
export function personAt(ctx: Context): AuditSource {
  return { actor: 'user', sourceAddress: ctx.ip };
}

/**
 * The scope of the page's form tokens (the one CSRF scheme, src/web/forms.ts): this account page
 * sign-in, so a token stops working when the person signs in again or out.
 */
export function formScope(session: AccountSession): string {
  return `account:${session.sid}:${session.authTime}`;
}

/**
 * What the account page's routes work with: its dependencies, its in-process token client, and the
 * passkey challenges being claimed at this moment (see firstUse).
 */
export type AccountPage = AccountPageDependencies & { send: ReturnType<typeof createInProcessClient>; claiming: Set<string> };

/** The person signed in to the account page, if the provider session under it still stands. */
export async function signedIn(page: AccountPage, ctx: Context): Promise<SignedIn | undefined> {
  const session = readCookie(ctx, accountCookieName, accountSessionSchema, page.clock());
  if (!session) return undefined;
  const browser = await browserSession(page.provider(), ctx);
  if (!browser || !stillSignedIn(session, browser)) return undefined;
  const account = await page.libraries.accounts.findById(session.sub);
  if (!account || account.disabled) return undefined;
  return { session, browser, account };
}

/**
 * Sends the browser to sign in, and back to `returnTo` afterwards: by default the section it asked
 * for (a GET), else the overview.
 */
export function startSignIn(page: AccountPage, ctx: Context, options: { fresh?: boolean; returnTo?: string } = {}) {
  clearCookie(ctx, accountCookieName);
  const pending = newPendingSignIn(page.clock(), signInSeconds, options.returnTo ?? (ctx.method === 'GET' ? ctx.path : undefined));
  writeCookie(ctx, pendingCookieName, pending, signInSeconds);
  // After a POST (reauthenticate), 303 makes the browser GET the authorization endpoint.
  if (ctx.method === 'POST') ctx.status = 303;
  ctx.redirect(authorizationUrl(page.config.issuer, pending, options));
}
