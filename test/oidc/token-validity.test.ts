import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { relyingParty, signIn } from '../helpers/relying-party.ts';

const alice = { email: 'alice@example.com', password: 'correct horse battery staple' };

/**
 * A token is as valid as its session and grant are now: the provider reads all three from the store
 * at each request (src/oidc/adapter.ts), never from a copy kept from an earlier one.
 */
describe('a token between two requests', () => {
  let gatehouse: TestGatehouse;
  let aliceId: string;
  let rp: client.Configuration;

  beforeAll(async () => {
    gatehouse = await startGatehouse();
    aliceId = await gatehouse.addUser(alice.email, alice.password);
    rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Reads', grantTypes: ['authorization_code', 'refresh_token'] }));
  });
  afterAll(async () => {
    await gatehouse?.stop();
  });

  it('a session ended between two requests ends its access token at the next one', async () => {
    // Without offline_access the access token lives only as long as the session (expiresWithSession).
    const { tokens } = await signIn(gatehouse, rp, alice);
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(true);
    const token = await gatehouse.store.oidc.model('AccessToken').find(tokens.access_token);
    expect(token?.expiresWithSession).toBe(true);
    const sessions = gatehouse.store.oidc.model('Session');
    const session = await sessions.findByUid(token!.sessionUid as string);
    await sessions.destroy(session!.jti as string);
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    await expect(client.fetchUserInfo(rp, tokens.access_token, aliceId)).rejects.toThrow();
  });

  it('a grant revoked between two requests ends its tokens at the next one', async () => {
    const { tokens } = await signIn(gatehouse, rp, alice, { scope: 'openid offline_access', prompt: 'consent' });
    expect((await client.tokenIntrospection(rp, tokens.refresh_token!)).active).toBe(true);
    const grantId = (await gatehouse.store.oidc.model('RefreshToken').find(tokens.refresh_token!))!.grantId!;
    await gatehouse.store.oidc.model('Grant').destroy(grantId);
    expect((await client.tokenIntrospection(rp, tokens.refresh_token!)).active).toBe(false);
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
  });

  it('a rotated refresh token is spent: using it again is refused and revokes the grant', async () => {
    const spa = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Reads SPA', public: true, grantTypes: ['authorization_code', 'refresh_token'] }));
    const { tokens } = await signIn(gatehouse, spa, alice, { scope: 'openid offline_access', prompt: 'consent' });
    const rotated = await client.refreshTokenGrant(spa, tokens.refresh_token!);
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
    await expect(client.refreshTokenGrant(spa, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(client.refreshTokenGrant(spa, rotated.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
