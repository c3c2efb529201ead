import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { message } from '../../../src/messages/messages.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import { relyingParty, signIn } from '../../helpers/relying-party.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { alertOf, asPage, UserAgent } from '../../helpers/user-agent.ts';

/**
 * /account/sessions over HTTP: every live session with its parsed device, this one marked and not
 * endable from the list; ending another ends its tokens (a real relying party's refresh token),
 * its account page, and queues a back-channel logout to its app; "all others" keeps this one.
 */

const password = 'correct horse battery staple';
const firefoxOnLinux = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const safariOnIphone = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

/** A user agent that says which browser it is on every request, as a browser does. */
class Browser extends UserAgent {
  readonly userAgent: string;
  constructor(origin: string, userAgent: string) {
    super(origin);
    this.userAgent = userAgent;
  }

  override request(url: string, init: Parameters<UserAgent['request']>[1] = {}): Promise<Response> {
    return super.request(url, { ...init, headers: { 'user-agent': this.userAgent, ...init.headers } });
  }
}

let gatehouse: TestGatehouse;
let rp: client.Configuration;
let clientId: string;
let counter = 0;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  // A receiver nobody listens on: the notices are queued (and retried), which is what is checked.
  const registered = await gatehouse.addClient({
    name: 'Notes', grantTypes: ['authorization_code', 'refresh_token'], backchannelLogoutUri: 'http://127.0.0.1:9/backchannel-logout',
  });
  clientId = registered.clientId;
  rp = await relyingParty(gatehouse, registered);
});

afterAll(async () => {
  await gatehouse?.stop();
});

async function newPerson(): Promise<{ id: string; email: string; password: string }> {
  counter += 1;
  const email = `sessions${counter}@example.com`;
  const id = await gatehouse.addUser(email, password);
  return { id, email, password };
}

/** Signs in to the app (with a refresh token) and to the account page, in one browser. */
async function browserOf(person: { email: string; password: string }, userAgent: string) {
  const ua = new Browser(gatehouse.url, userAgent);
  const { tokens } = await signIn(gatehouse, rp, person, { scope: 'openid email offline_access', prompt: 'consent' }, ua);
  asPage(await ua.navigate(`${gatehouse.url}/account`));
  return { ua, refreshToken: tokens.refresh_token! };
}

async function sessionsPage(ua: UserAgent): Promise<Page> {
  const page = asPage(await ua.navigate(`${gatehouse.url}/account/sessions`));
  expect(page.url).toBe(`${gatehouse.url}/account/sessions`);
  return page;
}

const rows = (page: Page) => page.document.querySelectorAll('li.session').map((row) => ({
  id: row.getAttribute('data-session-id')!,
  device: row.querySelector('.session-device')?.text.trim(),
  current: row.querySelector('.session-current') !== null,
  endable: row.querySelector('form') !== null,
  text: row.text.replace(/\s+/g, ' '),
}));

/** Posts to end a session with the page's CSRF token (the list offers no form for this session). */
async function endSession(ua: UserAgent, page: Page, fields: Record<string, string>): Promise<Page> {
  const csrf = page.document.querySelector('input[name=csrf]')!.getAttribute('value')!;
  return asPage(await ua.navigate(`${gatehouse.url}/account/sessions/end`, { method: 'POST', body: new URLSearchParams({ csrf, ...fields }) }));
}

async function refreshError(refreshToken: string): Promise<string | undefined> {
  try {
    await client.refreshTokenGrant(rp, refreshToken);
  } catch (error) {
    return (error as { error?: string }).error ?? (error as Error).message;
  }
  return undefined;
}

