import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';

import { isGatehouseError } from '../../errors.ts';
import type { EmailChangeOutcome } from '../../libraries/email-change.ts';
import { issuesOf } from '../../libraries/validation.ts';
import { message } from '../../messages/messages.ts';
import { urls } from '../../urls.ts';
import { field } from '../interaction.ts';
import type { ViewData } from '../kit.ts';
import { limitedMessage } from '../login/view.ts';
import type { AccountPage, SignedIn } from './page.ts';
import { formScope, personAt, signedIn, startSignIn } from './page.ts';
import type { FieldErrors } from './view.ts';
import { isFreshSignIn, passwordFormKind } from './passkeys.ts';
import { profileRoutes } from './profile.ts';
import { accountCookieName, browserSession, clearCookie, readCookie, writeCookie } from './session.ts';

/**
 * The account centre's email change (/account/email); the rules are the email-change library's.
 *
 * Who may ask: the person proves it is them again, because whoever controls the address controls
 * the account (password resets go to it). With a password, by typing it (a password guess, counted
 * like the login page's); an account without one (passkeys, another provider) by a fresh sign-in,
 * the same recent sign-in that adding a passkey needs, since there is nothing to type.
 *
 * Between asking and confirming, the page keeps the pending change (the code mailed and the new
 * address) in a signed cookie of its own. A taken address looks exactly like a free one here.
 * The mailed link and the old address's undo link lead to pages of their own that ask for a click
 * before they act (mail scanners open links).
 */

export const emailRoutes = {
  page: '/account/email',
  code: '/account/email/code',
  cancel: '/account/email/cancel',
  confirmLink: '/account/email/confirm/:token',
  undoLink: '/account/email/undo/:token',
} as const;

const pendingCookieName = 'gatehouse.account.email-change';

const pendingSchema = z.object({
  /** The account asking (a cookie of another sign-in in this browser is not this one's). */
  sub: z.string().min(1).max(255),
  codeId: z.string().min(1).max(100),
  email: z.string().min(3).max(254),
  exp: z.number().int(),
});

type Pending = z.infer<typeof pendingSchema>;

/** The CSRF scope of a link's confirm button: the page is not behind a sign-in, so the link itself scopes it. */
function linkScope(kind: 'confirm' | 'undo', token: string): string {
  return `email-${kind}:${token.slice(0, 64)}`;
}

function pendingOf(page: AccountPage, ctx: Context, current: SignedIn): Pending | undefined {
  const pending = readCookie(ctx, pendingCookieName, pendingSchema, page.clock());
  return pending && pending.sub === current.account.id ? pending : undefined;
}

/** `errors`: problems at the fields (email, current_password, code), in the form's order. */
type EmailPageExtra = { error?: string; notice?: string; errors?: FieldErrors; email?: string };

export function emailPage(input: {
  current: SignedIn; fresh: boolean; pending: Pending | undefined; csrf: string; minutes: number;
} & EmailPageExtra): ViewData {
  const { current, pending } = input;
  return {
    title: message(pending ? 'account.email_confirm_title' : 'account.email_title'),
    mode: pending ? 'code' : 'request',
    email: current.account.email,
    emailVerified: current.account.emailVerified,
    withPassword: passwordFormKind(current.account) === 'change',
    fresh: input.fresh,
    newEmail: input.email ?? '',
    pending: pending ? { email: pending.email, sent: message('account.email_sent', { email: pending.email, minutes: input.minutes }) } : undefined,
    actions: { request: emailRoutes.page, code: emailRoutes.code, cancel: emailRoutes.cancel, profile: profileRoutes.page },
    csrf: input.csrf,
    errors: input.errors,
    error: input.error,
    notice: input.notice,
  };
}

function render(page: AccountPage, ctx: Context, current: SignedIn, extra: EmailPageExtra & { pending?: Pending | null } = {}, status = 200) {
  const { pending: given, ...words } = extra;
  const pending = given === null ? undefined : (given ?? pendingOf(page, ctx, current));
  page.views.render(ctx, 'account-email', emailPage({
    current, fresh: isFreshSignIn(current.session.authTime, page.clock()), pending,
    csrf: page.forms.token(formScope(current.session)), minutes: Math.round(page.config.accounts.codeTtlSeconds / 60), ...words,
  }), status);
}

