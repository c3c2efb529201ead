import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Provider from 'oidc-provider';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { cliSource } from '../../src/libraries/audit.ts';
import { initialAccessTokenModel, registrationTokensLibrary } from '../../src/libraries/registration-tokens.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';

let dir: string;
let store: Store;
let now: number;
const tokens = () => registrationTokensLibrary({ store, clock: () => new Date(now) });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-registration-tokens-'));
  // The store reads the same clock as the library: time moves when a test moves it.
  now = Date.now();
  store = openSqliteStore(join(dir, 'tokens.db'), () => now);
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('registration tokens', () => {
  it('create returns the token once, stores it as the provider\'s InitialAccessToken (its value is the id), and audits its id only', async () => {
    const created = await tokens().create({ expiresInDays: 2, note: 'for the agent team' }, cliSource);

    expect(created.token).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/);
    expect(created).toMatchObject({ id: created.token.slice(0, 6), note: 'for the agent team', expiresAt: new Date(Math.floor(now / 1000) * 1000 + 2 * 86_400_000) });
    const stored = await store.oidc.model(initialAccessTokenModel).find(created.token);
    expect(stored).toEqual({
      jti: created.token, kind: 'InitialAccessToken', iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 2 * 86_400, gatehouse_note: 'for the agent team',
    });

    const [event] = await store.audit.tail({ limit: 10 });
    expect(event).toMatchObject({ type: 'registration_token_created', actor: 'cli', details: { token_id: created.id, note: 'for the agent team', expires_at: created.expiresAt.toISOString() } });
    expect(JSON.stringify(event)).not.toContain(created.token);
  });

  it('lasts 7 days by default, at most 365; the note is checked', async () => {
    const created = await tokens().create({}, cliSource);
    expect(created.expiresAt.getTime() - created.createdAt.getTime()).toBe(7 * 86_400_000);

    await expect(tokens().create({ expiresInDays: 366 }, cliSource)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(tokens().create({ expiresInDays: 0 }, cliSource)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(tokens().create({ note: 'bell\u0007' }, cliSource)).rejects.toMatchObject({ code: 'invalid_input' });
  });

  it('list shows the live tokens by their first six characters, oldest first, never their values', async () => {
    const first = await tokens().create({ note: 'first' }, cliSource);
    now += 1000;
    const second = await tokens().create({ expiresInDays: 1 }, cliSource);

    const listed = await tokens().list();
    expect(listed).toEqual([
      { id: first.id, note: 'first', createdAt: first.createdAt, expiresAt: first.expiresAt },
      { id: second.id, createdAt: second.createdAt, expiresAt: second.expiresAt },
    ]);
    expect(JSON.stringify(listed)).not.toContain(first.token);

    // A day later the one-day token is gone.
    now += 86_400_000;
    expect((await tokens().list()).map((token) => token.id)).toEqual([first.id]);
  });

  it('revoke takes the id (six characters or more, or the value) and audits it; unknown, short and ambiguous prefixes are refused', async () => {
    const created = await tokens().create({}, cliSource);
    const other = await tokens().create({}, cliSource);

    await expect(tokens().revoke(created.id.slice(0, 5), cliSource)).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(tokens().revoke('zzzzzzzz', cliSource)).rejects.toMatchObject({ code: 'not_found' });
    expect(await tokens().revoke(created.id, cliSource)).toMatchObject({ id: created.id });
    expect(await store.oidc.model(initialAccessTokenModel).find(created.token)).toBeUndefined();
    await expect(tokens().revoke(created.token, cliSource)).rejects.toMatchObject({ code: 'not_found' });
    expect(await tokens().revoke(other.token, cliSource)).toMatchObject({ id: other.id });

    const events = (await store.audit.tail({ limit: 10 })).filter((event) => event.type === 'registration_token_revoked');
    expect(events.map((event) => event.details)).toEqual([{ token_id: created.id }, { token_id: other.id }]);

    // Two tokens sharing a prefix (made by hand: 6 random characters rarely collide).
    const payload = { kind: 'InitialAccessToken', iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 600 };
    await store.oidc.model(initialAccessTokenModel).upsert('abcdefAAAA', { ...payload, jti: 'abcdefAAAA' }, 600);
    await store.oidc.model(initialAccessTokenModel).upsert('abcdefBBBB', { ...payload, jti: 'abcdefBBBB' }, 600);
    await expect(tokens().revoke('abcdef', cliSource)).rejects.toMatchObject({ code: 'conflict' });
    expect(await tokens().revoke('abcdefA', cliSource)).toMatchObject({ id: 'abcdef' });
  });
});

describe('registration tokens and oidc-provider', () => {
  // A real oidc-provider with registration by initial access token, keeping its models in the store
  // as Gatehouse's adapter does (store.oidc.model(name)): what create writes must be what the
  // provider's registration endpoint accepts.
  let server: Server;
  let provider: Provider;
  let base: string;

  beforeEach(async () => {
    const adapter = (name: string) => {
      const model = store.oidc.model(name);
      return {
        upsert: (id: string, payload: Record<string, unknown>, expiresIn?: number) => model.upsert(id, payload, expiresIn),
        find: (id: string) => model.find(id),
        findByUid: (uid: string) => model.findByUid(uid),
        findByUserCode: (userCode: string) => model.findByUserCode(userCode),
        consume: (id: string) => model.consume(id),
        destroy: (id: string) => model.destroy(id),
        revokeByGrantId: (grantId: string) => model.revokeByGrantId(grantId),
      };
    };
    server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    provider = new Provider(base, {
      adapter,
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      jwks: { keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'test', alg: 'RS256', use: 'sig' } as never] },
      features: { registration: { enabled: true, initialAccessToken: true }, devInteractions: { enabled: false } },
    });
    server.on('request', provider.callback());
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const register = (token: string) => fetch(`${base}/reg`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ redirect_uris: ['https://agent.example/cb'], client_name: 'Agent', token_endpoint_auth_method: 'none' }),
  });

  it('accepts a token the library created at the registration endpoint, and refuses it once revoked', async () => {
    // The store's clock is the system clock here: the provider checks exp against its own.
    now = Date.now();
    const created = await tokens().create({ expiresInDays: 1 }, cliSource);

    const found = await provider.InitialAccessToken.find(created.token);
    expect(found).toMatchObject({ jti: created.token, kind: 'InitialAccessToken' });

    const registered = await register(created.token);
    expect(registered.status, await registered.clone().text()).toBe(201);
    expect(await registered.json()).toMatchObject({ client_name: 'Agent', client_id: expect.any(String), registration_access_token: expect.any(String) });
    // The token registers more than one client until it expires or is revoked.
    expect((await register(created.token)).status).toBe(201);

    await tokens().revoke(created.id, cliSource);
    const refused = await register(created.token);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'invalid_token' });
    expect((await register('not-a-token-at-all')).status).toBe(401);
  });

  it('refuses a token past its exp', async () => {
    // Created a day and a minute ago, for one day: expired by the provider's own clock.
    now = Date.now() - 86_460_000;
    const created = await tokens().create({ expiresInDays: 1 }, cliSource);
    expect(await provider.InitialAccessToken.find(created.token)).toBeUndefined();
    expect((await register(created.token)).status).toBe(401);
  });
});