describe('the sessions page', () => {
  it('lists every live session with its browser and OS, how it signed in, its apps, and marks this one', async () => {
    const person = await newPerson();
    const laptop = await browserOf(person, firefoxOnLinux);
    await browserOf(person, safariOnIphone);
    const page = await sessionsPage(laptop.ua);
    const listed = rows(page);
    expect(listed).toHaveLength(2);
    expect(listed[0]).toMatchObject({ device: 'Firefox 128 on Linux', current: true, endable: false });
    expect(listed[1]).toMatchObject({ device: 'Safari 17 on iOS 17.5', current: false, endable: true });
    expect(listed[1]!.text).toContain('with password');
    expect(listed[1]!.text).toContain('Signed in to Notes');
    expect(listed[1]!.text).toContain('127.0.0.1');
    // No place without GEOIP_DATABASE.
    expect(listed[1]!.text).not.toContain('near ');
  });

  it('ends another session: its refresh token, its account page and its app go; the app is told', async () => {
    const person = await newPerson();
    const laptop = await browserOf(person, firefoxOnLinux);
    const phone = await browserOf(person, safariOnIphone);
    expect(await refreshError(phone.refreshToken)).toBeUndefined();
    const page = await sessionsPage(laptop.ua);
    const other = rows(page).find((row) => !row.current)!;

    const ended = asPage(await laptop.ua.submit(page, '/account/sessions/end', { session: other.id }));
    expect(ended.status).toBe(200);
    expect(ended.document.querySelector('[role=status]')?.text).toContain('That session is signed out');
    expect(rows(ended).map((row) => row.id)).not.toContain(other.id);

    // Rotation handed out a new refresh token above; every token of that session is gone.
    const latest = await client.refreshTokenGrant(rp, laptop.refreshToken);
    expect(latest.access_token).toBeTruthy();
    expect(await refreshError(phone.refreshToken)).toBe('invalid_grant');
    // The phone's account page asks it to sign in again.
    const phoneAccount = asPage(await phone.ua.navigate(`${gatehouse.url}/account`));
    expect(phoneAccount.document.querySelector('input[name=password]')).not.toBeNull();

    const events = await gatehouse.store.audit.tail({ limit: 50, accountId: person.id });
    expect(events.find((event) => event.type === 'session_ended')?.details).toMatchObject({ sessionId: other.id, queued: 1 });
    expect(events.filter((event) => event.type === 'backchannel_logout.queued' && event.clientId === clientId)).toHaveLength(1);
  });

  it('signs out of all other sessions and keeps this one', async () => {
    const person = await newPerson();
    const laptop = await browserOf(person, firefoxOnLinux);
    const phone = await browserOf(person, safariOnIphone);
    const tablet = await browserOf(person, safariOnIphone);
    const page = await sessionsPage(laptop.ua);
    expect(rows(page)).toHaveLength(3);
    const done = asPage(await laptop.ua.submit(page, '/account/sessions/end-others'));
    expect(done.document.querySelector('[role=status]')?.text).toContain('2 other sessions were signed out.');
    expect(rows(done)).toEqual([expect.objectContaining({ current: true })]);
    expect(await refreshError(phone.refreshToken)).toBe('invalid_grant');
    expect(await refreshError(tablet.refreshToken)).toBe('invalid_grant');
    expect(await refreshError(laptop.refreshToken)).toBeUndefined();
    const events = await gatehouse.store.audit.tail({ limit: 50, accountId: person.id });
    expect(events.find((event) => event.type === 'sessions_ended')).toMatchObject({ actor: 'user', details: { sessions: 2, queued: 2 } });
  });

  it('refuses to end this session from the list, an unknown one, another account\'s, a bad form', async () => {
    const person = await newPerson();
    const laptop = await browserOf(person, firefoxOnLinux);
    const stranger = await browserOf(await newPerson(), safariOnIphone);
    const page = await sessionsPage(laptop.ua);
    const own = rows(page).find((row) => row.current)!;

    const self = await endSession(laptop.ua, page, { session: own.id });
    expect(self.status).toBe(409);
    expect(alertOf(self)).toContain('sign out');

    const unknown = await endSession(laptop.ua, page, { session: 'no-such-session' });
    expect(unknown.status).toBe(404);

    const theirs = rows(await sessionsPage(stranger.ua)).find((row) => row.current)!;
    const foreign = await endSession(laptop.ua, page, { session: theirs.id });
    expect(foreign.status).toBe(404);
    expect(await refreshError(stranger.refreshToken)).toBeUndefined();

    const empty = await endSession(laptop.ua, page, { session: '' });
    expect(empty.status).toBe(400);

    const forged = await endSession(laptop.ua, page, { session: own.id, csrf: 'forged' });
    expect(forged.status).toBe(403);
    expect(alertOf(forged)).toContain('expired');

    // Signed out of the page: a POST goes back to the page (which asks to sign in), nothing ends.
    const anonymous = new UserAgent(gatehouse.url);
    const response = await anonymous.request(`${gatehouse.url}/account/sessions/end`, { method: 'POST', body: new URLSearchParams({ session: own.id }) });
    expect(response.status).toBe(303);
    expect(rows(await sessionsPage(laptop.ua))).toHaveLength(1);
  });

  it('an unauthenticated browser is sent to sign in, and comes back to this section', async () => {
    const response = await new UserAgent(gatehouse.url).request(`${gatehouse.url}/account/sessions`);
    expect([302, 303]).toContain(response.status);
    expect(response.headers.get('location')).toContain('/auth?');

    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const login = asPage(await ua.navigate(`${gatehouse.url}/account/sessions`));
    const back = asPage(await ua.submit(login, '/login', { email: person.email, password }));
    expect(new URL(back.url).pathname).toBe('/account/sessions');
    expect(rows(back)).toHaveLength(1);
  });

  it('speaks the browser’s language (Accept-Language, then the switcher’s choice): its words from the catalog, its dates written that way', async () => {
    const person = await newPerson();
    const laptop = await browserOf(person, firefoxOnLinux);
    await browserOf(person, safariOnIphone);
    const german = asPage(await laptop.ua.navigate(`${gatehouse.url}/account/sessions`, { headers: { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' } }));
    expect(german.body).toMatch(/^<!DOCTYPE html>\s*<html lang="de" dir="ltr">/);
    const de = (id: Parameters<typeof message>[0], values?: Parameters<typeof message>[1]) => message(id, values, 'de');
    expect(german.document.querySelector('h1')?.text).toBe(de('account.sessions_title'));
    expect(german.document.querySelector('title')?.text).toContain(de('account.sessions_title'));
    expect(german.document.querySelector('main p:not(.links):not(.brand)')?.text).toBe(de('account_sessions.intro'));
    expect(german.document.querySelector('.session-current')?.text).toBe(de('account.session_this_device'));
    const other = german.document.querySelectorAll('li.session')[1]!;
    expect(other.querySelector('button')?.text).toBe(de('account.sign_out_button'));
    expect(other.querySelector('button')?.getAttribute('aria-label')).toBe(de('account_sessions.sign_out_label', { device: de('account.session_device', { browser: 'Safari 17', os: 'iOS 17.5' }) }));
    expect(other.querySelector('.session-methods')?.text).toBe(de('account.session_methods', { methods: de('account.method_pwd') }));
    // The time as German writes it (Intl), inside the catalog's sentence; the instant in datetime.
    const time = other.querySelector('time')!;
    const at = new Date(time.getAttribute('datetime')!);
    const written = new Intl.DateTimeFormat('de', { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' }).format(at);
    expect(time.text).toBe(de('account.session_signed_in', { when: written }));
    expect(written).toMatch(/^\d{1,2}\. \S+ \d{4}, \d\d:\d\d UTC$/);

    // The switcher's choice (a cookie) wins over the browser's Accept-Language; Arabic is written right to left.
    const chose = asPage(await laptop.ua.navigate(`${gatehouse.url}/language/ar?return=/account/sessions`));
    expect(new URL(chose.url).pathname).toBe('/account/sessions');
    const arabic = asPage(await laptop.ua.navigate(`${gatehouse.url}/account/sessions`, { headers: { 'accept-language': 'de' } }));
    expect(arabic.body).toMatch(/<html lang="ar" dir="rtl">/);
    expect(arabic.document.querySelector('h1')?.text).toBe(message('account.sessions_title', undefined, 'ar'));
    expect(arabic.document.querySelectorAll('li.session')[1]!.querySelector('button')?.text).toBe(message('account.sign_out_button', undefined, 'ar'));
  });
});
