import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { systemClock } from '../../../src/clock.ts';
import type { Config } from '../../../src/config/load-config.ts';
import { cliSource } from '../../../src/libraries/audit.ts';
import { connectionsLibrary } from '../../../src/libraries/connections.ts';
import type { ConnectionInput } from '../../../src/libraries/connections.ts';
import type { AuditEvent } from '../../../src/store/types.ts';
import type { MovableClock } from '../../helpers/clock.ts';
import { movableClock } from '../../helpers/clock.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MailSink } from '../../helpers/mail-sink.ts';
import { codeIn, startMailSink } from '../../helpers/mail-sink.ts';
import type { AuthorizationRequest } from '../../helpers/relying-party.ts';
import { authorizationRequest, relyingParty } from '../../helpers/relying-party.ts';
import { totp } from '../../helpers/totp.ts';
import type { Misbehaviour, UpstreamProvider } from '../../helpers/upstream-provider.ts';
import { startUpstreamProvider } from '../../helpers/upstream-provider.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { asPage, linkTo, UserAgent } from '../../helpers/user-agent.ts';
import { enrollTotp, errorOn, expectRedirect, heading, submitTo, verifiedIdToken } from './passkey-fixtures.ts';
import { fieldProblem, formProblem } from '../../helpers/field-problems.ts';

/**
 * Signing in with another provider, end to end: openid-client as the relying party, Gatehouse,
 * and a real second OpenID Provider (bare oidc-provider on loopback, test/helpers/upstream-provider.ts)
 * as the upstream, with a cookie-keeping user agent walking both. ID tokens are checked with jose
 * against Gatehouse's JWKS; mail arrives at a real SMTP server.
 */

const password = 'correct horse battery staple';
const acr = { password: 'urn:gatehouse:loa:pwd', mfa: 'urn:gatehouse:loa:mfa' };
/** The connections: each a way to the same upstream with other rules. */
const ids = { plain: 'acme', trusted: 'acme-trusted', closed: 'acme-closed', mfa: 'acme-mfa', hidden: 'acme-hidden' } as const;

let sink: MailSink;
let clock: MovableClock;
let gatehouse: TestGatehouse;
let upstream: UpstreamProvider;
let rp: client.Configuration;
let mfaRp: client.Configuration;
let counter = 0;

beforeAll(async () => {
  sink = await startMailSink();
  clock = movableClock();
  // An upstream call gives up after half a second here (connections.timeoutSeconds), not 5 s.
  gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url }, clock, adjust: (config: Config) => ({ ...config, connections: { timeoutSeconds: 0.5 } }) });
  upstream = await startUpstreamProvider({ redirectUris: Object.values(ids).map((id) => `${gatehouse.url}/connections/${id}/callback`), slowMs: 3_000 });
  const connections = connectionsLibrary({ store: gatehouse.store, config: gatehouse.config, clock: systemClock, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey });
  const base = { type: 'oidc', issuer: upstream.issuer, clientId: upstream.clientId, clientSecret: upstream.clientSecret } satisfies Partial<ConnectionInput>;
  await connections.add({ ...base, id: ids.plain, name: 'Acme SSO', allowNewAccounts: true }, cliSource);
  await connections.add({ ...base, id: ids.trusted, name: 'Acme Trusted', allowNewAccounts: true, trustVerifiedEmails: true }, cliSource);
  await connections.add({ ...base, id: ids.closed, name: 'Acme Closed', allowNewAccounts: false }, cliSource);
  await connections.add({ ...base, id: ids.mfa, name: 'Acme MFA', allowNewAccounts: true, trustVerifiedEmails: true, trustUpstreamMfa: true }, cliSource);
  await connections.add({ ...base, id: ids.hidden, name: 'Acme Hidden', showOnLoginPage: false, allowNewAccounts: true }, cliSource);
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Federated app', firstParty: true }));
  mfaRp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'MFA app', firstParty: true, requireMfa: true }));
});

