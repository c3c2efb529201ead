import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Config } from '../../src/config/load-config.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { revokeFromRing, rotateRing } from '../../src/keys/key-ring.ts';
import { keySchedule } from '../../src/config/load-config.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/server.ts';
import type { RunningServer } from '../../src/server.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { sleep } from '../helpers/main-process.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

/**
 * The real schedule, compressed into seconds: verifiers cache the JWKS for 1 s, keys sign for 4 s,
 * tokens live 2 s, with a 0.5 s margin and instances polling the ring every 0.2 s.
 */
function compressed(config: Config): Config {
  return {
    ...config,
    keys: { jwksCacheSeconds: 1, rotationIntervalDays: 4 / 86_400, marginSeconds: 0.5, pollSeconds: 0.2 },
    ttl: { ...config.ttl, accessToken: 2, clientCredentials: 2, idToken: 2, apiAccessTokenMax: 2 },
  };
}

const api = 'https://api.example.test/rotation';
let gatehouse: TestGatehouse;
let rp: client.Configuration;

beforeAll(async () => {
  gatehouse = await startGatehouse({ adjust: compressed });
  await gatehouse.addApi({ identifier: api, scopes: ['read'] });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Rotation app', grantTypes: ['client_credentials'] }));
});

afterAll(async () => {
  await gatehouse?.stop();
});

const issue = async () => (await client.clientCredentialsGrant(rp, { scope: 'read', resource: api })).access_token;

describe('scheduled rotation seen by a caching verifier', () => {
  it('sends the JWKS with the configured cache lifetime and no private members', async () => {
    const response = await fetch(`${gatehouse.url}/jwks`);
    expect(response.headers.get('cache-control')).toBe('public, max-age=1');
    for (const key of ((await response.json()) as { keys: Record<string, unknown>[] }).keys) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(key).not.toHaveProperty(member);
    }
  });

  it('has zero failed verifications across next → current → retired → removed', async () => {
    // A microservice doing the standard thing: cache the JWKS, refetch when stale or on an unknown kid.
    const jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`), { cacheMaxAge: 1000 });
    const failures: string[] = [];
    const kids: string[] = [];
    const pending: { token: string; verifyAt: number }[] = [];
    const verify = async (token: string) => {
      try {
        await jwtVerify(token, jwks, { issuer: gatehouse.url, audience: api });
      } catch (error) {
        // A token that outlived its 2 s because this busy test process was slow is not a key
        // failure; a missing key or a bad signature is.
        if ((error as { code?: string }).code === 'ERR_JWT_EXPIRED') return;
        failures.push(`${decodeProtectedHeader(token).kid}: ${(error as Error).message}`);
      }
    };

    const start = Date.now();
    const firstKid = decodeProtectedHeader(await issue()).kid!;
    let firstKidRemoved = false;
    while (Date.now() - start < 20_000 && !firstKidRemoved) {
      const token = await issue();
      const kid = decodeProtectedHeader(token).kid!;
      if (kids.at(-1) !== kid) kids.push(kid);
      await verify(token); // right away
      // and again later in its life (exp has whole seconds: a 2 s token may have just over 1 s left)
      pending.push({ token, verifyAt: Date.now() + 800 });
      while (pending[0] && pending[0].verifyAt <= Date.now()) await verify(pending.shift()!.token);
      const published = ((await (await fetch(`${gatehouse.url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);
      if (kids.length > 1 && !published.includes(firstKid)) firstKidRemoved = true;
      await sleep(100);
    }
    for (const { token, verifyAt } of pending.splice(0)) {
      await sleep(Math.max(0, verifyAt - Date.now()));
      await verify(token);
    }

    expect({ failures, kids, firstKidRemoved }).toMatchObject({ failures: [] });
    expect(kids.length).toBeGreaterThanOrEqual(2); // a rotation happened while tokens were issued
    expect(kids[0]).toBe(firstKid);
    expect(firstKidRemoved).toBe(true); // and the first key went all the way to removal
  }, 30_000);
});

