import type { RequestListener } from 'node:http';

import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';

import type { Clock } from '../../clock.ts';
import { epochSeconds } from '../../clock.ts';
import { GatehouseError, wordsFor } from '../../errors.ts';
import { message } from '../../messages/messages.ts';
import { localeOf } from '../../messages/request-locale.ts';
import type { MessageId } from '../../messages/messages.ts';
import { accountClientId, accountSignedOutUri } from '../../oidc/account-client.ts';
import { routes, urls } from '../../urls.ts';
import { sameToken } from '../../keys/encryption.ts';
import { field } from '../interaction.ts';
import { limitedMessage } from '../login/view.ts';
import { describeVerdict } from '../second-factor/view.ts';
import { createInProcessClient } from './in-process.ts';
import type { AccountSession } from './session.ts';
import {
  accountCookieName, accountSessionSchema, accountSessionSeconds, browserSession, clearCookie, pendingCookieName, readCookie,
  writeCookie,
} from './session.ts';
import {
  isFreshSignIn, maxPasskeyNameLength, needsFreshSignIn, newPendingPasskey, passkeyChallengeSeconds, passkeyId, passkeyName, passkeyRoutes, passwordFormKind,
  pendingPasskeyCookieName, pendingPasskeySchema, pendingPasskeyVerdict, registrationResponse, removalVerdict,
} from './passkeys.ts';
import type { NameVerdict, PasskeyAction } from './passkeys.ts';
import { submittedIdentity, unlinkVerdict } from './identities.ts';
import { accountPathOrUndefined, pendingSignInSchema, redeemCode } from './sign-in.ts';
import type { AccountPage, AccountPageDependencies, SignedIn } from './page.ts';
import { formScope, personAt, signedIn, startSignIn } from './page.ts';
import type { FieldErrors } from './view.ts';
import { accountMessagePage, accountPage, accountRecoveryCodesPage, accountSetupPage } from './view.ts';
import { registerSessionRoutes } from './sessions.ts';
import { registerAppRoutes } from './apps.ts';
import { registerProfileRoutes } from './profile.ts';
import { registerEmailRoutes } from './email.ts';
import { registerDeleteRoutes, selfDeletionAllowed } from './delete.ts';
import { registerExportRoutes } from './export.ts';

/**
 * The account page (`/account`): a first-party client of Gatehouse itself. Unauthenticated, it
 * sends the browser through the authorization endpoint (code + PKCE) and redeems the code at the
 * token endpoint in-process; it then keeps its own small session (session.ts) that stands on the
 * provider session. What the page changes (the password, the second factor) it changes through
 * the libraries, which record each change as the CLI's doing the same would be.
 */




/**
 * Whether the sign-in behind the page is recent enough for sensitive changes to how the person
 * signs in: the second factor, and adding or removing a passkey (passkeys.ts, freshSignInSeconds).
 */
