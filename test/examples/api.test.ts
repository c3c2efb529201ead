import { createHash, randomUUID } from 'node:crypto';

import { base64url, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import type { JWTPayload } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startApi } from '../../examples/api/server.ts';
import type { RunningApi } from '../../examples/api/server.ts';
import type { Config } from '../../src/config/load-config.ts';
import { keySchedule } from '../../src/config/load-config.ts';
import { providerJwks, rotateRing } from '../../src/keys/key-ring.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { sleep } from '../helpers/main-process.ts';
import { relyingParty } from '../helpers/relying-party.ts';

const audience = 'https://notes.example.test';
const otherApi = 'https://other.example.test';

/** A machine-to-machine client of the API: client credentials. */
async function setUp(gatehouse: TestGatehouse) {
  await gatehouse.addApi({ identifier: audience, scopes: ['notes:read', 'notes:write'] });
  await gatehouse.addApi({ identifier: otherApi, scopes: ['notes:read'] });
  const registered = await gatehouse.addClient({ name: 'Notes worker', grantTypes: ['client_credentials'], redirectUris: [], postLogoutRedirectUris: [] });
  const rp = await relyingParty(gatehouse, registered);
  return (scope: string, resource = audience) => client.clientCredentialsGrant(rp, { scope, resource }).then((tokens) => tokens.access_token);
}

/** Counts JWKS downloads (the API's cache at work). */
function countJwksFetches(gatehouse: TestGatehouse): { count: number } {
  const counter = { count: 0 };
  gatehouse.httpServer.on('request', (req) => {
    if (req.url?.startsWith('/jwks')) counter.count += 1;
  });
  return counter;
}

