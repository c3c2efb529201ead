import type Router from '@koa/router';
import type { Context } from 'koa';

import { GatehouseError } from '../../errors.ts';
import { message } from '../../messages/messages.ts';
import { routes } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { clientName, currentInteraction, field, interactionSource } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { grantConsent } from './grant.ts';
import { describeConsent } from './view.ts';

/** The consent page: what the application asks for, in words; Allow records a grant, Deny tells the application. */
export async function showConsent(deps: FlowDependencies, ctx: Context, details: InteractionDetails): Promise<void> {
  deps.views.render(ctx, 'consent', {
    title: message('consent.title'),
    uid: details.uid,
    clientName: await clientName(deps.provider(), details.params.client_id),
    ...describeConsent(details),
  });
}

export function consentRoutes(router: Router, deps: FlowDependencies): void {
  router.post(routes.consent, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'consent');
    const decision = field(ctx.request.body, 'decision');
    if (decision !== 'allow' && decision !== 'deny') throw new GatehouseError('invalid_input', 'consent.choose');
    const result = decision === 'allow'
      ? await grantConsent(deps.provider(), details)
      : { error: 'access_denied', error_description: message('consent.denied') };
    await deps.libraries.signIns.consented(decision === 'allow', {
      actor: 'user', ...interactionSource(ctx, details),
    }, { accountId: details.session?.accountId, scope: typeof details.params.scope === 'string' ? details.params.scope : '' });
    await deps.provider().interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  });
}