function isFresh(current: SignedIn, clock: Clock): boolean {
  return isFreshSignIn(current.session.authTime, clock());
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




function renderMessage(page: AccountPage, ctx: Context, title: MessageId, paragraph: MessageId, status: number) {
  page.views.render(ctx, 'message', accountMessagePage(title, paragraph), status);
}

/** Back to the account page (after a POST, as a GET). */
function toAccountPage(ctx: Context, section?: string) {
  ctx.status = 303;
  ctx.redirect(section ?? urls.account());
}



async function renderAccount(
  page: AccountPage, ctx: Context, current: SignedIn, extra: { error?: string; errors?: FieldErrors; notice?: string; adding?: { options: unknown } } = {}, status = 200,
) {
  const [factor, passkeys, identities] = await Promise.all([
    page.libraries.secondFactor.status(current.account.id), page.libraries.passkeys.list(current.account.id), page.libraries.identities.listForAccount(current.account.id),
  ]);
  page.views.render(ctx, 'account', { selfDeletion: selfDeletionAllowed(page), ...accountPage({
    account: current.account,
    factor: factor.active ? { active: true, recoveryCodesLeft: factor.recoveryCodesLeft } : { active: false },
    passkeys,
    identities,
    fresh: isFresh(current, page.clock),
    csrf: page.forms.token(formScope(current.session)),
    minLength: page.config.passwords.minLength,
    adding: extra.adding,
    locale: localeOf(ctx),
    error: extra.error,
    errors: extra.errors,
    notice: extra.notice,
  }) }, status);
}

/** A signed-in POST with this page's CSRF token, or nothing (the caller has answered). */
async function signedInForm(page: AccountPage, ctx: Context): Promise<SignedIn | undefined> {
  const current = await signedIn(page, ctx);
  if (!current) {
    toAccountPage(ctx);
    return undefined;
  }
  if (!page.forms.check(ctx, formScope(current.session))) {
    await renderAccount(page, ctx, current, { error: message('account.form_expired') }, 403);
    return undefined;
  }
  return current;
}

async function renderSetup(page: AccountPage, ctx: Context, current: SignedIn, error?: string, status = 200) {
  page.views.render(ctx, 'mfa-setup', await accountSetupPage(await page.libraries.secondFactor.enrollment(current.account), page.forms.token(formScope(current.session)), error), status);
}

function renderRecoveryCodes(page: AccountPage, ctx: Context, current: SignedIn, codes: string[]) {
  page.views.render(ctx, 'recovery-codes', accountRecoveryCodesPage(current.account.email, codes, page.forms.token(formScope(current.session))));
}

// Adding a sign-in factor needs a fresh sign-in, like removing one: a session someone else got
// hold of must not be able to enroll their own authenticator and lock the owner out.
const staleForFactors = () => message('account.confirm_it_is_you');

/** Signing in to the page (through the provider, as any client does), again for sensitive changes, and out. */
function signInRoutes(router: Router, page: AccountPage): void {
  router.get(routes.account, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) return startSignIn(page, ctx);
    await renderAccount(page, ctx, current);
  });

  router.get(routes.accountCallback, async (ctx) => {
    const pending = readCookie(ctx, pendingCookieName, pendingSignInSchema, page.clock());
    clearCookie(ctx, pendingCookieName);
    const state = queryValue(ctx, 'state');
    if (!pending || !sameToken(pending.state, state)) {
      return renderMessage(page, ctx, 'account.sign_in_cannot_continue', 'account.sign_in_started_elsewhere', 400);
    }
    const issuer = queryValue(ctx, 'iss');
    if (issuer !== undefined && issuer !== page.config.issuer) throw new GatehouseError('invalid_input', 'account.sign_in_response_comes_from');
    const error = queryValue(ctx, 'error', 200);
    if (error !== undefined) {
      const cancelled = error === 'access_denied';
      return cancelled
        ? renderMessage(page, ctx, 'account.sign_in_cancelled', 'account.sign_in_cancelled_text', 403)
        : renderMessage(page, ctx, 'account.sign_in_failed', 'account.sign_in_failed_text', 400);
    }
    const code = queryValue(ctx, 'code');
    if (!code) throw new GatehouseError('invalid_input', 'account.sign_in_response_has_no');

    const result = await redeemCode(page.send, { issuer: page.config.issuer, pending, code, now: page.clock() });
    // Bind the page to this browser's provider session: the same person, from the same login.
    const browser = await browserSession(page.provider(), ctx);
    if (!browser?.sid || browser.accountId !== result.sub || browser.loginTs !== result.authTime) {
      return renderMessage(page, ctx, 'account.sign_in_cannot_continue', 'account.sign_in_not_confirmed', 400);
    }
    const session: AccountSession = {
      sub: result.sub, sid: browser.sid, authTime: result.authTime, amr: result.amr.slice(0, 10), ...(result.acr ? { acr: result.acr } : {}),
      exp: epochSeconds(page.clock) + accountSessionSeconds,
    };
    writeCookie(ctx, accountCookieName, session, accountSessionSeconds);
    toAccountPage(ctx, pending.returnTo);
  });

  // Sensitive changes ask for a fresh sign-in (password and second factor) first.
  router.post(routes.accountReauthenticate, page.form, async (ctx) => {
    const current = await signedInForm(page, ctx);
    if (!current) return;
    // The section whose form asked (its `return_to`), else the overview.
    startSignIn(page, ctx, { fresh: true, returnTo: accountPathOrUndefined(field(ctx.request.body, 'return_to')) ?? urls.account() });
  });

  // RP-initiated logout through the provider, which asks for confirmation on its own page.
  router.post(routes.accountSignOut, page.form, async (ctx) => {
    const session = readCookie(ctx, accountCookieName, accountSessionSchema, page.clock());
    if (session && !page.forms.check(ctx, formScope(session))) throw new GatehouseError('invalid_input', 'account.form_has_expired_open_your');
    clearCookie(ctx, accountCookieName);
    const params = new URLSearchParams({ client_id: accountClientId, post_logout_redirect_uri: accountSignedOutUri(page.config.issuer) });
    ctx.status = 303;
    ctx.redirect(`${page.config.issuer}/session/end?${params.toString()}`);
  });

  router.get(routes.accountSignedOut, (ctx) => {
    clearCookie(ctx, accountCookieName);
    renderMessage(page, ctx, 'account.signed_out', 'account.signed_out_text', 200);
  });


}

