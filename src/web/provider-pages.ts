import type { ProviderPages } from '../oidc/configuration.ts';
import type { UserCodeProblem } from '../oidc/device-sign-in.ts';
import { devicePaths } from '../oidc/device-sign-in.ts';
import { clientLinks, describeClient, describeScope, policyWithLogo } from '../flows/consent/view.ts';
import { loggedOutPage, logoutPage } from '../flows/logout/view.ts';
import { message } from '../messages/messages.ts';
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
export function createProviderPages(views: Views): ProviderPages {
  return {
    async logoutSource(ctx, form) {
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
        ...(page.problem ? { problem: message(problemWords[page.problem]) } : {}),
        ...(page.error ? { error: page.error } : {}),
      }, page.status);
    },
    async deviceCodeConfirm(ctx, page) {
      const { client } = page;
      // The logo only for a client an operator registered, as on the consent page; its origin
      // alone is added to this page's img-src.
      const links = clientLinks({ logoUri: client.logoUri, policyUri: client.policyUri, tosUri: client.tosUri, origin: client.origin });
      const policy = ctx.response.get('content-security-policy');
      if (links.clientLogo && policy) ctx.set('content-security-policy', policyWithLogo(policy, links.clientLogo));
      views.render(ctx, 'device-confirm', {
        title: message('web.device_confirm_title'),
        action: page.form.action,
        xsrf: page.form.xsrf,
        userCode: page.userCode,
        ...describeClient({ clientId: client.clientId, clientName: client.clientName, origin: client.origin, issuer: ctx.oidc.issuer }),
        ...links,
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
        problem: message('web.device_too_many_codes', { seconds: retryAfterSeconds }),
        // No form: the wait must pass first; the page links back to a fresh one.
        limited: true,
        again: devicePaths.verification,
      }, 429);
    },
  };
}