async function call(api: RunningApi, token?: string, init: { method?: string; body?: unknown; origin?: string } = {}) {
  const response = await fetch(`${api.url}/notes`, {
    method: init.method ?? 'GET',
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.body ? { 'content-type': 'application/json' } : {}),
      ...(init.origin ? { origin: init.origin } : {}),
    },
    ...(init.body ? { body: JSON.stringify(init.body) } : {}),
  });
  return { status: response.status, challenge: response.headers.get('www-authenticate'), headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

describe('the example API', () => {
  let gatehouse: TestGatehouse;
  let api: RunningApi;
  let issue: Awaited<ReturnType<typeof setUp>>;
  let jwks: { count: number };

  beforeAll(async () => {
    gatehouse = await startGatehouse();
    issue = await setUp(gatehouse);
    jwks = countJwksFetches(gatehouse);
    // A short cooldown, so that the rotation test need not wait jose's 30 s before a refetch.
    api = await startApi({ issuer: gatehouse.url, audience, host: '127.0.0.1', allowedOrigins: ['http://127.0.0.1:8081'], jwks: { cooldownDuration: 500 } });
  });

  afterAll(async () => {
    await api?.close();
    await gatehouse?.stop();
  });

  /** A token signed with Gatehouse's own current key, with the claims a test wants. */
  async function forge(claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
    const genuine = await issue('notes:read');
    const { kid } = decodeProtectedHeader(genuine);
    const privateJwk = providerJwks(await gatehouse.store.signingKeys.read(), gatehouse.secrets.keyEncryptionKey).keys.find((key) => key.kid === kid)!;
    const key = await importJWK(privateJwk, 'RS256');
    return new SignJWT({ ...decodeJwt(genuine), ...claims }).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid, ...header }).sign(key);
  }

  it('accepts a valid token and answers with the caller\'s notes', async () => {
    const token = await issue('notes:read notes:write');
    const added = await call(api, token, { method: 'POST', body: { text: 'buy milk' } });
    expect(added.status).toBe(201);
    const listed = await call(api, token);
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ scope: 'notes:read notes:write', notes: [{ text: 'buy milk' }] });
    // A token forged with the real key and the genuine claims verifies too: the forge helper works.
    expect((await call(api, await forge({}))).status).toBe(200);
  });

  it('asks for a token with a bare challenge when none was sent', async () => {
    const response = await call(api);
    expect(response.status).toBe(401);
    expect(response.challenge).toBe(`Bearer realm="${audience}"`);
  });

  const rejected = async (token: string, description = 'the access token is not valid') => {
    const response = await call(api, token);
    expect(response.status).toBe(401);
    expect(response.challenge).toBe(`Bearer realm="${audience}", error="invalid_token", error_description="${description}"`);
  };

  it('rejects an expired token', async () => {
    const now = Math.floor(Date.now() / 1000);
    await rejected(await forge({ iat: now - 7200, exp: now - 3600 }), 'the access token expired');
  });

  it('rejects a token for another audience', async () => {
    await rejected(await issue('notes:read', otherApi));
    await rejected(await forge({ aud: otherApi }));
  });

  it('rejects a token from another issuer', async () => {
    await rejected(await forge({ iss: 'https://impostor.example.test' }));
  });

  it('rejects a tampered token', async () => {
    const token = await issue('notes:read');
    const [header, payload, signature] = token.split('.');
    const widened = base64url.encode(JSON.stringify({ ...JSON.parse(new TextDecoder().decode(base64url.decode(payload!))), scope: 'notes:read notes:write' }));
    await rejected(`${header}.${widened}.${signature}`);
    await rejected(`${header}.${payload}.${signature!.slice(0, -4)}AAAA`);
  });

  it('rejects an unsigned (alg: none) token', async () => {
    const token = await issue('notes:read');
    const none = base64url.encode(JSON.stringify({ alg: 'none', typ: 'at+jwt' }));
    await rejected(`${none}.${token.split('.')[1]}.`);
  });

  it('rejects a token that is not an access token (typ), and a malformed header', async () => {
    await rejected(await forge({}, { typ: 'JWT' }));
    const basic = await fetch(`${api.url}/notes`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('takes DPoP-bound tokens with a proof of their key (RFC 9449), and refuses them without one', async () => {
    const registered = await gatehouse.addClient({ name: 'Notes worker with a key', grantTypes: ['client_credentials'], redirectUris: [], postLogoutRedirectUris: [] });
    const rp = await relyingParty(gatehouse, registered);
    const pair = await generateKeyPair('ES256', { extractable: true });
    const dpop = client.getDPoPHandle(rp, pair);
    const tokens = await client.clientCredentialsGrant(rp, { scope: 'notes:read', resource: audience }, { DPoP: dpop });
    expect(tokens.token_type).toBe('dpop');
    const url = new URL(`${api.url}/notes`);
    // openid-client sends "DPoP <token>" with a proof of the key (ath included).
    const answered = await client.fetchProtectedResource(rp, tokens.access_token, url, 'GET', undefined, undefined, { DPoP: dpop });
    expect(answered.status).toBe(200);

    // As a bearer token: refused (a thief without the key gets nothing).
    const asBearer = await call(api, tokens.access_token);
    expect([asBearer.status, asBearer.body.error]).toEqual([401, 'invalid_token']);
    // Proofs made by hand: replayed, for another method or token, by another key: refused.
    const proof = async (key: Awaited<ReturnType<typeof generateKeyPair>>, htm: string, token = tokens.access_token) => new SignJWT({
      htm, htu: url.href, jti: randomUUID(), ath: createHash('sha256').update(token).digest('base64url'),
    }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(key.publicKey) }).setIssuedAt().sign(key.privateKey);
    const withProof = (value: string, token = tokens.access_token) => fetch(url, { headers: { authorization: `DPoP ${token}`, dpop: value } });
    const good = await proof(pair, 'GET');
    expect((await withProof(good)).status).toBe(200);
    const replayed = await withProof(good);
    expect([replayed.status, ((await replayed.json()) as { error: string }).error]).toEqual([401, 'invalid_dpop_proof']);
    expect(replayed.headers.get('www-authenticate')).toMatch(/^DPoP /);
    expect((await withProof(await proof(pair, 'POST'))).status).toBe(401);
    expect((await withProof(await proof(pair, 'GET', 'another.token'))).status).toBe(401);
    expect((await withProof(await proof(await generateKeyPair('ES256'), 'GET'))).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `DPoP ${tokens.access_token}` } })).status).toBe(401);
    // A bearer token sent as DPoP: refused too.
    const bearer = await issue('notes:read');
    expect((await withProof(await proof(pair, 'GET', bearer), bearer)).status).toBe(401);
    const preflight = await fetch(url, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:8081', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization, dpop' } });
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/dpop/i);
  });

  it('answers 403 insufficient_scope naming the scope that is missing', async () => {
    const readOnly = await issue('notes:read');
    const response = await call(api, readOnly, { method: 'POST', body: { text: 'not allowed' } });
    expect(response.status).toBe(403);
    expect(response.challenge).toBe(`Bearer realm="${audience}", error="insufficient_scope", error_description="this needs the notes:write scope", scope="notes:write"`);
  });

  it('lets its single-page app\'s origin call it, and no other', async () => {
    const preflight = await fetch(`${api.url}/notes`, { method: 'OPTIONS', headers: { origin: 'http://127.0.0.1:8081', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8081');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
    const denied = await call(api, undefined, { origin: 'http://127.0.0.1:9999' });
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    const allowed = await call(api, undefined, { origin: 'http://127.0.0.1:8081' });
    expect(allowed.headers.get('access-control-expose-headers')).toBe('WWW-Authenticate');
  });

  it('caches the JWKS, refetches it for a new key after an immediate rotation, and keeps accepting older tokens', async () => {
    const before = await issue('notes:read');
    expect((await call(api, before)).status).toBe(200);
    const fetches = jwks.count;
    for (let i = 0; i < 5; i += 1) expect((await call(api, await issue('notes:read'))).status).toBe(200);
    expect(jwks.count).toBe(fetches); // cached

    // `gatehouse keys rotate --immediately`: new keys sign at once, the old ones stay published.
    await sleep(600); // past the API's refetch cooldown
    await rotateRing(gatehouse.store.signingKeys, gatehouse.secrets.keyEncryptionKey, keySchedule(gatehouse.config), true);
    await gatehouse.reloadKeys();
    const after = await issue('notes:read');
    expect(decodeProtectedHeader(after).kid).not.toBe(decodeProtectedHeader(before).kid);

    expect((await call(api, after)).status).toBe(200);
    expect(jwks.count).toBe(fetches + 1); // one refetch, for the unknown kid
    expect((await call(api, before)).status).toBe(200); // the retired key still verifies its tokens
  });

  it('answers 503 (not 401) while Gatehouse cannot be reached for its keys', async () => {
    const unreachable = await startApi({ issuer: 'http://127.0.0.1:9', audience, host: '127.0.0.1' });
    try {
      const response = await fetch(`${unreachable.url}/notes`, { headers: { authorization: `Bearer ${await issue('notes:read')}` } });
      expect(response.status).toBe(503);
    } finally {
      await unreachable.close();
    }
  });
});

/** The real schedule compressed into seconds, as in test/keys/rotation-live.test.ts. */
function compressed(config: Config): Config {
  return {
    ...config,
    keys: { jwksCacheSeconds: 1, rotationIntervalDays: 4 / 86_400, marginSeconds: 0.5, pollSeconds: 0.2 },
    ttl: { ...config.ttl, accessToken: 2, clientCredentials: 2, idToken: 2, apiAccessTokenMax: 2 },
  };
}

describe('the example API across a scheduled key rotation', () => {
  let gatehouse: TestGatehouse;
  let api: RunningApi;

  beforeAll(async () => {
    gatehouse = await startGatehouse({ adjust: compressed });
    // jose's cache lifetime no longer than Gatehouse's JWKS max-age (by default 10 min < 15 min).
    api = await startApi({ issuer: gatehouse.url, audience, host: '127.0.0.1', jwks: { cacheMaxAge: 1000 } });
  });

  afterAll(async () => {
    await api?.close();
    await gatehouse?.stop();
  });

  it('accepts every token while a new key takes over', async () => {
    const issue = await setUp(gatehouse);
    const kids = new Set<string>();
    const failures: string[] = [];
    const start = Date.now();
    while (Date.now() - start < 15_000 && kids.size < 2) {
      const token = await issue('notes:read');
      kids.add(decodeProtectedHeader(token).kid!);
      const response = await call(api, token);
      if (response.status !== 200) failures.push(`${decodeProtectedHeader(token).kid}: ${response.status} ${response.challenge}`);
      await sleep(100);
    }
    expect(failures).toEqual([]);
    expect(kids.size).toBe(2);
  }, 20_000);
});