describe('switching keys between requests', () => {
  it('keeps an interaction and a session going across a provider rebuild', async () => {
    const user = { email: 'swap@example.com', password: 'swapping keys mid-flight' };
    await gatehouse.addUser(user.email, user.password);
    const web = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Swap app', firstParty: true }));
    const ua = new UserAgent(gatehouse.url);
    const first = await authorizationRequest(web);
    const login = await ua.page(first.url.href);

    // The ring changes and this instance rebuilds its provider while the login page is open.
    const before = gatehouse.provider();
    await rotateRing(gatehouse.store.signingKeys, gatehouse.secrets.keyEncryptionKey, keySchedule(gatehouse.config), true);
    await gatehouse.reloadKeys(); // (or the poller got there first)
    expect(gatehouse.provider()).not.toBe(before);

    const landed = await ua.submit(login, '/login', user);
    if (isPage(landed)) throw new Error(`the interaction did not survive: ${landed.body}`);
    const tokens = await client.authorizationCodeGrant(web, new URL(landed.redirectedTo), { pkceCodeVerifier: first.codeVerifier, expectedNonce: first.nonce, expectedState: first.state });
    await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`)), { issuer: gatehouse.url });

    // The session made before another rebuild still signs the person in without a password.
    await rotateRing(gatehouse.store.signingKeys, gatehouse.secrets.keyEncryptionKey, keySchedule(gatehouse.config), true);
    await gatehouse.reloadKeys();
    const again = await ua.navigate((await authorizationRequest(web)).url.href);
    if (isPage(again)) throw new Error(`asked to sign in again: ${again.body}`);
    expect(new URL(again.redirectedTo).searchParams.get('code')).toBeTruthy();
  });
});

describe('operator changes across instances', () => {
  let second: RunningServer;

  beforeAll(async () => {
    second = await startServer(compressed(loadConfig({ ...gatehouse.env, PORT: '0' })), createLogger({ silent: true }), { host: '127.0.0.1' });
  });

  afterAll(async () => {
    await second?.close();
  });

  const kidsAt = async (url: string) => ((await (await fetch(`${url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid);

  it('a rotation made through one instance is picked up by the other', async () => {
    const schedule = keySchedule(compressed(gatehouse.config));
    const { ring } = await rotateRing(gatehouse.store.signingKeys, gatehouse.secrets.keyEncryptionKey, schedule, true);
    const newRs256 = ring.keys.find((key) => key.alg === 'RS256' && key.state === 'current')!.kid;
    await sleep(600); // a few poll intervals
    expect(await kidsAt(`http://127.0.0.1:${second.port}`)).toContain(newRs256);
    const viaSecond = await fetch(`http://127.0.0.1:${second.port}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${rp.clientMetadata().client_id}:${rp.clientMetadata().client_secret as string}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'read', resource: api }),
    });
    const token = ((await viaSecond.json()) as { access_token: string }).access_token;
    expect([newRs256, ...ring.keys.filter((key) => key.alg === 'RS256').map((key) => key.kid)]).toContain(decodeProtectedHeader(token).kid);
    await jwtVerify(token, createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`)), { issuer: gatehouse.url, audience: api });
  });

  it('an emergency revoke makes the tokens of that key fail', async () => {
    const token = await issue();
    const kid = decodeProtectedHeader(token).kid!;
    await jwtVerify(token, createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`)), { issuer: gatehouse.url, audience: api });

    await revokeFromRing(gatehouse.store.signingKeys, gatehouse.secrets.keyEncryptionKey, kid);
    await sleep(600);

    expect(await kidsAt(gatehouse.url)).not.toContain(kid);
    expect(await kidsAt(`http://127.0.0.1:${second.port}`)).not.toContain(kid);
    await expect(jwtVerify(token, createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`)), { issuer: gatehouse.url, audience: api })).rejects.toThrow();
    // New tokens are signed with another key and verify.
    const fresh = await issue();
    expect(decodeProtectedHeader(fresh).kid).not.toBe(kid);
    await jwtVerify(fresh, createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`)), { issuer: gatehouse.url, audience: api });
  });
});
