import { message } from '../../messages/messages.ts';
import type { MessageId } from '../../messages/messages.ts';
import type { InteractionDetails } from '../interaction.ts';

export type ConsentDetails = {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
};

const scopeWords: Record<string, MessageId> = {
  openid: 'consent.scope_openid',
  profile: 'consent.scope_profile',
  email: 'consent.scope_email',
  roles: 'consent.scope_roles',
  offline_access: 'consent.scope_offline_access',
};

/** Words for one permission; an API's own scopes are shown by name. */
export function describeScope(scope: string): string {
  const id = scopeWords[scope];
  return id ? message(id) : message('consent.scope_other', { scope });
}

/** What the consent page lists: each permission in words, grouped by who it is for. */
export function describeConsent(details: InteractionDetails): { scopes: string[]; apis: { identifier: string; scopes: string[] }[]; claims: string[] } {
  const prompt = details.prompt.details as ConsentDetails;
  return {
    scopes: (prompt.missingOIDCScope ?? []).map(describeScope),
    claims: prompt.missingOIDCClaims ?? [],
    apis: Object.entries(prompt.missingResourceScopes ?? {}).map(([identifier, scopes]) => ({ identifier, scopes: scopes.map(describeScope) })),
  };
}