afterAll(async () => {
  await upstream?.stop();
  await gatehouse?.stop();
  await sink?.close();
});

type Person = { sub: string; email: string };

/** Someone at the upstream (a new subject and address each time), signed in there as the next sign-in. */
function upstreamPerson(extra: Record<string, unknown> = {}): Person {
  counter += 1;
  const person = { sub: `upstream-${counter}`, email: `person${counter}@example.com` };
  upstream.setUser({ ...person, email_verified: true, name: `Person ${counter}`, ...extra });
  return person;
}

type Journey = { ua: UserAgent; request: AuthorizationRequest; login: Page };

/** A browser opening the relying party's authorization request, at Gatehouse's login page. */
async function openLogin(config = rp, ua = new UserAgent(gatehouse.url, upstream.issuer)): Promise<Journey> {
  const request = await authorizationRequest(config);
  const login = asPage(await ua.navigate(request.url.href));
  expect(heading(login)).toBe('Sign in');
  return { ua, request, login };
}

/** Presses "Continue with …" and follows the redirects through the upstream and back. */
function continueWith(journey: Journey, id: string, page = journey.login) {
  return submitTo(journey.ua, page, new RegExp(`/connection/${id}$`), {});
}

/** Presses "Continue with …" and follows redirects up to the upstream's answer at Gatehouse's callback, without opening it. */
async function callbackOf(journey: Journey, id: string): Promise<string> {
  const form = journey.login.document.querySelectorAll('form').find((candidate) => (candidate.getAttribute('action') ?? '').endsWith(`/connection/${id}`))!;
  const body = new URLSearchParams({ csrf: form.querySelector('input[name=csrf]')!.getAttribute('value')! });
  let response = await journey.ua.request(new URL(form.getAttribute('action')!, gatehouse.url).href, { method: 'POST', body });
  let url = response.headers.get('location')!;
  for (let hops = 0; hops < 10 && !url.startsWith(`${gatehouse.url}/connections/`); hops += 1) {
    response = await journey.ua.request(url);
    url = new URL(response.headers.get('location')!, url).href;
  }
  expect(url.startsWith(`${gatehouse.url}/connections/${id}/callback?`)).toBe(true);
  return url;
}

async function idTokenOf(journey: Journey, result: Page | { redirectedTo: string }, config = rp) {
  return verifiedIdToken(gatehouse, config, journey.request, expectRedirect(result));
}

/** Where the audit trail stands now (how many events it holds). */
async function auditMark(): Promise<number> {
  return (await gatehouse.store.audit.tail({ limit: 100_000 })).length;
}

/** The audit events written since `mark`. */
async function auditSince(mark: number): Promise<AuditEvent[]> {
  return (await gatehouse.store.audit.tail({ limit: 100_000 })).slice(mark);
}

async function newAccount(email: string): Promise<string> {
  return gatehouse.addUser(email, password);
}

describe('the login and registration pages', () => {
  it('show a plain form button per connection shown on the login page, and nothing of the hidden one', async () => {
    const { login, ua } = await openLogin();
    const buttons = login.document.querySelectorAll('form[data-connection] button').map((button) => button.text.trim());
    // In the order the connections were added (ties by id: they were added within moments).
    expect([...buttons].sort()).toEqual(['Continue with Acme Closed', 'Continue with Acme MFA', 'Continue with Acme SSO', 'Continue with Acme Trusted']);
    for (const form of login.document.querySelectorAll('form[data-connection]')) {
      expect(form.getAttribute('method')).toBe('post');
      expect(form.querySelector('input[name=csrf]')?.getAttribute('value')).toBeTruthy();
    }
    expect(login.body).not.toContain('<script>');
    const register = asPage(await ua.navigate(linkTo(login, 'Create account')));
    expect(register.document.querySelectorAll('form[data-connection]')).toHaveLength(4);
  });

  it('refuses a start without the form token, and an unknown connection; a hidden one still starts', async () => {
    const journey = await openLogin();
    const uid = new URL(journey.login.url).pathname.split('/')[2]!;
    const start = (id: string) => `${gatehouse.url}/interaction/${uid}/connection/${id}`;
    const csrf = journey.login.document.querySelector('form[data-connection] input[name=csrf]')!.getAttribute('value')!;
    const forged = await journey.ua.request(start(ids.plain), { method: 'POST', body: new URLSearchParams({}) });
    expect(forged.status).toBe(403);
    const unknown = asPage(await journey.ua.navigate(start('nobody'), { method: 'POST', body: new URLSearchParams({ csrf }) }));
    expect(unknown.status).toBe(404);
    expect(unknown.body).toContain('This way to sign in is not available');
    expect(linkTo(unknown, 'Back to sign in')).toBe(`${gatehouse.url}/interaction/${uid}`);
    // Not on the login page, but a link to it may be given: it starts like any other.
    const hidden = await journey.ua.request(start(ids.hidden), { method: 'POST', body: new URLSearchParams({ csrf }) });
    expect(hidden.status).toBe(303);
    expect(hidden.headers.get('location')!.startsWith(`${upstream.issuer}/`)).toBe(true);
  });
});

