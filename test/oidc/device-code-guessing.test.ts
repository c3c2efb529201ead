import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Config } from '../../src/config/load-config.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { movableClock } from '../helpers/clock.ts';
import { formOf } from '../helpers/attacker.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { relyingParty } from '../helpers/relying-party.ts';
import { alertOf, asPage, UserAgent } from '../helpers/user-agent.ts';

/**
 * Guessing user codes at /device: a burst of wrong codes from one source, all at once over real
 * HTTP, is held to the free failures of a source (the password delays per source), the rest
 * answered 429 with the wait; another source is not affected, and a right code is never counted.
 */

const defaults = loadConfig({}).limits;
const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code';
const burst = 40;
const clock = movableClock();
let gatehouse: TestGatehouse;
let rp: client.Configuration;

beforeAll(async () => {
  gatehouse = await startGatehouse({
    clock,
    env: { TRUST_PROXY: 'true' },
    // The real per-source delays (the helper relaxes them for other tests).
    adjust: (config: Config) => ({ ...config, limits: { ...config.limits, password: defaults.password } }),
  });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'TV app', public: true, redirectUris: [], postLogoutRedirectUris: [], grantTypes: [deviceGrant] }));
});
afterAll(() => gatehouse?.stop());

/** `count` people each open the code page, then all post their code at once from `from`. */
async function codeBurst(count: number, code: (i: number) => string, from: string): Promise<{ status: number; alert: string }[]> {
  const agents = Array.from({ length: count }, () => new UserAgent(gatehouse.url));
  const forms = await Promise.all(agents.map(async (ua) => formOf(asPage(await ua.navigate(`${gatehouse.url}/device`, { headers: { 'x-forwarded-for': from } })), '/device')));
  return Promise.all(agents.map(async (ua, i) => {
    const body = new URLSearchParams(forms[i]!.hidden);
    body.set('user_code', code(i));
    const page = asPage(await ua.navigate(forms[i]!.action, { method: 'POST', body, headers: { 'x-forwarded-for': from } }));
    // The wait is about the form (an alert); a wrong code, about the field (its problem).
    return { status: page.status, alert: alertOf(page) || (page.document.querySelector('#user_code-error')?.text.trim() ?? '') };
  }));
}

const tally = (answers: { status: number }[]) => answers.reduce<Record<number, number>>((counts, { status }) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});

/** Wrong codes that cannot be right: base-20 letters never include vowels. */
const wrong = (i: number) => `AAAA-${String(i).padStart(4, '0')}`;

describe('guessing device user codes', () => {
  it('a concurrent burst of wrong codes from one source: exactly the 20 free ones are looked up, the rest wait', async () => {
    const answers = await codeBurst(burst, wrong, '198.51.100.20');
    expect(tally(answers)).toEqual({ 400: 20, 429: burst - 20 });
    expect(answers.find((answer) => answer.status === 429)!.alert).toMatch(/^Too many wrong codes from your network\. Wait \d+ seconds?, then try again\.$/);
    expect(answers.find((answer) => answer.status === 400)!.alert).toContain('not right');

    // Even the right code waits now, from this source; another source types it fine.
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid' });
    expect(tally(await codeBurst(1, () => device.user_code, '198.51.100.20'))).toEqual({ 429: 1 });
    const elsewhere = await codeBurst(1, () => device.user_code, '203.0.113.9');
    expect(elsewhere).toEqual([{ status: 200, alert: '' }]);
  }, 60_000);

  it('after the wait, one more try; a right code is not counted as a failure', async () => {
    clock.advance(3_000);
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid' });
    expect(await codeBurst(1, () => device.user_code, '198.51.100.20')).toEqual([{ status: 200, alert: '' }]);
    const failures = () => gatehouse.store.rateLimits.get('user-code-source-failures:198.51.100.20', clock());
    expect((await failures())?.points).toBe(20);
    // The right code gave its attempt back (the gate it held runs out, at least 10 s: delay-limit.ts):
    // the next wrong one is the one try after the wait…
    clock.advance(11_000);
    expect(tally(await codeBurst(1, wrong, '198.51.100.20'))).toEqual({ 400: 1 });
    expect((await failures())?.points).toBe(21);
    // …and then the source waits again (longer).
    expect(tally(await codeBurst(1, wrong, '198.51.100.20'))).toEqual({ 429: 1 });
  }, 60_000);
});
