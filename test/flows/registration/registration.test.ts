import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Config } from '../../../src/config/load-config.ts';
import { message } from '../../../src/messages/messages.ts';
import type { MovableClock } from '../../helpers/clock.ts';
import { movableClock } from '../../helpers/clock.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { codeIn, linkIn, startMailSink } from '../../helpers/mail-sink.ts';
import type { MailSink } from '../../helpers/mail-sink.ts';
import { freePort } from '../../helpers/main-process.ts';
import type { AuthorizationRequest } from '../../helpers/relying-party.ts';
import { authorizationRequest, relyingParty, signInThroughPages } from '../../helpers/relying-party.ts';
import { autofocused, expectFieldProblem, fieldProblem, titleOf } from '../../helpers/field-problems.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { isPage, UserAgent } from '../../helpers/user-agent.ts';

const goodPassword = 'correct horse battery staple';

type Harness = { gatehouse: TestGatehouse; sink: MailSink; rp: client.Configuration };

function withAccounts(accounts: Partial<Config['accounts']>, mail: Partial<Config['mail']> = {}) {
  return (config: Config): Config => ({ ...config, accounts: { ...config.accounts, ...accounts }, mail: { ...config.mail, ...mail } });
}

async function startHarness(adjust = withAccounts({}), env: NodeJS.ProcessEnv = {}, sink?: MailSink, clock?: MovableClock): Promise<Harness> {
  const mailSink = sink ?? (await startMailSink());
  const gatehouse = await startGatehouse({ env: { SMTP_URL: mailSink.url, ...env }, adjust, ...(clock ? { clock } : {}) });
  const registered = await gatehouse.addClient({ firstParty: true });
  return { gatehouse, sink: mailSink, rp: await relyingParty(gatehouse, registered) };
}

async function stopHarness(harness: Harness | undefined) {
  await harness?.gatehouse.stop();
  await harness?.sink.close();
}

function asPage(result: Page | { redirectedTo: string }): Page {
  if (!isPage(result)) throw new Error(`expected a page, was redirected to ${result.redirectedTo}`);
  return result;
}

function alertOf(page: Page): string {
  return page.document.querySelector('[role=alert]')?.text.trim() ?? '';
}

/** Starts an authorization request and follows "Create account" from the login page. */
async function openRegistration(harness: Harness, ua = new UserAgent(harness.gatehouse.url)) {
  const request = await authorizationRequest(harness.rp);
  const login = await ua.page(request.url.href);
  const link = login.document.querySelectorAll('a').find((anchor) => anchor.text.includes('Create account'));
  if (!link) throw new Error(`no "Create account" link on the login page:\n${login.body}`);
  const form = await ua.page(new URL(link.getAttribute('href')!, login.url).href);
  return { ua, request, form };
}

async function registerThroughPages(harness: Harness, fields: { email: string; password?: string; name?: string }, ua?: UserAgent) {
  const opened = await openRegistration(harness, ua);
  const page = asPage(await opened.ua.submit(opened.form, '/register', { password: goodPassword, ...fields }));
  return { ...opened, page };
}

/** Exchanges the code at the client's callback; returns the ID token's claims with userinfo's. */
async function claimsAt(harness: Harness, request: AuthorizationRequest, done: Page | { redirectedTo: string }) {
  if (isPage(done)) throw new Error(`expected a redirect to the client, got ${done.status} at ${done.url}:\n${done.body}`);
  const tokens = await client.authorizationCodeGrant(harness.rp, new URL(done.redirectedTo), {
    pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state, idTokenExpected: true,
  });
  const idToken = tokens.claims()!;
  return { ...idToken, ...(await client.fetchUserInfo(harness.rp, tokens.access_token, idToken.sub)) };
}

/** The form token every form of a page carries. */
function csrfOf(page: Page): string {
  return page.document.querySelector('input[name=csrf]')!.getAttribute('value')!;
}

/** The interaction id in a page's URL (/interaction/:uid/…). */
function uidOf(page: Page): string {
  return /\/interaction\/([^/]+)/.exec(page.url)![1]!;
}

