import Router from '@koa/router';

import { epochSeconds } from '../clock.ts';
import { GatehouseError } from '../errors.ts';
import { routes } from '../urls.ts';
import { consentRoutes, showConsent } from './consent/handler.ts';
import { pageFor } from './engine.ts';
import { currentInteraction } from './interaction.ts';
import type { FlowDependencies } from './kit.ts';
import { loginRoutes } from './login/handler.ts';
import { pendingDeletionRoutes, showPendingDeletion } from './pending-deletion/handler.ts';
import { showLinkStep } from './login/link.ts';
import { showSignInCode } from './login/sign-in-code.ts';
import { showLogin } from './login/view.ts';
import { recoveryRoutes } from './recovery/handler.ts';
import { registrationRoutes, showPasskeyRegistration } from './registration/handler.ts';
import { secondFactorRoutes, showSecondFactor } from './second-factor/handler.ts';
import { flowStateOf } from './state.ts';
import { showVerification, verificationRoutes } from './verification/handler.ts';

/**
 * Every sign-in flow's routes, and the one page that follows a sign-in wherever it stands:
 * GET /interaction/:uid asks the flow engine which page this interaction is at and shows it.
 */
export function createFlowRouter(deps: FlowDependencies): Router {
  const router = new Router();

  router.get(routes.interaction, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const state = flowStateOf(details.result);
    const page = pageFor({ prompt: details.prompt.name, state, now: epochSeconds(deps.clock) });
    switch (page) {
      case 'login':
        return showLogin(deps, ctx, details);
      case 'verification':
        return showVerification(deps, ctx, details);
      case 'passkey_registration':
        return showPasskeyRegistration(deps, ctx, details);
      case 'second_factor':
        return showSecondFactor(deps, ctx, details);
      case 'sign_in_code':
        return state?.step === 'sign_in_code' ? showSignInCode(deps, ctx, details, state) : showLogin(deps, ctx, details);
      case 'link_identity':
        return showLinkStep(deps, ctx, details);
      case 'pending_deletion':
        return showPendingDeletion(deps, ctx, details);
      case 'consent':
        return showConsent(deps, ctx, details);
      case 'unsupported':
        throw new GatehouseError('invalid_input', 'flows.step_not_supported', { name: details.prompt.name });
    }
  });

  for (const flow of [loginRoutes, registrationRoutes, verificationRoutes, secondFactorRoutes, recoveryRoutes, pendingDeletionRoutes, consentRoutes]) flow(router, deps);
  return router;
}
