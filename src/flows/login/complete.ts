import type { Context } from 'koa';

import { acr } from '../../libraries/second-factor.ts';
import { epochSeconds } from '../../clock.ts';
import { urls } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { interactionSource, showStep } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { saveFlowState } from '../state.ts';

/**
 * Where every way to sign in ends: the account is known. With an authenticator app the login step
 * is not finished yet (the flow state remembers the checked password and the next page asks for
 * the code); without one, the login is recorded and the provider goes on.
 */
export async function completeLogin(deps: FlowDependencies, ctx: Context, details: InteractionDetails, accountId: string, auditDetails: Record<string, unknown> = {}): Promise<void> {
  if (await deps.libraries.secondFactor.isActive(accountId)) {
    await saveFlowState(deps.provider(), ctx, { step: 'second_factor', accountId, passwordAt: epochSeconds(deps.clock) });
    return showStep(ctx, details.uid, urls.interaction);
  }
  await deps.libraries.signIns.succeeded(accountId, { actor: 'user', ...interactionSource(ctx, details) }, { amr: ['pwd'], ...auditDetails });
  await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId, amr: ['pwd'], acr: acr.password } }, { mergeWithLastSubmission: false });
}