/**
 * An account without a password (registered with a passkey) gets one through a mailed link, the
 * reset the login page offers: choosing it proves the mailbox again, and ends every session.
 */
async function mailSetPasswordLink(page: AccountPage, ctx: Context, current: SignedIn) {
  const allowed = await page.limits.resetRequest(ctx.ip);
  if (!allowed.ok) {
    ctx.set('retry-after', String(allowed.retryAfterSeconds));
    return renderAccount(page, ctx, current, { error: message('account.set_password_too_many', { seconds: allowed.retryAfterSeconds }) }, 429);
  }
  await page.libraries.recovery.request(current.account.email, personAt(ctx));
  await renderAccount(page, ctx, current, {
    notice: message('account.set_password_sent', { email: current.account.email, minutes: Math.round(page.config.accounts.resetTokenTtlSeconds / 60) }),
  });
}

/** Changing the password, or setting a first one. */
function passwordRoutes(router: Router, page: AccountPage): void {
  router.post(routes.accountPassword, page.form, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) return toAccountPage(ctx);
    const body = ctx.request.body;
    if (!page.forms.check(ctx, formScope(current.session))) {
      return renderAccount(page, ctx, current, { error: message('account.form_expired') }, 403);
    }
    if (passwordFormKind(current.account) === 'set') return mailSetPasswordLink(page, ctx, current);
    const signOutOthers = field(body, 'sign_out_others');
    if (signOutOthers !== undefined && signOutOthers !== 'yes') return renderAccount(page, ctx, current, { error: message('account.form_unexpected') }, 400);
    // The form runs argon2 and the password policy: limited per source and per account. The
    // current password is a password guess like the login page's, with the same counters.
    const formVerdict = await page.limits.passwordForm(ctx.ip, `account:${current.account.id}`);
    if (!formVerdict.ok) {
      ctx.set('retry-after', String(formVerdict.retryAfterSeconds));
      return renderAccount(page, ctx, current, { error: limitedMessage(formVerdict) }, 429);
    }
    const admission = await page.limits.passwordAttempt(current.account.email, ctx.ip);
    if (!admission.ok) {
      ctx.set('retry-after', String(admission.retryAfterSeconds));
      return renderAccount(page, ctx, current, { error: limitedMessage(admission) }, 429);
    }
    const outcome = await page.libraries.recovery.change({
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
      // The library words it in the request's language; a problem with one field is shown at it.
      if (outcome.reason === 'wrong_password') return renderAccount(page, ctx, current, { errors: { current_password: outcome.message } }, 400);
      if (outcome.reason === 'policy') return renderAccount(page, ctx, current, { errors: { new_password: outcome.message } }, 400);
      return renderAccount(page, ctx, current, { error: outcome.message }, outcome.reason === 'changed_meanwhile' ? 409 : 403);
    }
    await renderAccount(page, ctx, { ...current, account: outcome.account }, {
      notice: message(signOutOthers === 'yes' ? 'account.password_changed_signed_out' : 'account.password_changed'),
    });
  });
}

