import type { ProviderPages } from '../oidc/configuration.ts';
import { loggedOutPage, logoutPage } from '../flows/logout/view.ts';
import { message } from '../messages/messages.ts';
import type { Views } from './views.ts';

/**
 * The pages the provider shows itself (RP-initiated logout and its confirmation, and the protocol
 * errors it answers a browser with), drawn with our templates. src/oidc/ receives them as
 * functions, so the provider's configuration never depends on the web layer.
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
      views.render(ctx, 'error', { title, error: out.error, description: out.error_description }, ctx.status >= 400 ? ctx.status : 400);
    },
  };
}
