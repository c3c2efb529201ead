import { statSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Config } from '../../src/config/load-config.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { createAbuseLimits } from '../../src/limits/abuse-limits.ts';
import { checkPassword } from '../../src/libraries/passwords.ts';
import { formOf } from '../helpers/attacker.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

/**
 * Work an anonymous (or barely authenticated) attacker could make unbounded: disk through stored
 * authorization requests, CPU through the password strength check, guesses through the account
 * page's current-password field.
 */

const authorizationLimit = 100;
let gatehouse: TestGatehouse;
let rp: Awaited<ReturnType<typeof relyingParty>>;

beforeAll(async () => {
  gatehouse = await startGatehouse({
    // Production hashing: how long a password check takes is the window the concurrent guesses would use.
    passwordHashing: 'production',
    env: { TRUST_PROXY: 'true' },
    adjust: (config: Config) => ({ ...config, limits: { ...config.limits, authorizationRequests: { count: authorizationLimit, seconds: 300 } } }),
  });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ firstParty: true }));
}, 30_000);
afterAll(() => gatehouse?.stop());

const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((counts, status) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});
const databaseBytes = (names = ['gatehouse.db', 'gatehouse.db-wal']) => names.reduce((sum, name) => {
  try {
    return sum + statSync(join(gatehouse.dir, name)).size;
  } catch {
    return sum;
  }
}, 0);
const page = (result: Page | { redirectedTo: string }): Page => {
  if (!isPage(result)) throw new Error(`expected a page, was redirected to ${result.redirectedTo}`);
  return result;
};

describe('a flood of authorization requests', () => {
  it('refuses oversized parameters with a clear 400 and stores nothing for them', async () => {
    const { url } = await authorizationRequest(rp, { state: 's'.repeat(3000) });
    const response = await fetch(url, { redirect: 'manual', headers: { 'x-forwarded-for': '203.0.113.1' } });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('state is too long');
    const { url: huge } = await authorizationRequest(rp, { login_hint: 'a'.repeat(400) });
    expect((await fetch(huge, { redirect: 'manual', headers: { 'x-forwarded-for': '203.0.113.1' } })).status).toBe(400);
  });

  it('counts them per source: a burst of 2,000 from one source stores at most the allowed number', async () => {
    const { url } = await authorizationRequest(rp, { state: 's'.repeat(1000) });
    const grown = databaseBytes();
    const grownFile = databaseBytes(['gatehouse.db']);
    const statuses: number[] = [];
    for (let wave = 0; wave < 10; wave += 1) {
      const responses = await Promise.all(Array.from({ length: 200 }, () => fetch(url, { redirect: 'manual', headers: { 'x-forwarded-for': '203.0.113.2' } })));
      for (const response of responses) {
        statuses.push(response.status);
        if (response.status === 429) expect(response.headers.get('retry-after')).toMatch(/^\d+$/);
        await response.arrayBuffer();
      }
    }
    const counts = tally(statuses);
    expect(counts[429]).toBe(2000 - authorizationLimit);
    expect(2000 - (counts[429] ?? 0)).toBe(authorizationLimit);
    const growth = databaseBytes() - grown;
    // 100 stored interactions of ~2 KB each, not 2,000; refused requests write nothing.
    console.log(`growth for 2,000 authorization requests: database and WAL ${(growth / 1024).toFixed(0)} KiB, database file ${((databaseBytes(['gatehouse.db']) - grownFile) / 1024).toFixed(0)} KiB`);
    expect(growth).toBeLessThan(3_000_000);
    // Another source is not affected.
    expect((await fetch(url, { redirect: 'manual', headers: { 'x-forwarded-for': '203.0.113.3' } })).status).not.toBe(429);
  }, 120_000);
});

describe('the account page password form', () => {
  const owner = { email: 'owner@example.com', password: 'the owner keeps a long passphrase' };
  let ua: UserAgent;
  let account: Page;

  beforeAll(async () => {
    await gatehouse.addUser(owner.email, owner.password);
    ua = new UserAgent(gatehouse.url);
    let current = page(await ua.navigate(`${gatehouse.url}/account`));
    current = page(await ua.submit(current, '/login', owner));
    account = current;
  }, 30_000);

  it('counts a wrong current password as a password failure: 200 concurrent guesses get 5 evaluated', async () => {
    const { action, hidden } = formOf(account, '/account/password');
    const responses = await Promise.all(Array.from({ length: 200 }, (_, i) => {
      const body = new URLSearchParams(hidden);
      body.set('current_password', `guess number ${i}`);
      body.set('new_password', 'violet harbor crimson falcon');
      return ua.request(action, { method: 'POST', body });
    }));
    const statuses = responses.map((response) => response.status);
    // 10 forms an hour per account; of those, the 5 free password failures are evaluated.
    expect(tally(statuses)).toEqual({ 400: 5, 429: 195 });
    // The same counters as the login page: the address now waits there too.
    const limits = createAbuseLimits(gatehouse.store.rateLimits, loadConfig({}).limits);
    expect(await limits.beforePassword(owner.email, '203.0.113.99')).toMatchObject({ ok: false, reason: 'slow_down' });
    const stored = (await gatehouse.store.accounts.findByEmail(owner.email))!;
    expect((await checkPassword(stored.passwordHash, owner.password)).valid).toBe(true);
  }, 60_000);
});

describe('the password strength check', () => {
  it('runs off the main thread: /healthz stays fast while many long passwords are checked', async () => {
    const { checkPasswordPolicyAsync } = await import('../../src/libraries/password-policy.ts');
    const hard = '!@#$%^&*()_+-=[]{}|;:,.<>?/~`'.repeat(4);
    const checks = Promise.all(Array.from({ length: 40 }, (_, i) => checkPasswordPolicyAsync(`${hard}${i}`, {})));
    const latencies: number[] = [];
    for (let probe = 0; probe < 10; probe += 1) {
      const started = performance.now();
      expect((await fetch(`${gatehouse.url}/healthz`)).status).toBe(200);
      latencies.push(performance.now() - started);
    }
    await checks;
    console.log(`/healthz latency during 40 checks: max ${Math.max(...latencies).toFixed(1)} ms`);
    expect(Math.max(...latencies)).toBeLessThan(150);
  }, 60_000);
});
