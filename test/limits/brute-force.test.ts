import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Config } from '../../src/config/load-config.ts';
import { movableClock } from '../helpers/clock.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

/** A scripted attacker against the real login page, with delays short enough to wait out. */

const victim = { email: 'victim@example.com', password: 'the victim keeps a long passphrase' };
const guesses = ['123456', 'password', 'qwerty', 'letmein', 'dragon', 'monkey', 'football', 'iloveyou', 'admin', 'welcome', 'sunshine', 'princess'];

let gatehouse: TestGatehouse;
let loginUrl: () => Promise<string>;
// The delays are waited out on the server's clock, moved forward, rather than in real time.
const clock = movableClock();

beforeAll(async () => {
  gatehouse = await startGatehouse({
    clock,
    adjust: (config: Config) => ({
      ...config,
      limits: { ...config.limits, password: { ...config.limits.password, maxConsecutiveFailures: 12, account: { freeFailures: 5, firstDelaySeconds: 1, maxDelaySeconds: 2 } } },
    }),
  });
  await gatehouse.addUser(victim.email, victim.password);
  const rp = await relyingParty(gatehouse, await gatehouse.addClient({ firstParty: true }));
  loginUrl = async () => (await authorizationRequest(rp)).url.href;
});
afterAll(() => gatehouse?.stop());

type Outcome = { status: number; retryAfter: string | null; alert: string; signedIn: boolean };

async function attempt(ua: UserAgent, email: string, password: string): Promise<Outcome> {
  const login = await ua.page(await loginUrl());
  const result = await ua.submit(login, '/login', { email, password });
  if (!isPage(result)) return { status: 303, retryAfter: null, alert: '', signedIn: true };
  const page: Page = result;
  return { status: page.status, retryAfter: page.headers.get('retry-after'), alert: page.document.querySelector('[role=alert]')?.text.trim() ?? '', signedIn: false };
}

describe('a client secret guesser', () => {
  it('gets JSON 429s with Retry-After after the free failures, and the real client still works after the wait', async () => {
    const limitedClock = movableClock();
    const limited = await startGatehouse({
      clock: limitedClock,
      adjust: (config: Config) => ({ ...config, limits: { ...config.limits, clientAuthentication: { freeFailures: 3, firstDelaySeconds: 1, maxDelaySeconds: 1 } } }),
    });
    try {
      const machine = await limited.addClient({ name: 'Worker', grantTypes: ['client_credentials'], redirectUris: [] });
      const tokenRequest = (secret: string) => fetch(`${limited.url}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${machine.clientId}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      const statuses: number[] = [];
      for (let guess = 0; guess < 5; guess += 1) statuses.push((await tokenRequest(`guess-${guess}`)).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      const refused = await tokenRequest(machine.clientSecret!);
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(await refused.json()).toMatchObject({ error: 'slow_down' });
      limitedClock.advance(1_100);
      const granted = await tokenRequest(machine.clientSecret!);
      expect(granted.status).toBe(200);
      expect(await granted.json()).toHaveProperty('access_token');
    } finally {
      await limited.stop();
    }
  });
});

describe('a scripted password guesser', () => {
  it('is slowed after 5 failures, never gets in, and the owner still can after the delay', async () => {
    const attacker = new UserAgent(gatehouse.url);
    const outcomes: Outcome[] = [];
    // Hammering without waiting: after the free failures, every try is refused before the password is checked.
    for (const guess of guesses.slice(0, 8)) outcomes.push(await attempt(attacker, victim.email, guess));
    expect(outcomes.map((outcome) => outcome.status)).toEqual([401, 401, 401, 401, 401, 429, 429, 429]);
    expect(outcomes[5]).toMatchObject({ retryAfter: '1', alert: 'Too many attempts. Wait 1 second, then try again.' });
    expect(outcomes.some((outcome) => outcome.signedIn)).toBe(false);

    // Even the right password waits for the delay…
    expect((await attempt(new UserAgent(gatehouse.url), victim.email, victim.password)).status).toBe(429);
    // …and once it is over, the owner signs in (which resets the count).
    clock.advance(1_100);
    expect((await attempt(new UserAgent(gatehouse.url), victim.email, victim.password)).signedIn).toBe(true);
    expect((await attempt(attacker, victim.email, 'abc123')).status).toBe(401);
  });

  it('answers an address without an account exactly the same way', async () => {
    const attacker = new UserAgent(gatehouse.url);
    const outcomes: Outcome[] = [];
    for (const guess of guesses.slice(0, 7)) outcomes.push(await attempt(attacker, 'nobody@example.com', guess));
    expect(outcomes.map(({ status, retryAfter, alert }) => ({ status, retryAfter, alert }))).toEqual([
      ...Array.from({ length: 5 }, () => ({ status: 401, retryAfter: null, alert: 'Incorrect email or password.' })),
      ...Array.from({ length: 2 }, () => ({ status: 429, retryAfter: '1', alert: 'Too many attempts. Wait 1 second, then try again.' })),
    ]);
  });

  it('a patient attacker who waits out every delay is stopped for good at the consecutive-failure limit', async () => {
    await gatehouse.addUser('patient.target@example.com', victim.password);
    const attacker = new UserAgent(gatehouse.url);
    let failures = 0;
    for (const guess of guesses) {
      let outcome = await attempt(attacker, 'patient.target@example.com', guess);
      while (outcome.status === 429 && !/Forgot password/.test(outcome.alert)) {
        clock.advance(Number(outcome.retryAfter) * 1000 + 50);
        outcome = await attempt(attacker, 'patient.target@example.com', guess);
      }
      if (outcome.status === 401) failures += 1;
      expect(outcome.signedIn).toBe(false);
    }
    expect(failures).toBe(12);
    // Locked now, even for the right password and after the delays: a reset unlocks it.
    clock.advance(2_100);
    const locked = await attempt(new UserAgent(gatehouse.url), 'patient.target@example.com', victim.password);
    expect(locked).toMatchObject({ status: 429, signedIn: false });
    expect(locked.alert).toMatch(/Forgot password/);
    const trail = await gatehouse.store.audit.tail({ limit: 100 });
    expect(trail.filter((event) => event.type === 'login_failed' && event.details.reason === 'locked').length).toBeGreaterThan(0);
    expect(JSON.stringify(trail)).not.toContain(victim.password);
  }, 60_000);
});
