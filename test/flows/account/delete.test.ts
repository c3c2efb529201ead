import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createLibraries } from '../../../src/libraries/index.ts';
import type { Libraries } from '../../../src/libraries/index.ts';
import { movableClock } from '../../helpers/clock.ts';
import type { MovableClock } from '../../helpers/clock.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signIn } from '../../helpers/relying-party.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { alertOf, asPage, isPage, UserAgent } from '../../helpers/user-agent.ts';
import { fieldProblem as fieldErrorOf } from '../../helpers/field-problems.ts';

/**
 * "Delete my account" over HTTP with a browser's cookies: a fresh sign-in, the typed confirmation,
 * the request ending every session (a real relying party's refresh token fails; its back-channel
 * logout receiver gets a token), the grace period's sign-in offering to keep the account, the
 * sweep erasing it afterwards (the injected clock), and the address free again.
 */

const password = 'correct horse battery staple';
const day = 86_400_000;

type Receiver = { url: string; server: Server; tokens: string[] };

async function startReceiver(): Promise<Receiver> {
  const receiver: Receiver = { url: '', server: createServer(), tokens: [] };
  receiver.server.on('request', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('logout_token');
      if (token) receiver.tokens.push(token);
      res.writeHead(token ? 200 : 400, { 'cache-control': 'no-store' }).end();
    });
  });
  receiver.server.listen(0, '127.0.0.1');
  await once(receiver.server, 'listening');
  receiver.url = `http://127.0.0.1:${(receiver.server.address() as AddressInfo).port}/backchannel-logout`;
  return receiver;
}

let clock: MovableClock;
let gatehouse: TestGatehouse;
let receiver: Receiver;
let registered: { clientId: string; clientSecret?: string };
let rp: client.Configuration;
let libraries: Libraries;
let counter = 0;

beforeAll(async () => {
  clock = movableClock();
  gatehouse = await startGatehouse({ clock });
  receiver = await startReceiver();
  registered = await gatehouse.addClient({ name: 'Receiving app', backchannelLogoutUri: receiver.url });
  rp = await relyingParty(gatehouse, registered);
  libraries = createLibraries({
    store: gatehouse.store, config: gatehouse.config, clock, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey, outbox: { send: async () => undefined },
  });
});

afterAll(async () => {
  await gatehouse?.stop();
  receiver?.server.close();
});

async function newPerson(name: string) {
  counter += 1;
  const email = `${name.toLowerCase()}${counter}@example.com`;
  const id = await gatehouse.addUser(email, password, { name });
  return { id, email, password };
}

/** Signs in to the account page in a new browser and opens /account/delete. */
async function deletePage(person: { email: string; password: string }, ua = new UserAgent(gatehouse.url)): Promise<{ ua: UserAgent; page: Page }> {
  let current = asPage(await ua.navigate(`${gatehouse.url}/account/delete`));
  if (current.document.querySelector('form[action$="/login"]')) current = asPage(await ua.submit(current, '/login', person));
  // The sign-in lands on the overview; the section is one link away.
  if (current.url !== `${gatehouse.url}/account/delete`) current = asPage(await ua.navigate(`${gatehouse.url}/account/delete`));
  expect(current.status).toBe(200);
  return { ua, page: current };
}

async function tokenError(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { error?: string }).error ?? (error as Error).message;
  }
  return undefined;
}