/** A link's own page (confirm or undo): what it will do and a button, or why it cannot. */
function renderLinkPage(page: AccountPage, ctx: Context, input: { kind: 'confirm' | 'undo'; token: string; text: string } | { title: string; text: string; status: number }) {
  if ('status' in input) {
    page.views.render(ctx, 'message', { title: input.title, paragraphs: [input.text], links: [{ href: urls.account(), label: message('account.open_page') }] }, input.status);
    return;
  }
  page.views.render(ctx, 'account-email', {
    title: message(input.kind === 'confirm' ? 'account.email_link_title' : 'account.email_undo_title'),
    mode: input.kind,
    text: input.text,
    action: input.kind === 'confirm' ? `/account/email/confirm/${encodeURIComponent(input.token)}` : `/account/email/undo/${encodeURIComponent(input.token)}`,
    csrf: page.forms.token(linkScope(input.kind, input.token)),
  });
}

/** The words for a refused confirmation, and its status. */
function refusal(outcome: Exclude<EmailChangeOutcome, { ok: true }>): { text: string; status: number } {
  switch (outcome.reason) {
    case 'wrong': return { text: message('account.email_code_wrong', { attemptsLeft: outcome.attemptsLeft }), status: 400 };
    case 'taken': return { text: message('account.email_taken_meanwhile'), status: 409 };
    case 'changed_meanwhile': return { text: message('account.email_changed_meanwhile'), status: 409 };
    case 'missing': return { text: message('account.email_code_no_pending'), status: 400 };
    default: return { text: message('account.email_code_expired'), status: 400 };
  }
}