describe('a first sign-in', () => {
  it('creates the account just in time, signs in with amr fed, and signs the same identity in again', async () => {
    const person = upstreamPerson({ name: 'Grace Hopper' });
    const journey = await openLogin();
    const since = await auditMark();
    const claims = await idTokenOf(journey, await continueWith(journey, ids.trusted));
    expect(claims.amr).toEqual(['fed']);
    expect(claims.acr).toBe(acr.password);
    const account = (await gatehouse.store.accounts.findByEmail(person.email))!;
    expect(claims.sub).toBe(account.id);
    expect(account).toMatchObject({ emailVerified: true, passwordHash: null });
    expect(account.profile.name).toBe('Grace Hopper');
    const events = await auditSince(since);
    expect(events.find((event) => event.type === 'account_created')).toMatchObject({ accountId: account.id, details: { connectionId: ids.trusted } });
    expect(events.find((event) => event.type === 'identity_linked')).toMatchObject({ accountId: account.id, details: { connectionId: ids.trusted, subject: person.sub, how: 'created' } });
    expect(events.find((event) => event.type === 'login')).toMatchObject({ accountId: account.id, details: { amr: ['fed'], connectionId: ids.trusted } });

    // Again, in another browser: the linked identity, the same account, nothing created.
    const again = await openLogin();
    const second = await idTokenOf(again, await continueWith(again, ids.trusted));
    expect(second.sub).toBe(account.id);
    const linked = await gatehouse.store.linkedIdentities.find(ids.trusted, person.sub);
    expect(linked?.lastUsedAt).toBeInstanceOf(Date);
  });

  it('creates an unconfirmed account when the email is not trusted, and asks to confirm it by mail', async () => {
    const person = upstreamPerson();
    const journey = await openLogin();
    const verify = asPage(await continueWith(journey, ids.plain));
    expect(heading(verify)).toBe('Check your email');
    const account = (await gatehouse.store.accounts.findByEmail(person.email))!;
    expect(account.emailVerified).toBe(false);
    const mail = await sink.waitFor((each) => each.to === person.email && each.subject === 'Confirm your email address');
    const claims = await idTokenOf(journey, await submitTo(journey.ua, verify, /\/verify-email$/, { code: codeIn(mail) }));
    expect(claims.sub).toBe(account.id);
    expect(claims.amr).toEqual(['fed']);
    // One mail: the verification page found the code mailed when the account was created.
    expect(sink.to(person.email).filter((each) => each.subject === 'Confirm your email address')).toHaveLength(1);
  });

  it('creates nothing where the connection allows no new accounts: a page with the way back', async () => {
    const person = upstreamPerson();
    const journey = await openLogin();
    const since = await auditMark();
    const page = asPage(await continueWith(journey, ids.closed));
    expect(page.status).toBe(403);
    expect(heading(page)).toBe('No account for this address');
    expect(page.body).toContain(person.email);
    expect(await gatehouse.store.accounts.findByEmail(person.email)).toBeUndefined();
    expect(linkTo(page, 'Create an account')).toMatch(/\/interaction\/[^/]+\/register$/);
    const back = asPage(await journey.ua.navigate(linkTo(page, 'Back to sign in')));
    expect(heading(back)).toBe('Sign in');
    expect((await auditSince(since)).find((event) => event.type === 'login_failed')).toMatchObject({ details: { reason: 'no_account', method: 'connection', connectionId: ids.closed } });
  });
});

