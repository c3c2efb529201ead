import type Router from '@koa/router';
import type { Context } from 'koa';

import { message } from '../../messages/messages.ts';
import type { MessageId } from '../../messages/messages.ts';
import type { Locale } from '../../messages/locales.ts';
import { localeOf } from '../../messages/request-locale.ts';
import type { DeviceSession } from '../../libraries/devices.ts';
import { accountClientId } from '../../oidc/account-client.ts';
import { routes, urls } from '../../urls.ts';
import { field } from '../interaction.ts';
import type { ViewData } from '../kit.ts';
import type { AccountPage, SignedIn } from './page.ts';
import { formScope, personAt, signedIn, startSignIn } from './page.ts';
import { listInWords, shownTime } from './view.ts';

/**
 * The account centre's sessions (/account/sessions): every live session of the account with its
 * device (browser and OS from the user agent), approximate place (GEOIP_DATABASE), when it signed
 * in and was last active, how, and which apps it is signed in to. A session other than this
 * browser's can be ended (its grants and tokens revoked, its apps told by back-channel logout);
 * so can all the others at once. This browser's own is ended by signing out.
 */

const methodWords: Record<string, MessageId> = {
  pwd: 'account.method_pwd', otp: 'account.method_otp', hwk: 'account.method_hwk', swk: 'account.method_swk', fed: 'account.method_fed',
};

/** The sign-in methods of a session in words (mfa and user, which say how much rather than how, are left out). */
export function methodsInWords(amr: readonly string[], locale: Locale): string {
  const ids = [...new Set(amr.map((method) => methodWords[method]).filter((id): id is MessageId => id !== undefined))];
  return listInWords(ids.map((id) => message(id, undefined, locale)), locale);
}

/** The rows of the sessions page: this device first, then the others as the library orders them. */
export function sessionRows(sessions: DeviceSession[], currentId: string, clientNames: Map<string, string>, locale: Locale) {
  const rows = sessions.map((session) => {
    const device = session.browser && session.os
      ? message('account.session_device', { browser: session.browser, os: session.os }, locale)
      : session.browser ?? session.os ?? message('account.session_unknown_browser', undefined, locale);
    const signedInAt = session.signedInAt ?? session.firstSeenAt;
    const shownSignIn = signedInAt ? shownTime(signedInAt, locale) : undefined;
    const lastSeen = session.lastSeenAt ? shownTime(session.lastSeenAt, locale) : undefined;
    const methods = methodsInWords(session.amr, locale);
    const apps = session.clientIds.filter((clientId) => clientId !== accountClientId).map((clientId) => clientNames.get(clientId) ?? clientId);
    return {
      id: session.id,
      current: session.id === currentId,
      device,
      place: session.place ? message('account.session_place', { place: session.place }, locale) : '',
      address: session.sourceAddress ?? '',
      signedIn: shownSignIn ? { iso: shownSignIn.iso, text: message('account.session_signed_in', { when: shownSignIn.text }, locale) } : undefined,
      lastSeen: lastSeen ? { iso: lastSeen.iso, text: message('account.session_last_seen', { when: lastSeen.text }, locale) } : undefined,
      methods: methods ? message('account.session_methods', { methods }, locale) : '',
      apps: apps.length ? message('account.session_apps', { apps: listInWords(apps, locale) }, locale) : '',
    };
  });
  return [...rows.filter((row) => row.current), ...rows.filter((row) => !row.current)];
}

async function renderSessions(page: AccountPage, ctx: Context, current: SignedIn, extra: { error?: string; notice?: string } = {}, status = 200) {
  const sessions = await page.libraries.devices.sessions(current.account.id);
  const clientIds = [...new Set(sessions.flatMap((session) => session.clientIds))].filter((clientId) => clientId !== accountClientId);
  const names = new Map<string, string>();
  for (const clientId of clientIds) {
    const client = await page.libraries.clients.get(clientId).catch(() => undefined);
    const name = (client?.metadata as Record<string, unknown> | undefined)?.client_name;
    if (typeof name === 'string' && name) names.set(clientId, name);
  }
  const rows = sessionRows(sessions, current.browser.id, names, localeOf(ctx));
  const data: ViewData = {
    title: message('account.sessions_title'),
    email: current.account.email,
    sessions: rows,
    others: rows.some((row) => !row.current),
    csrf: page.forms.token(formScope(current.session)),
    error: extra.error,
    notice: extra.notice,
  };
  page.views.render(ctx, 'account-sessions', data, status);
}

/** A signed-in POST of the sessions page with its CSRF token, or nothing (the caller has answered). */
async function sessionsForm(page: AccountPage, ctx: Context): Promise<SignedIn | undefined> {
  const current = await signedIn(page, ctx);
  if (!current) {
    ctx.status = 303;
    ctx.redirect(urls.accountSessions());
    return undefined;
  }
  if (!page.forms.check(ctx, formScope(current.session))) {
    await renderSessions(page, ctx, current, { error: message('account.form_expired') }, 403);
    return undefined;
  }
  return current;
}

export function registerSessionRoutes(router: Router, page: AccountPage): void {
  router.get(routes.accountSessions, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) return startSignIn(page, ctx);
    await renderSessions(page, ctx, current);
  });

  router.post(routes.accountSessionEnd, page.form, async (ctx) => {
    const current = await sessionsForm(page, ctx);
    if (!current) return;
    const sessionId = field(ctx.request.body, 'session');
    if (typeof sessionId !== 'string' || sessionId.length === 0 || sessionId.length > 255) {
      return renderSessions(page, ctx, current, { error: message('account.form_unexpected') }, 400);
    }
    if (sessionId === current.browser.id) return renderSessions(page, ctx, current, { error: message('account.session_is_current') }, 409);
    const ended = await page.libraries.sessions.endSession(current.account.id, sessionId, personAt(ctx));
    if (!ended.ended) return renderSessions(page, ctx, current, { error: message('account.session_unknown') }, 404);
    await renderSessions(page, ctx, current, { notice: message('account.session_ended') });
  });

  router.post(routes.accountSessionsEndOthers, page.form, async (ctx) => {
    const current = await sessionsForm(page, ctx);
    if (!current) return;
    const ended = await page.libraries.sessions.endOtherSessions(
      current.account.id, { sessionId: current.browser.id, grantIds: current.browser.grantIds }, personAt(ctx),
    );
    await renderSessions(page, ctx, current, { notice: message('account.sessions_others_ended', { count: ended.sessions }) });
  });
}