/** Setting up, replacing the recovery codes of, or removing the authenticator app. */
function secondFactorRoutes(router: Router, page: AccountPage): void {
  router.get(routes.accountMfaSetup, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) return startSignIn(page, ctx);
    if (await page.libraries.secondFactor.isActive(current.account.id)) return toAccountPage(ctx);
    if (!isFresh(current, page.clock)) return renderAccount(page, ctx, current, { error: staleForFactors() }, 403);
    await renderSetup(page, ctx, current);
  });

  router.post(routes.accountMfaSetup, page.form, async (ctx) => {
    const current = await signedInForm(page, ctx);
    if (!current) return;
    if (!isFresh(current, page.clock)) return renderAccount(page, ctx, current, { error: staleForFactors() }, 403);
    const code = field(ctx.request.body, 'code');
    // A new factor is a credential change: sign-ins half-finished elsewhere start again.
    const activated = typeof code === 'string' && code.length <= 16
      ? await page.libraries.secondFactor.activate(current.account.id, code, personAt(ctx), { endPendingSignIns: true })
      : { ok: false as const, reason: 'wrong' as const };
    if (!activated.ok) {
      if (await page.libraries.secondFactor.isActive(current.account.id)) return renderAccount(page, ctx, current, { error: message('account.mfa_already_set_up') }, 409);
      return renderSetup(page, ctx, current, message('account.mfa_setup_wrong_code'), 400);
    }
    renderRecoveryCodes(page, ctx, current, activated.recoveryCodes);
  });

  router.post(routes.accountMfaDone, page.form, async (ctx) => {
    const current = await signedInForm(page, ctx);
    if (!current) return;
    toAccountPage(ctx);
  });

  // Replacing the recovery codes or turning the factor off: a fresh sign-in and a current code.
  router.post(routes.accountMfaManage, page.form, async (ctx) => {
    const current = await signedInForm(page, ctx);
    if (!current) return;
    const action = field(ctx.request.body, 'action');
    if (action !== 'regenerate' && action !== 'remove') return renderAccount(page, ctx, current, { error: message('account.choose_change') }, 400);
    if (!isFresh(current, page.clock)) return renderAccount(page, ctx, current, { error: staleForFactors() }, 403);
    const code = field(ctx.request.body, 'code');
    if (typeof code !== 'string' || !code.trim() || code.length > 64) return renderAccount(page, ctx, current, { errors: { mfa_code: message('account.enter_factor_code') } }, 400);
    const verdict = await page.libraries.secondFactor.verify(current.account.id, code, personAt(ctx));
    if (!verdict.ok) {
      if (verdict.reason === 'wait') {
        ctx.set('retry-after', String(verdict.waitSeconds));
        return renderAccount(page, ctx, current, { error: describeVerdict(verdict) }, 429);
      }
      return renderAccount(page, ctx, current, { errors: { mfa_code: describeVerdict(verdict) } }, 400);
    }
    if (action === 'regenerate') return renderRecoveryCodes(page, ctx, current, await page.libraries.secondFactor.regenerateRecoveryCodes(current.account.id, personAt(ctx)));
    // What support does with `gatehouse users reset-mfa`: the same removal, recorded alike.
    await page.libraries.secondFactor.remove(current.account.id, personAt(ctx));
    await renderAccount(page, ctx, current, { notice: message('account.mfa_off') });
  });
}

const staleForPasskeys = () => message('account.passkeys_confirm_it_is_you');

/** The sign-in is recent enough for this passkey change; else the page says so (403) and false. */
async function freshEnoughFor(page: AccountPage, ctx: Context, current: SignedIn, action: PasskeyAction): Promise<boolean> {
  if (!needsFreshSignIn(action) || isFresh(current, page.clock)) return true;
  await renderAccount(page, ctx, current, { error: staleForPasskeys() }, 403);
  return false;
}

function nameProblem(verdict: Exclude<NameVerdict, { ok: true }>): string {
  if (verdict.reason === 'empty') return message('account.passkey_name_empty');
  if (verdict.reason === 'too_long') return message('account.passkey_name_too_long', { max: maxPasskeyNameLength });
  return message('account.form_unexpected');
}

/** A refusal the passkeys library explains (a GatehouseError below 500: bad response, unknown passkey) as the page's error; anything else goes on. */
async function renderRefusal(page: AccountPage, ctx: Context, current: SignedIn, error: unknown) {
  if (!(error instanceof GatehouseError) || error.status >= 500) throw error;
  await renderAccount(page, ctx, current, { error: wordsFor(error) }, error.status);
}

