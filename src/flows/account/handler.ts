import type { RequestListener } from 'node:http';

import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';

import type { Clock } from '../../clock.ts';
import { epochSeconds } from '../../clock.ts';
import { GatehouseError } from '../../errors.ts';
import type { AuditSource } from '../../libraries/audit.ts';
import { message } from '../../messages/messages.ts';
import type { MessageId } from '../../messages/messages.ts';
import { accountClientId, accountSignedOutUri } from '../../oidc/account-client.ts';
import type { AccountRecord } from '../../store/types.ts';
import { routes, urls } from '../../urls.ts';
import { sameToken } from '../../keys/encryption.ts';
import { field } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { limitedMessage } from '../login/view.ts';
import { describeVerdict } from '../second-factor/view.ts';
import { createInProcessClient } from './in-process.ts';
import type { AccountSession, BrowserSession } from './session.ts';
import {
  accountCookieName, accountSessionSchema, accountSessionSeconds, browserSession, clearCookie, pendingCookieName, readCookie,
  stillSignedIn, writeCookie,
} from './session.ts';
import { authorizationUrl, newPendingSignIn, pendingSignInSchema, redeemCode } from './sign-in.ts';
import { accountMessagePage, accountPage, accountRecoveryCodesPage, accountSetupPage } from './view.ts';

/**
 * The account page (`/account`): a first-party client of Gatehouse itself. Unauthenticated, it
 * sends the browser through the authorization endpoint (code + PKCE) and redeems the code at the
 * token endpoint in-process; it then keeps its own small session (session.ts) that stands on the
 * provider session. What the page changes (the password, the second factor) it changes through
 * the libraries, which record each change as the CLI's doing the same would be.
 */

export type AccountPageDependencies = Pick<FlowDependencies, 'provider' | 'libraries' | 'views' | 'form' | 'forms' | 'config' | 'limits' | 'clock'>;

/** Longest time from the redirect to the authorization endpoint back to the callback. */
const signInSeconds = 15 * 60;

/** Turning off the second factor or replacing recovery codes needs a sign-in at most this old. */
export const freshSignInSeconds = 5 * 60;

type SignedIn = { session: AccountSession; browser: BrowserSession; account: AccountRecord };

/** Whether the sign-in behind the page is recent enough for sensitive changes (sign-in factors). */
function isFresh(current: SignedIn, clock: Clock): boolean {
  return epochSeconds(clock) - current.session.authTime <= freshSignInSeconds;
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
  if (typeof value !== 'string' || value.length > max) throw new GatehouseError('invalid_input', 'account.parameter_malformed', { name });
  return value;
}

/** The person at this browser, acting on their own account: what the libraries record. */
function personAt(ctx: Context): AuditSource {
  return { actor: 'user', sourceAddress: ctx.ip };
}

/**
 * The scope of the page's form tokens (the one CSRF scheme, src/web/forms.ts): this account page
 * sign-in, so a token stops working when the person signs in again or out.
 */
function formScope(session: AccountSession): string {
  return `account:${session.sid}:${session.authTime}`;
}

