import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeScope } from '../../../src/flows/consent/view.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signIn } from '../../helpers/relying-party.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { alertOf, asPage, UserAgent } from '../../helpers/user-agent.ts';

/**
 * /account/apps over HTTP against real relying parties: what each app may read, when allowed and
 * last used; the account page and first-party apps marked; removing an app ends its refresh and
 * access tokens and its place in the browser's session, tells it by back-channel logout, and
 * forgets the consent.
 */

const password = 'correct horse battery staple';
let gatehouse: TestGatehouse;
let notes: client.Configuration;
let notesId: string;
let intranet: client.Configuration;
let counter = 0;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  const registered = await gatehouse.addClient({
    name: 'Notes', grantTypes: ['authorization_code', 'refresh_token'], logoUri: 'https://cdn.notes.example/logo.png',
    backchannelLogoutUri: 'http://127.0.0.1:9/backchannel-logout',
  });
  notesId = registered.clientId;
  notes = await relyingParty(gatehouse, registered);
  intranet = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Intranet', firstParty: true }));
});

afterAll(async () => {
  await gatehouse?.stop();
});

async function newPerson(): Promise<{ id: string; email: string; password: string }> {
  counter += 1;
  const email = `apps${counter}@example.com`;
  const id = await gatehouse.addUser(email, password);
  return { id, email, password };
}

async function appsPage(ua: UserAgent): Promise<Page> {
  asPage(await ua.navigate(`${gatehouse.url}/account`));
  const page = asPage(await ua.navigate(`${gatehouse.url}/account/apps`));
  expect(page.url).toBe(`${gatehouse.url}/account/apps`);
  return page;
}

const row = (page: Page, clientId: string) => page.document.querySelector(`li[data-client-id="${clientId}"]`);

async function tokenError(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { error?: string }).error ?? (error as Error).message;
  }
  return undefined;
}

describe('the connected apps page', () => {
  it('shows what each app may read, when it was allowed and last used, and marks this service\'s own', async () => {
    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const { tokens } = await signIn(gatehouse, notes, person, { scope: 'openid email offline_access', prompt: 'consent' }, ua);
    await client.refreshTokenGrant(notes, tokens.refresh_token!);
    await signIn(gatehouse, intranet, person, { scope: 'openid profile' }, ua);

    const page = await appsPage(ua);
    const app = row(page, notesId)!;
    expect(app.querySelector('.app-name')?.text).toBe('Notes');
    expect(app.querySelectorAll('.permissions li').map((item) => item.text.trim())).toEqual([
      describeScope('openid'), describeScope('email'), describeScope('offline_access'),
    ]);
    expect(app.text).toMatch(/Allowed [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s[AP]M UTC/);
    expect(app.text).toMatch(/last used [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s[AP]M UTC/);
    expect(app.querySelector('.app-first-party')).toBeNull();
    // An operator's logo is shown only once fetched and served from our origin (src/web/client-logo.ts);
    // this one's host cannot be reached, so none — and no other origin may serve the page an image.
    expect(app.querySelector('img.app-logo')).toBeNull();
    expect(page.headers.get('content-security-policy')).toContain("img-src 'self' data:;");

    const own = row(page, intranet.clientMetadata().client_id)!;
    expect(own.querySelector('.app-first-party')).not.toBeNull();
    expect(own.querySelector('form')).not.toBeNull();
    const accountPage = row(page, 'gatehouse-account')!;
    expect(accountPage.querySelector('.app-name')?.text).toBe('This account page');
    expect(accountPage.querySelector('form')).toBeNull();
  });

  it('removing an app ends its tokens and its sign-in, tells it, and asks consent again', async () => {
    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const { tokens } = await signIn(gatehouse, notes, person, { scope: 'openid email offline_access', prompt: 'consent' }, ua);
    const elsewhere = await signIn(gatehouse, notes, person, { scope: 'openid email offline_access', prompt: 'consent' });
    const userinfo = await client.fetchUserInfo(notes, tokens.access_token, tokens.claims()!.sub);
    expect(userinfo.email).toBe(person.email);

    const page = await appsPage(ua);
    const done = asPage(await ua.submit(page, '/account/apps/revoke', { client: notesId }));
    expect(done.status).toBe(200);
    expect(done.document.querySelector('[role=status]')?.text).toContain('Notes was removed');
    expect(row(done, notesId)).toBeNull();

    // Refresh tokens of every session, and the access token, stop working.
    expect(await tokenError(client.refreshTokenGrant(notes, tokens.refresh_token!))).toBe('invalid_grant');
    expect(await tokenError(client.refreshTokenGrant(notes, elsewhere.tokens.refresh_token!))).toBe('invalid_grant');
    expect(await tokenError(client.fetchUserInfo(notes, tokens.access_token, tokens.claims()!.sub))).toBeDefined();
    // The browser's session no longer vouches for the app: a silent sign-in needs consent again.
    const silent = await ua.navigate((await authorizationRequest(notes, { prompt: 'none', scope: 'openid email' })).url.href);
    expect('redirectedTo' in silent && new URL(silent.redirectedTo).searchParams.get('error')).toBe('consent_required');

    const events = await gatehouse.store.audit.tail({ limit: 50, accountId: person.id });
    expect(events.find((event) => event.type === 'app_revoked')).toMatchObject({ clientId: notesId, actor: 'user', details: { grants: 2, remembered: true } });
    // One back-channel logout per session signed in to the app: this browser's and the other's.
    expect(events.filter((event) => event.type === 'backchannel_logout.queued' && event.clientId === notesId)).toHaveLength(2);
  });

  it('refuses the account page itself, an app without access, and a bad form', async () => {
    const person = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    await signIn(gatehouse, notes, person, { scope: 'openid email' }, ua);
    const page = await appsPage(ua);

    const self = asPage(await ua.submit(page, '/account/apps/revoke', { client: 'gatehouse-account' }));
    expect(self.status).toBe(409);
    expect(alertOf(self)).toContain('sign out');

    const unknown = asPage(await ua.submit(page, '/account/apps/revoke', { client: 'never-used' }));
    expect(unknown.status).toBe(404);

    const empty = asPage(await ua.submit(page, '/account/apps/revoke', { client: '' }));
    expect(empty.status).toBe(400);

    const forged = asPage(await ua.submit(page, '/account/apps/revoke', { client: notesId, csrf: 'forged' }));
    expect(forged.status).toBe(403);
    expect(row(forged, notesId)).not.toBeNull();
  });
});
