import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { checkPassword } from '../../../src/libraries/passwords.ts';
import { message } from '../../../src/messages/messages.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MailSink } from '../../helpers/mail-sink.ts';
import { startMailSink } from '../../helpers/mail-sink.ts';
import { totp } from '../../helpers/totp.ts';
import { authorizationRequest, relyingParty, signIn } from '../../helpers/relying-party.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { isPage, UserAgent } from '../../helpers/user-agent.ts';
import { fieldProblem as fieldErrorOf } from '../../helpers/field-problems.ts';

const oldPassword = 'correct horse battery staple';
const newPassword = 'violet tugboat orchestra lantern';

let sink: MailSink;
let gatehouse: TestGatehouse;
let rp: client.Configuration;
let counter = 0;

beforeAll(async () => {
  sink = await startMailSink();
  gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url } });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Account test app' }));
});

afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

/** A new person for each test: tests change passwords and end sessions. */
async function newPerson(name: string): Promise<{ id: string; email: string; password: string }> {
  counter += 1;
  const email = `${name.toLowerCase()}${counter}@example.com`;
  const id = await gatehouse.addUser(email, oldPassword, { name: `${name} Example` });
  return { id, email, password: oldPassword };
}

function page(result: Page | { redirectedTo: string }): Page {
  if (!isPage(result)) throw new Error(`expected a page, was redirected to ${result.redirectedTo}`);
  return result;
}

async function tokenError(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { error?: string }).error ?? (error as Error).message;
  }
  return undefined;
}

/** Opens /account; signs in on the login page if one appears (none when the browser has a session). */
async function openAccountPage(ua: UserAgent, credentials?: { email: string; password: string }): Promise<Page> {
  let current = page(await ua.navigate(`${gatehouse.url}/account`));
  if (current.document.querySelector('form[action$="/login"]')) {
    if (!credentials) throw new Error('the account page asked to sign in');
    current = page(await ua.submit(current, '/login', credentials));
  }
  expect(current.url).toBe(`${gatehouse.url}/account`);
  expect(current.status).toBe(200);
  return current;
}

/** Whether the browser's provider session still signs in to the app silently. */
async function silentSignIn(ua: UserAgent): Promise<string> {
  const result = await ua.navigate((await authorizationRequest(rp, { prompt: 'none', scope: 'openid' })).url.href);
  if (!('redirectedTo' in result)) throw new Error(`expected a redirect to the client, got ${result.status} ${result.url}`);
  const params = new URL(result.redirectedTo).searchParams;
  return params.get('code') ? 'signed in' : (params.get('error') ?? 'nothing');
}

const form = (body: string) => ({ method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });

