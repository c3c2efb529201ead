import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { Config } from '../config/load-config.ts';
import type { AuditSource } from '../libraries/audit.ts';
import type { Logger } from '../logger.ts';
import { apiScopeProperty } from './registration-policy.ts';

/**
 * The audit trail of dynamic client registration, from the provider's events (it runs RFC 7591 and
 * 7592 itself): `client_registered` (how: token or open), `client_registration_updated`,
 * `client_registration_deleted`, and `client_registration_refused` with the OAuth error and why.
 * Each names the client and the source address; a secret or a token never appears.
 */

type Audit = { record(type: string, source: AuditSource, event?: { clientId?: string; details?: Record<string, unknown> }): Promise<void> };

type RegisteredClient = { clientId: string; metadata(): Record<string, unknown> };

/** What the trail keeps of a client's metadata: what it is called, where it sends people, what it may do. */
function described(client: RegisteredClient): Record<string, unknown> {
  const metadata = client.metadata();
  const scope = [metadata.scope, metadata[apiScopeProperty]].filter((part) => typeof part === 'string' && part).join(' ');
  return {
    ...(typeof metadata.client_name === 'string' ? { client_name: metadata.client_name } : {}),
    redirect_uris: metadata.redirect_uris,
    grant_types: metadata.grant_types,
    token_endpoint_auth_method: metadata.token_endpoint_auth_method,
    ...(scope ? { scope } : {}),
  };
}

const operations = { registration_create: 'create', registration_read: 'read', registration_update: 'update', registration_delete: 'delete' } as const;

export function auditRegistrations(provider: Provider, deps: { config: Pick<Config, 'clientRegistration'>; audit: Audit; logger: Logger }): void {
  const { audit, logger } = deps;
  const how = deps.config.clientRegistration === 'open' ? 'open' : 'token';
  // An application acting for itself at a source address: recorded as Gatehouse's protocol acting.
  const source = (ctx: KoaContextWithOIDC): AuditSource => ({ actor: 'system', sourceAddress: ctx.ip, via: 'client_registration' });
  const record = (type: string, ctx: KoaContextWithOIDC, event: { clientId?: string; details: Record<string, unknown> }) => {
    audit.record(type, source(ctx), event).catch((error: unknown) => logger.warn('writing an audit event failed', { error }));
  };
  provider.on('registration_create.success', (ctx: KoaContextWithOIDC, client: RegisteredClient) => {
    record('client_registered', ctx, { clientId: client.clientId, details: { how, ...described(client) } });
  });
  provider.on('registration_update.success', (ctx: KoaContextWithOIDC, client: RegisteredClient) => {
    record('client_registration_updated', ctx, { clientId: client.clientId, details: described(client) });
  });
  provider.on('registration_delete.success', (ctx: KoaContextWithOIDC, client: RegisteredClient) => {
    record('client_registration_deleted', ctx, { clientId: client.clientId, details: {} });
  });
  const on = provider.on.bind(provider) as (event: string, listener: (...args: never[]) => void) => void;
  for (const [event, operation] of Object.entries(operations)) {
    on(`${event}.error`, (ctx: KoaContextWithOIDC, error: { error?: string; error_description?: string; message?: string }) => {
      // The client only when the provider knows it (a registration access token matched it); else
      // the id asked for, as details.
      const clientId = ctx.oidc?.entities?.RegistrationAccessToken ? ctx.oidc.client?.clientId : undefined;
      const asked = (ctx.params as { clientId?: unknown } | undefined)?.clientId;
      record('client_registration_refused', ctx, {
        ...(clientId ? { clientId } : {}),
        details: { operation, how, ...(!clientId && typeof asked === 'string' ? { asked_client_id: asked.slice(0, 200) } : {}), reason: error.error ?? 'server_error', ...(error.error_description ? { description: error.error_description } : {}) },
      });
    });
  }
}
