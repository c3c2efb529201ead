import { createHash, randomUUID } from 'node:crypto';

import { calculateJwkThumbprint, createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Config } from '../../src/config/load-config.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signInThroughPages } from '../helpers/relying-party.ts';
import { UserAgent } from '../helpers/user-agent.ts';

const alice = { email: 'alice@example.com', password: 'correct horse battery staple' };
const api = 'https://orders.example.com';

type Key = { privateKey: CryptoKey; publicKey: CryptoKey; jwk: JWK; jkt: string };

async function newKey(): Promise<Key> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(pair.publicKey);
  return { ...pair, jwk, jkt: await calculateJwkThumbprint(jwk) };
}

/** A DPoP proof made by hand (RFC 9449 §4.2), to send what a well-behaved client never would. */
async function proof(key: Key, htm: string, htu: string, extra: { accessToken?: string; nonce?: string; jti?: string } = {}): Promise<string> {
  return new SignJWT({
    htm,
    htu,
    jti: extra.jti ?? randomUUID(),
    ...(extra.accessToken ? { ath: createHash('sha256').update(extra.accessToken).digest('base64url') } : {}),
    ...(extra.nonce ? { nonce: extra.nonce } : {}),
  })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
    .setIssuedAt()
    .sign(key.privateKey);
}

/** The code flow of a public client with PKCE, the code exchanged with a DPoP proof. */
async function signInWithDPoP(gatehouse: TestGatehouse, rp: client.Configuration, dpop: client.DPoPHandle, params: Record<string, string> = {}) {
  const request = await authorizationRequest(rp, { scope: 'openid email offline_access', prompt: 'consent', ...params });
  const callback = await signInThroughPages(new UserAgent(gatehouse.url), request.url, alice);
  return client.authorizationCodeGrant(rp, callback, {
    pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state, idTokenExpected: true,
  }, params.resource ? { resource: params.resource } : undefined, { DPoP: dpop });
}

async function userinfo(url: string, accessToken: string, dpopProof?: string, scheme = 'DPoP') {
  return fetch(url, { headers: { authorization: `${scheme} ${accessToken}`, ...(dpopProof ? { dpop: dpopProof } : {}) } });
}

/** The provider's answer to a request with a proof lacking a nonce: the nonce to use next. */
async function freshNonce(url: string, key: Key, accessToken: string): Promise<string> {
  const response = await userinfo(url, accessToken, await proof(key, 'GET', url, { accessToken }));
  expect(response.status).toBe(401);
  expect(response.headers.get('www-authenticate')).toContain('use_dpop_nonce');
  return response.headers.get('dpop-nonce')!;
}

