import type Router from '@koa/router';
import type { Context } from 'koa';

import { message } from '../../messages/messages.ts';
import { routes, urls } from '../../urls.ts';
import type { AccountPage, SignedIn } from './page.ts';
import { formScope, personAt, signedIn, startSignIn } from './page.ts';

/**
 * "Export my data" (/account/export): a page with one button, a POST (with the page's CSRF token:
 * a download is still the person's data, not to be fetched by another site) answered with the JSON
 * of libraries.accountDeletion.exportData as an attachment, never cached. The same JSON as
 * `gatehouse users export`.
 */

function render(page: AccountPage, ctx: Context, current: SignedIn, extra: { error?: string } = {}, status = 200) {
  page.views.render(ctx, 'account-export', {
    title: message('account.export_title'),
    email: current.account.email,
    csrf: page.forms.token(formScope(current.session)),
    error: extra.error,
  }, status);
}

/** The download's file name: gatehouse-data-YYYY-MM-DD.json (nothing of the person's in it). */
export function exportFileName(at: Date): string {
  return `gatehouse-data-${at.toISOString().slice(0, 10)}.json`;
}

export function registerExportRoutes(router: Router, page: AccountPage): void {
  router.get(routes.accountExport, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) return startSignIn(page, ctx);
    render(page, ctx, current);
  });

  router.post(routes.accountExport, page.form, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) {
      ctx.status = 303;
      return ctx.redirect(urls.account());
    }
    if (!page.forms.check(ctx, formScope(current.session))) return render(page, ctx, current, { error: message('account.form_expired') }, 403);
    const data = await page.libraries.accountDeletion.exportData(current.account.id, personAt(ctx));
    ctx.set('cache-control', 'no-store');
    ctx.set('content-disposition', `attachment; filename="${exportFileName(page.clock())}"`);
    ctx.type = 'application/json; charset=utf-8';
    ctx.body = `${JSON.stringify(data, null, 2)}\n`;
  });
}
