import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Config } from '../../src/config/load-config.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { createAbuseLimits } from '../../src/limits/abuse-limits.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { basicAuth, formOf } from '../helpers/attacker.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { UserAgent } from '../helpers/user-agent.ts';

/**
 * The attacker fires bursts: every request at once, over real HTTP, against a real server, and we
 * count how many were evaluated (a 401 "Incorrect email or password" means argon2 ran). Before the
 * reservations, 150 concurrent wrong passwords got ~58 evaluated and a 150-address spray ~79.
 */

const defaults = loadConfig({}).limits;
const burst = 150;
let gatehouse: TestGatehouse;
let loginUrl: () => Promise<string>;

beforeAll(async () => {
  gatehouse = await startGatehouse({
    // Production hashing: how long a password check takes is the window these races would use.
    passwordHashing: 'production',
    env: { TRUST_PROXY: 'true' },
    // The real per-source limits (the helper relaxes them for other tests).
    adjust: (config: Config) => ({ ...config, limits: { ...config.limits, password: defaults.password, clientAuthentication: defaults.clientAuthentication, resetRequestsPerHour: defaults.resetRequestsPerHour } }),
  });
  await gatehouse.addUser('victim@example.com', 'the victim keeps a long passphrase');
  const rp = await relyingParty(gatehouse, await gatehouse.addClient({ firstParty: true }));
  loginUrl = async () => (await authorizationRequest(rp)).url.href;
}, 30_000);
afterAll(() => gatehouse?.stop());

/** One login page, then `count` concurrent POSTs of its form, each from `from(i)` (X-Forwarded-For). */
async function loginBurst(count: number, email: (i: number) => string, from: (i: number) => string): Promise<number[]> {
  const ua = new UserAgent(gatehouse.url);
  const login = await ua.page(await loginUrl());
  const { action, hidden } = formOf(login, '/login');
  const responses = await Promise.all(Array.from({ length: count }, (_, i) => {
    const body = new URLSearchParams(hidden);
    body.set('email', email(i));
    body.set('password', `wrong guess ${i}`);
    return ua.request(action, { method: 'POST', body, headers: { 'x-forwarded-for': from(i) } });
  }));
  return responses.map((response) => response.status);
}

const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((counts, status) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});

describe('a burst of wrong passwords', () => {
  it('on one account from one source: exactly the 5 free ones are evaluated, the rest wait', async () => {
    const statuses = await loginBurst(burst, () => 'victim@example.com', () => '198.51.100.7');
    expect(tally(statuses)).toEqual({ 401: 5, 429: burst - 5 });
    // A second burst right away: nothing more is evaluated (the wait after the 5th runs).
    const again = await loginBurst(burst, () => 'victim@example.com', () => '198.51.100.7');
    expect(tally(again)).toEqual({ 429: burst });
  }, 60_000);

  it('sprayed over 150 addresses from one source: the 20 free ones of the source, no more', async () => {
    const statuses = await loginBurst(burst, (i) => `spray${i}@example.com`, () => '198.51.100.8');
    expect(tally(statuses)).toEqual({ 401: 20, 429: burst - 20 });
  }, 60_000);

  it('sprayed from 150 IPv6 addresses of one /64: still one source', async () => {
    const statuses = await loginBurst(burst, (i) => `v6spray${i}@example.com`, (i) => `2001:db8:aa:bb:${i.toString(16)}::${i + 1}`);
    expect(tally(statuses)).toEqual({ 401: 20, 429: burst - 20 });
    // Another /64 is another source.
    const other = await loginBurst(3, (i) => `v6other${i}@example.com`, () => '2001:db8:aa:bc::1');
    expect(tally(other)).toEqual({ 401: 3 });
  }, 60_000);
});

