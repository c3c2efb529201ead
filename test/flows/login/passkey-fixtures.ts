import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify } from 'jose';

import { systemClock } from '../../../src/clock.ts';
import { passkeysLibrary } from '../../../src/libraries/passkeys.ts';
import type { PasskeysLibrary, PasskeySummary } from '../../../src/libraries/passkeys.ts';
import { secondFactorLibrary } from '../../../src/libraries/second-factor.ts';
import type { StartOptions, TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { AuthorizationRequest } from '../../helpers/relying-party.ts';
import type { SoftwareAuthenticator } from '../../helpers/software-authenticator.ts';
import { totp } from '../../helpers/totp.ts';
import type { Page, UserAgent } from '../../helpers/user-agent.ts';
import { isPage } from '../../helpers/user-agent.ts';

/**
 * What the passkey tests share. Passkeys need an issuer that is a secure context with a domain for
 * the relying party ID: http://localhost:<port> (the usual test issuer, http://127.0.0.1:<port>, is
 * neither a domain nor offered passkeys). The port is chosen first, so the issuer can name it.
 */

async function freePort(): Promise<number> {
  const probe = createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as AddressInfo;
  probe.close();
  await once(probe, 'close');
  return port;
}

/** A test server whose issuer is http://localhost:<port>. */
export async function startLocalhostGatehouse(options: StartOptions = {}): Promise<TestGatehouse> {
  for (let tries = 0; ; tries += 1) {
    const port = await freePort();
    try {
      return await startGatehouse({ ...options, env: { ...options.env, PORT: String(port), ISSUER: `http://localhost:${port}` } });
    } catch (error) {
      // Someone took the port between the probe and the start: another one.
      if (tries >= 3 || !String((error as Error)?.message).includes('EADDRINUSE')) throw error;
    }
  }
}

/** The passkeys library on the test server's store (test setup only: the pages are what is tested). */
export function passkeysOf(gatehouse: TestGatehouse): PasskeysLibrary {
  return passkeysLibrary({ store: gatehouse.store, config: gatehouse.config, clock: systemClock });
}

/** Registers a passkey of `authenticator` to an account, as the account page would. */
export async function registerPasskey(gatehouse: TestGatehouse, account: { id: string; email: string }, authenticator: SoftwareAuthenticator): Promise<PasskeySummary> {
  const passkeys = passkeysOf(gatehouse);
  const options = await passkeys.registrationOptions(account);
  return passkeys.finishRegistration({ accountId: account.id, response: authenticator.register(options), expectedChallenge: options.challenge }, { actor: 'user' });
}

/** Sets an authenticator app up for an account (test setup); returns its secret. */
export async function enrollTotp(gatehouse: TestGatehouse, account: { id: string; email: string }): Promise<string> {
  const factors = secondFactorLibrary({ store: gatehouse.store, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey, clock: systemClock });
  const { secret } = await factors.enrollment(account);
  const activated = await factors.activate(account.id, totp(secret), { actor: 'user' });
  if (!activated.ok) throw new Error(`could not activate the app: ${activated.reason}`);
  return secret;
}

/** The passkey ceremony form of a page (views/partials/passkey-ceremony.eta), if it has one. */
export function ceremonyOn(page: Page): { action: string; kind: string; options: Record<string, unknown> & { challenge: string }; autofill: boolean } | undefined {
  const form = page.document.querySelector('form[data-passkey-ceremony]');
  if (!form) return undefined;
  return {
    action: form.getAttribute('action')!,
    kind: form.getAttribute('data-passkey-ceremony')!,
    options: JSON.parse(form.getAttribute('data-options')!) as Record<string, unknown> & { challenge: string },
    autofill: form.getAttribute('data-autofill') === 'on',
  };
}

export function expectPage(result: Page | { redirectedTo: string }): Page {
  if (!isPage(result)) throw new Error(`expected a page, was redirected to ${result.redirectedTo}`);
  return result;
}

export function expectRedirect(result: Page | { redirectedTo: string }): URL {
  if (isPage(result)) throw new Error(`expected a redirect to the client, got ${result.status} at ${result.url}:\n${result.body.slice(0, 3000)}`);
  return new URL(result.redirectedTo);
}

/** Submits the form whose action matches `action` exactly (UserAgent.submit takes the first that contains a part). */
export async function submitTo(ua: UserAgent, page: Page, action: RegExp, fields: Record<string, string>) {
  const form = page.document.querySelectorAll('form').find((candidate) => action.test(candidate.getAttribute('action') ?? ''));
  if (!form) throw new Error(`no form with action ${action} on ${page.url}`);
  const body = new URLSearchParams();
  for (const input of form.querySelectorAll('input[type=hidden]')) body.set(input.getAttribute('name')!, input.getAttribute('value') ?? '');
  for (const [name, value] of Object.entries(fields)) body.set(name, value);
  return ua.navigate(new URL(form.getAttribute('action')!, page.url).href, { method: 'POST', body });
}

export const heading = (page: Page) => page.document.querySelector('h1')?.text.trim();
/** The page's error (the server's; the script's own message box is empty until it shows one). */
export const errorOn = (page: Page) => page.document.querySelectorAll('[role=alert]').map((each) => each.text.trim()).filter(Boolean).join(' ');

/** Redeems the code and checks the ID token's signature against the provider's JWKS with jose; returns its claims. */
export async function verifiedIdToken(gatehouse: TestGatehouse, config: client.Configuration, request: AuthorizationRequest, callback: URL) {
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: request.codeVerifier, expectedNonce: request.nonce, expectedState: request.state, idTokenExpected: true,
  });
  const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!));
  const { payload } = await jwtVerify(tokens.id_token!, jwks, { issuer: gatehouse.url, audience: config.clientMetadata().client_id });
  return payload as { sub: string; amr?: string[]; acr?: string; auth_time?: number };
}