describe('an address that has an account', () => {
  it('is never linked silently: the person proves the account with its password first', async () => {
    const person = upstreamPerson();
    const accountId = await newAccount(person.email);
    const journey = await openLogin();
    const proof = asPage(await continueWith(journey, ids.plain));
    expect(heading(proof)).toBe('This email already has an account');
    expect(proof.body).toContain('Acme SSO');
    expect(await gatehouse.store.linkedIdentities.find(ids.plain, person.sub)).toBeUndefined();

    const wrong = asPage(await submitTo(journey.ua, proof, /\/login$/, { password: 'not the password at all' }));
    expect(wrong.status).toBe(401);
    expect(heading(wrong)).toBe('This email already has an account');
    expect(errorOn(wrong)).toContain('Incorrect email or password');
    // The form's error is about the password: it describes the field, which has the focus.
    expect(formProblem(wrong)).toBe('Incorrect email or password.');
    expect(wrong.document.querySelector('#password')!.getAttribute('aria-describedby')).toBe('form-error');
    expect(wrong.document.querySelectorAll('[autofocus]').map((element) => element.id)).toEqual(['password']);
    expect(await gatehouse.store.linkedIdentities.find(ids.plain, person.sub)).toBeUndefined();

    const since = await auditMark();
    const claims = await idTokenOf(journey, await submitTo(journey.ua, wrong, /\/login$/, { password }));
    expect(claims.sub).toBe(accountId);
    expect(claims.amr).toEqual(['pwd']);
    expect(await gatehouse.store.linkedIdentities.find(ids.plain, person.sub)).toMatchObject({ accountId });
    expect((await auditSince(since)).find((event) => event.type === 'identity_linked')).toMatchObject({ accountId, details: { how: 'proof', connectionId: ids.plain } });
    expect(sink.to(person.email).filter((mail) => mail.subject.includes('new way to sign in'))).toEqual([]);

    // From now on the identity signs in directly.
    const again = await openLogin();
    expect((await idTokenOf(again, await continueWith(again, ids.plain))).sub).toBe(accountId);
  });

  it('can be proved with a code mailed to the account', async () => {
    const person = upstreamPerson();
    const accountId = await newAccount(person.email);
    const journey = await openLogin();
    const proof = asPage(await continueWith(journey, ids.plain));
    const since = await auditMark();
    const codePage = asPage(await submitTo(journey.ua, proof, /\/link\/code$/, {}));
    expect(codePage.body).toContain(`We sent a 6-digit code to ${person.email}`);
    expect((await auditSince(since)).find((event) => event.type === 'login_code_requested')).toMatchObject({ accountId, details: { reason: 'link_identity' } });
    const mail = await sink.waitFor((each) => each.to === person.email && each.subject === 'Your sign-in code');
    const wrong = asPage(await submitTo(journey.ua, codePage, /\/link\/code\/confirm$/, { code: codeIn(mail) === '000000' ? '111111' : '000000' }));
    expect(wrong.status).toBe(400);
    expect(fieldProblem(wrong, 'code')).toMatch(/^That code is not right\. \d tries left\.$/);
    expect(await gatehouse.store.linkedIdentities.find(ids.plain, person.sub)).toBeUndefined();
    const claims = await idTokenOf(journey, await submitTo(journey.ua, wrong, /\/link\/code\/confirm$/, { code: codeIn(mail) }));
    expect(claims.sub).toBe(accountId);
    // The mailbox proved the account; the sign-in is the upstream's.
    expect(claims.amr).toEqual(['fed']);
    expect(await gatehouse.store.linkedIdentities.find(ids.plain, person.sub)).toMatchObject({ accountId });
  });

  it('links nothing when the person signs in another way instead', async () => {
    const person = upstreamPerson();
    await newAccount(person.email);
    const journey = await openLogin();
    const proof = asPage(await continueWith(journey, ids.plain));
    const login = asPage(await submitTo(journey.ua, proof, /\/link\/cancel$/, {}));
    expect(heading(login)).toBe('Sign in');
    await idTokenOf(journey, await submitTo(journey.ua, login, /\/login$/, { email: person.email, password }));
    expect(await gatehouse.store.linkedIdentities.find(ids.plain, person.sub)).toBeUndefined();
  });

  it('is linked by a verified email the connection trusts, and the owner is mailed', async () => {
    const person = upstreamPerson();
    const accountId = await newAccount(person.email);
    const journey = await openLogin();
    const since = await auditMark();
    const claims = await idTokenOf(journey, await continueWith(journey, ids.trusted));
    expect(claims.sub).toBe(accountId);
    expect(claims.amr).toEqual(['fed']);
    expect((await auditSince(since)).find((event) => event.type === 'identity_linked')).toMatchObject({ accountId, details: { how: 'trusted_email' } });
    const mail = await sink.waitFor((each) => each.to === person.email && each.subject === 'A new way to sign in was added to your account');
    expect(mail.text).toContain('Acme Trusted');
    expect(mail.text).toContain(`${gatehouse.url}/account`);
  });

  it('is not linked by a trusted connection whose upstream did not verify the email: the proof page', async () => {
    const person = upstreamPerson({ email_verified: false });
    await newAccount(person.email);
    const journey = await openLogin();
    const proof = asPage(await continueWith(journey, ids.trusted));
    expect(heading(proof)).toBe('This email already has an account');
    expect(await gatehouse.store.linkedIdentities.find(ids.trusted, person.sub)).toBeUndefined();
  });
});