describe('DPoP (RFC 9449), with nonces (the default)', () => {
  let gatehouse: TestGatehouse;
  let aliceId: string;
  let rp: client.Configuration;
  let clientId: string;
  let userinfoUrl: string;
  let tokenUrl: string;

  beforeAll(async () => {
    gatehouse = await startGatehouse();
    aliceId = await gatehouse.addUser(alice.email, alice.password);
    await gatehouse.addApi({ identifier: api, scopes: ['orders:read'] });
    ({ clientId } = await gatehouse.addClient({ name: 'DPoP SPA', public: true, grantTypes: ['authorization_code', 'refresh_token'] }));
    rp = await relyingParty(gatehouse, { clientId });
    userinfoUrl = rp.serverMetadata().userinfo_endpoint!;
    tokenUrl = rp.serverMetadata().token_endpoint!;
  });
  afterAll(async () => {
    await gatehouse?.stop();
  });

  it('is announced in discovery', () => {
    expect(rp.serverMetadata().dpop_signing_alg_values_supported).toEqual(expect.arrayContaining(['ES256']));
  });

  it('binds the access and refresh tokens of a public client to its key, through refresh; introspection shows cnf.jkt', async () => {
    const key = await client.randomDPoPKeyPair('ES256');
    const jkt = await calculateJwkThumbprint(await exportJWK(key.publicKey));
    const dpop = client.getDPoPHandle(rp, key);
    const tokens = await signInWithDPoP(gatehouse, rp, dpop);
    expect(tokens.token_type).toBe('dpop');

    expect(await client.tokenIntrospection(rp, tokens.access_token)).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } });
    expect(await client.tokenIntrospection(rp, tokens.refresh_token!)).toMatchObject({ active: true, cnf: { jkt } });
    expect(await client.fetchUserInfo(rp, tokens.access_token, aliceId, { DPoP: dpop })).toMatchObject({ sub: aliceId, email: alice.email });

    const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!, undefined, { DPoP: dpop });
    expect(refreshed.token_type).toBe('dpop');
    expect((await client.tokenIntrospection(rp, refreshed.access_token)).cnf).toEqual({ jkt });
    expect((await client.tokenIntrospection(rp, refreshed.refresh_token!)).cnf).toEqual({ jkt });
    expect(await client.fetchUserInfo(rp, refreshed.access_token, aliceId, { DPoP: dpop })).toMatchObject({ sub: aliceId });

    // The refresh token is bound: refreshing with another key is refused.
    const other = client.getDPoPHandle(rp, await client.randomDPoPKeyPair('ES256'));
    await expect(client.refreshTokenGrant(rp, refreshed.refresh_token!, undefined, { DPoP: other })).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it("puts cnf.jkt in an API's JWT access token, kept on refresh", async () => {
    const key = await client.randomDPoPKeyPair('ES256');
    const jkt = await calculateJwkThumbprint(await exportJWK(key.publicKey));
    const dpop = client.getDPoPHandle(rp, key);
    const tokens = await signInWithDPoP(gatehouse, rp, dpop, { scope: 'openid offline_access orders:read', resource: api });
    const jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
    const { payload } = await jwtVerify(tokens.access_token, jwks, { issuer: gatehouse.url, audience: api });
    expect(payload.cnf).toEqual({ jkt });
    const refreshed = await client.refreshTokenGrant(rp, tokens.refresh_token!, { resource: api }, { DPoP: dpop });
    expect((await jwtVerify(refreshed.access_token, jwks, { issuer: gatehouse.url, audience: api })).payload.cnf).toEqual({ jkt });
  });

  it('answers a proof without a nonce with use_dpop_nonce and a DPoP-Nonce; the retry with it works', async () => {
    const key = await newKey();
    const request = await authorizationRequest(rp, { scope: 'openid email' });
    const callback = await signInThroughPages(new UserAgent(gatehouse.url), request.url, alice);
    const body = new URLSearchParams({
      grant_type: 'authorization_code', client_id: clientId, code: callback.searchParams.get('code')!,
      redirect_uri: 'http://127.0.0.1:8080/callback', code_verifier: request.codeVerifier,
    });
    const first = await fetch(tokenUrl, { method: 'POST', body, headers: { dpop: await proof(key, 'POST', tokenUrl) } });
    expect(first.status).toBe(400);
    expect(await first.json()).toMatchObject({ error: 'use_dpop_nonce' });
    const nonce = first.headers.get('dpop-nonce');
    expect(nonce).toBeTruthy();

    const retry = await fetch(tokenUrl, { method: 'POST', body, headers: { dpop: await proof(key, 'POST', tokenUrl, { nonce: nonce! }) } });
    expect(retry.status).toBe(200);
    const tokens = await retry.json() as { token_type: string; access_token: string };
    expect(tokens.token_type).toBe('DPoP');
    expect((await client.tokenIntrospection(rp, tokens.access_token)).cnf).toEqual({ jkt: key.jkt });

    // A made-up nonce is refused as a missing one is.
    const madeUp = await userinfo(userinfoUrl, tokens.access_token, await proof(key, 'GET', userinfoUrl, { accessToken: tokens.access_token, nonce: 'made-up' }));
    expect(madeUp.status).toBe(401);
    expect(madeUp.headers.get('www-authenticate')).toContain('use_dpop_nonce');
  });

  it('at userinfo, refuses a bound token without a proof, as a bearer token, with another key, replayed, or for another URL or method', async () => {
    const key = await newKey();
    const dpop = client.getDPoPHandle(rp, { privateKey: key.privateKey, publicKey: key.publicKey });
    const { access_token: token } = await signInWithDPoP(gatehouse, rp, dpop, { scope: 'openid email' });
    const nonce = await freshNonce(userinfoUrl, key, token);

    const good = await proof(key, 'GET', userinfoUrl, { accessToken: token, nonce });
    const ok = await userinfo(userinfoUrl, token, good);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ sub: aliceId });

    // The same proof again (same jti): a replay.
    const replayed = await userinfo(userinfoUrl, token, good);
    expect(replayed.status).toBe(401);
    expect(replayed.headers.get('www-authenticate')).toMatch(/invalid_(token|dpop_proof)/);

    const noProof = await userinfo(userinfoUrl, token);
    expect(noProof.status).toBe(400);
    expect(await noProof.json()).toMatchObject({ error: 'invalid_request', error_description: '`DPoP` header not provided' });
    const asBearer = await userinfo(userinfoUrl, token, undefined, 'Bearer');
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toContain('invalid_token');
    // A bound token presented as a bearer token even with a proof alongside.
    expect((await userinfo(userinfoUrl, token, await proof(key, 'GET', userinfoUrl, { accessToken: token, nonce }), 'Bearer')).status).toBe(400);

    const stranger = await newKey();
    const strangerNonce = await freshNonce(userinfoUrl, stranger, token);
    const withOtherKey = await userinfo(userinfoUrl, token, await proof(stranger, 'GET', userinfoUrl, { accessToken: token, nonce: strangerNonce }));
    expect(withOtherKey.status).toBe(401);
    expect(withOtherKey.headers.get('www-authenticate')).toContain('invalid_token');

    const otherUrl = await userinfo(userinfoUrl, token, await proof(key, 'GET', tokenUrl, { accessToken: token, nonce }));
    expect(otherUrl.status).toBe(401);
    expect(otherUrl.headers.get('www-authenticate')).toContain('invalid_dpop_proof');
    const otherMethod = await userinfo(userinfoUrl, token, await proof(key, 'POST', userinfoUrl, { accessToken: token, nonce }));
    expect(otherMethod.status).toBe(401);
    expect(otherMethod.headers.get('www-authenticate')).toContain('invalid_dpop_proof');
    // A proof made for another access token (ath).
    const otherToken = await userinfo(userinfoUrl, token, await proof(key, 'GET', userinfoUrl, { accessToken: `${token}x`, nonce }));
    expect(otherToken.status).toBe(401);

    // Still good with a fresh proof after all that.
    expect((await userinfo(userinfoUrl, token, await proof(key, 'GET', userinfoUrl, { accessToken: token, nonce }))).status).toBe(200);
  });

  it('at the token endpoint, refuses a replayed proof and a proof for another URL', async () => {
    const key = await newKey();
    const dpop = client.getDPoPHandle(rp, { privateKey: key.privateKey, publicKey: key.publicKey });
    const tokens = await signInWithDPoP(gatehouse, rp, dpop);
    const first = await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token! }), headers: { dpop: await proof(key, 'POST', tokenUrl) } });
    const nonce = first.headers.get('dpop-nonce')!;
    expect(nonce).toBeTruthy();

    const used = await proof(key, 'POST', tokenUrl, { nonce });
    const refreshed = await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: tokens.refresh_token! }), headers: { dpop: used } });
    expect(refreshed.status).toBe(200);
    const next = await refreshed.json() as { refresh_token: string };

    const replay = await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: next.refresh_token }), headers: { dpop: used } });
    expect(replay.status).toBe(400);
    expect(await replay.json()).toMatchObject({ error: 'invalid_grant' });

    const elsewhere = await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId, refresh_token: next.refresh_token }), headers: { dpop: await proof(key, 'POST', userinfoUrl, { nonce }) } });
    expect(elsewhere.status).toBe(400);
    expect(await elsewhere.json()).toMatchObject({ error: 'invalid_dpop_proof' });

    // The refresh token was not spent by the refused attempts.
    const last = await client.refreshTokenGrant(rp, next.refresh_token, undefined, { DPoP: dpop });
    expect(last.token_type).toBe('dpop');
  });

  it('accepts a nonce handed out before a restart: nonces are derived from KEY_ENCRYPTION_KEY, not kept in memory', async () => {
    const key = await newKey();
    const dpop = client.getDPoPHandle(rp, { privateKey: key.privateKey, publicKey: key.publicKey });
    const { access_token: token } = await signInWithDPoP(gatehouse, rp, dpop, { scope: 'openid email' });
    const nonce = await freshNonce(userinfoUrl, key, token);
    gatehouse = await gatehouse.restart();
    expect((await userinfo(userinfoUrl, token, await proof(key, 'GET', userinfoUrl, { accessToken: token, nonce }))).status).toBe(200);
  });
});

