import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signIn } from '../helpers/relying-party.ts';

// The test helpers' clients redirect to http://127.0.0.1:8080/callback.
const appOrigin = 'http://127.0.0.1:8080';
const otherOrigin = 'http://127.0.0.1:8081';
const user = { email: 'cors@example.com', password: 'crossing origins carefully' };

let gatehouse: TestGatehouse;
let publicClient: { clientId: string };
let confidential: { clientId: string; clientSecret?: string };
let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  await gatehouse.addUser(user.email, user.password);
  publicClient = await gatehouse.addClient({ name: 'CORS SPA', public: true, firstParty: true });
  confidential = await gatehouse.addClient({ name: 'CORS web app', firstParty: true });
  ({ tokens } = await signIn(gatehouse, await relyingParty(gatehouse, publicClient), user, { scope: 'openid email offline_access', prompt: 'consent' }));
});

afterAll(async () => {
  await gatehouse?.stop();
});

const form = (fields: Record<string, string>) => ({ 'content-type': 'application/x-www-form-urlencoded', body: new URLSearchParams(fields).toString() });

async function post(path: string, origin: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  const { body, ...contentType } = form(fields);
  return fetch(`${gatehouse.url}${path}`, { method: 'POST', headers: { origin, ...contentType, ...headers }, body });
}

describe('CORS on the endpoints a browser app calls', () => {
  it('answers the token endpoint for the public client\'s own origin only', async () => {
    const fields = { grant_type: 'refresh_token', refresh_token: 'not-a-token', client_id: publicClient.clientId };
    const own = await post('/token', appOrigin, fields);
    expect(own.headers.get('access-control-allow-origin')).toBe(appOrigin);
    expect(((await own.json()) as { error: string }).error).toBe('invalid_grant'); // readable by the app

    const other = await post('/token', otherOrigin, fields);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.status).toBe(400);
    expect(((await other.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('refuses CORS to a confidential client even from its redirect URI\'s origin', async () => {
    const basic = `Basic ${Buffer.from(`${confidential.clientId}:${confidential.clientSecret}`).toString('base64')}`;
    const response = await post('/token', appOrigin, { grant_type: 'refresh_token', refresh_token: 'not-a-token' }, { authorization: basic });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    expect(((await response.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('answers userinfo for the public client\'s origin, not for another', async () => {
    const own = await fetch(`${gatehouse.url}/me`, { headers: { origin: appOrigin, authorization: `Bearer ${tokens.access_token}` } });
    expect(own.status).toBe(200);
    expect(own.headers.get('access-control-allow-origin')).toBe(appOrigin);
    expect(((await own.json()) as { email: string }).email).toBe(user.email);

    const other = await fetch(`${gatehouse.url}/me`, { headers: { origin: otherOrigin, authorization: `Bearer ${tokens.access_token}` } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.status).toBe(400);
  });

  it('answers revocation for the public client\'s origin, and does not revoke for another', async () => {
    const other = await post('/token/revocation', otherOrigin, { token: tokens.refresh_token!, client_id: publicClient.clientId });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    expect(other.status).toBe(400);
    // Refused before anything was done: the refresh token still works.
    const refreshed = await post('/token', appOrigin, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: publicClient.clientId });
    expect(refreshed.status).toBe(200);
    const { refresh_token: rotated } = (await refreshed.json()) as { refresh_token: string };

    const own = await post('/token/revocation', appOrigin, { token: rotated, client_id: publicClient.clientId });
    expect(own.status).toBe(200);
    expect(own.headers.get('access-control-allow-origin')).toBe(appOrigin);
    const after = await post('/token', appOrigin, { grant_type: 'refresh_token', refresh_token: rotated, client_id: publicClient.clientId });
    expect(((await after.json()) as { error: string }).error).toBe('invalid_grant');
  });

  it('refuses CORS on introspection, even to a public client from its origin', async () => {
    const response = await post('/token/introspection', appOrigin, { token: tokens.access_token, client_id: publicClient.clientId });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('never sends Access-Control-Allow-Origin from the authorization endpoint', async () => {
    const request = await authorizationRequest(await relyingParty(gatehouse, publicClient));
    for (const origin of [appOrigin, otherOrigin]) {
      const get = await fetch(request.url, { headers: { origin }, redirect: 'manual' });
      expect(get.status).toBeGreaterThanOrEqual(300);
      expect(get.headers.get('access-control-allow-origin')).toBeNull();
      const post = await fetch(`${gatehouse.url}/auth`, { method: 'POST', redirect: 'manual', headers: { origin, 'content-type': 'application/x-www-form-urlencoded' }, body: request.url.searchParams.toString() });
      expect(post.headers.get('access-control-allow-origin')).toBeNull();
      const preflight = await fetch(`${gatehouse.url}/auth`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } });
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('keeps discovery and the JWKS readable from any origin (they are public)', async () => {
    for (const path of ['/.well-known/openid-configuration', '/jwks']) {
      const response = await fetch(`${gatehouse.url}${path}`, { headers: { origin: otherOrigin } });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe(otherOrigin);
    }
  });
});
