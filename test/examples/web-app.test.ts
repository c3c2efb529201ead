import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startWebApp } from '../../examples/web-app/app.ts';
import type { RunningWebApp } from '../../examples/web-app/app.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { signInThroughPages } from '../helpers/relying-party.ts';
import { cliFor } from '../helpers/run-cli.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';
import { freePort } from './ports.ts';

const ada = { email: 'ada@example.com', password: 'analytical engine notes' };

let gatehouse: TestGatehouse;
let webApp: RunningWebApp;
/** What reached Gatehouse, as "METHOD /path". */
const seen: string[] = [];

beforeAll(async () => {
  gatehouse = await startGatehouse();
  await gatehouse.addUser(ada.email, ada.password, { name: 'Ada Lovelace' });
  gatehouse.httpServer.on('request', (req) => seen.push(`${req.method} ${new URL(req.url!, gatehouse.url).pathname}`));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // What its README tells an integrator to register: a confidential client.
  const registered = await gatehouse.addClient({
    name: 'Example web app', redirectUris: [`${base}/callback`], postLogoutRedirectUris: [`${base}/`], backchannelLogoutUri: `${base}/backchannel-logout`,
  });
  webApp = await startWebApp({ issuer: gatehouse.url, clientId: registered.clientId, clientSecret: registered.clientSecret!, host: '127.0.0.1', port });
});

afterAll(async () => {
  await webApp?.close();
  await gatehouse?.stop();
});

/** Follows the app's own redirect after the callback and returns the page it ends on. */
async function land(ua: UserAgent, url: string) {
  const result = await ua.navigate(url);
  return ua.page(isPage(result) ? url : result.redirectedTo);
}

describe('the example web app', () => {
  it('logs in, shows the claims, refreshes, and logs out through Gatehouse', async () => {
    const ua = new UserAgent(gatehouse.url);
    const start = await ua.page(`${webApp.url}/`);
    expect(start.document.querySelector('a[href="/login"]')?.text).toBe('Login with Gatehouse');

    // Login button → Gatehouse's login and consent pages → back at the callback.
    const callback = await signInThroughPages(ua, new URL(`${webApp.url}/login`), ada);
    expect(`${callback.origin}${callback.pathname}`).toBe(`${webApp.url}/callback`);
    const home = await land(ua, callback.href);
    expect(home.document.querySelector('#who')?.text).toBe('Ada Lovelace');
    const cells = home.document.querySelectorAll('th').map((th) => `${th.text}=${th.nextElementSibling?.text}`);
    expect(cells).toEqual(expect.arrayContaining([`iss=${gatehouse.url}`, 'email=ada@example.com', 'email_verified=true', 'name=Ada Lovelace']));
    expect(home.document.querySelector('#refreshes')?.text).toBe('0');
    expect(seen).toEqual(expect.arrayContaining(['POST /token', 'GET /me']));

    // Refresh: a refresh_token grant at Gatehouse, new tokens, userinfo again.
    seen.length = 0;
    const refreshed = await ua.submit(home, '/refresh');
    expect(isPage(refreshed) ? refreshed.url : refreshed.redirectedTo).toBe(`${webApp.url}/`);
    const after = await ua.page(`${webApp.url}/`);
    expect(after.document.querySelector('#refreshes')?.text).toBe('1');
    expect(after.document.querySelector('[role=status]')?.text).toBe('Tokens refreshed.');
    expect(seen).toEqual(['POST /token', 'GET /me']);

    // Logout: the refresh token is revoked, then Gatehouse's logout page sends us back to the app.
    seen.length = 0;
    const logout = await ua.submit(after, '/logout');
    if (!isPage(logout)) throw new Error(`expected Gatehouse's logout page, went to ${logout.redirectedTo}`);
    expect(seen).toContain('POST /token/revocation');
    expect(logout.body).toContain('Sign out?');
    const back = await ua.submit(logout, '/session/end/confirm', { logout: 'yes' });
    if (isPage(back)) throw new Error(`expected a redirect to the app: ${back.body}`);
    expect(back.redirectedTo).toBe(`${webApp.url}/`);
    const out = await ua.page(back.redirectedTo);
    expect(out.body).toContain('You are not signed in.');

    // Signed out at Gatehouse too: logging in again asks for the password.
    const again = await ua.navigate(`${webApp.url}/login`);
    expect(isPage(again) && again.document.querySelector('input[name=password]')).toBeTruthy();
  });

  it('refreshes no more once the grant is gone, and asks to log in again', async () => {
    const ua = new UserAgent(gatehouse.url);
    const home = await land(ua, (await signInThroughPages(ua, new URL(`${webApp.url}/login`), ada)).href);
    expect(home.document.querySelector('#who')?.text).toBe('Ada Lovelace');
    // The account's grants are revoked at Gatehouse (as when it is disabled).
    await gatehouse.store.oidc.revokeByAccountId((await gatehouse.store.accounts.findByEmail(ada.email))!.id);
    await ua.submit(home, '/refresh');
    const after = await ua.page(`${webApp.url}/`);
    expect(after.body).toContain('You are not signed in.');
    expect(after.document.querySelector('[role=status]')?.text).toContain('Log in again');
  });

  it('ends its own session when Gatehouse sends a logout token (an operator signed the person out)', async () => {
    const ua = new UserAgent(gatehouse.url);
    const home = await land(ua, (await signInThroughPages(ua, new URL(`${webApp.url}/login`), ada)).href);
    expect(home.document.querySelector('#who')?.text).toBe('Ada Lovelace');

    // A forged token is refused and ends nothing.
    const forged = await fetch(`${webApp.url}/backchannel-logout`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: 'eyJhbGciOiJub25lIiwidHlwIjoibG9nb3V0K2p3dCJ9.eyJzdWIiOiJ4In0.' }),
    });
    expect(forged.status).toBe(400);
    expect((await ua.page(`${webApp.url}/`)).document.querySelector('#who')?.text).toBe('Ada Lovelace');

    const run = await cliFor(gatehouse.env)(['users', 'sign-out', '--email', ada.email]);
    expect(run.code, run.stderr).toBe(0);
    await gatehouse.deliverLogouts();

    expect((await ua.page(`${webApp.url}/`)).body).toContain('You are not signed in.');
    const delivered = (await gatehouse.store.audit.tail({ limit: 50 })).filter((event) => event.type === 'backchannel_logout.delivered');
    expect(delivered.at(-1)).toMatchObject({ details: { reason: 'sign_out' } });
  });

  it('shows why when the person denies consent', async () => {
    const ua = new UserAgent(gatehouse.url);
    const callback = await signInThroughPages(ua, new URL(`${webApp.url}/login`), ada, { consent: 'deny' });
    expect(callback.searchParams.get('error')).toBe('access_denied');
    const page = await ua.page(callback.href);
    expect(page.status).toBe(400);
    expect(page.body).toContain('Sign-in failed');
  });
});
