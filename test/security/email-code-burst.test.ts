import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { codeIn, startMailSink } from '../helpers/mail-sink.ts';
import type { MailSink } from '../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { asPage, UserAgent, alertOf } from '../helpers/user-agent.ts';

/**
 * Issue 13, item 2 (email codes): each typed code reserves its try before it is judged, so a burst
 * of concurrent guesses gets no more evaluations than the tries a code allows (5), not one per
 * request that arrived before the first failure was written.
 */

let gatehouse: TestGatehouse;
let sink: MailSink;

beforeAll(async () => {
  sink = await startMailSink();
  // Production hashing and limits: failed code checks are padded like failed passwords; the burst races them.
  gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url }, passwordHashing: 'production' });
});
afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

describe('a burst of guessed email codes', () => {
  it('gets exactly the 5 tries a code allows evaluated, and the right code is refused after them', async () => {
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ firstParty: true }));
    const ua = new UserAgent(gatehouse.url);
    const login = await ua.page((await authorizationRequest(rp)).url.href);
    const createLink = login.document.querySelectorAll('a').find((anchor) => anchor.text.includes('Create account'))!;
    const form = await ua.page(new URL(createLink.getAttribute('href')!, login.url).href);
    const page = asPage(await ua.submit(form, '/register', { email: 'burst@example.com', password: 'correct horse battery staple' }));
    const code = codeIn(await sink.waitFor((mail) => mail.to === 'burst@example.com'));
    const wrong = code === '000000' ? '111111' : '000000';

    const answers = await Promise.all(Array.from({ length: 25 }, () => ua.submit(page, '/verify-email', { code: wrong }).then(asPage)));
    const alerts = answers.map((answer) => alertOf(answer));
    const evaluated = alerts.filter((alert) => /not right/.test(alert));
    expect(evaluated).toHaveLength(5);
    expect(alerts.filter((alert) => /Too many wrong codes/.test(alert))).toHaveLength(20);
    expect(answers.every((answer) => answer.status === 400)).toBe(true);

    const account = await gatehouse.store.accounts.findByEmail('burst@example.com');
    const record = await gatehouse.store.codes.latest('burst@example.com', 'verify_email', account!.id);
    expect(record!.attempts).toBeGreaterThanOrEqual(5);
    const late = asPage(await ua.submit(page, '/verify-email', { code }));
    expect(alertOf(late)).toMatch(/Too many wrong codes/);
    expect((await gatehouse.store.accounts.findByEmail('burst@example.com'))?.emailVerified).toBe(false);
  });
});
