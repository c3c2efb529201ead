import type Router from '@koa/router';

import { message } from '../../messages/messages.ts';
import { routes } from '../../urls.ts';
import { currentInteraction } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { connectionStrategy } from './connection.ts';
import { linkRoutes } from './link.ts';
import { passkeyStrategy } from './passkey.ts';
import { passwordStrategy } from './password.ts';
import { signInCodeRoutes } from './sign-in-code.ts';

/**
 * The login flow: the sign-in page and the ways to sign in on it. Each way is a strategy that adds
 * its routes and ends in completeLogin (complete.ts): the password, the mailed code that stands in
 * for a limited password, a passkey, and another provider (connection.ts, with the proof page of
 * an identity link, link.ts). What each is worth (amr, acr) is decided in methods.ts.
 */
const strategies = [passwordStrategy, signInCodeRoutes, passkeyStrategy, connectionStrategy, linkRoutes];

export function loginRoutes(router: Router, deps: FlowDependencies): void {
  for (const strategy of strategies) strategy(router, deps);

  // Cancelling works at every step: the application gets access_denied.
  router.post(routes.abort, deps.form, async (ctx) => {
    await currentInteraction(deps, ctx);
    await deps.provider().interactionFinished(ctx.req, ctx.res, { error: 'access_denied', error_description: message('flows.user_cancelled') }, { mergeWithLastSubmission: false });
  });
}
