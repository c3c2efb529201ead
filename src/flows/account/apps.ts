import type Router from '@koa/router';
import type { Context } from 'koa';

import type { ConnectedApp } from '../../libraries/devices.ts';
import { message } from '../../messages/messages.ts';
import type { Locale } from '../../messages/locales.ts';
import { localeOf } from '../../messages/request-locale.ts';
import { accountClientId } from '../../oidc/account-client.ts';
import { routes, urls } from '../../urls.ts';
import { describeClaim, describeScope } from '../consent/view.ts';
import { field } from '../interaction.ts';
import type { ViewData } from '../kit.ts';
import type { AccountPage, SignedIn } from './page.ts';
import { formScope, personAt, signedIn, startSignIn } from './page.ts';
import { listInWords, shownTime } from './view.ts';

/**
 * The account centre's connected apps (/account/apps): each client the person consented to (the
 * consent is remembered, src/oidc/remembered-consent.ts) or that holds a grant, with what it may
 * read in the consent page's words, when it was allowed and last used. Removing one forgets the
 * consent, revokes its grants with their refresh and access tokens, signs it out of every session
 * and tells it by back-channel logout (libraries.devices.revokeApp, audited app_revoked). The
 * account page's own client and first-party clients are shown, marked.
 */

/** https logos only, and only of clients an operator registered (no dynamic ones: ConnectedApp.logoUri says so). */
function logoOf(app: ConnectedApp): string | undefined {
  if (!app.logoUri) return undefined;
  const url = URL.parse(app.logoUri);
  return url && url.protocol === 'https:' && !url.username && !url.password ? url.href : undefined;
}

/** Each logo as the consent page shows it: fetched once and served from our origin (src/web/client-logo.ts), or none. */
async function withLogos<T extends { clientId: string; logo: string | undefined }>(rows: T[], page: AccountPage): Promise<T[]> {
  const logos = page.clientLogos;
  return Promise.all(rows.map(async (row) => ({ ...row, logo: row.logo && logos ? await logos.addressFor(row.clientId, row.logo) : undefined })));
}

export function appRows(apps: ConnectedApp[], locale: Locale) {
  return apps.map((app) => {
    const accountPage = app.clientId === accountClientId;
    const name = accountPage ? message('account.app_account_page', undefined, locale) : app.name ?? (app.known ? app.clientId : message('account.app_removed_client', { id: app.clientId }, locale));
    const granted = app.grantedAt ? shownTime(app.grantedAt, locale) : undefined;
    const used = app.lastUsedAt ? shownTime(app.lastUsedAt, locale) : undefined;
    return {
      clientId: app.clientId,
      name,
      logo: logoOf(app),
      firstParty: app.firstParty || accountPage,
      firstPartyHint: message('account.app_first_party', undefined, locale),
      accountPage,
      remembered: app.remembered,
      permissions: app.scopes.map(describeScope),
      // Read after "See your", as on the consent page.
      claims: app.claims.map(describeClaim),
      apis: Object.entries(app.resourceScopes).map(([identifier, scopes]) => ({ identifier, scopes: listInWords(scopes.map(describeScope), locale, 'unit') })),
      granted: granted ? { iso: granted.iso, text: message('account.app_granted', { when: granted.text }, locale) } : undefined,
      lastUsed: used ? { iso: used.iso, text: message('account.app_last_used', { when: used.text }, locale) } : { iso: undefined, text: message('account.app_not_used', undefined, locale) },
    };
  });
}

async function renderApps(page: AccountPage, ctx: Context, current: SignedIn, extra: { error?: string; notice?: string } = {}, status = 200) {
  const rows = await withLogos(appRows(await page.libraries.devices.apps(current.account.id), localeOf(ctx)), page);
  const data: ViewData = {
    title: message('account.apps_title'),
    email: current.account.email,
    apps: rows,
    csrf: page.forms.token(formScope(current.session)),
    error: extra.error,
    notice: extra.notice,
  };
  page.views.render(ctx, 'account-apps', data, status);
}

export function registerAppRoutes(router: Router, page: AccountPage): void {
  router.get(routes.accountApps, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) return startSignIn(page, ctx);
    await renderApps(page, ctx, current);
  });

  router.post(routes.accountAppRevoke, page.form, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) {
      ctx.status = 303;
      return ctx.redirect(urls.accountApps());
    }
    if (!page.forms.check(ctx, formScope(current.session))) return renderApps(page, ctx, current, { error: message('account.form_expired') }, 403);
    const clientId = field(ctx.request.body, 'client');
    if (typeof clientId !== 'string' || clientId.length === 0 || clientId.length > 2048) {
      return renderApps(page, ctx, current, { error: message('account.form_unexpected') }, 400);
    }
    // Removing the account page's own grant would end the page under the person's feet.
    if (clientId === accountClientId) return renderApps(page, ctx, current, { error: message('account.app_cannot_remove_account_page') }, 409);
    const before = (await page.libraries.devices.apps(current.account.id)).find((app) => app.clientId === clientId);
    const revoked = await page.libraries.devices.revokeApp(current.account.id, clientId, personAt(ctx));
    if (!revoked) return renderApps(page, ctx, current, { error: message('account.app_unknown') }, 404);
    const name = before ? appRows([before], localeOf(ctx))[0]!.name : clientId;
    await renderApps(page, ctx, current, { notice: message('account.app_revoked', { name }) });
  });
}
