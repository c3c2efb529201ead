import type Router from '@koa/router';
import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import type { ReservedAttempt } from '../../limits/abuse-limits.ts';
import { failureFloorFor, padToFloor } from '../../libraries/passwords.ts';
import { typedCodeSchema } from '../../libraries/schemas.ts';
import { message } from '../../messages/messages.ts';
import type { AccountRecord } from '../../store/types.ts';
import { routes, urls } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { currentInteraction, field, interactionSource, showStep } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { describeCodeVerdict } from '../mailed-code.ts';
import type { FlowStateOf } from '../state.ts';
import { flowStateAt, flowStateOf, saveFlowState } from '../state.ts';
import { completeLogin } from './complete.ts';
import { linkToMake } from './connection-rules.ts';
import type { FormProblems } from './view.ts';
import { signInCodePage } from './view.ts';

/**
 * The sign-in of an address that is limited as a whole while this source is not (see
 * libraries/sign-in-code.ts): the password is checked, and whatever the outcome the next page asks
 * for a code mailed to the address. Only the owner's mailbox makes it work; the second factor, if
 * the account has one, still follows.
 */

function render(deps: FlowDependencies, ctx: Context, details: InteractionDetails, email: string, problems: FormProblems = {}, status = 200) {
  deps.views.render(ctx, 'sign-in-code', signInCodePage(details.uid, email, problems), status);
}

/**
 * Called by the password strategy when the address is limited as a whole but this source may still
 * try (`attempt` is reserved against this source only). Right or wrong, the answer is the code
 * page, after the same time.
 */
export async function beginSignInCode(deps: FlowDependencies, ctx: Context, details: InteractionDetails, input: { email: string; password: string; attempt: ReservedAttempt }): Promise<void> {
  const startedAt = performance.now();
  let account: AccountRecord | undefined;
  try {
    account = await deps.libraries.accounts.authenticate(input.email, input.password);
  } catch (error) {
    // A disabled account is answered like a wrong password here: the page must not differ.
    if (!isGatehouseError(error) || (error.code !== 'invalid_credentials' && error.code !== 'account_disabled')) {
      await input.attempt.cancel();
      throw error;
    }
  }
  await (account ? input.attempt.succeeded() : input.attempt.failed());
  const source = { actor: 'user' as const, ...interactionSource(ctx, details) };
  const pending = await deps.libraries.signInCode.start({ email: input.email, account }, source);
  // The proof page's identity link (login/connection.ts) waits through the code, for its account only.
  const link = account ? linkToMake(flowStateOf(details.result), account.id, epochSeconds(deps.clock)) : undefined;
  await saveFlowState(deps.provider(), ctx, { step: 'sign_in_code', ...pending, ...(link ? { link } : {}) });
  // A right password would otherwise be answered sooner than a wrong one (which waits for the floor).
  await padToFloor(startedAt, failureFloorFor(deps.libraries.accounts.passwords.limits));
  showStep(ctx, details.uid, urls.interaction);
}

/** Shown by GET /interaction/:uid while the sign-in waits for the mailed code. */
export function showSignInCode(deps: FlowDependencies, ctx: Context, details: InteractionDetails, state: FlowStateOf<'sign_in_code'>): void {
  render(deps, ctx, details, state.email);
}

export function signInCodeRoutes(router: Router, deps: FlowDependencies): void {
  router.post(routes.signInCode, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const pending = flowStateAt(details.result, 'sign_in_code');
    if (!pending) throw new GatehouseError('invalid_input', 'flows.step_expired');
    const parsed = typedCodeSchema.safeParse(field(ctx.request.body, 'code'));
    if (!parsed.success) return render(deps, ctx, details, pending.email, { errors: { code: message('flows.enter_mailed_code') } }, 400);
    const allowed = await deps.limits.emailCode(pending.email);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return render(deps, ctx, details, pending.email, { error: message('flows.too_many_codes', { seconds: allowed.retryAfterSeconds }) }, 429);
    }
    const outcome = await deps.libraries.signInCode.confirm(pending, parsed.data);
    if (!outcome.ok) {
      if (outcome.reason === 'start_again') {
        await details.destroy();
        throw new GatehouseError('start_again', 'login.account_changed_start_again');
      }
      return render(deps, ctx, details, pending.email, { errors: { code: describeCodeVerdict(outcome) } }, 400);
    }
    await completeLogin(deps, ctx, details, outcome.account.id, { method: 'mailed_code' });
  });
}