describe('/account/delete', () => {
  it('is linked from the overview, explains, and refuses without the typed confirmation or the form token', async () => {
    const person = await newPerson('Ada');
    const { ua, page } = await deletePage(person);
    const overview = asPage(await ua.navigate(`${gatehouse.url}/account`));
    expect(overview.document.querySelector('a[href="/account/delete"]')?.text).toBe('Delete my account');
    expect(overview.document.querySelector('a[href="/account/export"]')).not.toBeNull();
    expect(page.body).toContain('erased after 7 days');

    const wrong = asPage(await ua.submit(page, '/account/delete', { confirm: 'delete please' }));
    expect(wrong.status).toBe(400);
    // Said at the field to retype, in words without any internal prefix.
    expect(fieldErrorOf(wrong, 'confirm')).toBe(`To confirm, type your email address (${person.email}) or DELETE.`);
    expect(wrong.document.querySelector('[role=alert]')).toBeNull();
    const forged = await ua.request(`${gatehouse.url}/account/delete`, { method: 'POST', body: new URLSearchParams({ confirm: 'DELETE' }) });
    expect(forged.status).toBe(403);
    expect((await libraries.accounts.findById(person.id))?.deleteAfter).toBeUndefined();
  });

  it('answers bad input with a 4xx page, never an error: a repeated, huge or missing confirmation, a repeated choice', async () => {
    const person = await newPerson('Ivy');
    const { ua, page } = await deletePage(person);
    const csrf = page.document.querySelector('form[action="/account/delete"] input[name=csrf]')!.getAttribute('value')!;
    for (const body of [
      `csrf=${csrf}&confirm=DELETE&confirm=DELETE`, `csrf=${csrf}&confirm=${'x'.repeat(5000)}`, `csrf=${csrf}`, `csrf=${csrf}&confirm=%00DELETE`,
    ]) {
      const response = await ua.request(`${gatehouse.url}/account/delete`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      expect(response.status, body.slice(0, 60)).toBe(400);
      expect(await response.text()).toContain('To confirm, type your email address');
    }
    expect((await libraries.accounts.findById(person.id))?.deleteAfter).toBeUndefined();

    await libraries.accountDeletion.request(person.id, { actor: 'user' });
    // Requested beside the server (as the CLI would): its read cache may hold the account for up to a second.
    clock.advance(2_000);
    const other = new UserAgent(gatehouse.url);
    const login = asPage(await other.navigate((await authorizationRequest(rp, { scope: 'openid' })).url.href));
    const offer = asPage(await other.submit(login, '/login', person));
    const action = new URL(offer.document.querySelector('form')!.getAttribute('action')!, offer.url).href;
    const token = offer.document.querySelector('input[name=csrf]')!.getAttribute('value')!;
    const repeated = await other.request(action, { method: 'POST', body: `csrf=${token}&choice=keep&choice=delete`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(repeated.status).toBe(400);
    expect(await repeated.text()).toContain('Choose Keep my account or Continue to delete.');
    const forged = await other.request(action, { method: 'POST', body: new URLSearchParams({ choice: 'keep' }) });
    expect(forged.status).toBe(403);
    expect((await libraries.accounts.findById(person.id))?.deleteAfter).toBeInstanceOf(Date);
  });

  it('asks for a fresh sign-in when the one behind the page is older than five minutes', async () => {
    const person = await newPerson('Bea');
    const { ua, page } = await deletePage(person);
    clock.advance(6 * 60_000);
    let stale: Page;
    try {
      stale = asPage(await ua.navigate(`${gatehouse.url}/account/delete`));
      expect(stale.document.querySelector('form[action="/account/delete"]')).toBeNull();
      expect(stale.document.querySelector('form[action="/account/reauthenticate"]')).not.toBeNull();
      const refused = asPage(await ua.submit(page, '/account/delete', { confirm: 'DELETE' }));
      expect(refused.status).toBe(403);
      expect(alertOf(refused)).toBe('To delete your account, sign in again first.');
    } finally {
      // oidc-provider dates the new sign-in by the system clock: back to it before signing in again.
      clock.advance(-6 * 60_000);
    }
    // Signing in again (prompt=login) makes it fresh.
    const login = asPage(await ua.submit(stale, '/account/reauthenticate'));
    expect(login.document.querySelector('input[name=password]')).not.toBeNull();
    asPage(await ua.submit(login, '/login', person));
    const fresh = asPage(await ua.navigate(`${gatehouse.url}/account/delete`));
    expect(fresh.document.querySelector('form[action="/account/delete"]')).not.toBeNull();
    expect((await libraries.accounts.findById(person.id))?.deleteAfter).toBeUndefined();
  });

  it('schedules the deletion: every session ends, the app\'s refresh token fails and its receiver gets a logout token', async () => {
    const person = await newPerson('Cleo');
    const app = await signIn(gatehouse, rp, person, { scope: 'openid offline_access', prompt: 'consent' });
    expect(app.tokens.refresh_token).toEqual(expect.any(String));
    const { ua, page } = await deletePage(person);
    const before = receiver.tokens.length;

    const done = asPage(await ua.submit(page, '/account/delete', { confirm: ` ${person.email.toUpperCase()} ` }));
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your account will be deleted');
    const deleteAfter = (await libraries.accounts.findById(person.id))?.deleteAfter;
    expect(deleteAfter).toBeInstanceOf(Date);
    expect(Math.abs(deleteAfter!.getTime() - (clock().getTime() + 7 * day))).toBeLessThan(60_000);

    // Signed out here (the account page asks to sign in again) and in the app.
    const again = asPage(await ua.navigate(`${gatehouse.url}/account`));
    expect(again.document.querySelector('input[name=password]')).not.toBeNull();
    expect(await tokenError(client.refreshTokenGrant(rp, app.tokens.refresh_token!))).toBe('invalid_grant');
    expect((await client.tokenIntrospection(rp, app.tokens.access_token)).active).toBe(false);
    await gatehouse.deliverLogouts();
    const tokens = receiver.tokens.slice(before);
    expect(tokens.length).toBeGreaterThanOrEqual(1);
    const jwks = createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri!));
    const { payload } = await jwtVerify(tokens.at(-1)!, jwks, { issuer: gatehouse.url, audience: registered.clientId, typ: 'logout+jwt' });
    expect(payload.sub).toBe(person.id);
    expect(payload.sid).toBe(app.tokens.claims()!.sid);

    const events = await gatehouse.store.audit.tail({ limit: 50, accountId: person.id });
    expect(events.find((event) => event.type === 'account_deletion_requested')).toMatchObject({ actor: 'user', sourceAddress: expect.any(String) });
    expect(events.filter((event) => event.type === 'backchannel_logout.queued').map((event) => event.details.reason)).toContain('account_deleted');
  });

  it('during the grace period, signing in offers to keep the account: Continue to delete tells the app access_denied, Keep cancels and signs in', async () => {
    const person = await newPerson('Dora');
    await libraries.accountDeletion.request(person.id, { actor: 'user' });
    const ua = new UserAgent(gatehouse.url);

    const offer = async () => {
      const request = await authorizationRequest(rp, { scope: 'openid' });
      let page = asPage(await ua.navigate(request.url.href));
      // The first time through the login page; afterwards the browser's session goes straight on.
      if (page.document.querySelector('input[name=password]')) page = asPage(await ua.submit(page, '/login', person));
      expect(page.document.querySelector('h1')?.text).toBe('Your account is scheduled for deletion');
      return { request, page };
    };

    const first = await offer();
    expect(first.page.body).toContain(person.email);
    const declined = await ua.submit(first.page, '/pending-deletion', { choice: 'delete' });
    expect(isPage(declined)).toBe(false);
    const refused = new URL((declined as { redirectedTo: string }).redirectedTo);
    expect(refused.searchParams.get('error')).toBe('access_denied');
    expect((await libraries.accounts.findById(person.id))?.deleteAfter).toBeInstanceOf(Date);

    // A choice that is neither is refused with the page again.
    const second = await offer();
    const neither = asPage(await ua.submit(second.page, '/pending-deletion', { choice: 'maybe' }));
    expect(neither.status).toBe(400);
    let kept = await ua.submit(neither, '/pending-deletion', { choice: 'keep' });
    // Then the sign-in goes on as any: this app asks for consent.
    if (isPage(kept)) kept = await ua.submit(kept, '/consent', { decision: 'allow' });
    expect(isPage(kept)).toBe(false);
    const callback = new URL((kept as { redirectedTo: string }).redirectedTo);
    expect(callback.searchParams.get('code')).toEqual(expect.any(String));
    const tokens = await client.authorizationCodeGrant(rp, callback, {
      pkceCodeVerifier: second.request.codeVerifier, expectedNonce: second.request.nonce, expectedState: second.request.state, idTokenExpected: true,
    });
    expect(tokens.claims()!.sub).toBe(person.id);
    expect((await libraries.accounts.findById(person.id))?.deleteAfter).toBeUndefined();
    const types = (await gatehouse.store.audit.tail({ limit: 50, accountId: person.id })).map((event) => event.type);
    expect(types).toEqual(expect.arrayContaining(['account_deletion_requested', 'account_deletion_cancelled']));
  });

  it('the sweep erases the account once the grace period has passed; the address can be registered again', async () => {
    const person = await newPerson('Erin');
    await signIn(gatehouse, rp, person, { scope: 'openid offline_access', prompt: 'consent' });
    await libraries.accountDeletion.request(person.id, { actor: 'user' });
    clock.advance(7 * day - 60_000);
    try {
      expect(await libraries.accountDeletion.sweep()).toBe(0);
      expect(await libraries.accounts.findById(person.id)).toBeDefined();
      clock.advance(120_000);
      expect(await libraries.accountDeletion.sweep()).toBeGreaterThanOrEqual(1);
    } finally {
      clock.advance(-(7 * day + 60_000));
    }
    expect(await libraries.accounts.findByEmail(person.email)).toBeUndefined();
    expect(await gatehouse.store.oidc.listByAccountId('Grant', person.id, 10)).toEqual([]);

    // The login page no longer knows the address; registering it makes a new account.
    const ua = new UserAgent(gatehouse.url);
    const login = asPage(await ua.navigate((await authorizationRequest(rp, { scope: 'openid' })).url.href));
    const refused = asPage(await ua.submit(login, '/login', person));
    expect(refused.status).toBeGreaterThanOrEqual(400);
    const id = await gatehouse.addUser(person.email, password);
    expect(id).not.toBe(person.id);
  });

  it('is not found, and not linked, where self-deletion is off', async () => {
    const closed = await startGatehouse({ adjust: (config) => ({ ...config, accounts: { ...config.accounts, registration: 'closed', selfDeletion: 'off' } }) });
    try {
      await closed.addUser('fay@example.com', password);
      const ua = new UserAgent(closed.url);
      let current = asPage(await ua.navigate(`${closed.url}/account`));
      current = asPage(await ua.submit(current, '/login', { email: 'fay@example.com', password }));
      expect(current.url).toBe(`${closed.url}/account`);
      expect(current.document.querySelector('a[href="/account/delete"]')).toBeNull();
      expect(current.document.querySelector('a[href="/account/export"]')).not.toBeNull();
      const missing = asPage(await ua.navigate(`${closed.url}/account/delete`));
      expect(missing.status).toBe(404);
      expect(missing.body).not.toMatch(/at .*\.ts:\d+/);
      const posted = await ua.request(`${closed.url}/account/delete`, { method: 'POST', body: new URLSearchParams({ confirm: 'DELETE' }) });
      expect(posted.status).toBe(404);
    } finally {
      await closed.stop();
    }
  });
});
