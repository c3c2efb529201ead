import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { relyingParty } from '../../helpers/relying-party.ts';
import { SoftwareAuthenticator } from '../../helpers/software-authenticator.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { asPage, isPage, UserAgent } from '../../helpers/user-agent.ts';
import { ceremonyOn, registerPasskey, startLocalhostGatehouse } from '../login/passkey-fixtures.ts';

/**
 * The sign-in between the device's code and its tokens is the normal interaction: here a passkey
 * alone (a software authenticator answering the login page's ceremony over HTTP), on an issuer
 * that is a secure context (http://localhost).
 */

const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code';
let gatehouse: TestGatehouse;

beforeAll(async () => {
  gatehouse = await startLocalhostGatehouse();
});
afterAll(() => gatehouse?.stop());

describe('device sign-in with a passkey', () => {
  it('types the code, signs in with a passkey alone, allows; the device gets tokens saying so', async () => {
    const email = 'pat@example.com';
    const id = await gatehouse.addUser(email, 'pat has a passphrase too');
    const authenticator = new SoftwareAuthenticator({ origin: gatehouse.url });
    await registerPasskey(gatehouse, { id, email }, authenticator);
    const registered = await gatehouse.addClient({ name: 'Console', public: true, redirectUris: [], postLogoutRedirectUris: [], grantTypes: [deviceGrant] });
    const rp = await relyingParty(gatehouse, registered);
    const device = await client.initiateDeviceAuthorization(rp, { scope: 'openid' });

    const ua = new UserAgent(gatehouse.url);
    const codePage = asPage(await ua.navigate(device.verification_uri_complete!));
    const confirm = asPage(await ua.submit(codePage, '/device', { user_code: device.user_code }));
    let result = await ua.submit(confirm, '/device', { confirm: 'yes' });
    for (let steps = 0; steps < 4 && isPage(result); steps += 1) {
      const page: Page = result;
      const ceremony = ceremonyOn(page);
      if (page.document.querySelector('input[name=password]') && ceremony) {
        result = await ua.submit(page, ceremony.action, { response: JSON.stringify(authenticator.authenticate(ceremony.options as never)) });
      } else if (page.document.querySelector('button[value=allow]')) {
        result = await ua.submit(page, '/consent', { decision: 'allow' });
      } else {
        break;
      }
    }
    const done = asPage(result);
    expect(done.document.querySelector('h1')?.text.trim()).toBe('Device connected');

    const tokens = await client.genericGrantRequest(rp, deviceGrant, { device_code: device.device_code });
    const { payload } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(rp.serverMetadata().jwks_uri!)), { issuer: gatehouse.url, audience: registered.clientId });
    expect(payload.sub).toBe(id);
    // A passkey with user verification: more than one factor, no password.
    expect(payload.amr).toEqual(expect.arrayContaining(['user']));
    expect(payload.amr).not.toContain('pwd');
  });
});
