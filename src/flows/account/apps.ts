import type Router from '@koa/router';
import type { Context } from 'koa';

import type { ConnectedApp } from '../../libraries/devices.ts';
import { message } from '../../messages/messages.ts';
import { accountClientId } from '../../oidc/account-client.ts';
import { routes, urls } from '../../urls.ts';
import { describeClaim, describeScope, policyWithLogo } from '../consent/view.ts';
import { field } from '../interaction.ts';
import type { ViewData } from '../kit.ts';
import type { AccountPage, SignedIn } from './page.ts';
import { formScope, personAt, signedIn, startSignIn } from './page.ts';

/**
 * The account centre's connected apps (/account/apps): each client the person consented to (the
 * consent is remembered, src/oidc/remembered-consent.ts) or that holds a grant, with what it may
 * read in the consent page's words, when it was allowed and last used. Removing one forgets the
 * consent, revokes its grants with their refresh and access tokens, signs it out of every session
 * and tells it by back-channel logout (libraries.devices.revokeApp, audited app_revoked). The
 * account page's own client and first-party clients are shown, marked.
 */

function shownTime(at: Date): { iso: string; text: string } {
  return { iso: at.toISOString(), text: `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC` };
}

/** https logos only (as the consent page shows them), and only of clients an operator registered (no dynamic ones). */
function logoOf(app: ConnectedApp): string | undefined {
  if (!app.logoUri) return undefined;
  const url = URL.parse(app.logoUri);
  return url && url.protocol === 'https:' && !url.username && !url.password ? url.href : undefined;
}

export function appRows(apps: ConnectedApp[]) {
  return apps.map((app) => {
    const accountPage = app.clientId === accountClientId;
    const name = accountPage ? message('account.app_account_page') : app.name ?? (app.known ? app.clientId : message('account.app_removed_client', { id: app.clientId }));
    const granted = app.grantedAt ? shownTime(app.grantedAt) : undefined;
    const used = app.lastUsedAt ? shownTime(app.lastUsedAt) : undefined;
    return {
      clientId: app.clientId,
      name,
      logo: logoOf(app),
      firstParty: app.firstParty || accountPage,
      firstPartyHint: message('account.app_first_party'),
      accountPage,
      remembered: app.remembered,
      permissions: app.scopes.map(describeScope),
      // Read after "See your", as on the consent page.
      claims: app.claims.map(describeClaim),
      apis: Object.entries(app.resourceScopes).map(([identifier, scopes]) => ({ identifier, scopes: scopes.map(describeScope) })),
      granted: granted ? { iso: granted.iso, text: message('account.app_granted', { when: granted.text }) } : undefined,
      lastUsed: used ? { iso: used.iso, text: message('account.app_last_used', { when: used.text }) } : { iso: undefined, text: message('account.app_not_used') },
    };
  });
}

async function renderApps(page: AccountPage, ctx: Context, current: SignedIn, extra: { error?: string; notice?: string } = {}, status = 200) {
  const rows = appRows(await page.libraries.devices.apps(current.account.id));
  // The logos are the only images from elsewhere: their origins alone are added to img-src.
  let policy = ctx.response.get('content-security-policy');
  for (const row of rows) if (row.logo && policy) policy = policyWithLogo(policy, row.logo);
  if (policy) ctx.set('content-security-policy', policy);
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
    const name = before ? appRows([before])[0]!.name : clientId;
    await renderApps(page, ctx, current, { notice: message('account.app_revoked', { name }) });
  });
}
