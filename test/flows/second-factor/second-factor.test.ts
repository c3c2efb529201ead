import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MailSink } from '../../helpers/mail-sink.ts';
import { linkIn, startMailSink } from '../../helpers/mail-sink.ts';
import type { AuthorizationRequest } from '../../helpers/relying-party.ts';
import { authorizationRequest, relyingParty } from '../../helpers/relying-party.ts';
import { runCli } from '../../helpers/run-cli.ts';
import { totp } from '../../helpers/totp.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { isPage, UserAgent } from '../../helpers/user-agent.ts';
import { message } from '../../../src/messages/messages.ts';
import { fieldProblem } from '../../helpers/field-problems.ts';

const password = 'correct horse battery staple';
const mfaAcr = 'urn:gatehouse:loa:mfa';

let gatehouse: TestGatehouse;
let sink: MailSink;
let rp: client.Configuration;
let strictRp: client.Configuration;
let counter = 0;

beforeAll(async () => {
  sink = await startMailSink();
  gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url } });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Relaxed app', firstParty: true }));
  strictRp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Strict app', firstParty: true, requireMfa: true }));
});
afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

async function newPerson(): Promise<{ id: string; email: string }> {
  counter += 1;
  const email = `person${counter}@example.com`;
  return { id: await gatehouse.addUser(email, password), email };
}

function page(result: Page | { redirectedTo: string }): Page {
  if (!isPage(result)) throw new Error(`expected a page, was redirected to ${result.redirectedTo}`);
  return result;
}

function redirect(result: Page | { redirectedTo: string }): URL {
  if (isPage(result)) throw new Error(`expected a redirect to the client, got ${result.status} at ${result.url}:\n${result.body}`);
  return new URL(result.redirectedTo);
}

const heading = (current: Page) => current.document.querySelector('h1')?.text.trim();
const codeProblem = (current: Page) => current.document.querySelector('#code-error')?.text.trim() ?? '';
const secretOn = (current: Page) => current.document.querySelector('#secret')!.text.replace(/\s/g, '');

async function idTokenAt(config: client.Configuration, request: AuthorizationRequest, callback: URL) {
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state, idTokenExpected: true,
  });
  return tokens.claims()!;
}

/** Password step of a sign-in to `config`; returns the page that follows. */
async function passwordStep(ua: UserAgent, config: client.Configuration, email: string, params: Record<string, string> = {}) {
  const request = await authorizationRequest(config, params);
  const login = page(await ua.navigate(request.url.href));
  expect(login.document.querySelector('input[name=password]')).toBeTruthy();
  return { request, next: await ua.submit(login, '/login', { email, password }) };
}

/** Sets up an authenticator app on the account page; returns its secret and the recovery codes. */
async function enrollOnAccountPage(ua: UserAgent, email: string): Promise<{ secret: string; recoveryCodes: string[] }> {
  let account = page(await ua.navigate(`${gatehouse.url}/account`));
  if (account.document.querySelector('form[action$="/login"]')) account = page(await ua.submit(account, '/login', { email, password }));
  expect(account.url).toBe(`${gatehouse.url}/account`);
  const setup = page(await ua.navigate(`${gatehouse.url}/account/mfa/setup`));
  expect(heading(setup)).toBe('Set up two-step verification');
  const secret = secretOn(setup);
  expect(setup.document.querySelector('.qr svg')).toBeTruthy();

  const wrong = page(await ua.submit(setup, '/account/mfa/setup', { code: totp(secret, 300) }));
  expect(wrong.status).toBe(400);
  expect(secretOn(wrong)).toBe(secret); // the same secret is shown again
  const codes = page(await ua.submit(wrong, '/account/mfa/setup', { code: totp(secret) }));
  expect(heading(codes)).toBe('Save your recovery codes');
  const recoveryCodes = codes.document.querySelectorAll('.recovery-codes code').map((code) => code.text.trim());
  expect(recoveryCodes).toHaveLength(10);
  const download = codes.document.querySelector('a[download]')!.getAttribute('href')!;
  expect(decodeURIComponent(download)).toContain(recoveryCodes[9]);
  const done = page(await ua.submit(codes, '/account/mfa/done'));
  expect(done.body).toContain('On: signing in asks for a code');
  return { secret, recoveryCodes };
}