describe('DPoP without nonces, and turned off', () => {
  const started: TestGatehouse[] = [];
  afterAll(async () => {
    await Promise.all(started.map((gatehouse) => gatehouse.stop()));
  });
  const start = async (dpop: Config['dpop']) => {
    const gatehouse = await startGatehouse({ adjust: (config) => ({ ...config, dpop }) });
    started.push(gatehouse);
    await gatehouse.addUser(alice.email, alice.password);
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'DPoP SPA', public: true, grantTypes: ['authorization_code', 'refresh_token'] }));
    return { gatehouse, rp };
  };

  it('without nonces, the first proof is accepted and no nonce is handed out; replays are still refused', async () => {
    const { gatehouse, rp } = await start({ enabled: true, nonces: false });
    const key = await newKey();
    const dpop = client.getDPoPHandle(rp, { privateKey: key.privateKey, publicKey: key.publicKey });
    const tokens = await signInWithDPoP(gatehouse, rp, dpop, { scope: 'openid email' });
    expect(tokens.token_type).toBe('dpop');
    const url = rp.serverMetadata().userinfo_endpoint!;
    const good = await proof(key, 'GET', url, { accessToken: tokens.access_token });
    const ok = await userinfo(url, tokens.access_token, good);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('dpop-nonce')).toBeNull();
    expect((await userinfo(url, tokens.access_token, good)).status).toBe(401);
    // A nonce is refused where none are handed out.
    expect((await userinfo(url, tokens.access_token, await proof(key, 'GET', url, { accessToken: tokens.access_token, nonce: 'x' }))).status).toBe(401);
  });

  it('turned off, a proof is ignored: bearer tokens, no DPoP in discovery', async () => {
    const { gatehouse, rp } = await start({ enabled: false, nonces: true });
    expect(rp.serverMetadata().dpop_signing_alg_values_supported).toBeUndefined();
    const dpop = client.getDPoPHandle(rp, await client.randomDPoPKeyPair('ES256'));
    const tokens = await signInWithDPoP(gatehouse, rp, dpop, { scope: 'openid email' });
    expect(tokens.token_type).toBe('bearer');
    expect((await client.tokenIntrospection(rp, tokens.access_token)).cnf).toBeUndefined();
  });
});