export function registerEmailRoutes(router: Router, page: AccountPage): void {
  router.get(emailRoutes.page, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) return startSignIn(page, ctx);
    render(page, ctx, current);
  });

  // Asking: the new address, and proof that it is the person (see the top of this file).
  router.post(emailRoutes.page, page.form, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) {
      ctx.status = 303;
      return ctx.redirect(emailRoutes.page);
    }
    const body = ctx.request.body;
    const newEmail = field(body, 'email');
    const typed = typeof newEmail === 'string' ? newEmail : '';
    if (!page.forms.check(ctx, formScope(current.session))) return render(page, ctx, current, { email: typed, error: message('account.form_expired') }, 403);
    const withPassword = passwordFormKind(current.account) === 'change';
    if (!withPassword && !isFreshSignIn(current.session.authTime, page.clock())) {
      return render(page, ctx, current, { email: typed, error: message('account.email_needs_fresh_sign_in') }, 403);
    }
    const allowed = await page.limits.emailChangeRequest(ctx.ip, current.account.id);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return render(page, ctx, current, { email: typed, error: message('account.email_too_many', { seconds: allowed.retryAfterSeconds }) }, 429);
    }
    if (withPassword) {
      const password = field(body, 'current_password');
      const admission = await page.limits.passwordAttempt(current.account.email, ctx.ip);
      if (!admission.ok) {
        ctx.set('retry-after', String(admission.retryAfterSeconds));
        return render(page, ctx, current, { email: typed, error: limitedMessage(admission) }, 429);
      }
      try {
        if (typeof password !== 'string' || !password) throw new Error('no password');
        await page.libraries.accounts.authenticate(current.account.email, password);
        await admission.attempt.succeeded();
      } catch (error) {
        if (typeof password === 'string' && password && isGatehouseError(error) && error.code === 'invalid_credentials') await admission.attempt.failed();
        else await admission.attempt.cancel();
        if (isGatehouseError(error) && error.code !== 'invalid_credentials') throw error;
        return render(page, ctx, current, { email: typed, errors: { current_password: message('account.email_wrong_password') } }, 400);
      }
    }
    try {
      const pending = await page.libraries.emailChange.request(current.account.id, newEmail, personAt(ctx));
      const ttl = page.config.accounts.codeTtlSeconds;
      writeCookie(ctx, pendingCookieName, { sub: current.account.id, ...pending, exp: Math.floor(page.clock().getTime() / 1000) + ttl }, ttl);
    } catch (error) {
      const issues = issuesOf(error);
      if (!issues) throw error;
      // The library's problems are about the new address (path `email`), worded in the reader's language.
      const problem = issues.find((issue) => issue.path[0] === 'email') ?? issues[0]!;
      return render(page, ctx, current, { email: typed, errors: { email: problem.message } }, 400);
    }
    ctx.status = 303;
    ctx.redirect(emailRoutes.page);
  });

  // Confirming with the code typed.
  router.post(emailRoutes.code, page.form, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) {
      ctx.status = 303;
      return ctx.redirect(emailRoutes.page);
    }
    if (!page.forms.check(ctx, formScope(current.session))) return render(page, ctx, current, { error: message('account.form_expired') }, 403);
    const pending = pendingOf(page, ctx, current);
    if (!pending) return render(page, ctx, current, { error: message('account.email_code_no_pending') }, 400);
    const outcome = await page.libraries.emailChange.confirmCode({
      accountId: current.account.id, pending, code: field(ctx.request.body, 'code'),
      keep: { sessionId: current.browser.id, grantIds: current.browser.grantIds },
    }, personAt(ctx));
    if (!outcome.ok) {
      const { text, status } = refusal(outcome);
      // A code that can no longer work ends the pending change: the person asks again.
      if (outcome.reason !== 'wrong' || outcome.attemptsLeft === 0) clearCookie(ctx, pendingCookieName);
      const keepPending = outcome.reason === 'wrong' && outcome.attemptsLeft > 0;
      return render(page, ctx, current, keepPending ? { errors: { code: text } } : { error: text, pending: null }, status);
    }
    clearCookie(ctx, pendingCookieName);
    render(page, ctx, { ...current, account: outcome.account }, { pending: null, notice: message('account.email_changed', { email: outcome.account.email }) });
  });

  router.post(emailRoutes.cancel, page.form, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (current && page.forms.check(ctx, formScope(current.session))) clearCookie(ctx, pendingCookieName);
    ctx.status = 303;
    ctx.redirect(emailRoutes.page);
  });

  // The link mailed to the new address: a page that asks for a click, then the change.
  router.get(emailRoutes.confirmLink, async (ctx) => {
    const token = ctx.params.token ?? '';
    const state = await page.libraries.emailChange.inspectLink(token);
    if (!state.ok) return renderLinkPage(page, ctx, { title: message('account.email_link_title'), text: message('account.email_link_unusable'), status: state.reason === 'missing' ? 404 : 410 });
    renderLinkPage(page, ctx, { kind: 'confirm', token, text: message('account.email_link_confirm', { email: state.email }) });
  });

  router.post(emailRoutes.confirmLink, page.form, async (ctx) => {
    const token = ctx.params.token ?? '';
    if (!page.forms.check(ctx, linkScope('confirm', token))) {
      return renderLinkPage(page, ctx, { title: message('account.email_link_title'), text: message('account.form_expired_reload'), status: 403 });
    }
    // This browser's session is spared when it is the account's own (the person is signed in here).
    const browser = await browserSession(page.provider(), ctx);
    const outcome = await page.libraries.emailChange.confirmLink({
      token, keep: (accountId) => (browser && browser.accountId === accountId ? { sessionId: browser.id, grantIds: browser.grantIds } : undefined),
    }, personAt(ctx));
    if (!outcome.ok) {
      const unusable = outcome.reason === 'taken' || outcome.reason === 'changed_meanwhile' ? refusal(outcome) : { text: message('account.email_link_unusable'), status: 410 };
      return renderLinkPage(page, ctx, { title: message('account.email_link_title'), text: unusable.text, status: unusable.status });
    }
    clearCookie(ctx, pendingCookieName);
    renderLinkPage(page, ctx, { title: message('account.email_link_done_title'), text: message('account.email_link_done', { email: outcome.account.email }), status: 200 });
  });

  // The undo link mailed to the old address: a page that asks for a click, then the undo and a new password.
  router.get(emailRoutes.undoLink, async (ctx) => {
    const token = ctx.params.token ?? '';
    const state = await page.libraries.emailChange.inspectUndo(token);
    if (!state.ok) return renderLinkPage(page, ctx, { title: message('account.email_undo_title'), text: message('account.email_undo_unusable'), status: state.reason === 'missing' ? 404 : 410 });
    renderLinkPage(page, ctx, { kind: 'undo', token, text: message('account.email_undo_confirm', { email: state.email }) });
  });

  router.post(emailRoutes.undoLink, page.form, async (ctx) => {
    const token = ctx.params.token ?? '';
    if (!page.forms.check(ctx, linkScope('undo', token))) {
      return renderLinkPage(page, ctx, { title: message('account.email_undo_title'), text: message('account.form_expired_reload'), status: 403 });
    }
    const outcome = await page.libraries.emailChange.undo(token, personAt(ctx));
    if (!outcome.ok) {
      const text = message(outcome.reason === 'taken' ? 'account.email_undo_taken' : 'account.email_undo_unusable');
      return renderLinkPage(page, ctx, { title: message('account.email_undo_title'), text, status: outcome.reason === 'taken' ? 409 : 410 });
    }
    // Every session ended, this one's account page with it; the person chooses a new password now.
    clearCookie(ctx, accountCookieName);
    clearCookie(ctx, pendingCookieName);
    ctx.status = 303;
    ctx.redirect(urls.resetPasswordLink(outcome.resetToken));
  });
}
