import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { Config } from '../../src/config/load-config.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { sessionTtl } from '../../src/oidc/configuration.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { movableClock } from '../helpers/clock.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { freePort } from '../helpers/main-process.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signInThroughPages } from '../helpers/relying-party.ts';
import { UserAgent } from '../helpers/user-agent.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const password = 'sessions need a long passphrase';

describe('sessionTtl', () => {
  const config = loadConfig({});
  it('uses 1 h idle / 24 h absolute with a second factor, 30 min / 8 h without, cut at the absolute end', () => {
    const login = 1_000_000;
    expect(sessionTtl(config, { amr: ['pwd', 'otp'], loginTs: login }, login)).toBe(3600);
    expect(sessionTtl(config, { amr: ['pwd'], loginTs: login }, login)).toBe(1800);
    expect(sessionTtl(config, { amr: ['pwd', 'otp'], loginTs: login }, login + 86_400 - 600)).toBe(600);
    expect(sessionTtl(config, { amr: ['pwd'], loginTs: login }, login + 28_800 - 60)).toBe(60);
    expect(sessionTtl(config, { amr: ['pwd'], loginTs: login }, login + 28_800 + 5)).toBe(1);
    expect(sessionTtl(config, {}, login)).toBe(1800);
  });
});

describe('sessions on the server', () => {
  let gatehouse: TestGatehouse;
  let silentUrl: () => Promise<string>;
  let loginUrl: () => Promise<URL>;
  // The lifetimes run out on the server's clock, moved forward, rather than in real time.
  const clock = movableClock();

  beforeAll(async () => {
    gatehouse = await startGatehouse({
      clock,
      adjust: (config: Config) => ({ ...config, sessions: { ...config.sessions, passwordOnly: { idleSeconds: 2, absoluteSeconds: 5 } } }),
    });
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ firstParty: true }));
    silentUrl = async () => (await authorizationRequest(rp, { prompt: 'none' })).url.href;
    loginUrl = async () => (await authorizationRequest(rp)).url;
  });
  afterAll(() => gatehouse?.stop());
  // Each test starts on the system clock: oidc-provider takes login times from it, so a clock an
  // earlier test moved ahead would age this test's fresh session (to 1 s, at the absolute limit).
  beforeEach(() => clock.rewind());

  async function silently(ua: UserAgent): Promise<string> {
    const result = await ua.navigate(await silentUrl());
    if (!('redirectedTo' in result)) throw new Error(`expected a redirect, got ${result.status}`);
    const params = new URL(result.redirectedTo).searchParams;
    return params.get('code') ? 'signed in' : params.get('error')!;
  }

  async function signedIn(email: string): Promise<UserAgent> {
    await gatehouse.addUser(email, password);
    const ua = new UserAgent(gatehouse.url);
    await signInThroughPages(ua, await loginUrl(), { email, password });
    return ua;
  }

  const sessionCookie = async (ua: UserAgent) => (await ua.jar.getCookies(gatehouse.url)).find((cookie) => cookie.key === '_session');

  it('ends after the idle lifetime without use', async () => {
    const ua = await signedIn('idle@example.com');
    expect(await silently(ua)).toBe('signed in');
    clock.advance(2_300);
    expect(await silently(ua)).toBe('login_required');
  });

  it('ends at the absolute lifetime even while in use', async () => {
    // The login time is oidc-provider's (the system clock): start this test's time from there.
    clock.rewind();
    const ua = await signedIn('busy@example.com');
    const results: string[] = [];
    for (let second = 0; second < 7; second += 1) {
      results.push(await silently(ua));
      clock.advance(1_000);
    }
    // Used every second (never idle for 2 s), it still ends 5 s after the login.
    expect(results.slice(0, 3)).toEqual(['signed in', 'signed in', 'signed in']);
    expect(results.at(-1)).toBe('login_required');
  }, 20_000);

  it('after logout the old session cookie no longer works', async () => {
    const ua = await signedIn('leaver@example.com');
    const before = await sessionCookie(ua);
    expect(before).toBeDefined();
    const logout = await ua.page(`${gatehouse.url}/session/end`);
    const done = await ua.submit(logout, '/session/end/confirm', { logout: 'yes' });
    expect('redirectedTo' in done || done.status === 200).toBe(true);

    // A copy of the cookie from before the logout, replayed in another browser.
    const replay = new UserAgent(gatehouse.url);
    await replay.jar.setCookie(before!.toString(), gatehouse.url);
    for (const cookie of await ua.jar.getCookies(gatehouse.url)) {
      if (cookie.key === '_session.sig') await replay.jar.setCookie(cookie.toString(), gatehouse.url);
    }
    expect(await silently(replay)).toBe('login_required');
    expect(await gatehouse.store.oidc.model('Session').find(before!.value)).toBeUndefined();
  });

  it('gets a new session id at each login, and the old id is gone', async () => {
    const ua = await signedIn('rotating@example.com');
    const first = (await sessionCookie(ua))!.value;
    await signInThroughPages(ua, new URL(`${(await loginUrl()).href}&prompt=login`), { email: 'rotating@example.com', password });
    const second = (await sessionCookie(ua))!.value;
    expect(second).not.toBe(first);
    expect(await gatehouse.store.oidc.model('Session').find(first)).toBeUndefined();
    expect(await gatehouse.store.oidc.model('Session').find(second)).toBeDefined();
  });

  it('session cookies are HttpOnly and SameSite=Lax', async () => {
    const ua = await signedIn('cookies@example.com');
    const cookie = await sessionCookie(ua);
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.sameSite).toBe('lax');
  });
});

