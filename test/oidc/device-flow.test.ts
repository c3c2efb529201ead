import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLibraries } from '../../src/libraries/index.ts';
import { message } from '../../src/messages/messages.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import { movableClock } from '../helpers/clock.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { relyingParty } from '../helpers/relying-party.ts';
import { runCli } from '../helpers/run-cli.ts';
import { totp } from '../helpers/totp.ts';
import type { Page } from '../helpers/user-agent.ts';
import { alertOf, asPage, isPage, UserAgent } from '../helpers/user-agent.ts';
import { expectFieldProblem, fieldProblem } from '../helpers/field-problems.ts';
import { expectCleanAnswer, expectNoReflectedMarkup, formOf, markupPayloads, rawRequest } from '../helpers/attacker.ts';

/**
 * The device authorization grant (RFC 8628) end to end: a real relying party (openid-client) asks
 * for a code and polls the token endpoint; the person's part is driven over HTTP with cookies, as
 * a browser would (the code page, the device's request, the sign-in with its second factor, the
 * consent page). Time moves with the server's clock, never with sleeps.
 */

const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code';
const password = 'correct horse battery staple';
const clock = movableClock();
let gatehouse: TestGatehouse;
let libraries: Libraries;
let rp: client.Configuration;
let deviceClientId: string;
let people = 0;

beforeAll(async () => {
  gatehouse = await startGatehouse({ clock });
  libraries = createLibraries({ store: gatehouse.store, config: gatehouse.config, clock, outbox: gatehouse.outbox, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey });
  // A device-only public client (a CLI): no redirect URI, registered with the device grant.
  const registered = await gatehouse.addClient({ name: 'Terminal app', public: true, redirectUris: [], postLogoutRedirectUris: [], grantTypes: [deviceGrant, 'refresh_token'] });
  deviceClientId = registered.clientId;
  rp = await relyingParty(gatehouse, registered);
});
afterAll(() => gatehouse?.stop());

async function newPerson(options: { totp?: boolean } = {}): Promise<{ email: string; secret?: string }> {
  people += 1;
  const email = `device${people}@example.com`;
  const id = await gatehouse.addUser(email, password);
  if (!options.totp) return { email };
  const { secret } = await libraries.secondFactor.enrollment({ id, email });
  expect(await libraries.secondFactor.activate(id, totp(secret, 0, clock().getTime()), { actor: 'user' })).toMatchObject({ ok: true });
  return { email, secret };
}

const heading = (page: Page) => page.document.querySelector('h1')?.text.trim();

/** One poll of the token endpoint: the tokens, or the error the provider answered. */
async function poll(deviceCode: string): Promise<{ tokens: client.TokenEndpointResponse } | { error: string; description: string }> {
  try {
    return { tokens: await client.genericGrantRequest(rp, deviceGrant, { device_code: deviceCode }) };
  } catch (error) {
    if (error instanceof client.ResponseBodyError) return { error: error.error, description: error.error_description ?? '' };
    throw error;
  }
}

const errorOf = (result: Awaited<ReturnType<typeof poll>>) => ('error' in result ? result.error : 'tokens');

/** Types `userCode` on the code page; returns the page that follows (the device's request, or the code page again). */
async function typeCode(ua: UserAgent, userCode: string): Promise<Page> {
  const page = asPage(await ua.navigate(`${gatehouse.url}/device`));
  expect(heading(page)).toBe('Connect a device');
  return asPage(await ua.submit(page, '/device', { user_code: userCode }));
}

/**
 * From the device's request page: Continue, sign in (the password, then the second factor when
 * the person has one), allow on the consent page; returns the page it ends on.
 */
async function approve(ua: UserAgent, confirm: Page, person: { email: string; secret?: string }, consent: 'allow' | 'deny' = 'allow'): Promise<Page> {
  let result = await ua.submit(confirm, '/device', { confirm: 'yes' });
  for (let steps = 0; steps < 6 && isPage(result); steps += 1) {
    const page: Page = result;
    if (page.document.querySelector('input[name=password]')) {
      result = await ua.submit(page, '/login', { email: person.email, password });
    } else if (page.document.querySelector('input[name=code]') && page.body.includes('/second-factor')) {
      // The next step's code: the current one was used to set the app up (a code is taken once).
      result = await ua.submit(page, '/second-factor', { code: totp(person.secret!, 30, clock().getTime()) });
    } else if (page.document.querySelector('button[value=allow]')) {
      result = await ua.submit(page, '/consent', { decision: consent });
    } else {
      return page;
    }
  }
  return asPage(result);
}