/**
 * Marks the pending challenge used, server-side: a record in the provider's store (oidc-provider's
 * replay detection, kept through our adapter in SQLite or MongoDB, shared by every instance) that
 * expires with the challenge. True the first time only; the cookie alone could be sent again.
 * That record is read, then written: answers racing within this process are told apart by the
 * challenges being claimed now (`claiming`), so of two answers sent at once exactly one goes on.
 */
async function firstUse(page: AccountPage, challenge: string, exp: number): Promise<boolean> {
  if (page.claiming.has(challenge)) return false;
  page.claiming.add(challenge);
  try {
    return await page.provider().ReplayDetection.unique('gatehouse:account:add-passkey', challenge, Math.max(exp, epochSeconds(page.clock) + 1));
  } finally {
    page.claiming.delete(challenge);
  }
}

/**
 * Passkeys: adding one (the creation options and a single-use challenge, then the browser's
 * answer), renaming and removing one. Adding and removing need a fresh sign-in; each change is
 * the passkeys library's, which records it (passkey_added, _renamed, _removed).
 */
function passkeyRoutesOf(router: Router, page: AccountPage): void {
  // The "Add a passkey" step: creation options for this account, their challenge kept for this sign-in.
  router.get(passkeyRoutes.add, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) return startSignIn(page, ctx);
    if (!await freshEnoughFor(page, ctx, current, 'add')) return;
    let options;
    try {
      // Refused (409) when the account has as many passkeys as allowed.
      options = await page.libraries.passkeys.registrationOptions({ id: current.account.id, email: current.account.email });
    } catch (error) {
      return renderRefusal(page, ctx, current, error);
    }
    writeCookie(ctx, pendingPasskeyCookieName, newPendingPasskey(current.session, options.challenge, page.clock()), passkeyChallengeSeconds);
    await renderAccount(page, ctx, current, { adding: { options } });
  });

  // The browser's answer, posted by the page's script with the step's form.
  router.post(passkeyRoutes.create, page.form, async (ctx) => {
    const current = await signedInForm(page, ctx);
    if (!current) return;
    if (!await freshEnoughFor(page, ctx, current, 'add')) return;
    const body = ctx.request.body;
    const name = passkeyName(field(body, 'name'), { required: false });
    if (!name.ok) return renderAccount(page, ctx, current, { error: nameProblem(name) }, 400);
    // The challenge is used by this first answer, whatever becomes of it.
    const pending = readCookie(ctx, pendingPasskeyCookieName, pendingPasskeySchema, new Date(0));
    clearCookie(ctx, pendingPasskeyCookieName);
    const verdict = pendingPasskeyVerdict(pending, current.session, page.clock());
    if (!verdict.ok) return renderAccount(page, ctx, current, { error: message('account.passkey_request_expired') }, 400);
    if (!await firstUse(page, verdict.challenge, pending!.exp)) return renderAccount(page, ctx, current, { error: message('account.passkey_request_used') }, 400);
    const response = registrationResponse(field(body, 'response'));
    if (!response.ok) return renderAccount(page, ctx, current, { error: message('account.passkey_no_response') }, 400);
    try {
      const added = await page.libraries.passkeys.finishRegistration({
        accountId: current.account.id, response: response.response, expectedChallenge: verdict.challenge, ...(name.name ? { name: name.name } : {}),
      }, personAt(ctx));
      await renderAccount(page, ctx, current, { notice: message('account.passkey_added', { name: added.name }) });
    } catch (error) {
      await renderRefusal(page, ctx, current, error);
    }
  });

  router.post(passkeyRoutes.rename, page.form, async (ctx) => {
    const current = await signedInForm(page, ctx);
    if (!current) return;
    const id = passkeyId(field(ctx.request.body, 'id'));
    if (!id) return renderAccount(page, ctx, current, { error: message('account.passkey_unknown') }, 400);
    const name = passkeyName(field(ctx.request.body, 'name'), { required: true });
    if (!name.ok || !name.name) {
      // Shown at that passkey's name field (its Rename section opens).
      return renderAccount(page, ctx, current, { errors: { [`passkey-name-${id}`]: nameProblem(name.ok ? { ok: false, reason: 'empty' } : name) } }, 400);
    }
    try {
      await page.libraries.passkeys.rename(current.account.id, id, name.name, personAt(ctx));
      await renderAccount(page, ctx, current, { notice: message('account.passkey_renamed', { name: name.name }) });
    } catch (error) {
      await renderRefusal(page, ctx, current, error);
    }
  });

  router.post(passkeyRoutes.remove, page.form, async (ctx) => {
    const current = await signedInForm(page, ctx);
    if (!current) return;
    if (!await freshEnoughFor(page, ctx, current, 'remove')) return;
    const id = passkeyId(field(ctx.request.body, 'id'));
    const passkeys = await page.libraries.passkeys.list(current.account.id);
    const otherWayIn = passwordFormKind(current.account) === 'change' || await page.libraries.identities.signsInThrough(current.account.id);
    const verdict = id ? removalVerdict({ otherWayIn, passkeyIds: passkeys.map((passkey) => passkey.id), id }) : { ok: false as const, reason: 'unknown' as const };
    if (!verdict.ok) {
      return verdict.reason === 'unknown'
        ? renderAccount(page, ctx, current, { error: message('account.passkey_unknown') }, 404)
        : renderAccount(page, ctx, current, { error: message('account.passkey_last_way_in') }, 409);
    }
    const removed = passkeys.find((passkey) => passkey.id === id)!;
    try {
      await page.libraries.passkeys.remove(current.account.id, removed.id, personAt(ctx));
      await renderAccount(page, ctx, current, { notice: message('account.passkey_removed', { name: removed.name }) });
    } catch (error) {
      await renderRefusal(page, ctx, current, error);
    }
  });
}

