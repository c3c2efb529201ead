import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { MovableClock } from '../../helpers/clock.ts';
import { movableClock } from '../../helpers/clock.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import type { MailSink } from '../../helpers/mail-sink.ts';
import { codeIn, linkIn, startMailSink } from '../../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty } from '../../helpers/relying-party.ts';
import { SoftwareAuthenticator } from '../../helpers/software-authenticator.ts';
import { totp } from '../../helpers/totp.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { UserAgent } from '../../helpers/user-agent.ts';
import {
  ceremonyOn, enrollTotp, errorOn, submitTo, expectPage, expectRedirect, heading, passkeysOf, registerPasskey, startLocalhostGatehouse, verifiedIdToken,
} from './passkey-fixtures.ts';

/**
 * Passkeys in the sign-in flows, over HTTP: the real server (issuer http://localhost:<port>), a
 * real relying party (openid-client), and a WebAuthn authenticator in software whose answers are
 * what @simplewebauthn/browser posts. The same paths in Chromium: passkeys-in-browser.test.ts.
 */

const password = 'correct horse battery staple';
const acr = { password: 'urn:gatehouse:loa:pwd', mfa: 'urn:gatehouse:loa:mfa', phr: 'urn:gatehouse:loa:phr' };

let gatehouse: TestGatehouse;
let sink: MailSink;
let clock: MovableClock;
let rp: client.Configuration;
let strictRp: client.Configuration;
let phishingResistantRp: client.Configuration;
let counter = 0;

beforeAll(async () => {
  sink = await startMailSink();
  clock = movableClock();
  gatehouse = await startLocalhostGatehouse({ env: { SMTP_URL: sink.url }, clock });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Passkey app', firstParty: true }));
  strictRp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Strict app', firstParty: true, requireMfa: true }));
  phishingResistantRp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Bank app', firstParty: true, requirePhishingResistant: true }));
});

afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

type Person = { id: string; email: string };

async function newPerson(): Promise<Person> {
  counter += 1;
  const email = `passkey${counter}@example.com`;
  return { id: await gatehouse.addUser(email, password), email };
}

const authenticatorFor = () => new SoftwareAuthenticator({ origin: gatehouse.url });

/** Opens an authorization request of `config` and returns its first page. */
async function start(ua: UserAgent, config: client.Configuration, params: Record<string, string> = {}) {
  const request = await authorizationRequest(config, params);
  return { request, page: expectPage(await ua.navigate(request.url.href)) };
}

/** Answers the page's passkey ceremony with `authenticator` (or posts `response` as given). */
async function answer(ua: UserAgent, page: Page, authenticator: SoftwareAuthenticator | { response: string }, lie = {}) {
  const ceremony = ceremonyOn(page);
  if (!ceremony) throw new Error(`no passkey on ${page.url}:\n${page.body}`);
  const response = 'response' in authenticator
    ? authenticator.response
    : JSON.stringify(ceremony.kind === 'register' ? authenticator.register(ceremony.options as never, lie) : authenticator.authenticate(ceremony.options as never, lie));
  return ua.submit(page, ceremony.action, { response });
}

