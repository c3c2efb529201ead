import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { Clock } from '../clock.ts';
import type { Store } from '../store/types.ts';

/**
 * Remembered consent: what a person agreed to for a client is kept per (account, client)
 * (store.sessionActivity, app_consents) until they remove the app on their account page
 * (/account/apps). A new sign-in (a new browser session, which holds no grant yet) gets a new grant
 * with what was remembered, so the provider asks consent only for what the client asks beyond it
 * (its missingOIDCScope, missingOIDCClaims and missingResourceScopes); the grant the person then
 * widens is remembered in turn. Each session keeps its own grant, so ending a session ends only
 * its tokens.
 */

type Grant = InstanceType<Provider['Grant']>;

/** What a grant says was consented to, as the store remembers it. */
export function consentOf(grant: Grant): { scope: string; claims: string[]; resourceScopes: Record<string, string> } {
  const openid = (grant as unknown as { openid?: { scope?: unknown; claims?: unknown } }).openid;
  const resources = (grant as unknown as { resources?: Record<string, unknown> }).resources ?? {};
  return {
    scope: typeof openid?.scope === 'string' ? openid.scope : '',
    claims: Array.isArray(openid?.claims) ? openid.claims.filter((claim): claim is string => typeof claim === 'string') : [],
    resourceScopes: Object.fromEntries(Object.entries(resources).filter((entry): entry is [string, string] => typeof entry[1] === 'string')),
  };
}

/** Remembers the consent just given (the grant the consent page saved) for this person and client. */
export async function rememberConsent(store: Pick<Store, 'sessionActivity'>, clock: Clock, grant: Grant): Promise<void> {
  if (!grant.accountId || !grant.clientId) return;
  await store.sessionActivity.rememberConsent({ accountId: grant.accountId, clientId: grant.clientId, ...consentOf(grant), at: clock() });
}

/** A new grant holding the remembered consent of this person for this client, saved; undefined when none is remembered. */
export async function grantFromRememberedConsent(ctx: KoaContextWithOIDC, store: Pick<Store, 'sessionActivity'>, accountId: string): Promise<Grant | undefined> {
  const clientId = ctx.oidc.client!.clientId;
  const remembered = await store.sessionActivity.findApp(accountId, clientId);
  if (!remembered?.remembered) return undefined;
  const grant = new ctx.oidc.provider.Grant({ accountId, clientId });
  if (remembered.scope) grant.addOIDCScope(remembered.scope);
  if (remembered.claims.length) grant.addOIDCClaims(remembered.claims);
  for (const [indicator, scope] of Object.entries(remembered.resourceScopes)) {
    if (scope) grant.addResourceScope(indicator, scope);
  }
  await grant.save();
  return grant;
}
