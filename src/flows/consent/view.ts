import { message } from '../../messages/messages.ts';
import type { MessageId } from '../../messages/messages.ts';
import { claimsByScope } from '../../oidc/scopes.ts';
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
  address: 'consent.scope_address',
  phone: 'consent.scope_phone',
  roles: 'consent.scope_roles',
  offline_access: 'consent.scope_offline_access',
};

/** Words for one permission; an API's own scopes are shown by name. */
export function describeScope(scope: string): string {
  const id = scopeWords[scope];
  return id ? message(id) : message('consent.scope_other', { scope });
}

/** Every claim a scope releases has words (consent.claim_*), read after "See your"; listed in this order. */
const claimOrder: readonly string[] = Object.entries(claimsByScope).filter(([scope]) => scope !== 'openid').flatMap(([, claims]) => [...claims]);
const claimWords: Record<string, MessageId> = Object.fromEntries(claimOrder.map((claim) => [claim, `consent.claim_${claim}` as MessageId]));
const claimRank = (claim: string) => (claimOrder.includes(claim) ? claimOrder.indexOf(claim) : claimOrder.length);

/** Words for a claim asked for by name; the provider lets only claims some scope releases through, so the name is a fallback. */
export function describeClaim(claim: string): string {
  const id = claimWords[claim];
  return id ? message(id) : claim;
}

/**
 * What the consent page lists: each permission in words, grouped by who it is for. A claim asked
 * for by name (the claims request parameter) is listed unless a scope on the same page already
 * says it (`email` with the email scope); it is granted either way.
 */
export function describeConsent(details: InteractionDetails): { scopes: string[]; apis: { identifier: string; scopes: string[] }[]; claims: string[] } {
  const prompt = details.prompt.details as ConsentDetails;
  const scopes = prompt.missingOIDCScope ?? [];
  const said = new Set<string>(scopes.flatMap((scope) => (claimsByScope as Record<string, readonly string[]>)[scope] ?? []));
  return {
    scopes: scopes.map(describeScope),
    claims: (prompt.missingOIDCClaims ?? []).filter((claim) => !said.has(claim)).sort((a, b) => claimRank(a) - claimRank(b)).map(describeClaim),
    apis: Object.entries(prompt.missingResourceScopes ?? {}).map(([identifier, scopes]) => ({ identifier, scopes: scopes.map(describeScope) })),
  };
}


/** Who vouches for the application on the consent page. */
export type ClientOrigin = 'operator' | 'self_registered' | 'metadata_document';

/**
 * How the consent page presents an application: its name as it gives it, and, unless an operator
 * registered it, a notice that nobody reviewed it. A Client ID Metadata Document's client is shown
 * with its verified host name (its client_id URL's host: the document was fetched from there),
 * since its name is only what that document says.
 */
export function describeClient(input: { clientId: string; clientName: string; origin: ClientOrigin; issuer: string }): { clientName: string; clientHost?: string; clientNotice?: string } {
  const issuerHost = new URL(input.issuer).host;
  if (input.origin === 'metadata_document') {
    const host = URL.parse(input.clientId)?.host ?? input.clientId;
    const named = input.clientName === input.clientId ? host : input.clientName;
    return { clientName: named, clientHost: message('consent.client_host', { host }), clientNotice: message('consent.metadata_document', { host, issuerHost }) };
  }
  if (input.origin === 'self_registered') return { clientName: input.clientName, clientNotice: message('consent.self_registered', { issuerHost }) };
  return { clientName: input.clientName };
}