describe('the login page', () => {
  it('offers a discoverable passkey, with autofill in the email field, next to the password', async () => {
    const ua = new UserAgent(gatehouse.url);
    const { page } = await start(ua, rp);
    const ceremony = ceremonyOn(page)!;
    expect(ceremony.kind).toBe('authenticate');
    expect(ceremony.autofill).toBe(true);
    expect(ceremony.options).toMatchObject({ rpId: 'localhost', userVerification: 'required', allowCredentials: [] });
    expect(page.document.querySelector('#email')!.getAttribute('autocomplete')).toBe('username webauthn');
    expect(page.document.querySelector('input[name=password]')).toBeTruthy();
    // The scripts come from our own origin, in order; nothing inline.
    expect(page.document.querySelectorAll('script').map((script) => script.getAttribute('src'))).toEqual(['/assets/vendor/simplewebauthn-browser.js', '/assets/passkey-sign-in.js']);
    expect(page.body).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(page.body).not.toMatch(/\son[a-z]+=/);
  });

  it('serves the browser library and every first-party script from its own origin, and nothing else', async () => {
    const library = await fetch(`${gatehouse.url}/assets/vendor/simplewebauthn-browser.js`);
    expect(library.status).toBe(200);
    expect(library.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(library.headers.get('cache-control')).toBe('public, max-age=3600');
    expect(await library.text()).toContain('SimpleWebAuthnBrowser');
    for (const name of ['passkey-sign-in.js', 'passkey-account.js']) {
      const script = await fetch(`${gatehouse.url}/assets/${name}`);
      expect(script.status, name).toBe(200);
      expect(script.headers.get('content-security-policy')).toContain("script-src 'self'");
    }
    for (const path of ['/assets/missing.js', '/assets/..%2Fpackage.json', '/assets/%2e%2e%2fsrc%2fmain.ts', '/assets/vendor/other.js', '/assets/gatehouse.css.js']) {
      expect((await fetch(`${gatehouse.url}${path}`)).status, path).toBe(404);
    }
    expect((await fetch(`${gatehouse.url}/assets/gatehouse.css`)).headers.get('content-type')).toContain('text/css');
  });
});

describe('signing in with a passkey alone', () => {
  it('signs in through a relying party; the ID token says the passkey and the mfa level', async () => {
    const person = await newPerson();
    const authenticator = authenticatorFor();
    await registerPasskey(gatehouse, person, authenticator);
    const ua = new UserAgent(gatehouse.url);
    const { request, page } = await start(ua, rp);
    const claims = await verifiedIdToken(gatehouse, rp, request, expectRedirect(await answer(ua, page, authenticator)));
    expect(claims.sub).toBe(person.id);
    // A synced passkey (software-secured key), the person verified, more than one factor.
    expect(claims.amr).toEqual(['swk', 'user', 'mfa']);
    expect(claims.acr).toBe(acr.mfa);
    const used = await passkeysOf(gatehouse).list(person.id);
    expect(used[0]!.lastUsedAt).not.toBeNull();
  });

  it('says hwk for a passkey bound to its device, and satisfies a client that requires a second factor without asking for one', async () => {
    const person = await newPerson();
    await enrollTotp(gatehouse, person);
    const authenticator = new SoftwareAuthenticator({ origin: gatehouse.url, backupEligible: false, backedUp: false });
    await registerPasskey(gatehouse, person, authenticator);
    const ua = new UserAgent(gatehouse.url);
    const { request, page } = await start(ua, strictRp);
    const claims = await verifiedIdToken(gatehouse, strictRp, request, expectRedirect(await answer(ua, page, authenticator)));
    expect(claims.amr).toEqual(['hwk', 'user', 'mfa']);
    expect(claims.acr).toBe(acr.mfa);
    // The same session satisfies the next request asking for mfa: no prompt at all.
    const again = await authorizationRequest(rp, { acr_values: acr.mfa });
    expectRedirect(await ua.navigate(again.url.href));
  });

  it('refuses a passkey that is not registered here, and keeps every way to sign in on the page', async () => {
    const person = await newPerson();
    await registerPasskey(gatehouse, person, authenticatorFor());
    const stranger = authenticatorFor();
    // A credential this authenticator made for the same relying party, never registered.
    stranger.register({ challenge: 'AAAAAAAAAAAAAAAAAAAAAA', rp: { id: 'localhost', name: 'Gatehouse' }, user: { id: 'c29tZW9uZQ', name: person.email, displayName: person.email } });
    const ua = new UserAgent(gatehouse.url);
    const { page } = await start(ua, rp);
    const refused = expectPage(await answer(ua, page, stranger));
    expect(refused.status).toBe(400);
    expect(errorOn(refused)).toBe('This passkey is not registered here. Use another passkey, or sign in another way.');
    expect(refused.document.querySelector('input[name=password]')).toBeTruthy();
    expect(ceremonyOn(refused)!.options.challenge).not.toBe(ceremonyOn(page)!.options.challenge);
    // The password still works from here.
    expectRedirect(await ua.submit(refused, '/login', { email: person.email, password }));
  });

  it('requires user verification when the passkey is the only step', async () => {
    const person = await newPerson();
    const authenticator = authenticatorFor();
    await registerPasskey(gatehouse, person, authenticator);
    const ua = new UserAgent(gatehouse.url);
    const { page } = await start(ua, rp);
    const refused = expectPage(await answer(ua, page, authenticator, { userVerified: false }));
    expect(refused.status).toBe(400);
    expect(errorOn(refused)).toContain('did not confirm it is you');
  });

  it('answers malformed passkey answers with a 400 and words, never a 500', async () => {
    const ua = new UserAgent(gatehouse.url);
    let { page } = await start(ua, rp);
    const cases: Array<[string, string]> = [
      ['', "Your browser's passkey answer could not be read."],
      ['not json', "Your browser's passkey answer could not be read."],
      ['[1,2]', "Your browser's passkey answer could not be read."],
      ['"text"', "Your browser's passkey answer could not be read."],
      [JSON.stringify({ id: 1, response: {} }), 'Your passkey could not be checked.'],
      [JSON.stringify({ id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: { clientDataJSON: '!!', authenticatorData: 'x', signature: 'y' } }), 'Your passkey could not be checked.'],
      [JSON.stringify({ id: 'A'.repeat(13_000) }), "Your browser's passkey answer could not be read."],
    ];
    for (const [response, words] of cases) {
      const refused = expectPage(await answer(ua, page, { response }));
      expect(refused.status, response.slice(0, 40)).toBe(400);
      expect(errorOn(refused)).toContain(words);
      page = refused;
    }
    // Repeated and missing fields are refused alike.
    const form = ceremonyOn(page)!;
    const csrf = page.document.querySelector(`form[action="${form.action}"] input[name=csrf]`)!.getAttribute('value')!;
    for (const body of [new URLSearchParams({ csrf }), new URLSearchParams([['csrf', csrf], ['response', '{}'], ['response', '{}']])]) {
      const refused = expectPage(await ua.navigate(new URL(form.action, gatehouse.url).href, { method: 'POST', body }));
      expect(refused.status).toBe(400);
    }
  });

  it('uses a challenge once: an answer to a challenge already tried, or expired, is refused', async () => {
    const person = await newPerson();
    const authenticator = authenticatorFor();
    await registerPasskey(gatehouse, person, authenticator);
    const ua = new UserAgent(gatehouse.url);
    const { page } = await start(ua, rp);
    const first = ceremonyOn(page)!;
    const goodAnswer = JSON.stringify(authenticator.authenticate(first.options as never));
    // A wrong answer uses the challenge up...
    const wrong = expectPage(await answer(ua, page, authenticator, { origin: 'https://evil.example' }));
    expect(wrong.status).toBe(400);
    // ...so the right answer to that challenge no longer works (the page now holds a new one).
    const late = expectPage(await ua.submit(page, first.action, { response: goodAnswer }));
    expect(late.status).toBe(400);
    expect(errorOn(late)).toBe('Your passkey could not be checked. Try again.');

    // A challenge expires five minutes after the page was drawn.
    clock.advance(5 * 60_000 + 1_000);
    try {
      const expired = expectPage(await answer(ua, late, authenticator));
      expect(expired.status).toBe(400);
      expect(errorOn(expired)).toBe('This passkey request has expired or was already used. Try again.');
    } finally {
      clock.rewind();
    }
  });

  it('limits refused passkey answers per source like passwords', async () => {
    const limited = await startLocalhostGatehouse({
      adjust: (config) => ({ ...config, limits: { ...config.limits, password: { ...config.limits.password, source: { freeFailures: 2, firstDelaySeconds: 60, maxDelaySeconds: 600 } } } }),
    });
    try {
      const limitedRp = await relyingParty(limited, await limited.addClient({ name: 'Limited app', firstParty: true }));
      const ua = new UserAgent(limited.url);
      let page = expectPage(await ua.navigate((await authorizationRequest(limitedRp)).url.href));
      const statuses: number[] = [];
      for (let i = 0; i < 4; i += 1) {
        page = expectPage(await answer(ua, page, { response: '{"id":"bad"}' }));
        statuses.push(page.status);
      }
      expect(statuses).toEqual([400, 400, 429, 429]);
      expect(errorOn(page)).toMatch(/Too many attempts\. Wait \d+ seconds/);
    } finally {
      await limited.stop();
    }
  });
});

describe('a phishing-resistant sign-in', () => {
  it('offers a client that requires it only the passkey, says why, and refuses a password', async () => {
    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const { page } = await start(ua, phishingResistantRp);
    expect(page.document.querySelector('input[name=password]')).toBeNull();
    expect(page.body).toContain('Bank app requires signing in with a passkey');
    expect(ceremonyOn(page)!.autofill).toBe(false);
    // Posting the password form anyway: refused before the password is checked.
    const csrf = page.document.querySelector('input[name=csrf]')!.getAttribute('value')!;
    const refused = expectPage(await ua.navigate(`${gatehouse.url}/interaction/${page.url.split('/').at(-1)}/login`, { method: 'POST', body: new URLSearchParams({ csrf, email: person.email, password }) }));
    expect(refused.status).toBe(403);
    expect(errorOn(refused)).toContain('Bank app requires signing in with a passkey');
  });

  it('is reached by a passkey sign-in, which then says so in acr', async () => {
    const person = await newPerson();
    const authenticator = authenticatorFor();
    await registerPasskey(gatehouse, person, authenticator);
    const ua = new UserAgent(gatehouse.url);
    const { request, page } = await start(ua, phishingResistantRp);
    const claims = await verifiedIdToken(gatehouse, phishingResistantRp, request, expectRedirect(await answer(ua, page, authenticator)));
    expect(claims.amr).toEqual(['swk', 'user', 'mfa']);
    expect(claims.acr).toBe(acr.phr);
    // The session satisfies the next request of that client, and an mfa one, without a prompt.
    expectRedirect(await ua.navigate((await authorizationRequest(phishingResistantRp)).url.href));
    expectRedirect(await ua.navigate((await authorizationRequest(strictRp)).url.href));
  });

  it('is asked for by acr_values too; a session from a password (or a passkey that did not say so) signs in again', async () => {
    const person = await newPerson();
    const authenticator = authenticatorFor();
    await registerPasskey(gatehouse, person, authenticator);
    const ua = new UserAgent(gatehouse.url);
    // A password session first.
    const first = await start(ua, rp);
    expectRedirect(await ua.submit(first.page, '/login', { email: person.email, password }));
    // An ordinary client asking for the level: the login page again, passkey only.
    const { request, page } = await start(ua, rp, { acr_values: acr.phr });
    expect(heading(page)).toBe('Sign in');
    expect(page.document.querySelector('input[name=password]')).toBeNull();
    const claims = await verifiedIdToken(gatehouse, rp, request, expectRedirect(await answer(ua, page, authenticator)));
    expect(claims.acr).toBe(acr.phr);

    // A passkey session that asserted mfa (nobody asked for more) is asked again for this level.
    const other = new UserAgent(gatehouse.url);
    const plain = await start(other, rp);
    expectRedirect(await answer(other, plain.page, authenticator));
    const stepUp = await start(other, phishingResistantRp);
    expect(ceremonyOn(stepUp.page)).toBeDefined();
    expect(stepUp.page.document.querySelector('input[name=password]')).toBeNull();
  });

  it('is asked for by an essential acr claim in the claims parameter as by acr_values', async () => {
    const person = await newPerson();
    const authenticator = authenticatorFor();
    await registerPasskey(gatehouse, person, authenticator);
    const ua = new UserAgent(gatehouse.url);
    const claimsParameter = JSON.stringify({ id_token: { acr: { essential: true, values: [acr.phr] } } });
    // No password offered, and the passkey's sign-in ends at the client (not at the login page again).
    const { request, page } = await start(ua, rp, { claims: claimsParameter });
    expect(page.document.querySelector('input[name=password]')).toBeNull();
    const claims = await verifiedIdToken(gatehouse, rp, request, expectRedirect(await answer(ua, page, authenticator)));
    expect(claims.acr).toBe(acr.phr);
  });

  it('registers new accounts with a passkey only', async () => {
    const ua = new UserAgent(gatehouse.url);
    const { page } = await start(ua, phishingResistantRp);
    const register = expectPage(await ua.navigate(new URL(page.document.querySelectorAll('a').find((a) => a.text.includes('Create account'))!.getAttribute('href')!, gatehouse.url).href));
    expect(register.document.querySelector('input[name=password]')).toBeNull();
    expect(register.document.querySelector('button[name=method][value=passkey]')).toBeTruthy();
    const refused = expectPage(await ua.submit(register, '/register', { email: 'phr.password@example.com', password }));
    expect(refused.status).toBe(403);
  });
});

describe('a passkey as the second step', () => {
  it('lets a person with the app and a passkey choose the passkey', async () => {
    const person = await newPerson();
    await enrollTotp(gatehouse, person);
    const authenticator = authenticatorFor();
    const passkey = await registerPasskey(gatehouse, person, authenticator);
    const ua = new UserAgent(gatehouse.url);
    const { request, page } = await start(ua, rp);
    const second = expectPage(await ua.submit(page, '/login', { email: person.email, password }));
    expect(heading(second)).toBe('Two-step verification');
    expect(second.document.querySelector('input[name=code]')).toBeTruthy();
    const ceremony = ceremonyOn(second)!;
    expect(ceremony.options).toMatchObject({ userVerification: 'preferred', allowCredentials: [{ id: passkey.id }] });
    const claims = await verifiedIdToken(gatehouse, rp, request, expectRedirect(await answer(ua, second, authenticator)));
    expect(claims.amr).toEqual(['pwd', 'swk', 'user', 'mfa']);
    expect(claims.acr).toBe(acr.mfa);
  });

  it('keeps the app code working as before for a person with both', async () => {
    const person = await newPerson();
    const secret = await enrollTotp(gatehouse, person);
    await registerPasskey(gatehouse, person, authenticatorFor());
    const ua = new UserAgent(gatehouse.url);
    const { request, page } = await start(ua, rp);
    const second = expectPage(await ua.submit(page, '/login', { email: person.email, password }));
    // The app's code of the next step: the enrolment used the current one.
    const claims = await verifiedIdToken(gatehouse, rp, request, expectRedirect(await submitTo(ua, second, /\/second-factor$/, { code: totp(secret, 30) })));
    expect(claims.amr).toEqual(['pwd', 'otp']);
    expect(claims.acr).toBe(acr.mfa);
  });

  it('asks a person with a passkey and no app for the passkey when the client requires a second factor, and for nothing otherwise', async () => {
    const person = await newPerson();
    // A security key without a PIN: registered with verification (registration requires it), used below without.
    const authenticator = new SoftwareAuthenticator({ origin: gatehouse.url, userVerification: false });
    const options = await passkeysOf(gatehouse).registrationOptions(person);
    await passkeysOf(gatehouse).finishRegistration({ accountId: person.id, response: authenticator.register(options, { userVerified: true }), expectedChallenge: options.challenge }, { actor: 'user' });

    const relaxed = new UserAgent(gatehouse.url);
    const plain = await start(relaxed, rp);
    const claims = await verifiedIdToken(gatehouse, rp, plain.request, expectRedirect(await relaxed.submit(plain.page, '/login', { email: person.email, password })));
    expect(claims.amr).toEqual(['pwd']);

    const ua = new UserAgent(gatehouse.url);
    const { request, page } = await start(ua, strictRp);
    const second = expectPage(await ua.submit(page, '/login', { email: person.email, password }));
    expect(heading(second)).toBe('Two-step verification');
    // No app: no code form, only the passkey (instead of setting an app up).
    expect(second.document.querySelector('input[name=code]')).toBeNull();
    // As the second step the person need not be verified by the device: the password was the first factor.
    const strictClaims = await verifiedIdToken(gatehouse, strictRp, request, expectRedirect(await answer(ua, second, authenticator)));
    expect(strictClaims.amr).toEqual(['pwd', 'swk', 'mfa']);
    expect(strictClaims.acr).toBe(acr.mfa);
  });

  it('serves as the second step at the mfa prompt too, for a session that signed in with its password', async () => {
    const person = await newPerson();
    const authenticator = authenticatorFor();
    await registerPasskey(gatehouse, person, authenticator);
    const ua = new UserAgent(gatehouse.url);
    const plain = await start(ua, rp);
    expectRedirect(await ua.submit(plain.page, '/login', { email: person.email, password }));
    // The same session, now at a client that requires a second factor: the passkey, no app setup.
    const { request, page } = await start(ua, strictRp);
    expect(heading(page)).toBe('Two-step verification');
    expect(page.document.querySelector('input[name=code]')).toBeNull();
    const claims = await verifiedIdToken(gatehouse, strictRp, request, expectRedirect(await answer(ua, page, authenticator)));
    expect(claims.amr).toEqual(['pwd', 'swk', 'user', 'mfa']);
    expect(claims.acr).toBe(acr.mfa);
  });

  it("refuses another account's passkey as the second step", async () => {
    const person = await newPerson();
    await enrollTotp(gatehouse, person);
    await registerPasskey(gatehouse, person, authenticatorFor());
    const other = await newPerson();
    const othersAuthenticator = authenticatorFor();
    await registerPasskey(gatehouse, other, othersAuthenticator);
    const ua = new UserAgent(gatehouse.url);
    const { page } = await start(ua, rp);
    const second = expectPage(await ua.submit(page, '/login', { email: person.email, password }));
    const ceremony = ceremonyOn(second)!;
    // The other person's authenticator ignores allowCredentials and answers with its own passkey.
    const response = JSON.stringify(othersAuthenticator.authenticate({ challenge: ceremony.options.challenge, rpId: 'localhost' }));
    const refused = expectPage(await ua.submit(second, ceremony.action, { response }));
    expect(refused.status).toBe(400);
    expect(errorOn(refused)).toContain('This passkey is not registered here');
    expect(heading(refused)).toBe('Two-step verification');
    expect(refused.document.querySelector('input[name=code]')).toBeTruthy();
  });
});

describe('registering with a passkey instead of a password', () => {
  it('confirms the address, creates the passkey, signs in with it; the account recovers through the mailed reset', async () => {
    const email = 'new.passkey@example.com';
    const authenticator = authenticatorFor();
    const ua = new UserAgent(gatehouse.url);
    const { request, page } = await start(ua, rp);
    const register = expectPage(await ua.navigate(new URL(`/interaction/${page.url.split('/').at(-1)}/register`, gatehouse.url).href));
    expect(register.document.querySelector('button[name=method][value=passkey]')).toBeTruthy();
    const verify = expectPage(await ua.submit(register, '/register', { email, name: 'Pat Key', method: 'passkey' }));
    expect(heading(verify)).toBe('Check your email');
    const mail = await sink.waitFor((each) => each.to === email);
    const create = expectPage(await ua.submit(verify, '/verify-email', { code: codeIn(mail) }));
    expect(heading(create)).toBe('Create your passkey');
    const ceremony = ceremonyOn(create)!;
    expect(ceremony.kind).toBe('register');
    expect(ceremony.options).toMatchObject({ rp: { id: 'localhost' }, user: { name: email }, authenticatorSelection: { residentKey: 'required', userVerification: 'required' } });

    // A wrong answer first: the page again, with a new challenge.
    const wrong = expectPage(await answer(ua, create, authenticator, { origin: 'https://evil.example' }));
    expect(wrong.status).toBe(400);
    expect(heading(wrong)).toBe('Create your passkey');

    const claims = await verifiedIdToken(gatehouse, rp, request, expectRedirect(await answer(ua, wrong, authenticator)));
    expect(claims.amr).toEqual(['swk', 'user', 'mfa']);
    expect(claims.acr).toBe(acr.mfa);
    const account = await gatehouse.store.accounts.findByEmail(email);
    expect(account).toMatchObject({ id: claims.sub, emailVerified: true, passwordHash: null });
    expect(await passkeysOf(gatehouse).list(claims.sub)).toHaveLength(1);

    // Signing in again with it, from another browser.
    const later = new UserAgent(gatehouse.url);
    const again = await start(later, rp);
    expect((await verifiedIdToken(gatehouse, rp, again.request, expectRedirect(await answer(later, again.page, authenticator)))).sub).toBe(claims.sub);

    // No password at all: "Forgot password?" sets one, and then it works.
    const resetUa = new UserAgent(gatehouse.url);
    const fresh = await start(resetUa, rp);
    const forgot = expectPage(await resetUa.navigate(new URL(fresh.page.document.querySelector('a[href$="/forgot-password"]')!.getAttribute('href')!, gatehouse.url).href));
    expectPage(await resetUa.submit(forgot, '/forgot-password', { email }));
    const resetMail = await sink.waitFor((each) => each.to === email && each.text.includes('/reset-password/'));
    const resetForm = expectPage(await resetUa.navigate(linkIn(resetMail, gatehouse.url).href));
    const newPassword = 'a brand new passphrase for pat';
    const changed = expectPage(await resetUa.submit(resetForm, '/reset-password/', { password: newPassword }));
    expect(changed.body).toContain('Your password was changed');
    const signedIn = new UserAgent(gatehouse.url);
    const next = await start(signedIn, rp);
    const passwordClaims = await verifiedIdToken(gatehouse, rp, next.request, expectRedirect(await signedIn.submit(next.page, '/login', { email, password: newPassword })));
    expect(passwordClaims).toMatchObject({ sub: claims.sub, amr: ['pwd'] });
  });

  it('lets an account without any password (passwordHash null) sign in with its passkey and set a password through the mailed reset', async () => {
    const email = 'no.password@example.com';
    // Test setup: an account as a password-less registration would leave it.
    const account = await gatehouse.store.accounts.create({ id: 'no-password-account', email, passwordHash: null, emailVerified: true, profile: {}, roles: [], disabled: false });
    const authenticator = authenticatorFor();
    await registerPasskey(gatehouse, account, authenticator);
    const ua = new UserAgent(gatehouse.url);
    const { request, page } = await start(ua, rp);
    expect((await verifiedIdToken(gatehouse, rp, request, expectRedirect(await answer(ua, page, authenticator)))).sub).toBe(account.id);
    // No password signs it in...
    const tries = new UserAgent(gatehouse.url);
    const attempt = await start(tries, rp);
    expect(expectPage(await tries.submit(attempt.page, '/login', { email, password: '' })).status).toBe(400);
    expect(expectPage(await tries.submit(attempt.page, '/login', { email, password: 'anything at all' })).status).toBe(401);
    // ...until the mailed reset sets one.
    const forgot = expectPage(await tries.navigate(new URL(attempt.page.document.querySelector('a[href$="/forgot-password"]')!.getAttribute('href')!, gatehouse.url).href));
    expectPage(await tries.submit(forgot, '/forgot-password', { email }));
    const resetMail = await sink.waitFor((each) => each.to === email && each.text.includes('/reset-password/'));
    const resetForm = expectPage(await tries.navigate(linkIn(resetMail, gatehouse.url).href));
    const chosen = 'a first password for this account';
    expect(expectPage(await tries.submit(resetForm, '/reset-password/', { password: chosen })).body).toContain('Your password was changed');
    const signedIn = new UserAgent(gatehouse.url);
    const next = await start(signedIn, rp);
    expect((await verifiedIdToken(gatehouse, rp, next.request, expectRedirect(await signedIn.submit(next.page, '/login', { email, password: chosen })))).amr).toEqual(['pwd']);
  });

  it('cannot skip confirming the address, and answers a taken address like a new one', async () => {
    const existing = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const { page } = await start(ua, rp);
    const register = expectPage(await ua.navigate(new URL(`/interaction/${page.url.split('/').at(-1)}/register`, gatehouse.url).href));
    const verify = expectPage(await ua.submit(register, '/register', { email: existing.email, method: 'passkey' }));
    expect(heading(verify)).toBe('Check your email');
    expect(verify.document.querySelector('form[action$="/verify-email/skip"]')).toBeNull();
    // The owner is told someone tried; no passkey can be added to the existing account from here.
    await sink.waitFor((each) => each.to === existing.email);
    expect(await passkeysOf(gatehouse).list(existing.id)).toEqual([]);
  });
});

describe('EMAIL_VERIFICATION=optional, where passkeys work', () => {
  it('skips confirming a password registration to a login page that offers the passkey, and stays there', async () => {
    const optional = await startLocalhostGatehouse({ env: { SMTP_URL: sink.url, EMAIL_VERIFICATION: 'optional' } });
    try {
      const optionalRp = await relyingParty(optional, await optional.addClient({ name: 'Optional app', firstParty: true }));
      const ua = new UserAgent(optional.url);
      const login = expectPage(await ua.navigate((await authorizationRequest(optionalRp)).url.href));
      const register = expectPage(await ua.navigate(new URL(login.document.querySelector('a[href$="/register"]')!.getAttribute('href')!, optional.url).href));
      const verify = expectPage(await ua.submit(register, '/register', { email: 'skips@example.com', password: 'a long enough passphrase' }));
      const skipped = expectPage(await ua.submit(verify, '/verify-email/skip'));
      expect(heading(skipped)).toBe('Sign in');
      expect(ceremonyOn(skipped)).toBeDefined();
      // The page's challenge was kept without bringing back the registration the skip ended.
      expect(heading(expectPage(await ua.navigate(login.url)))).toBe('Sign in');
      const signedIn = expectRedirect(await ua.submit(skipped, '/login', { email: 'skips@example.com', password: 'a long enough passphrase' }));
      expect(signedIn.searchParams.get('code')).toBeTruthy();
    } finally {
      await optional.stop();
    }
  });
});
