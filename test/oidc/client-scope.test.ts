import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { grantableApiScopes } from '../../src/oidc/configuration.ts';
import { apiScopeProperty } from '../../src/oidc/registration-policy.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { relyingParty, signIn } from '../helpers/relying-party.ts';

const api = 'https://orders.example.test';
const alice = { email: 'alice@example.com', password: 'correct horse battery staple' };

/**
 * A bug found from outside: `gatehouse clients add --scope "openid orders:read"` (an API's scope
 * next to OpenID's) was accepted, but the provider then refused the client on every request
 * ("scope must only contain Authorization Server supported scope values"). An operator's client may
 * list the scopes of registered APIs; they are kept apart from the provider's own (src/oidc/configuration.ts).
 */
describe("an operator's client whose scope names an API's scopes", () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse();
    await gatehouse.addUser(alice.email, alice.password);
    await gatehouse.addApi({ identifier: api, scopes: ['orders:read', 'orders:write'] });
  });
  afterAll(() => gatehouse?.stop());

  it('gets tokens: client credentials for the API scope, and the code flow with openid and the API scope', async () => {
    const registered = await gatehouse.addClient({ name: 'Orders worker', grantTypes: ['authorization_code', 'client_credentials', 'refresh_token'], scope: 'openid offline_access orders:read' });
    const rp = await relyingParty(gatehouse, registered);
    const jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));

    const machine = await client.clientCredentialsGrant(rp, { scope: 'orders:read', resource: api });
    expect((await jwtVerify(machine.access_token, jwks, { issuer: gatehouse.url, audience: api })).payload.scope).toBe('orders:read');

    const { tokens } = await signIn(gatehouse, rp, alice, { scope: 'openid offline_access orders:read', resource: api, prompt: 'consent' });
    await jwtVerify(tokens.id_token!, jwks, { issuer: gatehouse.url, audience: registered.clientId });
    const forApi = await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: api });
    expect((await jwtVerify(forApi.access_token, jwks, { issuer: gatehouse.url, audience: api })).payload.scope).toBe('orders:read');
  });

  it('is granted only the API scopes it lists (orders:write is not), and every scope of the API when it lists none', async () => {
    const jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
    const reader = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Reader only', grantTypes: ['client_credentials'], redirectUris: [], scope: 'orders:read' }));
    const narrowed = await client.clientCredentialsGrant(reader, { scope: 'orders:read orders:write', resource: api });
    expect((await jwtVerify(narrowed.access_token, jwks, { issuer: gatehouse.url, audience: api })).payload.scope).toBe('orders:read');
    // Narrowed to nothing (RFC 6749 lets the server narrow the scope): a token that allows no scope.
    const writeOnly = await client.clientCredentialsGrant(reader, { scope: 'orders:write', resource: api });
    expect((await jwtVerify(writeOnly.access_token, jwks, { issuer: gatehouse.url, audience: api })).payload.scope).toBeUndefined();

    const unlisted = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Any scope', grantTypes: ['client_credentials'], redirectUris: [] }));
    const both = await client.clientCredentialsGrant(unlisted, { scope: 'orders:read orders:write', resource: api });
    expect((await jwtVerify(both.access_token, jwks, { issuer: gatehouse.url, audience: api })).payload.scope).toBe('orders:read orders:write');
  });
});

describe('grantableApiScopes', () => {
  it("is the API's scopes the client lists, or all of them when it lists none", () => {
    const scopes = ['orders:read', 'orders:write', 'orders:admin'];
    expect(grantableApiScopes(scopes, { [apiScopeProperty]: 'orders:read other:scope' })).toEqual(['orders:read']);
    expect(grantableApiScopes(scopes, { [apiScopeProperty]: 'orders:write orders:read' })).toEqual(['orders:read', 'orders:write']);
    expect(grantableApiScopes(scopes, { [apiScopeProperty]: 'unrelated' })).toEqual([]);
    expect(grantableApiScopes(scopes, {})).toEqual(scopes);
    expect(grantableApiScopes(scopes, { [apiScopeProperty]: ' ' })).toEqual(scopes);
    expect(grantableApiScopes(scopes, undefined)).toEqual(scopes);
  });

  it('is only what the client lists when the API grants only listed scopes (the management API)', () => {
    const scopes = ['users:read', 'users:write'];
    expect(grantableApiScopes(scopes, {}, { onlyListed: true })).toEqual([]);
    expect(grantableApiScopes(scopes, undefined, { onlyListed: true })).toEqual([]);
    expect(grantableApiScopes(scopes, { [apiScopeProperty]: 'users:read' }, { onlyListed: true })).toEqual(['users:read']);
  });
});