describe('a client that needs a second factor', () => {
  it("gets Gatehouse's second factor after an upstream sign-in", async () => {
    const person = upstreamPerson({ amr: ['pwd', 'mfa'] });
    const accountId = await newAccount(person.email);
    const secret = await enrollTotp(gatehouse, { id: accountId, email: person.email });
    const journey = await openLogin(mfaRp);
    // The upstream says mfa, but this connection does not trust it.
    const second = asPage(await continueWith(journey, ids.trusted));
    expect(heading(second)).toBe('Two-step verification');
    const claims = await idTokenOf(journey, await submitTo(journey.ua, second, /\/second-factor$/, { code: totp(secret, 30) }), mfaRp);
    expect(claims.sub).toBe(accountId);
    expect(claims.amr).toEqual(['fed', 'otp']);
    expect(claims.acr).toBe(acr.mfa);
  });

  it('sets one up for an account without one, unless the connection trusts the upstream MFA', async () => {
    upstreamPerson();
    const journey = await openLogin(mfaRp);
    const setup = asPage(await continueWith(journey, ids.trusted));
    expect(heading(setup)).toBe('Set up two-step verification');

    upstreamPerson({ amr: ['pwd', 'mfa'] });
    const trusted = await openLogin(mfaRp);
    const claims = await idTokenOf(trusted, await continueWith(trusted, ids.mfa), mfaRp);
    expect(claims.amr).toEqual(['fed', 'pwd', 'mfa']);
    expect(claims.acr).toBe(acr.mfa);

    // Trusted, but the upstream used one factor: Gatehouse's own second factor still.
    upstreamPerson({ amr: ['pwd'] });
    const single = await openLogin(mfaRp);
    expect(heading(asPage(await continueWith(single, ids.mfa)))).toBe('Set up two-step verification');
  });
});

