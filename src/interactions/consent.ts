import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';

import { describeScope } from '../oidc/scopes.ts';

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

type ConsentDetails = {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
};

/** What the consent page lists: each permission in words, grouped by who it is for. */
export function describeConsent(details: InteractionDetails): { scopes: string[]; apis: { identifier: string; scopes: string[] }[]; claims: string[] } {
  const prompt = details.prompt.details as ConsentDetails;
  return {
    scopes: (prompt.missingOIDCScope ?? []).map(describeScope),
    claims: prompt.missingOIDCClaims ?? [],
    apis: Object.entries(prompt.missingResourceScopes ?? {}).map(([identifier, scopes]) => ({ identifier, scopes: scopes.map(describeScope) })),
  };
}

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
