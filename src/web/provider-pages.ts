import type { ProviderPages } from '../oidc/configuration.ts';
import type { UserCodeProblem } from '../oidc/device-sign-in.ts';
import { devicePaths } from '../oidc/device-sign-in.ts';
import { describeClient, describeScope } from '../flows/consent/view.ts';
import { clientBrand } from '../flows/client-brand.ts';
import type { ClientLogoLookup } from '../flows/client-brand.ts';
import { loggedOutPage, logoutPage } from '../flows/logout/view.ts';
import { message } from '../messages/messages.ts';
import { speakForSignIn } from '../messages/request-locale.ts';
import type { MessageId } from '../messages/messages.ts';
import type { Views } from './views.ts';

/** What the code page says after each problem. */
const problemWords: Record<UserCodeProblem, MessageId> = {
  wrong_code: 'web.device_wrong_code',
  missing_code: 'web.device_missing_code',
  expired_code: 'web.device_expired_code',
  used_code: 'web.device_used_code',
  failed: 'web.device_failed',
};

/**
 * The pages the provider shows itself (RP-initiated logout and its confirmation, the protocol
 * errors it answers a browser with, and the device flow's pages), drawn with our templates.
 * src/oidc/ receives them as functions, so the provider's configuration never depends on the web
 * layer.
 */
export function createProviderPages(views: Views, options: { clientLogos?: ClientLogoLookup } = {}): ProviderPages {
  return {
    async logoutSource(ctx, form) {
      // The application may name the page's language (ui_locales, RP-Initiated Logout 1.0).
      speakForSignIn(ctx, ctx.oidc.params?.ui_locales);
      views.render(ctx, 'logout', logoutPage(ctx.oidc.client, form));
    },
    async postLogoutSuccessSource(ctx) {
      views.render(ctx, 'logged-out', loggedOutPage(ctx.oidc.client));
    },
    async renderError(ctx, out) {
      const title = message('web.request_cannot_continue_title');
      views.render(ctx, 'error', { title, code: out.error, description: out.error_description }, ctx.status >= 400 ? ctx.status : 400);
    },
    // The device flow (src/oidc/device-sign-in.ts): the code, the device's request, the outcome.
    async deviceCodeInput(ctx, page) {
      views.render(ctx, 'device', {
        title: message('web.device_title'),
        action: page.form.action,
        xsrf: page.form.xsrf,
        userCode: page.userCode ?? '',
        // A problem with the typed code is shown next to the field; a failure of the flow above it, with its code.
        ...(page.problem === 'failed' ? { error: message(problemWords.failed) } : page.problem ? { errors: { user_code: message(problemWords[page.problem]) } } : {}),
        ...(page.error ? { code: page.error } : {}),
      }, page.status);
    },
    async deviceCodeConfirm(ctx, page) {
      const { client } = page;
      const described = describeClient({ clientId: client.clientId, clientName: client.clientName, origin: client.origin, issuer: ctx.oidc.issuer });
      views.render(ctx, 'device-confirm', {
        title: message('web.device_confirm_title'),
        action: page.form.action,
        xsrf: page.form.xsrf,
        userCode: page.userCode,
        ...described,
        // The application's name, logo (from our origin, an operator's client only) and links, as on the consent page.
        clientBrand: await clientBrand({ ...client, name: described.clientName }, options.clientLogos),
        // The consent page's words for each permission (src/flows/consent/view.ts).
        scopes: page.scopes.map(describeScope),
        apis: page.resources,
        deviceAddress: page.device.address ?? '',
        deviceAgent: page.device.userAgent ?? '',
      });
    },
    async deviceDone(ctx, page) {
      const approved = page.outcome === 'approved';
      views.render(ctx, 'device-done', {
        title: message(approved ? 'web.device_approved_title' : 'web.device_denied_title'),
        approved,
        clientName: page.clientName ?? '',
        again: devicePaths.verification,
      });
    },
    async deviceCodeLimited(ctx, retryAfterSeconds) {
      ctx.set('retry-after', String(retryAfterSeconds));
      views.render(ctx, 'device', {
        title: message('web.device_title'),
        error: message('web.device_too_many_codes', { seconds: retryAfterSeconds }),
        // No form: the wait must pass first; the page links back to a fresh one.
        limited: true,
        again: devicePaths.verification,
      }, 429);
    },
  };
}
