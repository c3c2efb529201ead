import type { RequestListener } from 'node:http';

import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';

import { passwordSettingsFrom } from '../../accounts/accounts.ts';
import { changePassword } from '../../accounts/password-change.ts';
import type { SecondFactorDependencies } from '../../accounts/second-factor.ts';
import {
  activateEnrollment, isActive, regenerateRecoveryCodes, removeSecondFactor, verifySecondFactor,
} from '../../accounts/second-factor.ts';
import { GatehouseError } from '../../errors.ts';
import type { AccountRecord } from '../../store/types.ts';
import { field, formParser } from '../interaction-context.ts';
import { describeVerdict, recoveryCodesPageData, setupPageData } from '../second-factor-routes.ts';
import type { InteractionDependencies } from '../routes.ts';
import { limitedMessage } from '../routes.ts';
import { accountClientId, accountSignedOutUri } from './client.ts';
import { createInProcessClient } from './in-process.ts';
import type { AccountSession, BrowserSession } from './session.ts';
import {
  accountCookieName, accountSessionSchema, accountSessionSeconds, browserSession, clearCookie, newCsrfToken, pendingCookieName, readCookie,
  sameToken, stillSignedIn, writeCookie,
} from './session.ts';
import { authorizationUrl, newPendingSignIn, pendingSignInSchema, redeemCode } from './sign-in.ts';

/**
 * The account page (`/account`): a first-party client of Gatehouse itself. Unauthenticated, it
 * sends the browser through the authorization endpoint (code + PKCE) and redeems the code at the
 * token endpoint in-process; it then keeps its own small session (session.ts) that stands on the
 * provider session. Changing the password lives in accounts/password-change.ts.
 */

export type AccountPageDependencies = Pick<InteractionDependencies, 'provider' | 'store' | 'views' | 'config' | 'outbox' | 'logger' | 'keyEncryptionKey' | 'limits'>;

/** Longest time from the redirect to the authorization endpoint back to the callback. */
const signInSeconds = 15 * 60;

/** Turning off the second factor or replacing recovery codes needs a sign-in at most this old. */
export const freshSignInSeconds = 5 * 60;

type SignedIn = { session: AccountSession; browser: BrowserSession; account: AccountRecord };

/** Whether the sign-in behind the page is recent enough for sensitive changes (sign-in factors). */
function isFresh(current: SignedIn, now = Date.now()): boolean {
  return now / 1000 - current.session.authTime <= freshSignInSeconds;
}

// Koa composes a handler per call: keep one per provider (it is rebuilt when keys change).
const handlers = new WeakMap<Provider, RequestListener>();

function handlerOf(provider: Provider): RequestListener {
  let handler = handlers.get(provider);
  if (!handler) {
    handler = provider.callback();
    handlers.set(provider, handler);
  }
  return handler;
}

/** A query parameter that must appear at most once, as a bounded string. */
function queryValue(ctx: Context, name: string, max = 2048): string | undefined {
  const value = ctx.query[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > max) throw new GatehouseError('invalid_input', `The ${name} parameter is malformed.`);
  return value;
}

