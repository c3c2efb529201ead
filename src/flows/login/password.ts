import type Router from '@koa/router';

import { isGatehouseError, wordsFor } from '../../errors.ts';
import { loginFormSchema } from '../../libraries/schemas.ts';
import { message } from '../../messages/messages.ts';
import { routes } from '../../urls.ts';
import type { FlowDependencies } from '../kit.ts';
import { clientName, currentInteraction, field, interactionSource, keep, requiredLevelOf } from '../interaction.ts';
import { completeLogin } from './complete.ts';
import { firstStepAllowed } from './methods.ts';
import { beginSignInCode } from './sign-in-code.ts';
import { limitedMessage, showLogin } from './view.ts';

/** Which of the login form's fields are missing (or unusable), each with its words, in the form's order. */
function missingFields(issues: ReadonlyArray<{ path: readonly PropertyKey[] }>): Record<string, string> {
  const fields = new Set(issues.map((issue) => issue.path[0]));
  return {
    ...(fields.has('email') ? { email: message('libraries.enter_email') } : {}),
    ...(fields.has('password') ? { password: message('libraries.enter_password') } : {}),
  };
}

/**
 * The password strategy: the login form's email and password. Guessing is slowed per address typed
 * and per source (the same whether an account exists); the attempt is reserved before the password
 * is checked, so a burst cannot outrun the limits. An address limited as a whole, but not from
 * here, still lets its owner in with a code from her mailbox (sign-in-code.ts).
 */
export function passwordStrategy(router: Router, deps: FlowDependencies): void {
  router.post(routes.login, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const submitted = { email: field(ctx.request.body, 'email'), password: field(ctx.request.body, 'password') };
    const parsed = loginFormSchema.safeParse(submitted);
    // Shown again in the form, so a typo in the password costs one field.
    const email = keep(submitted.email, 254);
    // An application that needs a phishing-resistant sign-in takes no password: refused before it
    // is checked (or counted), whatever the page showed.
    if (!firstStepAllowed('password', await requiredLevelOf(deps, details))) {
      return showLogin(deps, ctx, details, { error: message('login.passkey_required', { client: await clientName(deps.provider(), details.params.client_id) }) }, 403);
    }
    if (!parsed.success) return showLogin(deps, ctx, details, { errors: missingFields(parsed.error.issues), email }, 400);
    const source = { actor: 'user' as const, ...interactionSource(ctx, details) };
    const gate = await deps.limits.passwordAttempt(parsed.data.email, ctx.ip);
    if (!gate.ok) {
      await deps.libraries.signIns.failed(source, { reason: gate.reason === 'locked' ? 'locked' : 'rate_limited' });
      ctx.set('retry-after', String(gate.retryAfterSeconds));
      return showLogin(deps, ctx, details, { error: limitedMessage(gate), email }, 429);
    }
    const { attempt } = gate;
    if (gate.stepUp) return beginSignInCode(deps, ctx, details, { email: parsed.data.email, password: parsed.data.password, attempt });
    let accountId: string;
    try {
      accountId = (await deps.libraries.accounts.authenticate(parsed.data.email, parsed.data.password)).id;
    } catch (error) {
      if (isGatehouseError(error) && error.code === 'invalid_credentials') await attempt.failed();
      else await attempt.cancel();
      if (isGatehouseError(error) && (error.code === 'invalid_credentials' || error.code === 'account_disabled')) {
        // The owner's trail shows the attempt (looked up either way: an unknown address costs the same).
        await deps.libraries.signIns.failed(source, { reason: error.code, email: parsed.data.email });
        return showLogin(deps, ctx, details, { error: wordsFor(error), email, ...(error.code === 'invalid_credentials' ? { retype: 'password' as const } : {}) }, error.status);
      }
      throw error;
    }
    await attempt.succeeded();
    await completeLogin(deps, ctx, details, accountId, { method: 'password' });
  });
}