describe('the device authorization grant (RFC 8628)', () => {
  it('is advertised in discovery, with the grant type', () => {
    const metadata = rp.serverMetadata();
    expect(metadata.device_authorization_endpoint).toBe(`${gatehouse.url}/device/auth`);
    expect(metadata.grant_types_supported).toContain(deviceGrant);
  });

  it('signs a person in with a password and TOTP: pending, then tokens verified against the JWKS', async () => {
    const person = await newPerson({ totp: true });
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid email offline_access' });
    // Two groups of four consonants, easy to read aloud; the interval the RFC defaults to.
    expect(device.user_code).toMatch(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
    expect(device.verification_uri).toBe(`${gatehouse.url}/device`);
    expect(device.interval).toBe(5);
    expect(device.expires_in).toBe(600);
    expect(errorOf(await poll(device.device_code))).toBe('authorization_pending');

    const ua = new UserAgent(gatehouse.url);
    // Typed as people do: lower case, a space instead of the dash.
    const confirm = await typeCode(ua, ` ${device.user_code.toLowerCase().replace('-', ' ')} `);
    expect(heading(confirm)).toBe('Approve this device?');
    expect(confirm.document.querySelector('#user-code')?.text.trim()).toBe(device.user_code);
    expect(confirm.body).toContain('Terminal app');
    // What it asks for, in the consent page's words, and where the device asked from.
    const permissions = confirm.document.querySelectorAll('.permissions li').map((item) => item.text.trim());
    expect(permissions).toEqual([
      'Know who you are (a stable identifier for your account)',
      'See your email address and whether it is verified',
      'Stay connected when you are not using it (keep access after you sign out of it)',
    ]);
    expect(confirm.document.querySelector('.device-info')?.text).toContain('127.0.0.1');

    const done = await approve(ua, confirm, person);
    expect(heading(done)).toBe('Device connected');
    expect(done.body).toContain('Terminal app');

    clock.advance(5_000);
    const result = await poll(device.device_code);
    if (!('tokens' in result)) throw new Error(`expected tokens, got ${result.error}: ${result.description}`);
    const { tokens } = result;
    expect(tokens.refresh_token).toBeTruthy();
    const jwks = createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri!));
    const { payload } = await jwtVerify(tokens.id_token!, jwks, { issuer: gatehouse.url, audience: deviceClientId });
    // The access token works at userinfo, for this person.
    const info = await client.fetchUserInfo(rp, tokens.access_token, payload.sub!);
    expect(info.email).toBe(person.email);
    // The second factor was used, and the ID token says so.
    expect(payload.amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    // The code is used up: a further poll gets nothing.
    clock.advance(5_000);
    expect(errorOf(await poll(device.device_code))).toBe('invalid_grant');
  });

  it('polling faster than the interval gets slow_down, and each one adds 5 seconds', async () => {
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid' });
    expect(errorOf(await poll(device.device_code))).toBe('authorization_pending');
    const tooSoon = await poll(device.device_code);
    expect(tooSoon).toMatchObject({ error: 'slow_down' });
    expect('description' in tooSoon && tooSoon.description).toContain('10 seconds');
    // The first window (5 s) is over: on time, and the next window is 10 s.
    clock.advance(5_000);
    expect(errorOf(await poll(device.device_code))).toBe('authorization_pending');
    clock.advance(5_000);
    expect(await poll(device.device_code)).toMatchObject({ error: 'slow_down', description: expect.stringContaining('15 seconds') });
    clock.advance(15_000);
    expect(errorOf(await poll(device.device_code))).toBe('authorization_pending');
    // A little early (less than the second of tolerance) still counts as on time.
    clock.advance(14_500);
    expect(errorOf(await poll(device.device_code))).toBe('authorization_pending');
  });

  it('slow_down holds across instances: a second server on the same database sees the last poll', async () => {
    const second = await startGatehouse({ dir: gatehouse.dir, clock, env: { ISSUER: gatehouse.url } });
    try {
      const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid' });
      expect(errorOf(await poll(device.device_code))).toBe('authorization_pending');
      const pollSecond = async () => {
        const response = await fetch(`http://127.0.0.1:${second.port}/token`, {
          method: 'POST', body: new URLSearchParams({ grant_type: deviceGrant, device_code: device.device_code, client_id: deviceClientId }),
        });
        return { status: response.status, ...(await response.json() as { error?: string }) };
      };
      expect(await pollSecond()).toMatchObject({ status: 400, error: 'slow_down' });
      clock.advance(10_000);
      expect(await pollSecond()).toMatchObject({ status: 400, error: 'authorization_pending' });
      // And back on the first instance, too soon for the interval (now 10 s).
      clock.advance(5_000);
      expect(errorOf(await poll(device.device_code))).toBe('slow_down');
    } finally {
      // close, not stop: the database directory is the first server's.
      await second.close();
    }
  });

  it('a person who denies on the device page: the device gets access_denied', async () => {
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid' });
    const ua = new UserAgent(gatehouse.url);
    const confirm = await typeCode(ua, device.user_code);
    const denied = asPage(await ua.submit(confirm, '/device', { abort: 'yes' }));
    expect(heading(denied)).toBe('Device not connected');
    expect(denied.status).toBe(200);
    expect(errorOf(await poll(device.device_code))).toBe('access_denied');
    // The code cannot be typed again.
    const again = await typeCode(ua, device.user_code);
    expect(fieldProblem(again, 'user_code')).toContain('already used');
  });

  it('a person who denies on the consent page: the device gets access_denied', async () => {
    const person = await newPerson();
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid email' });
    const ua = new UserAgent(gatehouse.url);
    const done = await approve(ua, await typeCode(ua, device.user_code), person, 'deny');
    expect(heading(done)).toBe('Device not connected');
    expect(errorOf(await poll(device.device_code))).toBe('access_denied');
  });

  it('a code past its lifetime: expired_token for the device, a clear page for the person', async () => {
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid' });
    expect(errorOf(await poll(device.device_code))).toBe('authorization_pending');
    clock.advance(device.expires_in * 1000 + 1_000);
    expect(errorOf(await poll(device.device_code))).toBe('expired_token');
    const page = await typeCode(new UserAgent(gatehouse.url), device.user_code);
    expect(page.status).toBe(400);
    expect(heading(page)).toBe('Connect a device');
  });

  it('a wrong code is a clear 400 page with the form again, never a 500', async () => {
    const ua = new UserAgent(gatehouse.url);
    const wrong = await typeCode(ua, 'BBBB-BBBB');
    expect(wrong.status).toBe(400);
    // Next to the field, which it describes with the hint, focused; the title says what failed.
    expectFieldProblem(wrong, 'user_code', 'That code is not right. Check the code your device shows and type it again.');
    expect(wrong.document.querySelector('#user_code')?.getAttribute('aria-describedby')).toBe('user_code-error user_code-hint');
    expect(wrong.document.querySelector('[role=alert]')).toBeNull();
    expect(wrong.document.querySelector('input[name=user_code]')?.getAttribute('value')).toBe('BBBB-BBBB');
    const empty = await typeCode(ua, '');
    expect(empty.status).toBe(400);
    expectFieldProblem(empty, 'user_code', 'Type the code your device shows.');
    // A form that did not come from the page (no xsrf): the page again, with the error code.
    const forged = asPage(await ua.navigate(`${gatehouse.url}/device`, { method: 'POST', body: new URLSearchParams({ user_code: 'BBBB-BBBB' }) }));
    expect(forged.status).toBe(400);
    expect(forged.body).toContain('invalid_request');
    expect(alertOf(forged)).toBe('This device sign-in cannot continue. Start again on your device.');
    expect(forged.document.querySelector('p.muted code')?.text).toBe('invalid_request');
    expect(forged.body).not.toMatch(/at .*\.js:\d+/);
  });

  it('speaks the browser’s language on the code page and its problems', async () => {
    const headers = { 'accept-language': 'de' };
    const ua = new UserAgent(gatehouse.url);
    const page = asPage(await ua.navigate(`${gatehouse.url}/device`, { headers }));
    expect(page.body).toContain('<html lang="de" dir="ltr">');
    expect(heading(page)).toBe(message('web.device_title', undefined, 'de'));
    expect(page.document.querySelector('label[for=user_code]')?.text).toBe(message('device.code_label', undefined, 'de'));
    const form = formOf(page, '/device');
    const body = new URLSearchParams(form.hidden);
    body.set('user_code', 'BBBB-BBBB');
    const wrong = asPage(await ua.navigate(form.action, { method: 'POST', body, headers }));
    expect(wrong.status).toBe(400);
    expect(fieldProblem(wrong, 'user_code')).toBe('Dieser Code ist nicht richtig. Prüfen Sie den Code, den Ihr Gerät anzeigt, und geben Sie ihn erneut ein.');
  });

  it('verification_uri_complete puts the code in the field; the person still continues and checks it', async () => {
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid' });
    const ua = new UserAgent(gatehouse.url);
    const page = asPage(await ua.navigate(device.verification_uri_complete!));
    expect(page.status).toBe(200);
    expect(page.document.querySelector('input[name=user_code]')?.getAttribute('value')).toBe(device.user_code);
    // No inline script posting it by itself (the provider's default).
    expect(page.body).not.toContain('<script>');
    const confirm = asPage(await ua.submit(page, '/device', {
      user_code: page.document.querySelector('input[name=user_code]')!.getAttribute('value')!,
    }));
    expect(heading(confirm)).toBe('Approve this device?');
  });

  it('hostile input at /device, /device/auth and the device_code grant: clean 4xx answers, nothing reflected as markup', async () => {
    // A refused code's page names the failure in its title ("Error: …", layout.title_error): ours, not a leak.
    const withoutFailureTitle = (body: string) => body.replace(/<title>Error: /, '<title>');
    const ua = new UserAgent(gatehouse.url);
    const form = formOf(asPage(await ua.navigate(`${gatehouse.url}/device`)), '/device');
    const hostile = [...markupPayloads, 'x'.repeat(70_000), '\u0000\uFFFF', '../../etc/passwd', '%00', '🙂'.repeat(40)];
    for (const value of hostile) {
      const label = JSON.stringify(value.slice(0, 30));
      const shown = await rawRequest(gatehouse.url, { method: 'GET', path: `/device?user_code=${encodeURIComponent(value.slice(0, 4_000))}` }, ua);
      expectCleanAnswer(shown, shown.body, `GET /device ${label}`);
      expectNoReflectedMarkup(shown.body, `GET /device ${label}`);
      const body = new URLSearchParams(form.hidden);
      body.set('user_code', value);
      const posted = await rawRequest(gatehouse.url, { method: 'POST', path: '/device', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: body.toString() }, ua);
      expectCleanAnswer(posted, withoutFailureTitle(posted.body), `POST /device ${label}`);
      expectNoReflectedMarkup(posted.body, `POST /device ${label}`);
      for (const [path, field, extra] of [['/device/auth', 'scope', {}], ['/token', 'device_code', { grant_type: deviceGrant }]] as const) {
        const request = new URLSearchParams({ client_id: deviceClientId, ...extra, [field]: value });
        const answer = await rawRequest(gatehouse.url, { method: 'POST', path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: request.toString() });
        expectCleanAnswer(answer, answer.body, `POST ${path} ${label}`);
        // (Unknown scopes are left out of a device authorization, as of an authorization request.)
        if (path === '/token') expect(answer.status, `POST ${path} ${label}`).toBe(400);
      }
    }
    // Invalid UTF-8 in the code.
    const bytes = Buffer.concat([Buffer.from(`${new URLSearchParams(form.hidden).toString()}&user_code=`), Buffer.from([0xff, 0xfe, 0x25, 0x41])]);
    const raw = await rawRequest(gatehouse.url, { method: 'POST', path: '/device', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: bytes }, ua);
    expectCleanAnswer(raw, withoutFailureTitle(raw.body), 'invalid UTF-8');
  });

  it('a client without the device grant is refused at the device authorization endpoint', async () => {
    const webApp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Web app', public: true }));
    // (oidc-provider answers invalid_request for a grant type the client is not registered with.)
    await expect(client.initiateDeviceAuthorization(webApp, { scope: 'openid' })).rejects.toMatchObject({ error: 'invalid_request', error_description: expect.stringContaining('not allowed for this client') });
  });
});

