import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Config } from '../../src/config/load-config.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { codeIn, startMailSink } from '../helpers/mail-sink.ts';
import type { MailSink } from '../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { alertOf, asPage, isPage, UserAgent } from '../helpers/user-agent.ts';

/**
 * Issue 13, item 2: a lock from failed passwords is not something an anonymous attacker can cause
 * to a real user. The attacker locks the address from his source; the owner, from another source,
 * with the right password, still gets in through a code mailed to her; the attacker stays stopped,
 * and from a fresh source learns nothing (the same page whatever the password).
 */

const owner = { email: 'locked.owner@example.com', password: 'the owner keeps a long passphrase' };
const guesses = ['123456', 'password', 'qwerty', 'letmein', 'dragon', 'monkey', 'football'];

/** A browser behind its own address (the server trusts X-Forwarded-For, as behind a proxy). */
class BrowserAt extends UserAgent {
  readonly address: string;

  constructor(origin: string, address: string) {
    super(origin);
    this.address = address;
  }

  override request(url: string, init: Parameters<UserAgent['request']>[1] = {}): Promise<Response> {
    return super.request(url, { ...init, headers: { ...init.headers, 'x-forwarded-for': this.address } });
  }
}

let gatehouse: TestGatehouse;
let sink: MailSink;
let rp: client.Configuration;

beforeAll(async () => {
  sink = await startMailSink();
  gatehouse = await startGatehouse({
    env: { SMTP_URL: sink.url, TRUST_PROXY: 'true' },
    // Locked after 6 consecutive failures, with no waits before: the attacker gets there at once.
    adjust: (config: Config) => ({
      ...config,
      limits: { ...config.limits, password: { ...config.limits.password, maxConsecutiveFailures: 6, account: { freeFailures: 6, firstDelaySeconds: 1, maxDelaySeconds: 1 } } },
    }),
  });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ firstParty: true }));
  await gatehouse.addUser(owner.email, owner.password);
});
afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

async function signIn(ua: UserAgent, email: string, password: string): Promise<Page | { redirectedTo: string }> {
  const login = await ua.page((await authorizationRequest(rp)).url.href);
  return ua.submit(login, '/login', { email, password });
}

const codeMails = () => sink.to(owner.email).filter((mail) => mail.subject === 'Your sign-in code');

describe('an address locked by failed sign-ins from one source', () => {
  it('still lets its owner in from another source, with the right password and a mailed code', async () => {
    const attacker = new BrowserAt(gatehouse.url, '203.0.113.7');
    for (const guess of guesses.slice(0, 6)) expect(asPage(await signIn(attacker, owner.email, guess)).status).toBe(401);
    // Locked for the attacker's source, even with the right password.
    const locked = asPage(await signIn(attacker, owner.email, owner.password));
    expect(locked.status).toBe(429);
    expect(alertOf(locked)).toMatch(/Forgot password/);

    const ownerBrowser = new BrowserAt(gatehouse.url, '198.51.100.20');
    const codePage = asPage(await signIn(ownerBrowser, owner.email, owner.password));
    expect(codePage.status).toBe(200);
    expect(codePage.document.querySelector('h1')?.text).toBe("Confirm it's you");
    const mail = await sink.waitFor((each) => each.to === owner.email && each.subject === 'Your sign-in code');
    const done = await ownerBrowser.submit(codePage, '/sign-in-code', { code: codeIn(mail) });
    if (isPage(done)) throw new Error(`the owner was not signed in: ${done.status} ${alertOf(done)}`);
    expect(new URL(done.redirectedTo).searchParams.get('code')).toBeTruthy();

    // The attacker's own source is still stopped.
    expect(asPage(await signIn(attacker, owner.email, guesses[6]!)).status).toBe(429);
  });

  it('answers a wrong password from a fresh source with the same page, and mails nothing', async () => {
    const mailsBefore = codeMails().length;
    const roaming = new BrowserAt(gatehouse.url, '192.0.2.99');
    const wrong = asPage(await signIn(roaming, owner.email, 'not the password at all'));
    const right = asPage(await signIn(new BrowserAt(gatehouse.url, '192.0.2.100'), owner.email, owner.password));
    const unknown = asPage(await signIn(new BrowserAt(gatehouse.url, '192.0.2.101'), 'nobody.here@example.com', 'not the password at all'));
    // Unknown addresses are not locked, so they get the usual answer; the two about the owner are alike.
    expect(unknown.status).toBe(401);
    const shape = (page: Page) => ({ status: page.status, heading: page.document.querySelector('h1')?.text, text: page.document.querySelector('main')?.text.replace(/\s+/g, ' ') ?? page.body.replace(/csrf" value="[^"]+"/g, '').replace(/\/interaction\/[^/"]+/g, '') });
    expect(shape(wrong)).toEqual(shape(right));

    await gatehouse.deliverMail();
    await sink.waitFor(() => codeMails().length === mailsBefore + 1);
    expect(codeMails()).toHaveLength(mailsBefore + 1); // only the right password mailed a code
    // No code works for the wrong password: not even the one mailed to the owner for the other sign-in.
    const mailed = codeIn(codeMails().at(-1)!);
    const refused = asPage(await roaming.submit(wrong, '/sign-in-code', { code: mailed }));
    expect(refused.status).toBe(400);
    expect(alertOf(refused)).toMatch(/not right/);
  });
});