describe('signing in to the account page', () => {
  it('sends an unauthenticated browser through the authorization endpoint with PKCE', async () => {
    const ua = new UserAgent(gatehouse.url);
    const response = await ua.request(`${gatehouse.url}/account`);
    expect([302, 303]).toContain(response.status);
    const location = new URL(response.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(`${gatehouse.url}/auth`);
    expect(Object.fromEntries(location.searchParams)).toMatchObject({
      client_id: 'gatehouse-account',
      response_type: 'code',
      redirect_uri: `${gatehouse.url}/account/callback`,
      code_challenge_method: 'S256',
      scope: 'openid email profile',
    });
    expect(location.searchParams.get('state')).toEqual(expect.any(String));
    expect(location.searchParams.get('nonce')).toEqual(expect.any(String));
    // Nothing about the account page is shown before signing in.
    expect(await response.text()).not.toContain('Change password');
  });

  it('shows the email and name after the normal login page, without a consent page', async () => {
    const person = await newPerson('Alice');
    const ua = new UserAgent(gatehouse.url);
    const account = await openAccountPage(ua, person);

    expect(account.body).toContain(person.email);
    expect(account.body).toContain('Alice Example');
    expect(ua.visited.some((url) => url.includes('/consent'))).toBe(false);
    expect(ua.visited.some((url) => url.startsWith(`${gatehouse.url}/account/callback?`))).toBe(true);
    // Signed in: reloading needs no trip through the provider.
    const response = await ua.request(`${gatehouse.url}/account`);
    expect(response.status).toBe(200);
  });

  it('uses the Gatehouse session the browser already has', async () => {
    const person = await newPerson('Bruno');
    const { ua } = await signIn(gatehouse, rp, person);
    const account = await openAccountPage(ua);
    expect(account.body).toContain(person.email);
  });

  it('refuses a callback this browser did not start, and a cancelled sign-in', async () => {
    const stranger = new UserAgent(gatehouse.url);
    const forged = await stranger.request(`${gatehouse.url}/account/callback?code=abc&state=xyz`);
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain('This sign-in cannot continue');

    const ua = new UserAgent(gatehouse.url);
    const login = page(await ua.navigate(`${gatehouse.url}/account`));
    const cancelled = page(await ua.submit(login, '/abort'));
    expect(cancelled.url).toMatch(new RegExp(`^${gatehouse.url}/account/callback\\?`));
    expect(cancelled.status).toBe(403);
    expect(cancelled.body).toContain('Sign-in cancelled');
  });

  it('ends when the person signs out through the provider', async () => {
    const person = await newPerson('Chloe');
    const ua = new UserAgent(gatehouse.url);
    const account = await openAccountPage(ua, person);

    const confirm = page(await ua.submit(account, '/account/sign-out'));
    expect(confirm.url).toMatch(new RegExp(`^${gatehouse.url}/session/end\\?`));
    const signedOut = page(await ua.submit(confirm, '/session/end/confirm', { logout: 'yes' }));
    expect(signedOut.url).toBe(`${gatehouse.url}/account/signed-out`);
    expect(signedOut.body).toContain('You are signed out of your account page.');

    const again = page(await ua.navigate(`${gatehouse.url}/account`));
    expect(again.document.querySelector('form[action$="/login"]')).not.toBeNull();
    expect(await silentSignIn(ua)).toBe('login_required');
  });

  it('ends when the provider session ends elsewhere (a password reset revokes everything)', async () => {
    const person = await newPerson('Dmitri');
    const ua = new UserAgent(gatehouse.url);
    await openAccountPage(ua, person);

    await gatehouse.store.oidc.revokeByAccountId(person.id);

    const response = await ua.request(`${gatehouse.url}/account`);
    expect([302, 303]).toContain(response.status);
    expect(response.headers.get('location')).toMatch(new RegExp(`^${gatehouse.url}/auth\\?`));
    // A form posted on a stale page changes nothing.
    const posted = await ua.request(`${gatehouse.url}/account/password`, form(`current_password=${encodeURIComponent(oldPassword)}&new_password=${encodeURIComponent(newPassword)}`));
    expect(posted.status).toBe(303);
    const stored = (await gatehouse.store.accounts.findById(person.id))!;
    expect((await checkPassword(stored.passwordHash, oldPassword)).valid).toBe(true);
  });
});

describe('changing the password', () => {
  it('needs the current password, and applies the policy with clear reasons', async () => {
    const person = await newPerson('Emma');
    const ua = new UserAgent(gatehouse.url);
    const account = await openAccountPage(ua, person);

    const wrong = page(await ua.submit(account, '/account/password', { current_password: 'not my password at all', new_password: newPassword }));
    expect(wrong.status).toBe(400);
    // At the field to retype, not above the form.
    expect(fieldErrorOf(wrong, 'current_password')).toBe('Your current password is not correct. Your password was not changed.');
    expect(wrong.document.querySelector('[role=alert]')).toBeNull();

    for (const [candidate, reason] of [
      ['short', 'Use at least 8 characters.'],
      ['password123', 'too common'],
      ['emma#example!', "Don't base your password on your name, your email address or Gatehouse."],
    ] as const) {
      const refused = page(await ua.submit(account, '/account/password', { current_password: oldPassword, new_password: candidate }));
      expect(refused.status, candidate).toBe(400);
      // The policy's reason at the new password, without any internal prefix ("password: …"); its hint stays described.
      const problem = fieldErrorOf(refused, 'new_password');
      expect(problem.replace('’', "'"), candidate).toContain(reason);
      expect(problem, candidate).not.toMatch(/^\w+: /);
      expect(refused.document.querySelector('#new_password')?.getAttribute('aria-describedby')?.split(' ')).toContain('password-hint');
    }
    const stored = (await gatehouse.store.accounts.findById(person.id))!;
    expect((await checkPassword(stored.passwordHash, oldPassword)).valid).toBe(true);
    expect(sink.to(person.email)).toEqual([]);
  });

  it('speaks the chosen language, field problems included', async () => {
    const person = await newPerson('Greta');
    const ua = new UserAgent(gatehouse.url);
    const english = await openAccountPage(ua, person);
    const de = (id: Parameters<typeof message>[0], values?: Parameters<typeof message>[1]) => message(id, values, 'de');
    // The browser asks for German.
    const asked = page(await ua.navigate(`${gatehouse.url}/account`, { headers: { 'accept-language': 'de' } }));
    expect(asked.body).toMatch(/<html lang="de" dir="ltr">/);
    expect(asked.document.querySelector('h1')?.text).toBe(de('account.title'));
    // The switcher's choice (the page links every language), then the words come from the German catalog.
    const link = english.document.querySelector('nav.languages a[hreflang="de"]')!.getAttribute('href')!;
    const german = page(await ua.navigate(new URL(link, gatehouse.url).href));
    expect(german.url).toBe(`${gatehouse.url}/account`);
    expect(german.body).toMatch(/<html lang="de" dir="ltr">/);
    expect(german.document.querySelector('h1')?.text).toBe(de('account.title'));
    expect(german.document.querySelector('nav.account-sections')?.getAttribute('aria-label')).toBe(de('account.sections_label'));
    expect(german.document.querySelector('label[for=new_password]')?.text).toBe(de('account.new_password_label'));
    expect(german.document.querySelector('#password-hint')?.text).toBe(de('account.new_password_hint', { min: 8 }));

    const wrong = page(await ua.submit(german, '/account/password', { current_password: 'not my password at all', new_password: newPassword }));
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatch(/<html lang="de" dir="ltr">/);
    const field = wrong.document.querySelector('#current_password')!;
    expect(field.getAttribute('aria-invalid')).toBe('true');
    expect(field.hasAttribute('autofocus')).toBe(true);
    const problem = de('libraries.current_password_wrong');
    expect(wrong.document.querySelector(`#${field.getAttribute('aria-describedby')}`)?.text).toBe(problem);
    expect(wrong.document.querySelector('title')?.text).toBe(`${de('layout.title_error', { problem, title: de('account.title') })} · Gatehouse`);
  });

  it('says a missing or wrong code for two-step verification at its field', async () => {
    const person = await newPerson('Hiro');
    const ua = new UserAgent(gatehouse.url);
    await openAccountPage(ua, person);
    const setup = page(await ua.navigate(`${gatehouse.url}/account/mfa/setup`));
    const secret = setup.document.querySelector('#secret')!.text.replace(/\s/g, '');
    const refused = page(await ua.submit(setup, '/account/mfa/setup', { code: totp(secret, 300) }));
    expect(fieldErrorOf(refused, 'code')).toBe(message('account.mfa_setup_wrong_code'));
    page(await ua.submit(refused, '/account/mfa/setup', { code: totp(secret) }));
    const account = await openAccountPage(ua);
    expect(account.document.querySelector('#mfa_code')?.hasAttribute('aria-invalid')).toBe(false);

    const empty = page(await ua.submit(account, '/account/mfa/manage', { code: ' ', action: 'remove' }));
    expect(empty.status).toBe(400);
    expect(fieldErrorOf(empty, 'mfa_code')).toBe(message('account.enter_factor_code'));
    const wrong = page(await ua.submit(account, '/account/mfa/manage', { code: totp(secret, 300), action: 'remove' }));
    expect(wrong.status).toBe(400);
    expect(fieldErrorOf(wrong, 'mfa_code')).toBe(message('second_factor.wrong_or_used'));
    expect(wrong.document.querySelector('[role=alert]')).toBeNull();
    expect(await gatehouse.store.secondFactors.find(person.id)).toBeTruthy();
  });

  it('changes it and keeps every session unless asked otherwise', async () => {
    const person = await newPerson('Farid');
    const elsewhere = await signIn(gatehouse, rp, person, { scope: 'openid offline_access', prompt: 'consent' });
    const ua = new UserAgent(gatehouse.url);
    const account = await openAccountPage(ua, person);

    const changed = page(await ua.submit(account, '/account/password', { current_password: oldPassword, new_password: newPassword }));
    expect(changed.status).toBe(200);
    expect(changed.body).toContain('Your password was changed.');

    await sink.waitFor((mail) => mail.to === person.email && mail.subject === 'Your password was changed');
    expect(await silentSignIn(elsewhere.ua)).toBe('signed in');
    expect((await client.refreshTokenGrant(rp, elsewhere.tokens.refresh_token!)).access_token).toEqual(expect.any(String));
    const events = await gatehouse.store.audit.tail({ limit: 20, accountId: person.id });
    expect(events.find((event) => event.type === 'password_changed')?.details).toEqual({ signedOutOtherSessions: false, revoked: 0 });

    // The old password no longer works; the new one does.
    const login = page(await new UserAgent(gatehouse.url).navigate(`${gatehouse.url}/account`));
    const refused = page(await new UserAgent(gatehouse.url).submit(login, '/login', { email: person.email, password: oldPassword }));
    expect(refused.status).toBeGreaterThanOrEqual(400);
    await openAccountPage(new UserAgent(gatehouse.url), { email: person.email, password: newPassword });
  });

  it('with "sign out of my other sessions", ends the other browsers and their tokens and keeps this one', async () => {
    const person = await newPerson('Grete');
    const other = await signIn(gatehouse, rp, person, { scope: 'openid offline_access', prompt: 'consent' });
    const here = await signIn(gatehouse, rp, person, { scope: 'openid offline_access', prompt: 'consent' });
    const account = await openAccountPage(here.ua);

    const changed = page(await here.ua.submit(account, '/account/password', { current_password: oldPassword, new_password: newPassword, sign_out_others: 'yes' }));
    expect(changed.status).toBe(200);
    expect(changed.body).toContain('your other sessions were signed out');

    // The other browser and its app are out.
    expect(await silentSignIn(other.ua)).toBe('login_required');
    expect(await tokenError(client.refreshTokenGrant(rp, other.tokens.refresh_token!))).toBe('invalid_grant');
    expect((await client.tokenIntrospection(rp, other.tokens.access_token)).active).toBe(false);
    // This browser stays signed in: the account page, Gatehouse, and its app.
    expect((await here.ua.request(`${gatehouse.url}/account`)).status).toBe(200);
    expect(await silentSignIn(here.ua)).toBe('signed in');
    expect((await client.refreshTokenGrant(rp, here.tokens.refresh_token!)).access_token).toEqual(expect.any(String));

    const event = (await gatehouse.store.audit.tail({ limit: 20, accountId: person.id })).find((entry) => entry.type === 'password_changed');
    expect(event).toMatchObject({ actor: 'user', details: { signedOutOtherSessions: true } });
    expect(JSON.stringify(event)).not.toContain(newPassword);
    await sink.waitFor((mail) => mail.to === person.email && mail.subject === 'Your password was changed');
  });
});

describe('bad input gets a 4xx page, never a 5xx', () => {
  let ua: UserAgent;
  let csrf: string;
  let personId: string;

  beforeAll(async () => {
    const person = await newPerson('Hana');
    personId = person.id;
    ua = new UserAgent(gatehouse.url);
    const account = await openAccountPage(ua, person);
    csrf = account.document.querySelector('input[name=csrf]')!.getAttribute('value')!;
  });

  function expectClientError(status: number, body: string) {
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    expect(body).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(body).not.toContain('node_modules');
  }

  const good = () => `csrf=${csrf}&current_password=${encodeURIComponent(oldPassword)}`;
  const bodies: Record<string, () => string> = {
    'no fields': () => '',
    'no csrf token': () => `current_password=${encodeURIComponent(oldPassword)}&new_password=${encodeURIComponent(newPassword)}`,
    'a wrong csrf token': () => `csrf=${'A'.repeat(43)}&current_password=${encodeURIComponent(oldPassword)}&new_password=${encodeURIComponent(newPassword)}`,
    'repeated csrf tokens': () => `csrf=${csrf}&csrf=${csrf}&current_password=x&new_password=y`,
    'repeated passwords': () => `${good()}&current_password=x&new_password=${encodeURIComponent(newPassword)}&new_password=y`,
    'nested fields': () => `csrf=${csrf}&current_password[a]=1&new_password[b]=2`,
    'an odd checkbox value': () => `${good()}&new_password=${encodeURIComponent(newPassword)}&sign_out_others=maybe`,
    'invalid UTF-8': () => `csrf=${csrf}&current_password=%C3%28%FF%FE&new_password=%80%81`,
    'a huge new password': () => `${good()}&new_password=${'p'.repeat(5000)}`,
    'a body over the limit': () => `${good()}&new_password=${'p'.repeat(20_000)}`,
  };
  for (const [name, body] of Object.entries(bodies)) {
    it(`password form with ${name}`, async () => {
      const response = await ua.request(`${gatehouse.url}/account/password`, form(body()));
      expectClientError(response.status, await response.text());
      const stored = (await gatehouse.store.accounts.findById(personId))!;
      expect((await checkPassword(stored.passwordHash, oldPassword)).valid).toBe(true);
    });
  }

  it('malformed callbacks and a forged sign-out', async () => {
    for (const query of ['', '?state=a&state=b', `?code=${'c'.repeat(5000)}&state=x`, '?error=server_error']) {
      const response = await ua.request(`${gatehouse.url}/account/callback${query}`);
      expectClientError(response.status, await response.text());
    }
    const forged = await ua.request(`${gatehouse.url}/account/sign-out`, form('csrf=forged'));
    expectClientError(forged.status, await forged.text());
    // Still signed in.
    expect((await ua.request(`${gatehouse.url}/account`)).status).toBe(200);
  });
});
