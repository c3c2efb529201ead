import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AccountExport } from '../../../src/libraries/account-deletion.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import { relyingParty, signIn } from '../../helpers/relying-party.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { asPage, UserAgent } from '../../helpers/user-agent.ts';

/** "Export my data" over HTTP with a browser's cookies: the page, the CSRF-protected download, what it holds and what it never does. */

const password = 'correct horse battery staple';

let gatehouse: TestGatehouse;
let rp: client.Configuration;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Export test app' }));
});

afterAll(async () => {
  await gatehouse?.stop();
});

async function exportPage(ua: UserAgent, person: { email: string; password: string }): Promise<Page> {
  let current = asPage(await ua.navigate(`${gatehouse.url}/account/export`));
  if (current.document.querySelector('input[name=password]')) current = asPage(await ua.submit(current, '/login', person));
  if (current.url !== `${gatehouse.url}/account/export`) current = asPage(await ua.navigate(`${gatehouse.url}/account/export`));
  expect(current.status).toBe(200);
  return current;
}

describe('/account/export', () => {
  it('downloads everything about the person as a JSON attachment, never cached, with no secret in it', async () => {
    const person = { email: 'grace@example.com', password };
    const id = await gatehouse.addUser(person.email, password, { name: 'Grace Hopper' });
    const app = await signIn(gatehouse, rp, person, { scope: 'openid email offline_access', prompt: 'consent' });
    const ua = app.ua;
    const page = await exportPage(ua, person);
    expect(page.document.querySelector('h1')?.text).toBe('Export your data');
    const csrf = page.document.querySelector('form[action="/account/export"] input[name=csrf]')?.getAttribute('value');
    expect(csrf).toEqual(expect.any(String));

    const response = await ua.request(`${gatehouse.url}/account/export`, { method: 'POST', body: new URLSearchParams({ csrf: csrf! }) });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="gatehouse-data-\d{4}-\d{2}-\d{2}\.json"$/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const text = await response.text();
    const data = JSON.parse(text) as AccountExport;

    expect(data).toMatchObject({
      format: 'gatehouse-account-export',
      account: { id, email: 'grace@example.com', profile: { name: 'Grace Hopper' } },
      factors: { password: { set: true }, authenticatorApp: null, passkeys: [] },
    });
    expect(data.sessions.length).toBeGreaterThanOrEqual(1);
    expect(data.sessions[0]!.applications).toEqual(expect.arrayContaining([app.request.url.searchParams.get('client_id')]));
    expect(data.grants).toEqual(expect.arrayContaining([expect.objectContaining({ clientId: app.request.url.searchParams.get('client_id'), scopes: expect.arrayContaining(['openid', 'email']) })]));
    expect(data.auditEvents.map((event) => event.type)).toEqual(expect.arrayContaining(['login', 'account_data_exported']));
    // What the account centre saw: the browser of the session, the app with its remembered consent, the device.
    const clientId = app.request.url.searchParams.get('client_id');
    expect(data.sessions[0]!.device).toMatchObject({ userAgent: expect.any(String), sourceAddress: '127.0.0.1' });
    expect(data.applications).toEqual(expect.arrayContaining([expect.objectContaining({ clientId, consentRemembered: true, scopes: expect.arrayContaining(['openid', 'email']) })]));
    expect(data.knownDevices.length).toBeGreaterThanOrEqual(1);

    // Never a hash, a session id, a token or a grant id.
    const stored = (await gatehouse.store.accounts.findById(id))!;
    const sessions = await gatehouse.store.oidc.listByAccountId('Session', id, 10);
    const grants = await gatehouse.store.oidc.listByAccountId('Grant', id, 10);
    for (const secret of [stored.passwordHash!, ...sessions.map((session) => session.id), ...grants.map((grant) => grant.id), app.tokens.access_token, app.tokens.refresh_token!]) {
      expect(text).not.toContain(secret);
    }
  });

  it('refuses a POST without the page\'s form token (403, no data) and sends a signed-out browser to sign in', async () => {
    const person = { email: 'hedy@example.com', password };
    await gatehouse.addUser(person.email, password);
    const ua = new UserAgent(gatehouse.url);
    await exportPage(ua, person);

    const forged = await ua.request(`${gatehouse.url}/account/export`, { method: 'POST', body: new URLSearchParams({ csrf: 'forged' }) });
    expect(forged.status).toBe(403);
    expect(forged.headers.get('content-disposition')).toBeNull();
    expect(await forged.text()).not.toContain('gatehouse-account-export');

    const stranger = await new UserAgent(gatehouse.url).request(`${gatehouse.url}/account/export`, { method: 'POST', body: new URLSearchParams({ csrf: 'x' }) });
    expect(stranger.status).toBe(303);
    expect(stranger.headers.get('location')).toBe('/account');
  });
});