describe('gatehouse clients add --grant-type urn:ietf:params:oauth:grant-type:device_code', () => {
  it('registers a device-only client (public or confidential) without a redirect URI, and shows its grant', async () => {
    const env = gatehouse.env;
    const added = await runCli(['clients', 'add', '--name', 'TV app', '--public', '--grant-type', deviceGrant, '--json'], { env });
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    const created = JSON.parse(added.stdout) as { client_id: string; grant_types: string[]; redirect_uris: string[] };
    expect(created.grant_types).toEqual([deviceGrant]);
    expect(created.redirect_uris).toEqual([]);
    const shown = await runCli(['clients', 'show', created.client_id], { env });
    expect(shown.stdout).toContain(deviceGrant);

    const confidential = await runCli(['clients', 'add', '--name', 'Kiosk', '--grant-type', deviceGrant, '--grant-type', 'refresh_token', '--json'], { env });
    expect(confidential.code).toBe(0);
    const kiosk = JSON.parse(confidential.stdout) as { client_id: string; client_secret?: string };
    expect(kiosk.client_secret).toBeTruthy();
    const kioskRp = await relyingParty(gatehouse, { clientId: kiosk.client_id, clientSecret: kiosk.client_secret! });
    const device = await client.initiateDeviceAuthorization(kioskRp, { scope: 'openid' });
    expect(device.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);

    // An existing web client gains the grant with clients update.
    const web = await gatehouse.addClient({ name: 'Web and TV' });
    const updated = await runCli(['clients', 'update', '--id', web.clientId, '--grant-type', 'authorization_code', '--grant-type', deviceGrant], { env });
    expect(updated.code).toBe(0);
    expect((await runCli(['clients', 'show', web.clientId], { env })).stdout).toContain(deviceGrant);

    // A refresh token alone is still refused, in one readable line.
    const refused = await runCli(['clients', 'add', '--name', 'x', '--grant-type', 'refresh_token'], { env });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
  });
});
