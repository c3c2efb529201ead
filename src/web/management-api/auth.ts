import type Koa from 'koa';
import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload } from 'jose';

import type { Clock } from '../../clock.ts';
import { isGatehouseError } from '../../errors.ts';
import type { Libraries } from '../../libraries/index.ts';
import { apiScopeProperty } from '../../oidc/registration-policy.ts';
import { message } from '../../messages/messages.ts';
import { ApiProblem } from './problems.ts';
import { managementScopes } from './scopes.ts';
import type { ManagementScope } from './scopes.ts';

/** The machine client calling, and the management scopes it may use in this request. */
export type Caller = { clientId: string; scopes: ReadonlySet<ManagementScope> };

const realm = 'realm="gatehouse"';
const quoted = (value: string) => `"${value.replace(/["\\]/g, '')}"`;

/** RFC 6750 §3: a request without a token gets the scheme only; a refused token, why. */
function refusal(messageId: 'api.missing_token' | 'api.token_invalid' | 'api.token_dpop_bound' | 'api.token_not_client' | 'api.token_client_gone', values?: { reason: string }): ApiProblem {
  if (messageId === 'api.missing_token') return new ApiProblem('unauthorized', messageId, values, { headers: { 'www-authenticate': `Bearer ${realm}` } });
  const description = message(messageId, values);
  return new ApiProblem('invalid_token', messageId, values, { headers: { 'www-authenticate': `Bearer ${realm}, error="invalid_token", error_description=${quoted(description)}` } });
}

/** A 403 naming the scope the token lacks (RFC 6750 §3.1 insufficient_scope, and the problem's `scope`). */
export function missingScope(scope: ManagementScope): ApiProblem {
  return new ApiProblem('insufficient_scope', 'api.missing_scope', { scope }, {
    scope,
    headers: { 'www-authenticate': `Bearer ${realm}, error="insufficient_scope", scope="${scope}"` },
  });
}

const words = (value: unknown): string[] => (typeof value === 'string' ? value.split(' ').filter(Boolean) : []);

/**
 * Checks the Bearer access token of a management API request: a JWT Gatehouse issued for the
 * management API (`aud` its identifier, `iss` the issuer, `typ` at+jwt, not expired by the start-up
 * clock), verified locally against the published key ring (cached for 5 s, read again at once for a
 * key id it does not know). The token must be a client credentials token (`sub` = `client_id`) of an
 * operator's client that still exists; a DPoP-bound token is refused (Bearer only, said clearly).
 * The scopes it may use are those in the token that the client lists itself: a client that lists no
 * management scope gets none, whatever an API's default of "every scope" would grant.
 */
export function createTokenCheck(deps: { libraries: Libraries; issuer: string; audience: string; clock: Clock }): (ctx: Koa.Context) => Promise<Caller> {
  const { libraries, issuer, audience, clock } = deps;
  let cached: { readAt: number; keys: ReturnType<typeof createLocalJWKSet> } | undefined;
  // Read again after 5 s, or at once for a key id not in it: at most once a second, so that tokens
  // naming unknown keys cannot make every request read the store.
  const keys = async (fresh: boolean) => {
    const now = clock().getTime();
    const age = cached ? now - cached.readAt : Infinity;
    if (!cached || age > 5000 || age < 0 || (fresh && age > 1000)) {
      cached = { readAt: now, keys: createLocalJWKSet(await libraries.signingKeys.publicJwks() as Parameters<typeof createLocalJWKSet>[0]) };
    }
    return cached.keys;
  };
  const verify = async (token: string, fresh: boolean): Promise<JWTPayload> => {
    const { payload } = await jwtVerify(token, await keys(fresh), { issuer, audience, typ: 'at+jwt', algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'], currentDate: clock() });
    return payload;
  };

  return async (ctx) => {
    const header = ctx.get('authorization');
    if (!header) throw refusal('api.missing_token');
    const [scheme, token, ...rest] = header.split(' ');
    if (scheme?.toLowerCase() === 'dpop') throw refusal('api.token_dpop_bound');
    if (scheme?.toLowerCase() !== 'bearer' || !token || rest.length) throw refusal('api.missing_token');
    let payload: JWTPayload;
    try {
      try {
        payload = await verify(token, false);
      } catch (error) {
        if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
        payload = await verify(token, true);
      }
    } catch (error) {
      const reason = error instanceof joseErrors.JWTExpired ? 'it has expired'
        : error instanceof joseErrors.JWTClaimValidationFailed ? `its ${error.claim} claim is not this API's`
          : error instanceof joseErrors.JOSEError ? 'it is not a token Gatehouse signed for this API' : 'it cannot be read';
      throw refusal('api.token_invalid', { reason });
    }
    if (payload.cnf !== undefined) throw refusal('api.token_dpop_bound');
    const clientId = payload.client_id;
    if (typeof clientId !== 'string' || payload.sub !== clientId) throw refusal('api.token_not_client');
    let listed: Set<string>;
    try {
      const record = await libraries.clients.get(clientId);
      if (record.dynamic) throw new ApiProblem('forbidden', 'api.client_dynamic');
      listed = new Set([...words(record.metadata.scope), ...words(record.metadata[apiScopeProperty])]);
    } catch (error) {
      if (isGatehouseError(error) && error.code === 'not_found') throw refusal('api.token_client_gone');
      throw error;
    }
    const granted = new Set(words(payload.scope));
    return { clientId, scopes: new Set(managementScopes.filter((scope) => granted.has(scope) && listed.has(scope))) };
  };
}
