import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { describeScope } from '../../src/flows/consent/view.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { asPage, isPage, UserAgent } from '../helpers/user-agent.ts';

/**
 * Remembered consent, against a real relying party: consent is kept per person and client across
 * sessions (a sign-out, another browser), asked again only for what the client asks beyond it, and
 * forgotten when the person removes the app on /account/apps, which also ends its refresh tokens.
 */

const password = 'correct horse battery staple';
let gatehouse: TestGatehouse;
let rp: client.Configuration;
let counter = 0;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Reads', grantTypes: ['authorization_code', 'refresh_token'] }));
});

afterAll(async () => {
  await gatehouse?.stop();
});

async function newPerson(): Promise<{ email: string; password: string }> {
  counter += 1;
  const email = `consent${counter}@example.com`;
  await gatehouse.addUser(email, password);
  return { email, password };
}

type Outcome = { tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers; consentPages: Page[] };

/** Signs in like a person (login form if asked, Allow on every consent page), recording the consent pages met. */
async function signIn(ua: UserAgent, person: { email: string; password: string }, params: Record<string, string> = {}): Promise<Outcome> {
  const request = await authorizationRequest(rp, params);
  const consentPages: Page[] = [];
  let result = await ua.navigate(request.url.href);
  for (let steps = 0; steps < 5 && isPage(result); steps += 1) {
    if (result.document.querySelector('input[name=password]')) result = await ua.submit(result, '/login', person);
    else if (result.document.querySelector('button[value=allow]')) {
      consentPages.push(result);
      result = await ua.submit(result, '/consent', { decision: 'allow' });
    } else throw new Error(`unexpected page ${result.status} at ${result.url}`);
  }
  if (isPage(result)) throw new Error(`sign-in did not finish at ${result.url}`);
  const tokens = await client.authorizationCodeGrant(rp, new URL(result.redirectedTo), {
    pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state, idTokenExpected: true,
  });
  return { tokens, consentPages };
}

/** The permissions a consent page lists. */
const permissions = (page: Page) => page.document.querySelectorAll('ul.permissions li').map((item) => item.text.trim());

/** RP-initiated logout, confirmed on the provider's page: the browser's session ends. */
async function signOut(ua: UserAgent, idToken: string) {
  const logout = asPage(await ua.navigate(client.buildEndSessionUrl(rp, { id_token_hint: idToken }).href));
  await ua.submit(logout, '/session/end/confirm', { logout: 'yes' });
}

async function refreshError(refreshToken: string): Promise<string | undefined> {
  try {
    await client.refreshTokenGrant(rp, refreshToken);
  } catch (error) {
    return (error as { error?: string }).error ?? (error as Error).message;
  }
  return undefined;
}

describe('remembered consent', () => {
  it('asks once: a sign-in after signing out, and one from another browser, go straight through', async () => {
    const alice = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const first = await signIn(ua, alice, { scope: 'openid email' });
    expect(first.consentPages).toHaveLength(1);
    // The consent page says it will not ask again.
    expect(first.consentPages[0]!.document.querySelector('.remembered-consent')?.text).toContain('won\'t be asked again for Reads');
    expect(first.consentPages[0]!.document.querySelector('.remembered-consent a')?.getAttribute('href')).toBe('/account/apps');

    await signOut(ua, first.tokens.id_token!);
    const again = await signIn(ua, alice, { scope: 'openid email' });
    expect(again.consentPages).toHaveLength(0);
    expect((await client.fetchUserInfo(rp, again.tokens.access_token, again.tokens.claims()!.sub)).email).toBe(alice.email);

    const elsewhere = await signIn(new UserAgent(gatehouse.url), alice, { scope: 'openid email' });
    expect(elsewhere.consentPages).toHaveLength(0);
  });

  it('asks only for what the client asks beyond what was allowed, then remembers that too', async () => {
    const bob = await newPerson();
    await signIn(new UserAgent(gatehouse.url), bob, { scope: 'openid email' });
    const more = await signIn(new UserAgent(gatehouse.url), bob, { scope: 'openid email profile' });
    expect(more.consentPages).toHaveLength(1);
    expect(permissions(more.consentPages[0]!)).toEqual([describeScope('profile')]);
    // What was allowed before still holds, beside what was just allowed.
    const info = await client.fetchUserInfo(rp, more.tokens.access_token, more.tokens.claims()!.sub);
    expect(info.email).toBe(bob.email);
    expect(info).toHaveProperty('updated_at');
    const later = await signIn(new UserAgent(gatehouse.url), bob, { scope: 'openid email profile' });
    expect(later.consentPages).toHaveLength(0);
  });

  it('a denied consent is not remembered: the next sign-in asks again', async () => {
    const dana = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    const request = await authorizationRequest(rp, { scope: 'openid email' });
    let result = await ua.navigate(request.url.href);
    result = await ua.submit(asPage(result), '/login', dana);
    const denied = await ua.submit(asPage(result), '/consent', { decision: 'deny' });
    expect(isPage(denied) ? '' : new URL(denied.redirectedTo).searchParams.get('error')).toBe('access_denied');
    const next = await signIn(new UserAgent(gatehouse.url), dana, { scope: 'openid email' });
    expect(next.consentPages).toHaveLength(1);
  });

  it('removing the app on /account/apps ends its refresh token and forgets the consent', async () => {
    const carol = await newPerson();
    const ua = new UserAgent(gatehouse.url);
    // A refresh token needs offline_access, which the provider grants only on a consent page asked for.
    const signedIn = await signIn(ua, carol, { scope: 'openid email offline_access', prompt: 'consent' });
    const refreshToken = signedIn.tokens.refresh_token!;
    expect(refreshToken).toBeTruthy();
    const refreshed = await client.refreshTokenGrant(rp, refreshToken);
    expect(refreshed.access_token).toBeTruthy();

    // The account page in the same browser (its session signs in to the page without a form).
    asPage(await ua.navigate(`${gatehouse.url}/account`));
    const apps = asPage(await ua.navigate(`${gatehouse.url}/account/apps`));
    expect(apps.url).toBe(`${gatehouse.url}/account/apps`);
    const row = apps.document.querySelector(`li[data-client-id="${rp.clientMetadata().client_id}"]`);
    expect(row?.querySelector('.app-name')?.text).toBe('Reads');
    expect(row?.querySelectorAll('.permissions li').map((item) => item.text.trim())).toEqual(expect.arrayContaining([describeScope('email'), describeScope('offline_access')]));
    const removed = asPage(await ua.submit(apps, '/account/apps/revoke', { client: rp.clientMetadata().client_id }));
    expect(removed.status).toBe(200);
    expect(removed.document.querySelector('[role=status]')?.text).toContain('Reads was removed');
    expect(removed.document.querySelector(`li[data-client-id="${rp.clientMetadata().client_id}"]`)).toBeNull();

    expect(await refreshError(refreshed.refresh_token ?? refreshToken)).toBe('invalid_grant');
    // The browser's session no longer vouches for the app, and consent is asked again.
    const again = await signIn(ua, carol, { scope: 'openid email' });
    expect(again.consentPages).toHaveLength(1);
  });
});