describe('second factor at sign-in', () => {
  it('enrolls on the account page, then sign-in needs a code before the login completes', async () => {
    const person = await newPerson();
    const { secret } = await enrollOnAccountPage(new UserAgent(gatehouse.url), person.email);
    // The secret is sealed in the database, not stored as it is.
    expect(readFileSync(join(gatehouse.dir, 'gatehouse.db')).includes(secret)).toBe(false);
    expect((await gatehouse.store.secondFactors.find(person.id))?.sealedSecret).toMatch(/^v1\./);

    const ua = new UserAgent(gatehouse.url);
    const { request, next } = await passwordStep(ua, rp, person.email);
    const challenge = page(next);
    expect(heading(challenge)).toBe('Two-step verification');
    // The password alone has not signed this browser in: a silent request still needs a login.
    const silent = redirect(await ua.navigate((await authorizationRequest(rp, { prompt: 'none' })).url.href));
    expect(silent.searchParams.get('error')).toBe('login_required');

    const refused = page(await ua.submit(challenge, '/second-factor', { code: '000000' === totp(secret, 30) ? '111111' : '000000' }));
    expect(refused.status).toBe(400);
    expect(fieldProblem(refused, 'code')).toMatch(/not right/);
    // The field's hint still describes it, next to its problem.
    expect(refused.document.querySelector('#code')!.getAttribute('aria-describedby')).toBe('code-error code-hint');

    const callback = redirect(await ua.submit(refused, '/second-factor', { code: totp(secret, 30) }));
    const claims = await idTokenAt(rp, request, callback);
    expect(claims).toMatchObject({ sub: person.id, amr: ['pwd', 'otp'], acr: mfaAcr });

    // Replaying the same code in another sign-in is refused.
    const other = new UserAgent(gatehouse.url);
    const replay = page((await passwordStep(other, rp, person.email)).next);
    const replayed = page(await other.submit(replay, '/second-factor', { code: totp(secret, 30) }));
    expect(fieldProblem(replayed, 'code')).toBe('That code is not right or was already used. Enter the code your authenticator app shows now.');
  });

  it('lets exactly one of two concurrent submissions of the same code in', async () => {
    const person = await newPerson();
    const { secret } = await enrollOnAccountPage(new UserAgent(gatehouse.url), person.email);
    const first = new UserAgent(gatehouse.url);
    const second = new UserAgent(gatehouse.url);
    const pages = [page((await passwordStep(first, rp, person.email)).next), page((await passwordStep(second, rp, person.email)).next)];
    const code = totp(secret, 30);

    const results = await Promise.all([first.submit(pages[0]!, '/second-factor', { code }), second.submit(pages[1]!, '/second-factor', { code })]);

    expect(results.filter((result) => !isPage(result))).toHaveLength(1);
    expect(results.filter((result) => isPage(result) && /already used/.test(codeProblem(result)))).toHaveLength(1);
  });

  it('accepts a recovery code once, and prompt=login asks for both factors again', async () => {
    const person = await newPerson();
    const { recoveryCodes } = await enrollOnAccountPage(new UserAgent(gatehouse.url), person.email);
    const ua = new UserAgent(gatehouse.url);
    const { request, next } = await passwordStep(ua, rp, person.email);
    const callback = redirect(await ua.submit(page(next), '/second-factor', { code: recoveryCodes[0]!.toUpperCase() }));
    expect(await idTokenAt(rp, request, callback)).toMatchObject({ amr: ['pwd', 'otp'], acr: mfaAcr });

    // With a session, a plain request goes straight through…
    expect(redirect(await ua.navigate((await authorizationRequest(rp)).url.href)).searchParams.get('code')).toBeTruthy();
    // …but prompt=login asks for the password and then the second factor again.
    const again = await passwordStep(ua, rp, person.email, { prompt: 'login' });
    const challenge = page(again.next);
    expect(heading(challenge)).toBe('Two-step verification');
    const reused = page(await ua.submit(challenge, '/second-factor', { code: recoveryCodes[0]! }));
    expect(fieldProblem(reused, 'code')).toMatch(/not right/);
    const callback2 = redirect(await ua.submit(reused, '/second-factor', { code: recoveryCodes[1]! }));
    expect(await idTokenAt(rp, again.request, callback2)).toMatchObject({ amr: ['pwd', 'otp'] });
  });

  it('max_age asks for the password and the code again once the login is older', async () => {
    const person = await newPerson();
    const { secret, recoveryCodes } = await enrollOnAccountPage(new UserAgent(gatehouse.url), person.email);
    const ua = new UserAgent(gatehouse.url);
    const first = await passwordStep(ua, rp, person.email);
    redirect(await ua.submit(page(first.next), '/second-factor', { code: totp(secret, 30) }));
    // Login times are whole seconds: wait until the login is surely more than 1 s old.
    await new Promise((resolve) => setTimeout(resolve, 2_100));

    const request = await authorizationRequest(rp, { max_age: '1' });
    const login = page(await ua.navigate(request.url.href));
    expect(login.document.querySelector('input[name=password]')).toBeTruthy();
    const challenge = page(await ua.submit(login, '/login', { email: person.email, password }));
    expect(heading(challenge)).toBe('Two-step verification');
    const claims = await idTokenAt(rp, request, redirect(await ua.submit(challenge, '/second-factor', { code: recoveryCodes[0]! })));
    expect(claims).toMatchObject({ amr: ['pwd', 'otp'], acr: mfaAcr });
    expect(Number(claims.auth_time)).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) - 5);
  });

  it('MFA=required leads everyone through setup, the account page included', async () => {
    const strict = await startGatehouse({ env: { MFA: 'required' } });
    try {
      await strict.addUser('everyone@example.com', password);
      const ua = new UserAgent(strict.url);
      const login = page(await ua.navigate(`${strict.url}/account`));
      const setup = page(await ua.submit(login, '/login', { email: 'everyone@example.com', password }));
      expect(heading(setup)).toBe('Set up two-step verification');
      const codes = page(await ua.submit(setup, '/mfa/setup', { code: totp(secretOn(setup)) }));
      const account = page(await ua.submit(codes, '/mfa/done'));
      expect(account.url).toBe(`${strict.url}/account`);
      expect(account.body).toContain('On: signing in asks for a code');
    } finally {
      await strict.stop();
    }
  });

  it('a client requiring MFA leads a person without a factor through setup first', async () => {
    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const { request, next } = await passwordStep(ua, strictRp, person.email);
    const setup = page(next);
    expect(heading(setup)).toBe('Set up two-step verification');
    const secret = secretOn(setup);
    // A wrong first code: the setup page again, the problem at the code field (and the same secret).
    const wrong = page(await ua.submit(setup, '/mfa/setup', { code: totp(secret) === '000000' ? '111111' : '000000' }));
    expect(wrong.status).toBe(400);
    expect(fieldProblem(wrong, 'code')).toBe(message('second_factor.setup_wrong_code'));
    expect(secretOn(wrong)).toBe(secret);
    const codes = page(await ua.submit(wrong, '/mfa/setup', { code: totp(secret) }));
    expect(codes.document.querySelectorAll('.recovery-codes code')).toHaveLength(10);
    const callback = redirect(await ua.submit(codes, '/mfa/done'));
    expect(await idTokenAt(strictRp, request, callback)).toMatchObject({ sub: person.id, amr: ['pwd', 'otp'], acr: mfaAcr });
  });

  it('acr_values naming the MFA level asks for a second factor; a password-only login reports the password level', async () => {
    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const plain = await passwordStep(ua, rp, person.email);
    expect(await idTokenAt(rp, plain.request, redirect(plain.next))).toMatchObject({ amr: ['pwd'], acr: 'urn:gatehouse:loa:pwd' });

    // The same session, now asked for MFA: it must set up a factor.
    const request = await authorizationRequest(rp, { acr_values: mfaAcr });
    const setup = page(await ua.navigate(request.url.href));
    expect(heading(setup)).toBe('Set up two-step verification');
    const discovery = await (await fetch(`${gatehouse.url}/.well-known/openid-configuration`)).json() as { acr_values_supported?: string[] };
    // Weakest first; the phishing-resistant level is a passkey sign-in's (test/flows/login/).
    expect(discovery.acr_values_supported).toEqual(['urn:gatehouse:loa:pwd', mfaAcr, 'urn:gatehouse:loa:phr']);
  });

  it('gatehouse users reset-mfa removes the factor for support, recorded in the audit trail', async () => {
    const person = await newPerson();
    await enrollOnAccountPage(new UserAgent(gatehouse.url), person.email);

    const run = await runCli(['users', 'reset-mfa', '--email', person.email], { env: gatehouse.env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`removed the authenticator app of ${person.email}`);
    const again = await runCli(['users', 'reset-mfa', '--email', person.email], { env: gatehouse.env });
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);

    const ua = new UserAgent(gatehouse.url);
    const { next } = await passwordStep(ua, rp, person.email);
    expect(redirect(next).searchParams.get('code')).toBeTruthy();
    const trail = await gatehouse.store.audit.tail({ limit: 20, accountId: person.id });
    expect(trail.map((event) => event.type)).toContain('mfa_removed');
    expect(trail.find((event) => event.type === 'mfa_removed' && event.actor === 'cli')).toBeDefined();
  });

  it('a password reset does not get around the second factor', async () => {
    const person = await newPerson();
    const { secret } = await enrollOnAccountPage(new UserAgent(gatehouse.url), person.email);
    const ua = new UserAgent(gatehouse.url);
    const login = page(await ua.navigate((await authorizationRequest(rp)).url.href));
    const forgot = page(await ua.navigate(new URL(login.document.querySelector('a[href$="/forgot-password"]')!.getAttribute('href')!, login.url).href));
    page(await ua.submit(forgot, '/forgot-password', { email: person.email }));
    const link = linkIn(await sink.waitFor((mail) => mail.to === person.email && /reset/i.test(mail.subject)), gatehouse.url);
    const form = page(await ua.navigate(link.href));
    const newPassword = 'a completely new passphrase here';
    const done = page(await ua.submit(form, '/reset-password/', { password: newPassword }));
    expect(done.status).toBe(200);

    // The new password works, and the code is still asked for.
    const request = await authorizationRequest(rp);
    const challenge = page(await ua.submit(page(await ua.navigate(request.url.href)), '/login', { email: person.email, password: newPassword }));
    expect(heading(challenge)).toBe('Two-step verification');
    const callback = redirect(await ua.submit(challenge, '/second-factor', { code: totp(secret, 30) }));
    expect(await idTokenAt(rp, request, callback)).toMatchObject({ amr: ['pwd', 'otp'] });
  });

  it('changing recovery codes or turning the factor off needs a fresh sign-in and a current code', async () => {
    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const { secret, recoveryCodes } = await enrollOnAccountPage(ua, person.email);
    let account = page(await ua.navigate(`${gatehouse.url}/account`));
    // The account page sign-in happened before the factor existed, moments ago: it is fresh.
    const regenerate = page(await ua.submit(account, '/account/mfa/manage', { code: recoveryCodes[0]!, action: 'regenerate' }));
    expect(heading(regenerate)).toBe('Save your recovery codes');
    const fresh = regenerate.document.querySelectorAll('.recovery-codes code').map((code) => code.text.trim());
    expect(fresh).toHaveLength(10);
    expect(fresh).not.toContain(recoveryCodes[1]);
    account = page(await ua.submit(regenerate, '/account/mfa/done'));

    const wrong = page(await ua.submit(account, '/account/mfa/manage', { code: recoveryCodes[1]!, action: 'remove' }));
    expect(wrong.status).toBe(400);
    expect(await gatehouse.store.secondFactors.find(person.id)).toBeTruthy();
    const removed = page(await ua.submit(wrong, '/account/mfa/manage', { code: totp(secret, 30), action: 'remove' }));
    expect(removed.body).toContain('Two-step verification is off');
    expect(await gatehouse.store.secondFactors.find(person.id)).toBeUndefined();
  });
});