export function createAccountRouter(deps: AccountPageDependencies): Router {
  const { store, views, config, outbox, logger } = deps;
  const router = new Router();
  const form = formParser(config);
  const passwords = passwordSettingsFrom(config);
  // The token endpoint, reached without the network (see in-process.ts).
  const send = createInProcessClient(() => handlerOf(deps.provider()));

  function renderMessage(ctx: Context, title: string, paragraphs: string[], status: number) {
    views.render(ctx, 'message', { title, paragraphs, links: [{ href: '/account', label: 'Open your account page' }] }, status);
  }

  /** The person signed in to the account page, if the provider session under it still stands. */
  async function signedIn(ctx: Context): Promise<SignedIn | undefined> {
    const session = readCookie(ctx, accountCookieName, accountSessionSchema);
    if (!session) return undefined;
    const browser = await browserSession(deps.provider(), ctx);
    if (!browser || !stillSignedIn(session, browser)) return undefined;
    const account = await store.accounts.findById(session.sub);
    if (!account || account.disabled) return undefined;
    return { session, browser, account };
  }

  const factors: SecondFactorDependencies = { store, keyEncryptionKey: deps.keyEncryptionKey, logger };

  function startSignIn(ctx: Context, options: { fresh?: boolean } = {}) {
    clearCookie(ctx, accountCookieName);
    const pending = newPendingSignIn(new Date(), signInSeconds);
    writeCookie(ctx, pendingCookieName, pending, signInSeconds);
    // After a POST (reauthenticate), 303 makes the browser GET the authorization endpoint.
    if (ctx.method === 'POST') ctx.status = 303;
    ctx.redirect(authorizationUrl(config.issuer, pending, options));
  }

  async function renderAccount(ctx: Context, current: SignedIn, extra: { error?: string; notice?: string } = {}, status = 200) {
    const factor = await store.secondFactors.find(current.account.id);
    views.render(ctx, 'account', {
      mfa: isActive(factor)
        ? { active: true, recoveryCodesLeft: factor.recoveryCodes.filter((code) => !code.usedAt).length, fresh: isFresh(current) }
        : { active: false, fresh: isFresh(current) },
      title: 'Your account',
      email: current.account.email,
      name: current.account.profile.name ?? '',
      emailVerified: current.account.emailVerified,
      csrf: current.session.csrf,
      minLength: config.passwords.minLength,
      error: extra.error,
      notice: extra.notice,
    }, status);
  }

  router.get('/account', async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return startSignIn(ctx);
    await renderAccount(ctx, current);
  });

  router.get('/account/callback', async (ctx) => {
    const pending = readCookie(ctx, pendingCookieName, pendingSignInSchema);
    clearCookie(ctx, pendingCookieName);
    const state = queryValue(ctx, 'state');
    if (!pending || !sameToken(pending.state, state)) {
      return renderMessage(ctx, 'This sign-in cannot continue', ['It was started in another tab or browser, or took too long. Open your account page again.'], 400);
    }
    const issuer = queryValue(ctx, 'iss');
    if (issuer !== undefined && issuer !== config.issuer) throw new GatehouseError('invalid_input', 'This sign-in response comes from another issuer.');
    const error = queryValue(ctx, 'error', 200);
    if (error !== undefined) {
      const cancelled = error === 'access_denied';
      return renderMessage(ctx, cancelled ? 'Sign-in cancelled' : 'Sign-in failed', [cancelled ? 'You cancelled signing in to your account page.' : 'Signing in to your account page did not succeed.'], cancelled ? 403 : 400);
    }
    const code = queryValue(ctx, 'code');
    if (!code) throw new GatehouseError('invalid_input', 'This sign-in response has no code.');

    const result = await redeemCode(send, { issuer: config.issuer, pending, code });
    // Bind the page to this browser's provider session: the same person, from the same login.
    const browser = await browserSession(deps.provider(), ctx);
    if (!browser?.sid || browser.accountId !== result.sub || browser.loginTs !== result.authTime) {
      return renderMessage(ctx, 'This sign-in cannot continue', ['Your sign-in could not be confirmed in this browser. Open your account page again.'], 400);
    }
    const session: AccountSession = {
      sub: result.sub, sid: browser.sid, authTime: result.authTime, amr: result.amr.slice(0, 10), ...(result.acr ? { acr: result.acr } : {}),
      exp: Math.floor(Date.now() / 1000) + accountSessionSeconds, csrf: newCsrfToken(),
    };
    writeCookie(ctx, accountCookieName, session, accountSessionSeconds);
    ctx.status = 303;
    ctx.redirect('/account');
  });

  router.post('/account/password', form, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) {
      ctx.status = 303;
      return ctx.redirect('/account');
    }
    const body = ctx.request.body;
    if (!sameToken(current.session.csrf, field(body, 'csrf'))) {
      return renderAccount(ctx, current, { error: 'This form has expired. Try again.' }, 403);
    }
    const signOutOthers = field(body, 'sign_out_others');
    if (signOutOthers !== undefined && signOutOthers !== 'yes') return renderAccount(ctx, current, { error: 'The form was not filled in as expected. Try again.' }, 400);
    // The form runs argon2 and the password policy: limited per source and per account. The
    // current password is a password guess like the login page's, with the same counters.
    const formVerdict = await deps.limits.passwordForm(ctx.ip, `account:${current.account.id}`);
    if (!formVerdict.ok) {
      ctx.set('retry-after', String(formVerdict.retryAfterSeconds));
      return renderAccount(ctx, current, { error: limitedMessage(formVerdict) }, 429);
    }
    const admission = await deps.limits.passwordAttempt(current.account.email, ctx.ip);
    if (!admission.ok) {
      ctx.set('retry-after', String(admission.retryAfterSeconds));
      return renderAccount(ctx, current, { error: limitedMessage(admission) }, 429);
    }
    const outcome = await changePassword({ store, outbox, logger, passwords }, {
      accountId: current.account.id,
      currentPassword: field(body, 'current_password'),
      newPassword: field(body, 'new_password'),
      // Keep this browser's session and the grants it holds; everything else of the account goes.
      ...(signOutOthers === 'yes' ? { signOutOthers: { sessionId: current.browser.id, grantIds: current.browser.grantIds } } : {}),
      sourceAddress: ctx.ip,
    });
    const currentGiven = typeof field(body, 'current_password') === 'string' && (field(body, 'current_password') as string).length > 0;
    if (!outcome.ok && outcome.reason === 'wrong_password' && currentGiven) await admission.attempt.failed();
    else if (outcome.ok || outcome.reason === 'policy' || outcome.reason === 'changed_meanwhile') await admission.attempt.succeeded();
    else await admission.attempt.cancel();
    if (!outcome.ok) {
      const status = outcome.reason === 'changed_meanwhile' ? 409 : outcome.reason === 'no_account' ? 403 : 400;
      return renderAccount(ctx, current, { error: outcome.message }, status);
    }
    await renderAccount(ctx, { ...current, account: outcome.account }, {
      notice: signOutOthers === 'yes' ? 'Your password was changed, and your other sessions were signed out.' : 'Your password was changed.',
    });
  });

  /** A signed-in POST with this page's CSRF token, or nothing (the caller has answered). */
  async function signedInForm(ctx: Context): Promise<SignedIn | undefined> {
    const current = await signedIn(ctx);
    if (!current) {
      ctx.status = 303;
      ctx.redirect('/account');
      return undefined;
    }
    if (!sameToken(current.session.csrf, field(ctx.request.body, 'csrf'))) {
      await renderAccount(ctx, current, { error: 'This form has expired. Try again.' }, 403);
      return undefined;
    }
    return current;
  }

  async function renderSetup(ctx: Context, current: SignedIn, error?: string, status = 200) {
    views.render(ctx, 'mfa-setup', {
      title: 'Set up two-step verification',
      action: '/account/mfa/setup',
      csrf: current.session.csrf,
      ...(await setupPageData(factors, current.account)),
      error,
    }, status);
  }

  function renderRecoveryCodes(ctx: Context, current: SignedIn, codes: string[]) {
    views.render(ctx, 'recovery-codes', {
      ...recoveryCodesPageData(current.account.email, codes),
      action: '/account/mfa/done',
      csrf: current.session.csrf,
      button: 'Done',
    });
  }

  // Adding a sign-in factor needs a fresh sign-in, like removing one: a session someone else got
  // hold of must not be able to enroll their own authenticator and lock the owner out.
  const staleForFactors = 'For your security, confirm it is you (sign in again) before changing two-step verification.';

  router.get('/account/mfa/setup', async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return startSignIn(ctx);
    if (isActive(await store.secondFactors.find(current.account.id))) {
      ctx.status = 303;
      return ctx.redirect('/account');
    }
    if (!isFresh(current)) return renderAccount(ctx, current, { error: staleForFactors }, 403);
    await renderSetup(ctx, current);
  });

  router.post('/account/mfa/setup', form, async (ctx) => {
    const current = await signedInForm(ctx);
    if (!current) return;
    if (!isFresh(current)) return renderAccount(ctx, current, { error: staleForFactors }, 403);
    const code = field(ctx.request.body, 'code');
    const activated = typeof code === 'string' && code.length <= 16 ? await activateEnrollment(factors, current.account.id, code) : { ok: false as const, reason: 'wrong' as const };
    if (!activated.ok) {
      if (isActive(await store.secondFactors.find(current.account.id))) return renderAccount(ctx, current, { error: 'An authenticator app is already set up.' }, 409);
      return renderSetup(ctx, current, 'That code is not right. Enter the 6-digit code your app shows now.', 400);
    }
    // A new factor is a credential change: sign-ins half-finished elsewhere start again.
    await store.oidc.revokeInteractions(current.account.id);
    renderRecoveryCodes(ctx, current, activated.recoveryCodes);
  });

  router.post('/account/mfa/done', form, async (ctx) => {
    const current = await signedInForm(ctx);
    if (!current) return;
    ctx.status = 303;
    ctx.redirect('/account');
  });

  // Sensitive changes ask for a fresh sign-in (password and second factor) first.
  router.post('/account/reauthenticate', form, async (ctx) => {
    const current = await signedInForm(ctx);
    if (!current) return;
    startSignIn(ctx, { fresh: true });
  });

  // Replacing the recovery codes or turning the factor off: a fresh sign-in and a current code.
  router.post('/account/mfa/manage', form, async (ctx) => {
    const current = await signedInForm(ctx);
    if (!current) return;
    const action = field(ctx.request.body, 'action');
    if (action !== 'regenerate' && action !== 'remove') return renderAccount(ctx, current, { error: 'Choose what to change.' }, 400);
    if (!isFresh(current)) return renderAccount(ctx, current, { error: staleForFactors }, 403);
    const code = field(ctx.request.body, 'code');
    if (typeof code !== 'string' || !code.trim() || code.length > 64) return renderAccount(ctx, current, { error: 'Enter a code from your authenticator app or a recovery code.' }, 400);
    const verdict = await verifySecondFactor(factors, current.account.id, code);
    if (!verdict.ok) {
      if (verdict.reason === 'wait') ctx.set('retry-after', String(verdict.waitSeconds));
      return renderAccount(ctx, current, { error: describeVerdict(verdict) }, verdict.reason === 'wait' ? 429 : 400);
    }
    if (action === 'regenerate') return renderRecoveryCodes(ctx, current, await regenerateRecoveryCodes(factors, current.account.id));
    await removeSecondFactor(factors, current.account.id, 'user');
    await store.oidc.revokeInteractions(current.account.id);
    await renderAccount(ctx, current, { notice: 'Two-step verification is off. You sign in with your password only.' });
  });

  // RP-initiated logout through the provider, which asks for confirmation on its own page.
  router.post('/account/sign-out', form, async (ctx) => {
    const session = readCookie(ctx, accountCookieName, accountSessionSchema);
    if (session && !sameToken(session.csrf, field(ctx.request.body, 'csrf'))) throw new GatehouseError('invalid_input', 'This form has expired. Open your account page again.');
    clearCookie(ctx, accountCookieName);
    const params = new URLSearchParams({ client_id: accountClientId, post_logout_redirect_uri: accountSignedOutUri(config.issuer) });
    ctx.status = 303;
    ctx.redirect(`${config.issuer}/session/end?${params.toString()}`);
  });

  router.get('/account/signed-out', (ctx) => {
    clearCookie(ctx, accountCookieName);
    renderMessage(ctx, 'Signed out', ['You are signed out of your account page.'], 200);
  });

  return router;
}