describe('registration and email verification (required)', () => {
  let harness: Harness;
  // Cooldowns run out on the server's clock, moved forward, rather than in real time.
  const clock = movableClock();
  beforeAll(async () => {
    harness = await startHarness(withAccounts({ resendCooldownSeconds: 3 }), {}, undefined, clock);
  });
  afterAll(() => stopHarness(harness));

  it('registers, confirms with the code from the mail, and continues to the client signed in', async () => {
    const { ua, request, page } = await registerThroughPages(harness, { email: 'New.Person@Example.com', name: 'New Person' });
    expect(page.status).toBe(200);
    expect(page.document.querySelector('h1')?.text).toBe('Check your email');
    expect(page.body).toContain('new.person@example.com');

    const mail = await harness.sink.waitFor((each) => each.to === 'new.person@example.com' && each.subject === 'Confirm your email address');
    expect(mail.html).toContain(codeIn(mail));
    const done = await ua.submit(page, '/verify-email', { code: codeIn(mail) });

    expect(isPage(done)).toBe(false);
    const claims = await claimsAt(harness, request, done);
    expect(claims).toMatchObject({ email: 'New.Person@Example.com', email_verified: true, name: 'New Person' });
    const account = await harness.gatehouse.store.accounts.findByEmail('new.person@example.com');
    expect(account).toMatchObject({ emailVerified: true, passwordHash: expect.stringMatching(/^\$argon2id\$/) });
    // The account signs in like any other afterwards.
    const again = await signInThroughPages(new UserAgent(harness.gatehouse.url), (await authorizationRequest(harness.rp)).url, { email: 'new.person@example.com', password: goodPassword });
    expect(again.searchParams.get('code')).toBeTruthy();
  });

  it('confirms with the link opened in another browser, after which the first tab must start again', async () => {
    const { ua, request, page } = await registerThroughPages(harness, { email: 'link@example.com' });
    const mail = await harness.sink.waitFor((each) => each.to === 'link@example.com');
    const link = linkIn(mail, harness.gatehouse.url);

    // Continuing before the link was used is refused with a reason.
    const early = asPage(await ua.submit(page, '/verify-email/continue'));
    expect(early.status).toBe(400);
    expect(alertOf(early)).toMatch(/not confirmed yet/);

    // A mail scanner fetching the link (GET) does not use it up.
    const mailApp = new UserAgent(harness.gatehouse.url);
    const confirmPage = await mailApp.page(link.href);
    await mailApp.page(link.href);
    expect(confirmPage.body).toContain('link@example.com');
    const confirmed = asPage(await mailApp.submit(confirmPage, '/verify-email/'));
    expect(confirmed.status).toBe(200);
    expect(confirmed.document.querySelector('h1')?.text).toBe('Email address confirmed');
    // The link works once.
    const reused = asPage(await mailApp.submit(confirmPage, '/verify-email/'));
    expect(reused.status).toBe(410);

    // Whoever confirmed it elsewhere is not necessarily who registered here (issue 13): this
    // sign-up ends on a page saying to start again, and signs nobody in.
    const done = asPage(await ua.submit(early, '/verify-email/continue'));
    expect(done.status).toBe(409);
    expect(done.body).toMatch(/start again/);
    expect(request.url.href).toBeTruthy();
    const again = asPage(await ua.submit(early, '/verify-email/continue'));
    expect(again.status).toBeGreaterThanOrEqual(400);
    expect(again.status).toBeLessThan(500);
    // The address is confirmed: signing in with the password works.
    const login = await signInThroughPages(new UserAgent(harness.gatehouse.url), (await authorizationRequest(harness.rp)).url, { email: 'link@example.com', password: goodPassword });
    expect(login.searchParams.get('code')).toBeTruthy();
  });

  it('confirms with the link opened in the same browser, after which the first tab continues', async () => {
    const { ua, request, page } = await registerThroughPages(harness, { email: 'same.browser@example.com' });
    const mail = await harness.sink.waitFor((each) => each.to === 'same.browser@example.com');
    const confirmPage = await ua.page(linkIn(mail, harness.gatehouse.url).href);
    const confirmed = asPage(await ua.submit(confirmPage, '/verify-email/'));
    expect(confirmed.document.querySelector('h1')?.text).toBe('Email address confirmed');

    const done = await ua.submit(page, '/verify-email/continue');
    const claims = await claimsAt(harness, request, done);
    expect(claims).toMatchObject({ email: 'same.browser@example.com', email_verified: true });
  });

  it('allows 5 wrong codes per code, then only a new code works', async () => {
    const { ua, request, page } = await registerThroughPages(harness, { email: 'typo@example.com' });
    const first = codeIn(await harness.sink.waitFor((each) => each.to === 'typo@example.com'));
    const wrong = first === '000000' ? '111111' : '000000';

    let current = page;
    const alerts: string[] = [];
    for (let attempt = 0; attempt < 5; attempt += 1) {
      current = asPage(await ua.submit(current, '/verify-email', { code: wrong }));
      expect(current.status).toBe(400);
      alerts.push(fieldProblem(current, 'code'));
    }
    expect(alerts).toEqual([
      'That code is not right. 4 tries left.',
      'That code is not right. 3 tries left.',
      'That code is not right. 2 tries left.',
      'That code is not right. 1 try left.',
      'That code is not right, and that was the last try. Send a new code.',
    ]);
    // Now even the right code is refused.
    current = asPage(await ua.submit(current, '/verify-email', { code: first }));
    expectFieldProblem(current, 'code', 'Too many wrong codes. Send a new code.');
    expect((await harness.gatehouse.store.accounts.findByEmail('typo@example.com'))?.emailVerified).toBe(false);

    // Within the cooldown (3 s here) asking again is refused with Retry-After.
    const uid = uidOf(current);
    const early = await ua.request(`${harness.gatehouse.url}/interaction/${uid}/verify-email/resend`, { method: 'POST', body: new URLSearchParams({ csrf: csrfOf(current) }) });
    expect(early.status).toBe(429);
    expect(early.headers.get('retry-after')).toMatch(/^[1-3]$/);
    expect(harness.sink.to('typo@example.com')).toHaveLength(1);

    // After it, a new code replaces the old one.
    clock.advance(3_100);
    const resent = asPage(await ua.submit(current, '/verify-email/resend'));
    expect(resent.status).toBe(200);
    expect(resent.document.querySelector('[role=status]')?.text).toContain('We sent a new code');
    await harness.sink.waitFor(() => harness.sink.to('typo@example.com').length === 2);
    const second = codeIn(harness.sink.to('typo@example.com')[1]!);

    if (second !== first) {
      const stale = asPage(await ua.submit(resent, '/verify-email', { code: first }));
      expect(fieldProblem(stale, 'code')).toMatch(/not right/);
    }
    const done = await ua.submit(resent, '/verify-email', { code: second });
    const claims = await claimsAt(harness, request, done);
    expect(claims).toMatchObject({ email: 'typo@example.com', email_verified: true });
  });

  it('answers a taken address exactly like a new one, mails its owner, and never lets a code in', async () => {
    await harness.gatehouse.addUser('owner@example.com', 'the owners own passphrase');

    const taken = await registerThroughPages(harness, { email: 'owner@example.com' });
    const fresh = await registerThroughPages(harness, { email: 'fresh@example.com' });

    const normalize = (page: Page, email: string) => page.body.replaceAll(uidOf(page), 'UID').replaceAll(csrfOf(page), 'CSRF').replaceAll(email, 'EMAIL');
    expect(taken.page.status).toBe(fresh.page.status);
    expect(normalize(taken.page, 'owner@example.com')).toBe(normalize(fresh.page, 'fresh@example.com'));

    const notice = await harness.sink.waitFor((each) => each.to === 'owner@example.com');
    expect(notice.subject).toBe('Someone tried to create an account with your email address');
    expect(notice.text).not.toMatch(/\b\d{6}\b/);
    await harness.sink.waitFor((each) => each.to === 'fresh@example.com');

    // Every code is wrong for the taken address, and its account is untouched.
    const guesses = ['000000', '123456', '999999'];
    let page = taken.page;
    for (const code of guesses) {
      page = asPage(await taken.ua.submit(page, '/verify-email', { code }));
      expect(fieldProblem(page, 'code')).toMatch(/not right/);
    }
    const owner = await harness.gatehouse.store.accounts.findByEmail('owner@example.com');
    expect(owner?.passwordHash).toBeTruthy();
    const login = await signInThroughPages(new UserAgent(harness.gatehouse.url), (await authorizationRequest(harness.rp)).url, { email: 'owner@example.com', password: 'the owners own passphrase' });
    expect(login.searchParams.get('code')).toBeTruthy();
    // The registrant's password did not replace the owner's.
    const attacker = new UserAgent(harness.gatehouse.url);
    const loginPage = await attacker.page((await authorizationRequest(harness.rp)).url.href);
    const refused = asPage(await attacker.submit(loginPage, '/login', { email: 'owner@example.com', password: goodPassword }));
    expect(refused.status).toBe(401);
  });

  it('refuses passwords the policy rejects, with the reason, keeping what was typed', async () => {
    const cases: Array<[string, RegExp]> = [
      ['short', /at least 8 characters/],
      ['password123', /common|guess/i],
      ['policy.person2024!', /email/i],
    ];
    for (const [password, reason] of cases) {
      const { form, ua } = await openRegistration(harness);
      const page = asPage(await ua.submit(form, '/register', { email: 'policy.person@example.com', name: 'Policy Person', password }));
      expect(page.status).toBe(400);
      // The policy's sentence next to the password field, without the field's internal name.
      expectFieldProblem(page, 'password', reason);
      expect(fieldProblem(page, 'password')).not.toMatch(/^password:/);
      expect(page.document.querySelector('#password')?.getAttribute('aria-describedby')).toBe('password-error password-hint');
      expect(page.document.querySelector('[role=alert]')).toBeNull();
      expect(page.document.querySelector('input[name=email]')?.getAttribute('value')).toBe('policy.person@example.com');
      expect(page.document.querySelector('input[name=name]')?.getAttribute('value')).toBe('Policy Person');
      expect(page.body).not.toContain(password === 'short' ? 'value="short"' : password);
    }
    expect(await harness.gatehouse.store.accounts.findByEmail('policy.person@example.com')).toBeUndefined();
    expect(harness.sink.to('policy.person@example.com')).toHaveLength(0);
  });

  it('puts each problem next to its field: described by it, focused, and named in the title', async () => {
    const { form, ua } = await openRegistration(harness);
    // Two fields wrong: both described, focus on the first.
    const page = asPage(await ua.submit(form, '/register', { email: 'not-an-email', name: 'Someone', password: '' }));
    expect(page.status).toBe(400);
    expectFieldProblem(page, 'email', message('libraries.invalid_email'));
    expect(fieldProblem(page, 'password')).toBe(message('libraries.choose_password'));
    expect(page.document.querySelector('#name')?.hasAttribute('aria-invalid')).toBe(false);
    expect(page.document.querySelector('[role=alert]')).toBeNull();
    expect(page.document.querySelector('input[name=email]')?.getAttribute('value')).toBe('not-an-email');

    // A wrong code: the code field, focused, with the title saying so.
    const { page: verify, ua: other } = await registerThroughPages(harness, { email: 'field.problem@example.com' });
    const wrong = asPage(await other.submit(verify, '/verify-email', { code: '12' }));
    expect(wrong.status).toBe(400);
    expectFieldProblem(wrong, 'code', 'Enter the 6-digit code from the email.');
    // Continuing too early is about the whole form: an alert, and the code field keeps its focus.
    const early = asPage(await other.submit(verify, '/verify-email/continue'));
    expect(alertOf(early)).toMatch(/not confirmed yet/);
    expect(titleOf(early)).toMatch(/^Error: Your address is not confirmed yet\./);
    expect(autofocused(early)).toEqual(['code']);
  });

  it('speaks the language the browser or the application asks for', async () => {
    const german = (page: Page) => {
      expect(page.body).toContain('<html lang="de" dir="ltr">');
      expect(page.document.querySelector('h1')?.text).toBe(message('registration.title', undefined, 'de'));
      expect(page.document.querySelector('h1')?.text).toBe('Konto erstellen');
      expect(page.document.querySelector('label[for=password]')?.text).toBe(message('register.password_label', undefined, 'de'));
      expect(page.document.querySelector('#password-hint')?.text).toBe(message('register.password_hint', { min: 8, max: 1024 }, 'de'));
    };
    const registerLink = (login: Page) => new URL(login.document.querySelector('a[href$="/register"]')!.getAttribute('href')!, login.url).href;
    // Accept-Language.
    const browser = new UserAgent(harness.gatehouse.url);
    const headers = { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' };
    const login = await browser.page((await authorizationRequest(harness.rp)).url.href, { headers });
    const form = await browser.page(registerLink(login), { headers });
    german(form);
    // ui_locales, even with an English browser; a refusal computed on the policy's thread is worded in German too.
    const app = new UserAgent(harness.gatehouse.url);
    const fromApp = await app.page((await authorizationRequest(harness.rp, { ui_locales: 'de' })).url.href, { headers: { 'accept-language': 'en' } });
    const appForm = await app.page(registerLink(fromApp), { headers: { 'accept-language': 'en' } });
    german(appForm);
    const refused = asPage(await app.submit(appForm, '/register', { email: 'deutsch@example.com', password: 'password123' }));
    expect(refused.body).toContain('<html lang="de"');
    expect(fieldProblem(refused, 'password')).toBe(message('libraries.policy_common', undefined, 'de'));
    expect(fieldProblem(refused, 'password')).toMatch(/^Dieses Passwort/);
  });

  it('rejects malformed registration and code forms with a 4xx page', async () => {
    const { form, ua } = await openRegistration(harness);
    const action = new URL(form.document.querySelector('form')!.getAttribute('action')!, form.url).href;
    const bodies = [
      'email=a%40example.com',
      `email=a%40example.com&email=b%40example.com&password=${encodeURIComponent(goodPassword)}`,
      `email=${'a'.repeat(300)}%40example.com&password=${encodeURIComponent(goodPassword)}`,
      `email=not-an-email&password=${encodeURIComponent(goodPassword)}`,
      `email=a%40example.com&password=${'x'.repeat(2000)}`,
      `email=a%40example.com&password=${encodeURIComponent(goodPassword)}&name=${'n'.repeat(500)}`,
    ];
    for (const body of bodies) {
      const response = await ua.request(action, { method: 'POST', body: `csrf=${encodeURIComponent(csrfOf(form))}&${body}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(response.status, body.slice(0, 60)).toBe(400);
      expect(await response.text()).not.toMatch(/at \w+ \(|node_modules/);
    }
    const json = await ua.request(action, { method: 'POST', body: JSON.stringify({ email: 'a@example.com', password: goodPassword }), headers: { 'content-type': 'application/json' } });
    expect(json.status).toBeGreaterThanOrEqual(400);
    expect(json.status).toBeLessThan(500);
    expect(await harness.gatehouse.store.accounts.findByEmail('a@example.com')).toBeUndefined();

    const { page, ua: other } = await registerThroughPages(harness, { email: 'codes@example.com' });
    const codeAction = `${page.url}/verify-email`;
    for (const body of ['', 'code=12345', 'code=1234567', 'code=abcdef', 'code=1&code=2', `code=${'9'.repeat(5000)}`]) {
      const response = await other.request(codeAction, { method: 'POST', body: `csrf=${encodeURIComponent(csrfOf(page))}&${body}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(response.status, body.slice(0, 40)).toBe(400);
    }
    // Malformed tries are not counted as wrong codes.
    expect((await harness.gatehouse.store.codes.latest('codes@example.com', 'verify_email'))?.attempts).toBe(0);
  });

  it('asks an account whose address was never confirmed for a code at sign-in, and lets it through after', async () => {
    await harness.gatehouse.store.accounts.create({
      id: 'acct-unverified', email: 'later@example.com', passwordHash: (await harness.gatehouse.store.accounts.findByEmail('new.person@example.com'))!.passwordHash,
      emailVerified: false, profile: {}, roles: [], disabled: false,
    });
    const ua = new UserAgent(harness.gatehouse.url);
    const request = await authorizationRequest(harness.rp);
    const login = await ua.page(request.url.href);
    const prompt = asPage(await ua.submit(login, '/login', { email: 'later@example.com', password: goodPassword }));
    expect(prompt.document.querySelector('h1')?.text).toBe('Check your email');
    expect(prompt.document.querySelector('[role=status]')?.text).toContain('We sent a code');

    // A silent request cannot skip the step.
    const silent = await authorizationRequest(harness.rp, { prompt: 'none' });
    const silentResult = await ua.navigate(silent.url.href);
    expect('redirectedTo' in silentResult && new URL(silentResult.redirectedTo).searchParams.get('error')).toBe('interaction_required');

    // Reloading the page does not send another code.
    await ua.page(prompt.url);
    const mail = await harness.sink.waitFor((each) => each.to === 'later@example.com');
    expect(harness.sink.to('later@example.com')).toHaveLength(1);
    const done = await ua.submit(prompt, '/verify-email', { code: codeIn(mail) });
    const claims = await claimsAt(harness, request, done);
    expect(claims).toMatchObject({ sub: 'acct-unverified', email_verified: true });
  });
});

describe('EMAIL_VERIFICATION=optional', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness(withAccounts({}), { EMAIL_VERIFICATION: 'optional' });
  });
  afterAll(() => stopHarness(harness));

  it('lets an unconfirmed account through with email_verified false, and registration can skip confirming', async () => {
    const { ua, request, page } = await registerThroughPages(harness, { email: 'skipper@example.com' });
    await harness.sink.waitFor((each) => each.to === 'skipper@example.com');
    const login = asPage(await ua.submit(page, '/verify-email/skip'));
    expect(login.document.querySelector('input[name=email]')?.getAttribute('value')).toBe('skipper@example.com');
    const done = await ua.submit(login, '/login', { email: 'skipper@example.com', password: goodPassword });
    const claims = await claimsAt(harness, request, done);
    expect(claims).toMatchObject({ email: 'skipper@example.com', email_verified: false });
  });
});