/**
 * "Signed in with": unlinking an identity at another provider. Like removing a passkey it needs a
 * fresh sign-in, and it is refused when it is the account's last way in (the identities library
 * says so, and records identity_unlinked).
 */
function identityRoutesOf(router: Router, page: AccountPage): void {
  router.post(routes.accountIdentityUnlink, page.form, async (ctx) => {
    const current = await signedInForm(page, ctx);
    if (!current) return;
    const identity = submittedIdentity(field(ctx.request.body, 'connection'), field(ctx.request.body, 'subject'));
    if (!identity) return renderAccount(page, ctx, current, { error: message('account.identity_unknown') }, 404);
    const linked = await page.libraries.identities.listForAccount(current.account.id);
    const fresh = isFresh(current, page.clock);
    const known = linked.find((each) => each.connectionId === identity.connectionId && each.subject === identity.subject);
    const canUnlink = known !== undefined && fresh ? await page.libraries.identities.canUnlink(current.account.id, identity.connectionId, identity.subject) : false;
    const verdict = unlinkVerdict({ linked, identity, fresh, canUnlink });
    if (!verdict.ok) {
      if (verdict.reason === 'unknown') return renderAccount(page, ctx, current, { error: message('account.identity_unknown') }, 404);
      if (verdict.reason === 'stale') return renderAccount(page, ctx, current, { error: message('account.identities_confirm_it_is_you') }, 403);
      return renderAccount(page, ctx, current, { error: message('account.identity_last_way_in') }, 409);
    }
    try {
      await page.libraries.identities.unlink(current.account.id, identity.connectionId, identity.subject, personAt(ctx));
    } catch (error) {
      if (error instanceof GatehouseError && error.code === 'conflict') return renderAccount(page, ctx, current, { error: message('account.identity_last_way_in') }, 409);
      if (error instanceof GatehouseError && error.code === 'not_found') return renderAccount(page, ctx, current, { error: message('account.identity_unknown') }, 404);
      throw error;
    }
    await renderAccount(page, ctx, current, { notice: message('account.identity_unlinked', { connection: known!.connectionName ?? identity.connectionId }) });
  });
}

export function createAccountRouter(deps: AccountPageDependencies): Router {
  const router = new Router();
  // The token endpoint, reached without the network (see in-process.ts).
  const page: AccountPage = { ...deps, send: createInProcessClient(() => handlerOf(deps.provider())), claiming: new Set() };
  for (const register of [signInRoutes, passwordRoutes, secondFactorRoutes, passkeyRoutesOf, identityRoutesOf]) register(router, page);
  // The account centre's sections (sessions.ts, apps.ts).
  registerSessionRoutes(router, page);
  registerAppRoutes(router, page);
  registerProfileRoutes(router, page);
  registerEmailRoutes(router, page);
  registerDeleteRoutes(router, page);
  registerExportRoutes(router, page);
  return router;
}
