import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../../src/cli/main.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { codeIn, startMailSink } from '../helpers/mail-sink.ts';
import type { MailSink } from '../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { asPage, isPage, linkTo, UserAgent } from '../helpers/user-agent.ts';

/**
 * Issue 13, item 3: mail an attacker cannot suppress. Registration attempts with someone's address
 * neither use up the mail she asks for herself nor void her pending code, and what is dropped is
 * logged and counted.
 */

const password = 'correct horse battery staple';

let gatehouse: TestGatehouse;
let sink: MailSink;
let rp: client.Configuration;

beforeAll(async () => {
  sink = await startMailSink();
  gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url } });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ firstParty: true }));
});
afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

async function register(email: string, ua = new UserAgent(gatehouse.url)): Promise<{ ua: UserAgent; page: Page; request: Awaited<ReturnType<typeof authorizationRequest>> }> {
  const request = await authorizationRequest(rp);
  const login = await ua.page(request.url.href);
  const form = await ua.page(linkTo(login, 'Create account'));
  const page = asPage(await ua.submit(form, '/register', { email, password: `${password} ${email}` }));
  expect(page.document.querySelector('h1')?.text).toBe('Check your email');
  return { ua, page, request };
}

async function requestReset(email: string): Promise<void> {
  const ua = new UserAgent(gatehouse.url);
  const login = await ua.page((await authorizationRequest(rp)).url.href);
  const forgot = await ua.page(linkTo(login, 'Forgot password'));
  expect(asPage(await ua.submit(forgot, '/forgot-password', { email })).status).toBe(200);
}

async function mailStatus(): Promise<{ dropped: number; recent_drops: Array<{ kind: string; reason: string; count: number }> }> {
  let stdout = '';
  const code = await runCli(['mail', 'status', '--json'], { env: gatehouse.env, stdout: (text) => (stdout += text), stderr: () => undefined });
  expect(code).toBe(0);
  return JSON.parse(stdout) as { dropped: number; recent_drops: Array<{ kind: string; reason: string; count: number }> };
}

describe('registration attempts with someone else\'s address', () => {
  it('coalesce into one notice, never starve the reset mail she asks for, and the drops are counted', async () => {
    const owner = 'flooded.owner@example.com';
    await gatehouse.addUser(owner, password);
    // Twelve attempts, more than the whole per-recipient budget.
    for (let attempt = 0; attempt < 12; attempt += 1) await register(owner);
    await gatehouse.deliverMail();

    await requestReset(owner);
    const reset = await sink.waitFor((mail) => mail.to === owner && /reset/i.test(mail.subject));
    expect(reset.text).toContain('/reset-password/');
    const notices = sink.to(owner).filter((mail) => /tried to create an account/.test(mail.subject));
    expect(notices).toHaveLength(1);

    const status = await mailStatus();
    expect(status.dropped).toBeGreaterThanOrEqual(11);
    expect(status.recent_drops).toContainEqual(expect.objectContaining({ kind: 'registration-attempt', reason: 'coalesced', count: 11 }));
  });

  it('never void the owner\'s own pending verification code', async () => {
    const email = 'pending.owner@example.com';
    const owner = await register(email);
    const code = codeIn(await sink.waitFor((mail) => mail.to === email && /confirm/i.test(mail.subject)));
    // Someone registers the same (now taken) address meanwhile.
    await register(email);

    const done = await owner.ua.submit(owner.page, '/verify-email', { code });
    if (isPage(done)) throw new Error(`the owner's code was refused: ${done.document.querySelector('[role=alert]')?.text ?? done.status}`);
    expect(new URL(done.redirectedTo).searchParams.get('code')).toBeTruthy();
  });
});