describe('a burst of wrong client secrets from one source', () => {
  it('gets exactly the 10 free failures evaluated', async () => {
    const machine = await gatehouse.addClient({ name: 'Worker', grantTypes: ['client_credentials'], redirectUris: [] });
    const responses = await Promise.all(Array.from({ length: burst }, (_, i) => fetch(`${gatehouse.url}/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(machine.clientId, `guess-${i}`), 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '198.51.100.9' },
      body: 'grant_type=client_credentials',
    })));
    expect(tally(responses.map((response) => response.status))).toEqual({ 401: 10, 429: burst - 10 });
  }, 60_000);
});

describe('a busy client that is right every time', () => {
  it('is never told to slow down: 60 concurrent token requests from one source all succeed', async () => {
    // JWT access tokens signed RS256: signing is asynchronous, so many requests are in flight at once.
    await gatehouse.addApi({ identifier: 'https://busy.example.test', scopes: ['jobs:run'], signingAlg: 'RS256' });
    const machine = await gatehouse.addClient({ name: 'Busy worker', grantTypes: ['client_credentials'], redirectUris: [] });
    const responses = await Promise.all(Array.from({ length: 60 }, () => fetch(`${gatehouse.url}/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(machine.clientId, machine.clientSecret!), 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': '198.51.100.11' },
      body: 'grant_type=client_credentials&scope=jobs%3Arun&resource=https%3A%2F%2Fbusy.example.test',
    })));
    expect(tally(responses.map((response) => response.status))).toEqual({ 200: 60 });
  }, 60_000);

  it('nor is an office behind one address where 30 people sign in at once', async () => {
    const people = Array.from({ length: 30 }, (_, i) => ({ email: `office${i}@example.com`, password: `office person ${i} has a passphrase` }));
    for (const person of people) await gatehouse.addUser(person.email, person.password);
    const ua = new UserAgent(gatehouse.url);
    const forms = await Promise.all(people.map(async () => formOf(await ua.page(await loginUrl()), '/login')));
    const responses = await Promise.all(people.map((person, i) => {
      const body = new URLSearchParams(forms[i]!.hidden);
      body.set('email', person.email);
      body.set('password', person.password);
      return ua.request(forms[i]!.action, { method: 'POST', body, headers: { 'x-forwarded-for': '198.51.100.12' } });
    }));
    // Each right password is followed by a redirect onwards (303), never a 429.
    expect(tally(responses.map((response) => response.status))).toEqual({ 303: 30 });
  }, 60_000);
});

describe('a burst of password reset requests from one source', () => {
  it('gets exactly the 10 an hour allows', async () => {
    const ua = new UserAgent(gatehouse.url);
    const login = await ua.page(await loginUrl());
    const link = login.document.querySelector('a[href*="forgot-password"]')?.getAttribute('href');
    const page = await ua.page(new URL(link!, login.url).href);
    const { action, hidden } = formOf(page, 'forgot-password');
    const responses = await Promise.all(Array.from({ length: burst }, (_, i) => {
      const body = new URLSearchParams(hidden);
      body.set('email', `reset${i}@example.com`);
      return ua.request(action, { method: 'POST', body, headers: { 'x-forwarded-for': '198.51.100.10' } });
    }));
    expect(tally(responses.map((response) => response.status))).toEqual({ 200: 10, 429: burst - 10 });
  }, 60_000);
});

describe('a burst of wrong second-factor codes', () => {
  it('gets exactly the 5 free tries evaluated (compare-and-set reservations on the store)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-mfa-race-'));
    const store = openSqliteStore(join(dir, 'race.db'));
    try {
      const { activateEnrollment, beginEnrollment, verifySecondFactor } = await import('../../src/libraries/second-factor.ts');
      const { totp } = await import('../helpers/totp.ts');
      const key = Buffer.alloc(32, 7);
      const deps = { store, keyEncryptionKey: key };
      const { secret } = await beginEnrollment(deps, { id: 'acct-race', email: 'race@example.com' });
      expect((await activateEnrollment(deps, 'acct-race', totp(secret))).ok).toBe(true);
      const verdicts = await Promise.all(Array.from({ length: burst }, () => verifySecondFactor(deps, 'acct-race', '000000')));
      const evaluated = verdicts.filter((verdict) => !verdict.ok && verdict.reason !== 'wait').length;
      expect(evaluated).toBe(5);
      expect((await store.secondFactors.find('acct-race'))?.failedAttempts).toBe(5);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('the limits on the store under a burst (library level)', () => {
  it('counts a burst of registrations and email codes exactly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-race-'));
    const store = openSqliteStore(join(dir, 'race.db'));
    try {
      const limits = createAbuseLimits(store.rateLimits, defaults);
      const registrations = await Promise.all(Array.from({ length: burst }, () => limits.registration('2001:db8::1')));
      expect(registrations.filter((verdict) => verdict.ok)).toHaveLength(defaults.registrationsPerHour);
      const codes = await Promise.all(Array.from({ length: burst }, () => limits.emailCode('ada@example.com')));
      expect(codes.filter((verdict) => verdict.ok)).toHaveLength(defaults.emailCodesPerHour);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
