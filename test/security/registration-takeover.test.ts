import type * as client from 'openid-client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { codeIn, linkIn, startMailSink } from '../helpers/mail-sink.ts';
import type { MailSink } from '../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty, signInThroughPages } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { asPage, isPage, linkTo, UserAgent } from '../helpers/user-agent.ts';

/**
 * Issue 13, item 1: a registration left pending by an attacker must never become the owner's
 * sign-in, and a session someone else holds must not enroll a sign-in factor without a fresh
 * sign-in.
 */

const attackerPassword = 'the attacker chose this passphrase';
const ownerPassword = 'the owner picked her own passphrase';

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
afterEach(() => {
  vi.useRealTimers();
});

/** The attacker registers `email` with a password of his own and stays on "Check your email". */
async function attackerRegisters(email: string): Promise<{ ua: UserAgent; page: Page }> {
  const ua = new UserAgent(gatehouse.url);
  const login = await ua.page((await authorizationRequest(rp)).url.href);
  const form = await ua.page(linkTo(login, 'Create account'));
  const page = asPage(await ua.submit(form, '/register', { email, password: attackerPassword }));
  expect(page.document.querySelector('h1')?.text).toBe('Check your email');
  return { ua, page };
}

/** The owner, in her own browser, uses "Forgot password?" and sets her password through the mailed link. */
async function ownerResetsPassword(email: string): Promise<void> {
  const ua = new UserAgent(gatehouse.url);
  const login = await ua.page((await authorizationRequest(rp)).url.href);
  const forgot = await ua.page(linkTo(login, 'Forgot password'));
  asPage(await ua.submit(forgot, '/forgot-password', { email }));
  const mail = await sink.waitFor((each) => each.to === email && /reset/i.test(each.subject));
  const resetForm = await ua.page(linkIn(mail, gatehouse.url).href);
  const done = asPage(await ua.submit(resetForm, '/reset-password/', { password: ownerPassword }));
  expect(done.document.querySelector('h1')?.text).toBe('Your password was changed');
}

/** What the attacker's tab gets for "I opened the link: continue": never a sign-in. */
async function attackerContinues(attacker: { ua: UserAgent; page: Page }): Promise<Page> {
  const result = await attacker.ua.submit(attacker.page, '/verify-email/continue');
  if (!isPage(result)) throw new Error(`the attacker was signed in: redirected to ${result.redirectedTo}`);
  return result;
}

describe('a registration left pending by someone else', () => {
  it('does not sign in when the owner resets the password meanwhile: the tab must start again', async () => {
    const email = 'reset.owner@example.com';
    const attacker = await attackerRegisters(email);
    await ownerResetsPassword(email);

    const refused = await attackerContinues(attacker);
    expect(refused.status).toBeGreaterThanOrEqual(400);
    expect(refused.status).toBeLessThan(500);
    expect(refused.body).toMatch(/start again/);
    // Whatever the attacker types now, the pending registration is gone.
    const code = asPage(await attacker.ua.submit(attacker.page, '/verify-email', { code: '123456' }));
    expect(code.status).toBeGreaterThanOrEqual(400);
    expect(code.document.querySelector('h1')?.text).not.toBe('Check your email');

    // The owner signs in with her password and nothing of the attacker's is left.
    const login = await signInThroughPages(new UserAgent(gatehouse.url), (await authorizationRequest(rp)).url, { email, password: ownerPassword });
    expect(login.searchParams.get('code')).toBeTruthy();
    const account = await gatehouse.store.accounts.findByEmail(email);
    expect(await gatehouse.store.secondFactors.find(account!.id)).toBeUndefined();
  });

  it('does not sign in when the owner confirms the unsolicited link in her own browser', async () => {
    const email = 'link.owner@example.com';
    const attacker = await attackerRegisters(email);
    const mail = await sink.waitFor((each) => each.to === email && /confirm/i.test(each.subject));
    const owner = new UserAgent(gatehouse.url);
    const confirmPage = await owner.page(linkIn(mail, gatehouse.url).href);
    expect(asPage(await owner.submit(confirmPage, '/verify-email/')).status).toBe(200);

    const refused = await attackerContinues(attacker);
    expect(refused.status).toBe(409);
    expect(refused.body).toMatch(/start again/);
    // The sign-in itself is over: trying again does not bring it back.
    expect((await attackerContinues(attacker)).status).toBe(400);
  });

  it('does not sign in with the typed code once the credentials changed under it', async () => {
    const email = 'code.owner@example.com';
    const attacker = await attackerRegisters(email);
    const mail = await sink.waitFor((each) => each.to === email && /confirm/i.test(each.subject));
    // The password changes without the interaction being removed (as a rehash or a change elsewhere would).
    const account = await gatehouse.store.accounts.findByEmail(email);
    await gatehouse.store.accounts.update(account!.id, { passwordHash: `${account!.passwordHash!}x` });

    const result = await attacker.ua.submit(attacker.page, '/verify-email', { code: codeIn(mail) });
    if (!isPage(result)) throw new Error(`signed in with changed credentials: ${result.redirectedTo}`);
    expect(result.status).toBe(409);
  });
});

describe('adding a sign-in factor on the account page', () => {
  it('needs a sign-in at most a few minutes old, like removing one', async () => {
    const email = 'stale.session@example.com';
    await gatehouse.addUser(email, ownerPassword);
    const ua = new UserAgent(gatehouse.url);
    let account = asPage(await ua.navigate(`${gatehouse.url}/account`));
    account = asPage(await ua.submit(account, '/login', { email, password: ownerPassword }));
    expect(account.url).toBe(`${gatehouse.url}/account`);
    const setup = asPage(await ua.navigate(`${gatehouse.url}/account/mfa/setup`));
    expect(setup.status).toBe(200);

    // Six minutes later the same session may no longer enroll a factor, by the page or by the form.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true });
    vi.setSystemTime(Date.now() + 6 * 60_000);
    const stale = asPage(await ua.navigate(`${gatehouse.url}/account/mfa/setup`));
    expect(stale.status).toBe(403);
    expect(stale.body).toMatch(/confirm it is you/i);
    const posted = asPage(await ua.submit(setup, '/account/mfa/setup', { code: '123456' }));
    expect(posted.status).toBe(403);
    const owner = await gatehouse.store.accounts.findByEmail(email);
    expect((await gatehouse.store.secondFactors.find(owner!.id))?.activatedAt ?? null).toBeNull();

    // Signing in again opens it.
    const reauth = asPage(await ua.submit(stale, '/account/reauthenticate'));
    const fresh = asPage(await ua.submit(reauth, '/login', { email, password: ownerPassword }));
    expect(fresh.url).toBe(`${gatehouse.url}/account`);
    expect(asPage(await ua.navigate(`${gatehouse.url}/account/mfa/setup`)).status).toBe(200);
  });
});