describe('cookies with an https issuer, without proxy headers', () => {
  it('are Secure all the same', async () => {
    const gatehouse = await startGatehouse({ env: { ISSUER: 'https://id.example.test' } });
    try {
      const rp = await gatehouse.addClient({ firstParty: true, redirectUris: ['https://app.example.test/callback'] });
      const params = new URLSearchParams({
        client_id: rp.clientId, response_type: 'code', scope: 'openid', redirect_uri: 'https://app.example.test/callback',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      });
      const response = await fetch(`http://127.0.0.1:${gatehouse.port}/auth?${params}`, { redirect: 'manual' });
      expect(response.headers.get('location')).toMatch(/^\/interaction\//);
      const cookies = response.headers.getSetCookie();
      expect(cookies.length).toBeGreaterThan(0);
      for (const cookie of cookies) expect(cookie).toMatch(/; secure/i);
      const discovery = await (await fetch(`http://127.0.0.1:${gatehouse.port}/.well-known/openid-configuration`)).json() as { token_endpoint: string };
      expect(discovery.token_endpoint).toBe('https://id.example.test/token');
    } finally {
      await gatehouse.stop();
    }
  });
});

describe('cookies behind a TLS-terminating proxy', () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse({ env: { ISSUER: 'https://id.example.test', TRUST_PROXY: 'true' } });
  });
  afterAll(() => gatehouse?.stop());

  it('are Secure when the issuer is https', async () => {
    const rp = await gatehouse.addClient({ firstParty: true, redirectUris: ['https://app.example.test/callback'] });
    const local = `http://127.0.0.1:${gatehouse.port}`;
    const params = new URLSearchParams({
      client_id: rp.clientId, response_type: 'code', scope: 'openid', redirect_uri: 'https://app.example.test/callback',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    });
    const response = await fetch(`${local}/auth?${params}`, { redirect: 'manual', headers: { host: 'id.example.test', 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7' } });
    const cookies = response.headers.getSetCookie();
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) {
      expect(cookie).toMatch(/; secure/i);
      expect(cookie).toMatch(/; httponly/i);
      expect(cookie).toMatch(/; samesite=lax/i);
    }
  });
});

describe('cookie signing keys', () => {
  it('rotate by prepending: old cookies keep working until the old key is dropped', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cookie-keys-'));
    const port = await freePort();
    const [oldKey, newKey] = ['a'.repeat(32) + 'old-cookie-key', 'b'.repeat(32) + 'new-cookie-key'];
    const start = (keys: string[]) => startGatehouse({ dir, env: { PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, COOKIE_KEYS: keys.join(','), KEY_ENCRYPTION_KEY: Buffer.alloc(32, 9).toString('base64') } });
    const silently = async (ua: UserAgent, url: string) => {
      const result = await ua.navigate(url);
      if (!('redirectedTo' in result)) throw new Error(`expected a redirect, got ${result.status}`);
      const params = new URL(result.redirectedTo).searchParams;
      return params.get('code') ? 'signed in' : params.get('error');
    };
    let gatehouse = await start([oldKey]);
    try {
      await gatehouse.addUser('keys@example.com', password);
      const registered = await gatehouse.addClient({ firstParty: true });
      let rp = await relyingParty(gatehouse, registered);
      const ua = new UserAgent(gatehouse.url);
      await signInThroughPages(ua, (await authorizationRequest(rp)).url, { email: 'keys@example.com', password });
      const signedWithOld = new UserAgent(gatehouse.url);
      for (const cookie of await ua.jar.getCookies(gatehouse.url)) await signedWithOld.jar.setCookie(cookie.toString(), gatehouse.url);

      // The new key signs, the old one still verifies.
      await gatehouse.close();
      await sleep(100); // let fetch see the old server's closed keep-alive sockets
      gatehouse = await start([newKey, oldKey]);
      rp = await relyingParty(gatehouse, registered);
      expect(await silently(ua, (await authorizationRequest(rp, { prompt: 'none' })).url.href)).toBe('signed in');

      // Dropped: a cookie signed only with the old key is not accepted.
      await gatehouse.close();
      await sleep(100); // let fetch see the old server's closed keep-alive sockets
      gatehouse = await start([newKey]);
      rp = await relyingParty(gatehouse, registered);
      expect(await silently(signedWithOld, (await authorizationRequest(rp, { prompt: 'none' })).url.href)).toBe('login_required');
      expect(await silently(ua, (await authorizationRequest(rp, { prompt: 'none' })).url.href)).toBe('signed in');
    } finally {
      await gatehouse.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