describe('failures', () => {
  /** Signs in through a misbehaving upstream: a 4xx page with the way back, an audit event, no account. */
  async function failing(kind: Misbehaviour, status: number, words: string, reason: string) {
    const person = upstreamPerson();
    const journey = await openLogin();
    const since = await auditMark();
    upstream.misbehave(kind);
    let page: Page;
    try {
      page = asPage(await continueWith(journey, ids.trusted));
    } finally {
      upstream.misbehave(null);
    }
    expect(page.status, page.body).toBe(status);
    expect(page.body).toContain(words);
    const back = asPage(await journey.ua.navigate(linkTo(page, 'Back to sign in')));
    expect(heading(back)).toBe('Sign in');
    expect(await gatehouse.store.accounts.findByEmail(person.email)).toBeUndefined();
    expect(await gatehouse.store.linkedIdentities.find(ids.trusted, person.sub)).toBeUndefined();
    expect((await auditSince(since)).find((event) => event.type === 'upstream_sign_in_failed')).toMatchObject({ details: { connectionId: ids.trusted, reason } });
    // The way back works: the next try signs in.
    const next = await idTokenOf(journey, await continueWith(journey, ids.trusted, back));
    expect(next.amr).toEqual(['fed']);
  }

  it('an upstream that is down', () => failing('unavailable', 502, 'Acme Trusted did not answer', 'upstream_status'));
  it('an upstream too slow to answer', () => failing('slow', 502, 'Acme Trusted did not answer', 'timeout'));
  it('an ID token with a bad signature', () => failing('bad-signature', 400, 'could not be accepted', 'bad_signature'));
  it('an ID token from another issuer', () => failing('wrong-issuer', 400, 'could not be accepted', 'wrong_issuer'));
  it('an ID token for another audience', () => failing('wrong-audience', 400, 'could not be accepted', 'wrong_audience'));
  it('an ID token with another nonce', () => failing('wrong-nonce', 400, 'could not be accepted', 'nonce_mismatch'));
  it('an error redirect', () => failing('access-denied', 403, 'Acme Trusted did not sign you in: &quot;The person declined to sign in &lt;here&gt;&quot; (access_denied)', 'error_redirect'));

  it('a replayed answer (the callback twice): the second is refused', async () => {
    const person = upstreamPerson();
    const journey = await openLogin();
    const callback = await callbackOf(journey, ids.trusted);
    const first = await journey.ua.navigate(callback);
    await idTokenOf(journey, first);
    const accountId = (await gatehouse.store.accounts.findByEmail(person.email))!.id;
    const since = await auditMark();
    const again = asPage(await journey.ua.navigate(callback));
    expect(again.status).toBe(400);
    expect(again.body).toContain('expired or was already completed');
    expect((await auditSince(since)).find((event) => event.type === 'login_failed')).toMatchObject({ details: { reason: 'interaction_gone', connectionId: ids.trusted } });
    expect((await gatehouse.store.accounts.list()).filter((account) => account.email === person.email).map((account) => account.id)).toEqual([accountId]);
  });

  it('a replayed answer while the sign-in is still open: refused, the way back offered', async () => {
    const person = upstreamPerson();
    await newAccount(person.email);
    const journey = await openLogin();
    const callback = await callbackOf(journey, ids.plain);
    expect(heading(asPage(await journey.ua.navigate(callback)))).toBe('This email already has an account');
    const again = asPage(await journey.ua.navigate(callback));
    expect(again.status).toBe(400);
    expect(again.body).toContain('already used, or belongs to another sign-in');
    expect(linkTo(again, 'Back to sign in')).toMatch(/\/interaction\//);
  });

  it("another browser's answer (no cookie): refused, and the answer still belongs to the browser that asked", async () => {
    const person = upstreamPerson();
    const journey = await openLogin();
    const callback = await callbackOf(journey, ids.trusted);
    const since = await auditMark();
    const attacker = new UserAgent(gatehouse.url, upstream.issuer);
    const refused = asPage(await attacker.navigate(callback));
    expect(refused.status).toBe(400);
    expect(refused.body).toContain('started in another browser');
    expect(refused.document.querySelectorAll('a[href*="/interaction/"]')).toHaveLength(0);
    expect(await gatehouse.store.accounts.findByEmail(person.email)).toBeUndefined();
    expect((await auditSince(since)).find((event) => event.type === 'login_failed')).toMatchObject({ details: { reason: 'no_cookie', connectionId: ids.trusted } });
    // The person's own browser finishes.
    await idTokenOf(journey, await journey.ua.navigate(callback));
  });

  it('a connection that is unknown, or an answer at the wrong connection', async () => {
    const journey = await openLogin();
    const callback = await callbackOf(journey, ids.trusted);
    const unknown = asPage(await journey.ua.navigate(callback.replace('/connections/acme-trusted/', '/connections/nobody/')));
    expect(unknown.status).toBe(404);
    // The cookie is the trusted connection's (its path): at another connection's callback there is none.
    const other = asPage(await journey.ua.navigate(callback.replace('/connections/acme-trusted/', '/connections/acme/')));
    expect(other.status).toBe(400);
  });
});

describe('the account page', () => {
  async function accountPage(ua: UserAgent): Promise<Page> {
    const page = asPage(await ua.navigate(`${gatehouse.url}/account`));
    expect(heading(page)).toBe('Your account');
    return page;
  }

  it('lists the identities it signs in with, and unlinks one while another way in remains', async () => {
    const person = upstreamPerson();
    const accountId = await newAccount(person.email);
    const journey = await openLogin();
    await idTokenOf(journey, await continueWith(journey, ids.trusted));
    const page = await accountPage(journey.ua);
    const row = page.document.querySelector('li.identity')!;
    expect(row.querySelector('.identity-name')?.text).toBe('Acme Trusted');
    expect(row.text).toContain(person.email);
    expect(row.text).toMatch(/Linked .+, last used .+/);
    const since = await auditMark();
    const unlinked = asPage(await submitTo(journey.ua, page, /\/account\/identities\/unlink$/, {}));
    expect(unlinked.status).toBe(200);
    expect(unlinked.body).toContain('Acme Trusted no longer signs you in to this account.');
    expect(unlinked.document.querySelector('li.identity')).toBeNull();
    expect(await gatehouse.store.linkedIdentities.find(ids.trusted, person.sub)).toBeUndefined();
    expect((await auditSince(since)).find((event) => event.type === 'identity_unlinked')).toMatchObject({ accountId, details: { connectionId: ids.trusted } });
  });

  it("refuses to unlink an account's only way in, and asks for a fresh sign-in first", async () => {
    const person = upstreamPerson();
    const journey = await openLogin();
    await idTokenOf(journey, await continueWith(journey, ids.trusted));
    const page = await accountPage(journey.ua);
    expect(page.body).toContain('you sign in with a passkey or another provider');
    const refused = asPage(await submitTo(journey.ua, page, /\/account\/identities\/unlink$/, {}));
    expect(refused.status).toBe(409);
    expect(errorOn(refused)).toBe('This is your only way to sign in. Set a password or add a passkey before removing it.');
    expect(await gatehouse.store.linkedIdentities.find(ids.trusted, person.sub)).toBeDefined();

    // Later (the clock moved past a fresh sign-in): no Unlink button, and a posted one is refused.
    clock.advance(6 * 60_000);
    try {
      const stale = await accountPage(journey.ua);
      expect(stale.document.querySelector('form[action$="/account/identities/unlink"]')).toBeNull();
      expect(stale.body).toContain('To unlink one, sign in again first.');
      const csrf = stale.document.querySelector('input[name=csrf]')!.getAttribute('value')!;
      const posted = await journey.ua.request(`${gatehouse.url}/account/identities/unlink`, {
        method: 'POST', body: new URLSearchParams({ csrf, connection: ids.trusted, subject: person.sub }),
      });
      expect(posted.status).toBe(403);
    } finally {
      clock.rewind();
    }
  });
});