describe('REGISTRATION=closed', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness(withAccounts({}), { REGISTRATION: 'closed' });
  });
  afterAll(() => stopHarness(harness));

  it('shows no link and refuses the registration page', async () => {
    const ua = new UserAgent(harness.gatehouse.url);
    const login = await ua.page((await authorizationRequest(harness.rp)).url.href);
    expect(login.body).not.toContain('Create account');
    expect(login.body).toContain('Forgot password?');
    const uid = uidOf(login);
    const page = await ua.page(`${harness.gatehouse.url}/interaction/${uid}/register`);
    expect(page.status).toBe(403);
    expect(page.body).toContain('Registration is closed');
    const post = await ua.request(`${harness.gatehouse.url}/interaction/${uid}/register`, {
      method: 'POST', body: new URLSearchParams({ csrf: csrfOf(login), email: 'x@example.com', password: goodPassword }),
    });
    expect(post.status).toBe(403);
    expect(await harness.gatehouse.store.accounts.findByEmail('x@example.com')).toBeUndefined();
  });
});

describe('mail while SMTP is down', () => {
  it('keeps registration working, then delivers the code once SMTP is back, also after a restart', async () => {
    const port = await freePort();
    const deadSink = { url: `smtp://127.0.0.1:${port}` };
    let gatehouse = await startGatehouse({ env: { SMTP_URL: deadSink.url }, adjust: withAccounts({}, { firstRetrySeconds: 1, pollSeconds: 0.2 }) });
    let sink: MailSink | undefined;
    try {
      const rp = await relyingParty(gatehouse, await gatehouse.addClient({ firstParty: true }));
      const harness = { gatehouse, rp, sink: undefined as unknown as MailSink };
      const { page } = await registerThroughPages(harness, { email: 'patient@example.com' });
      expect(page.status).toBe(200);
      expect(page.document.querySelector('h1')?.text).toBe('Check your email');

      // Delivery was tried and failed; the message waits in the queue.
      await gatehouse.deliverMail();
      await expect.poll(async () => (await gatehouse.store.mail.status()).pending).toBe(1);

      // Restart while SMTP is still down, then bring SMTP up: the new instance delivers it.
      gatehouse = await gatehouse.restart();
      sink = await startMailSink(port);
      const mail = await sink.waitFor((each) => each.to === 'patient@example.com', 15_000);
      expect(codeIn(mail)).toMatch(/^\d{6}$/);
      await expect.poll(async () => (await gatehouse.store.mail.status())).toMatchObject({ pending: 0, sent: 1, failed: 0 });
    } finally {
      await gatehouse.stop();
      await sink?.close();
    }
  });
});
