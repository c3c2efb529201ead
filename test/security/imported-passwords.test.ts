import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Config } from '../../src/config/load-config.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { runCli } from '../helpers/run-cli.ts';
import type { Page } from '../helpers/user-agent.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

/**
 * Imported password hashes, against the real server and the real `gatehouse users import`: a failed
 * sign-in answers after the same time whatever the account (imported bcrypt, our argon2, none), a
 * costly bcrypt verification does not hold up the rest of the server, and import refuses hashes
 * costlier than the configured limits.
 */

const bcryptUser = { email: 'imported.bcrypt@example.com', password: 'an old password from the other app' };
const argon2User = { email: 'native.argon2@example.com', password: 'a password chosen here, on Gatehouse' };
const unknown = 'nobody.here@example.com';
const slowUser = { email: 'slow.bcrypt@example.com', password: 'a password under a far too costly hash' };

let gatehouse: TestGatehouse;
let loginUrl: () => Promise<string>;
let importRun: Awaited<ReturnType<typeof runCli>>;

beforeAll(async () => {
  gatehouse = await startGatehouse({
    // Production hashing and limits: the subject is their cost and the time a failed sign-in takes.
    passwordHashing: 'production',
    // Every attempt here is a failure on purpose: the per-address delays would otherwise cut in.
    adjust: (config: Config) => ({
      ...config,
      limits: { ...config.limits, password: { ...config.limits.password, account: { ...config.limits.password.account, freeFailures: 1_000_000 } } },
    }),
  });
  await gatehouse.addUser(argon2User.email, argon2User.password);
  const rp = await relyingParty(gatehouse, await gatehouse.addClient({ firstParty: true }));
  loginUrl = async () => (await authorizationRequest(rp)).url.href;

  // Hashes as another app stored them: bcrypt at cost 12 (accepted by default), cost 13 (above the
  // default limit) and argon2id with 256 MiB of memory (above the default limit of 64 MiB).
  const [cost12, cost13, bigArgon2] = await Promise.all([
    bcrypt.hash(bcryptUser.password, 12),
    bcrypt.hash('another old password', 13),
    argon2.hash('yet another old password', { type: argon2.argon2id, memoryCost: 262_144, timeCost: 1, parallelism: 1 }),
  ]);
  const file = join(gatehouse.dir, 'users.jsonl');
  writeFileSync(file, `${[
    { email: bcryptUser.email, email_verified: true, password_hash: cost12 },
    { email: 'too.costly@example.com', email_verified: true, password_hash: cost13 },
    { email: 'too.big@example.com', email_verified: true, password_hash: bigArgon2 },
  ].map((row) => JSON.stringify(row)).join('\n')}\n`);
  importRun = await runCli(['users', 'import', file], { env: gatehouse.env });
});
afterAll(() => gatehouse?.stop());

type Attempt = { status: number; alert: string; signedIn: boolean; ms: number };

/** One sign-in through the real pages; `ms` is the time the password form took to answer. */
async function attempt(email: string, password: string): Promise<Attempt> {
  const ua = new UserAgent(gatehouse.url);
  const login = await ua.page(await loginUrl());
  const started = performance.now();
  const result = await ua.submit(login, '/login', { email, password });
  const ms = performance.now() - started;
  if (!isPage(result)) return { status: 303, alert: '', signedIn: true, ms };
  const page: Page = result;
  return { status: page.status, alert: page.document.querySelector('[role=alert]')?.text.trim() ?? '', signedIn: false, ms };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

describe('users import', () => {
  it('refuses hashes costlier than the limits, one clear line each, and imports the rest', () => {
    expect(importRun.code, importRun.stderr).toBe(1);
    expect(importRun.stdout.trimEnd().split('\n')).toEqual([
      'imported 1, unchanged 0, 2 errors, 0 duplicates',
      'line 2: password_hash: has a bcrypt cost of 13, above the limit of 12 (passwords.bcryptMaxCost)',
      expect.stringMatching(/^line 3: password_hash: has argon2 parameters above the limits: memory 262144 KiB \(at most 65536, passwords\.argon2Max\.memoryKiB\)/),
    ]);
  });
});

describe('a failed sign-in', () => {
  it('takes the same time for an imported bcrypt account, an argon2 account and an unknown address', async () => {
    const kinds = { bcrypt: bcryptUser.email, argon2: argon2User.email, unknown } as const;
    // The first failure may wait for one-off work (a dummy hash, a measurement): not counted.
    for (const email of Object.values(kinds)) await attempt(email, 'a wrong password');
    const times: Record<keyof typeof kinds, number[]> = { bcrypt: [], argon2: [], unknown: [] };
    for (let round = 0; round < 9; round += 1) {
      // Interleaved, in an order that changes each round, so that a slow spell of the machine
      // falls on every kind alike.
      const order = (Object.keys(kinds) as (keyof typeof kinds)[]).map((_kind, index, all) => all[(index + round) % all.length]!);
      for (const kind of order) {
        const outcome = await attempt(kinds[kind], `wrong guess ${round}`);
        expect(outcome).toMatchObject({ status: 401, alert: 'Incorrect email or password.', signedIn: false });
        times[kind].push(outcome.ms);
      }
    }
    const medians = Object.fromEntries(Object.entries(times).map(([kind, ms]) => [kind, Math.round(median(ms))]));
    const [fastest, slowest] = [Math.min(...Object.values(medians)), Math.max(...Object.values(medians))];
    // Before, an imported cost-12 bcrypt account answered some 10 times slower than an unknown
    // address. The allowance is loose (the machine is shared): within half again, or 100 ms.
    expect(slowest < fastest * 1.5 || slowest - fastest < 100, `median answer times in ms: ${JSON.stringify(medians)}`).toBe(true);

    // The owner still signs in, and is moved to argon2id on the way.
    expect((await attempt(bcryptUser.email, bcryptUser.password)).signedIn).toBe(true);
    expect((await gatehouse.store.accounts.findByEmail(bcryptUser.email))!.passwordHash).toMatch(/^\$argon2id\$/);
  });

  it('for a costly bcrypt hash does not hold up the rest of the server', async () => {
    // A hash costlier than import accepts, as an older import may have left in the store: checks
    // against it are slow, but only for whoever waits for them.
    await gatehouse.store.accounts.create({
      id: 'slow-account', email: slowUser.email, passwordHash: await bcrypt.hash(slowUser.password, 13),
      emailVerified: true, profile: {}, roles: [], disabled: false,
    });
    const ready = await Promise.all(Array.from({ length: 8 }, async () => {
      const ua = new UserAgent(gatehouse.url);
      return { ua, login: await ua.page(await loginUrl()) };
    }));
    let running = true;
    const attempts = Promise.all(ready.map(({ ua, login }) => ua.submit(login, '/login', { email: slowUser.email, password: 'not it' }))).finally(() => {
      running = false;
    });
    const healthTimes: number[] = [];
    while (running) {
      const started = performance.now();
      const response = await fetch(`${gatehouse.url}/healthz`);
      await response.arrayBuffer();
      healthTimes.push(performance.now() - started);
      expect(response.status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const answers = await attempts;
    expect(answers.every((answer) => isPage(answer) && answer.status === 401)).toBe(true);
    // Before, eight such checks on the event loop (bcryptjs) held every other request up for a second or two.
    expect(Math.max(...healthTimes), `/healthz answer times in ms: ${healthTimes.map(Math.round).join(', ')}`).toBeLessThan(500);
  });
});
