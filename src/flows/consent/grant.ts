import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';

import type { InteractionDetails } from '../interaction.ts';
import type { ConsentDetails } from './view.ts';

/** Records what the person agreed to in a Grant and returns the interaction result. */
export async function grantConsent(provider: Provider, details: InteractionDetails): Promise<InteractionResults> {
  const prompt = details.prompt.details as ConsentDetails;
  const accountId = details.session!.accountId;
  const clientId = details.params.client_id as string;
  const grant = (details.grantId ? await provider.Grant.find(details.grantId) : undefined) ?? new provider.Grant({ accountId, clientId });
  if (prompt.missingOIDCScope?.length) grant.addOIDCScope(prompt.missingOIDCScope.join(' '));
  if (prompt.missingOIDCClaims?.length) grant.addOIDCClaims(prompt.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return { consent: { grantId } };
}
