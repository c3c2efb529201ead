import { isGatehouseError } from '../../errors.ts';
import { systemSource } from '../../libraries/audit.ts';
import type { Libraries } from '../../libraries/index.ts';
import type { Logger } from '../../logger.ts';
import { managementApiIdentifier } from '../../oidc/scopes.ts';

/** The management API's scopes: what a machine client may be allowed, one resource and one verb each. */
export const managementScopes = [
  'clients:read', 'clients:write',
  'apis:read', 'apis:write',
  'users:read', 'users:write',
  'connections:read', 'connections:write',
  'keys:read', 'keys:write',
  'audit:read',
  'webhooks:read', 'webhooks:write',
  'operations:read',
] as const;

export type ManagementScope = (typeof managementScopes)[number];

export const managementScopeDescriptions: Record<ManagementScope, string> = {
  'clients:read': 'List and read clients',
  'clients:write': 'Create, change, delete clients and rotate their secrets',
  'apis:read': 'List and read APIs',
  'apis:write': 'Register and remove APIs',
  'users:read': 'List and read users and their sessions',
  'users:write': 'Create, change, disable, delete users; set roles; reset second factors; end sessions',
  'connections:read': 'List and read connections to other providers',
  'connections:write': 'Add, change, disable, remove connections',
  'keys:read': 'List signing keys',
  'keys:write': 'Rotate and revoke signing keys',
  'audit:read': 'Read the audit trail',
  'webhooks:read': 'List and read webhooks and their deliveries',
  'webhooks:write': 'Add, change, enable, disable, remove webhooks; rotate their secrets; redeliver',
  'operations:read': 'Read the state of the mail and back-channel logout queues',
};

export { managementApiIdentifier };

/**
 * Registers the management API as a resource (an API tokens can be issued for) when it is not
 * there yet: at every start-up, idempotently (an instance starting at the same moment may have
 * registered it first: its conflict is success). An existing registration keeps its settings but
 * gains the scopes a newer Gatehouse added (so that a machine client can be granted them).
 */
export async function ensureManagementApi(libraries: Libraries, issuer: string, logger: Logger): Promise<void> {
  const identifier = managementApiIdentifier(issuer);
  const existing = await libraries.apis.find(identifier);
  if (existing) {
    const missing = managementScopes.filter((scope) => !existing.scopes.includes(scope));
    if (!missing.length) return;
    try {
      await libraries.apis.update(identifier, {
        ...(existing.name ? { name: existing.name } : {}), scopes: [...existing.scopes, ...missing],
        signingAlg: existing.signingAlg, accessTokenTtl: existing.accessTokenTtl,
      }, systemSource);
      logger.info('management API scopes added', { identifier, scopes: missing });
    } catch (error) {
      logger.warn('adding the management API scopes failed; they are added at the next start-up', { error });
    }
    return;
  }
  try {
    await libraries.apis.register({ identifier, name: 'Gatehouse management API', scopes: [...managementScopes], signingAlg: 'RS256', accessTokenTtl: 600 }, systemSource);
    logger.info('management API registered as a resource', { identifier });
  } catch (error) {
    if (isGatehouseError(error) && error.code === 'conflict') return;
    // A store that takes no writes (read-only, full) must not keep Gatehouse from starting and
    // answering 503 (/readyz says why): the next start-up registers it.
    logger.warn('registering the management API failed; it is registered at the next start-up', { error });
  }
}