export function createAccountRouter(deps: AccountPageDependencies): Router {
  const { libraries, views, config, clock, form, forms } = deps;
  const router = new Router();
  // The token endpoint, reached without the network (see in-process.ts).
  const send = createInProcessClient(() => handlerOf(deps.provider()));

  function renderMessage(ctx: Context, title: MessageId, paragraph: MessageId, status: number) {
    views.render(ctx, 'message', accountMessagePage(title, paragraph), status);
  }

  /** Back to the account page (after a POST, as a GET). */
  function toAccountPage(ctx: Context) {
    ctx.status = 303;
    ctx.redirect(urls.account());
  }

  /** The person signed in to the account page, if the provider session under it still stands. */
  async function signedIn(ctx: Context): Promise<SignedIn | undefined> {
    const session = readCookie(ctx, accountCookieName, accountSessionSchema, clock());
    if (!session) return undefined;
    const browser = await browserSession(deps.provider(), ctx);
    if (!browser || !stillSignedIn(session, browser)) return undefined;
    const account = await libraries.accounts.findById(session.sub);
    if (!account || account.disabled) return undefined;
    return { session, browser, account };
  }

  function startSignIn(ctx: Context, options: { fresh?: boolean } = {}) {
    clearCookie(ctx, accountCookieName);
    const pending = newPendingSignIn(clock(), signInSeconds);
    writeCookie(ctx, pendingCookieName, pending, signInSeconds);
    // After a POST (reauthenticate), 303 makes the browser GET the authorization endpoint.
    if (ctx.method === 'POST') ctx.status = 303;
    ctx.redirect(authorizationUrl(config.issuer, pending, options));
  }

  async function renderAccount(ctx: Context, current: SignedIn, extra: { error?: string; notice?: string } = {}, status = 200) {
    const factor = await libraries.secondFactor.status(current.account.id);
    views.render(ctx, 'account', accountPage({
      account: current.account,
      factor: factor.active ? { active: true, recoveryCodesLeft: factor.recoveryCodesLeft } : { active: false },
      fresh: isFresh(current, clock),
      csrf: forms.token(formScope(current.session)),
      minLength: config.passwords.minLength,
      error: extra.error,
      notice: extra.notice,
    }), status);
  }

  router.get(routes.account, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return startSignIn(ctx);
    await renderAccount(ctx, current);
  });

  router.get(routes.accountCallback, async (ctx) => {
    const pending = readCookie(ctx, pendingCookieName, pendingSignInSchema, clock());
    clearCookie(ctx, pendingCookieName);
    const state = queryValue(ctx, 'state');
    if (!pending || !sameToken(pending.state, state)) {
      return renderMessage(ctx, 'account.sign_in_cannot_continue', 'account.sign_in_started_elsewhere', 400);
    }
    const issuer = queryValue(ctx, 'iss');
    if (issuer !== undefined && issuer !== config.issuer) throw new GatehouseError('invalid_input', 'account.sign_in_response_comes_from');
    const error = queryValue(ctx, 'error', 200);
    if (error !== undefined) {
      const cancelled = error === 'access_denied';
      return cancelled
        ? renderMessage(ctx, 'account.sign_in_cancelled', 'account.sign_in_cancelled_text', 403)
        : renderMessage(ctx, 'account.sign_in_failed', 'account.sign_in_failed_text', 400);
    }
    const code = queryValue(ctx, 'code');
    if (!code) throw new GatehouseError('invalid_input', 'account.sign_in_response_has_no');

    const result = await redeemCode(send, { issuer: config.issuer, pending, code, now: clock() });
    // Bind the page to this browser's provider session: the same person, from the same login.
    const browser = await browserSession(deps.provider(), ctx);
    if (!browser?.sid || browser.accountId !== result.sub || browser.loginTs !== result.authTime) {
      return renderMessage(ctx, 'account.sign_in_cannot_continue', 'account.sign_in_not_confirmed', 400);
    }
    const session: AccountSession = {
      sub: result.sub, sid: browser.sid, authTime: result.authTime, amr: result.amr.slice(0, 10), ...(result.acr ? { acr: result.acr } : {}),
      exp: epochSeconds(clock) + accountSessionSeconds,
    };
    writeCookie(ctx, accountCookieName, session, accountSessionSeconds);
    toAccountPage(ctx);
  });

  router.post(routes.accountPassword, form, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return toAccountPage(ctx);
    const body = ctx.request.body;
    if (!forms.check(ctx, formScope(current.session))) {
      return renderAccount(ctx, current, { error: message('account.form_expired') }, 403);
    }
    const signOutOthers = field(body, 'sign_out_others');
    if (signOutOthers !== undefined && signOutOthers !== 'yes') return renderAccount(ctx, current, { error: message('account.form_unexpected') }, 400);
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
    const outcome = await libraries.recovery.change({
      accountId: current.account.id,
      currentPassword: field(body, 'current_password'),
      newPassword: field(body, 'new_password'),
      // Keep this browser's session and the grants it holds; everything else of the account goes.
      ...(signOutOthers === 'yes' ? { signOutOthers: { sessionId: current.browser.id, grantIds: current.browser.grantIds } } : {}),
    }, personAt(ctx));
    const currentGiven = typeof field(body, 'current_password') === 'string' && (field(body, 'current_password') as string).length > 0;
    if (!outcome.ok && outcome.reason === 'wrong_password' && currentGiven) await admission.attempt.failed();
    else if (outcome.ok || outcome.reason === 'policy' || outcome.reason === 'changed_meanwhile') await admission.attempt.succeeded();
    else await admission.attempt.cancel();
    if (!outcome.ok) {
      const status = outcome.reason === 'changed_meanwhile' ? 409 : outcome.reason === 'no_account' ? 403 : 400;
      return renderAccount(ctx, current, { error: outcome.message }, status);
    }
    await renderAccount(ctx, { ...current, account: outcome.account }, {
      notice: message(signOutOthers === 'yes' ? 'account.password_changed_signed_out' : 'account.password_changed'),
    });
  });

  /** A signed-in POST with this page's CSRF token, or nothing (the caller has answered). */
  async function signedInForm(ctx: Context): Promise<SignedIn | undefined> {
    const current = await signedIn(ctx);
    if (!current) {
      toAccountPage(ctx);
      return undefined;
    }
    if (!forms.check(ctx, formScope(current.session))) {
      await renderAccount(ctx, current, { error: message('account.form_expired') }, 403);
      return undefined;
    }
    return current;
  }

  async function renderSetup(ctx: Context, current: SignedIn, error?: string, status = 200) {
    views.render(ctx, 'mfa-setup', await accountSetupPage(await libraries.secondFactor.enrollment(current.account), forms.token(formScope(current.session)), error), status);
  }

  function renderRecoveryCodes(ctx: Context, current: SignedIn, codes: string[]) {
    views.render(ctx, 'recovery-codes', accountRecoveryCodesPage(current.account.email, codes, forms.token(formScope(current.session))));
  }

  // Adding a sign-in factor needs a fresh sign-in, like removing one: a session someone else got
  // hold of must not be able to enroll their own authenticator and lock the owner out.
  const staleForFactors = () => message('account.confirm_it_is_you');

  router.get(routes.accountMfaSetup, async (ctx) => {
    const current = await signedIn(ctx);
    if (!current) return startSignIn(ctx);
    if (await libraries.secondFactor.isActive(current.account.id)) return toAccountPage(ctx);
    if (!isFresh(current, clock)) return renderAccount(ctx, current, { error: staleForFactors() }, 403);
    await renderSetup(ctx, current);
  });

  router.post(routes.accountMfaSetup, form, async (ctx) => {
    const current = await signedInForm(ctx);
    if (!current) return;
    if (!isFresh(current, clock)) return renderAccount(ctx, current, { error: staleForFactors() }, 403);
    const code = field(ctx.request.body, 'code');
    // A new factor is a credential change: sign-ins half-finished elsewhere start again.
    const activated = typeof code === 'string' && code.length <= 16
      ? await libraries.secondFactor.activate(current.account.id, code, personAt(ctx), { endPendingSignIns: true })
      : { ok: false as const, reason: 'wrong' as const };
    if (!activated.ok) {
      if (await libraries.secondFactor.isActive(current.account.id)) return renderAccount(ctx, current, { error: message('account.mfa_already_set_up') }, 409);
      return renderSetup(ctx, current, message('account.mfa_setup_wrong_code'), 400);
    }
    renderRecoveryCodes(ctx, current, activated.recoveryCodes);
  });

  router.post(routes.accountMfaDone, form, async (ctx) => {
    const current = await signedInForm(ctx);
    if (!current) return;
    toAccountPage(ctx);
  });

  // Sensitive changes ask for a fresh sign-in (password and second factor) first.
  router.post(routes.accountReauthenticate, form, async (ctx) => {
    const current = await signedInForm(ctx);
    if (!current) return;
    startSignIn(ctx, { fresh: true });
  });

  // Replacing the recovery codes or turning the factor off: a fresh sign-in and a current code.
  router.post(routes.accountMfaManage, form, async (ctx) => {
    const current = await signedInForm(ctx);
    if (!current) return;
    const action = field(ctx.request.body, 'action');
    if (action !== 'regenerate' && action !== 'remove') return renderAccount(ctx, current, { error: message('account.choose_change') }, 400);
    if (!isFresh(current, clock)) return renderAccount(ctx, current, { error: staleForFactors() }, 403);
    const code = field(ctx.request.body, 'code');
    if (typeof code !== 'string' || !code.trim() || code.length > 64) return renderAccount(ctx, current, { error: message('account.enter_factor_code') }, 400);
    const verdict = await libraries.secondFactor.verify(current.account.id, code, personAt(ctx));
    if (!verdict.ok) {
      if (verdict.reason === 'wait') ctx.set('retry-after', String(verdict.waitSeconds));
      return renderAccount(ctx, current, { error: describeVerdict(verdict) }, verdict.reason === 'wait' ? 429 : 400);
    }
    if (action === 'regenerate') return renderRecoveryCodes(ctx, current, await libraries.secondFactor.regenerateRecoveryCodes(current.account.id, personAt(ctx)));
    // What support does with `gatehouse users reset-mfa`: the same removal, recorded alike.
    await libraries.secondFactor.remove(current.account.id, personAt(ctx));
    await renderAccount(ctx, current, { notice: message('account.mfa_off') });
  });

  // RP-initiated logout through the provider, which asks for confirmation on its own page.
  router.post(routes.accountSignOut, form, async (ctx) => {
    const session = readCookie(ctx, accountCookieName, accountSessionSchema, clock());
    if (session && !forms.check(ctx, formScope(session))) throw new GatehouseError('invalid_input', 'account.form_has_expired_open_your');
    clearCookie(ctx, accountCookieName);
    const params = new URLSearchParams({ client_id: accountClientId, post_logout_redirect_uri: accountSignedOutUri(config.issuer) });
    ctx.status = 303;
    ctx.redirect(`${config.issuer}/session/end?${params.toString()}`);
  });

  router.get(routes.accountSignedOut, (ctx) => {
    clearCookie(ctx, accountCookieName);
    renderMessage(ctx, 'account.signed_out', 'account.signed_out_text', 200);
  });

  return router;
}
