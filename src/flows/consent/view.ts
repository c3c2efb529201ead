import { describeScope } from '../../oidc/scopes.ts';
import type { InteractionDetails } from '../interaction.ts';

export type ConsentDetails = {
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

