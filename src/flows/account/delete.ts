import type Router from '@koa/router';
import type { Context } from 'koa';

import { GatehouseError } from '../../errors.ts';
import { message } from '../../messages/messages.ts';
import { localeOf } from '../../messages/request-locale.ts';
import { normalizeEmail } from '../../store/normalize-email.ts';
import { routes, urls } from '../../urls.ts';
import { field } from '../interaction.ts';
import type { ViewData } from '../kit.ts';
import type { AccountPage, SignedIn } from './page.ts';
import { formScope, personAt, signedIn, startSignIn } from './page.ts';
import { isFreshSignIn } from './passkeys.ts';
import { accountCookieName, clearCookie } from './session.ts';
import type { FieldErrors } from './view.ts';
import { shownTime } from './view.ts';

/**
 * "Delete my account" (/account/delete). It needs a sign-in at most five minutes old (the rule for
 * changes to how one signs in: someone holding a stolen session must not be able to delete the
 * account); it says what happens, asks for the address or DELETE to be typed, then asks the
 * library to delete it (libraries.accountDeletion.request): erased after the grace period, every
 * session ended now, this browser's included. Signing in during the grace period offers to keep
 * the account (src/flows/pending-deletion/). Deployments may turn it off (accounts.selfDeletion:
 * off): the page is then not found, and the overview has no link to it.
 */

const maxConfirmationLength = 320;

/** Whether what was typed confirms the deletion: the account's address (any case, spaces around) or DELETE. */
export function confirmsDeletion(typed: unknown, email: string): boolean {
  if (typeof typed !== 'string' || typed.length > maxConfirmationLength) return false;
  const text = typed.trim();
  return text === 'DELETE' || normalizeEmail(text) === normalizeEmail(email);
}

export function selfDeletionAllowed(page: Pick<AccountPage, 'config'>): boolean {
  return page.config.accounts.selfDeletion === 'on';
}

type DeletePageExtra = { error?: string; errors?: FieldErrors };

function deletePage(page: AccountPage, current: SignedIn, extra: DeletePageExtra = {}): ViewData {
  return {
    title: message('account.delete_title'),
    email: current.account.email,
    fresh: isFreshSignIn(current.session.authTime, page.clock()),
    graceDays: page.config.accounts.deletionGraceDays,
    csrf: page.forms.token(formScope(current.session)),
    error: extra.error,
    errors: extra.errors,
  };
}

function render(page: AccountPage, ctx: Context, current: SignedIn, extra: DeletePageExtra = {}, status = 200) {
  page.views.render(ctx, 'account-delete', deletePage(page, current, extra), status);
}

export function registerDeleteRoutes(router: Router, page: AccountPage): void {
  router.get(routes.accountDelete, async (ctx) => {
    if (!selfDeletionAllowed(page)) throw new GatehouseError('not_found', 'account.delete_off');
    const current = await signedIn(page, ctx);
    if (!current) return startSignIn(page, ctx);
    render(page, ctx, current);
  });

  router.post(routes.accountDelete, page.form, async (ctx) => {
    if (!selfDeletionAllowed(page)) throw new GatehouseError('not_found', 'account.delete_off');
    const current = await signedIn(page, ctx);
    if (!current) {
      ctx.status = 303;
      return ctx.redirect(urls.account());
    }
    if (!page.forms.check(ctx, formScope(current.session))) return render(page, ctx, current, { error: message('account.form_expired') }, 403);
    if (!isFreshSignIn(current.session.authTime, page.clock())) return render(page, ctx, current, { error: message('account.delete_confirm_it_is_you') }, 403);
    if (!confirmsDeletion(field(ctx.request.body, 'confirm'), current.account.email)) {
      return render(page, ctx, current, { errors: { confirm: message('account.delete_type_to_confirm', { email: current.account.email }) } }, 400);
    }
    const { deleteAfter } = await page.libraries.accountDeletion.request(current.account.id, personAt(ctx));
    // Every session ended with the request, this browser's provider session too: the page's own goes.
    clearCookie(ctx, accountCookieName);
    const now = page.config.accounts.deletionGraceDays === 0;
    const when = shownTime(deleteAfter, localeOf(ctx));
    page.views.render(ctx, 'message', {
      title: message(now ? 'account.deleted_title' : 'account.delete_scheduled_title'),
      paragraphs: now
        ? [message('account.deleted_text', { email: current.account.email })]
        : [message('account.delete_scheduled_text', { email: current.account.email, when: when.text }), message('account.delete_scheduled_keep')],
      links: [],
    });
  });
}
