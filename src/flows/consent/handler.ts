import type Router from '@koa/router';
import type { Context } from 'koa';

import { GatehouseError } from '../../errors.ts';
import { message } from '../../messages/messages.ts';
import { routes } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { clientName, currentInteraction, field, interactionSource } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { grantConsent } from './grant.ts';
import { describeClient, describeConsent } from './view.ts';
import { clientBrandOf } from '../client-brand.ts';
import type { ClientOrigin } from './view.ts';
import { isMetadataDocumentClientId } from '../../oidc/configuration.ts';

/** The consent page: what the application asks for, in words; Allow records a grant, Deny tells the application. */
export async function showConsent(deps: FlowDependencies, ctx: Context, details: InteractionDetails): Promise<void> {
  const clientId = typeof details.params.client_id === 'string' ? details.params.client_id : '';
  const origin = await clientOrigin(deps, clientId);
  const described = describeClient({ clientId, clientName: await clientName(deps.provider(), clientId), origin, issuer: deps.config.issuer });
  deps.views.render(ctx, 'consent', {
    title: message('consent.title'),
    uid: details.uid,
    ...described,
    // The application's name, logo (served from our origin) and links: views/partials/client-brand.eta.
    ...(await clientBrandOf(deps, clientId, described.clientName)),
    ...describeConsent(details),
  });
}

/** Whether an operator registered this client, it registered itself, or a metadata document describes it. */
async function clientOrigin(deps: FlowDependencies, clientId: string): Promise<ClientOrigin> {
  if (isMetadataDocumentClientId(clientId)) return 'metadata_document';
  const record = await deps.libraries.clients.get(clientId).catch(() => undefined);
  return record?.dynamic ? 'self_registered' : 'operator';
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
