import * as client from 'openid-client';

import type { TestGatehouse } from './gatehouse.ts';
import { redirectUri } from './gatehouse.ts';
import type { Page } from './user-agent.ts';
import { isPage, UserAgent } from './user-agent.ts';

/** A real relying party (openid-client) registered at the test provider. */
export async function relyingParty(gatehouse: TestGatehouse, registered: { clientId: string; clientSecret?: string }): Promise<client.Configuration> {
  const auth = registered.clientSecret ? client.ClientSecretBasic(registered.clientSecret) : client.None();
  return client.discovery(new URL(gatehouse.url), registered.clientId, registered.clientSecret, auth, { execute: [client.allowInsecureRequests] });
}

export type AuthorizationRequest = {
  url: URL;
  codeVerifier: string;
  nonce: string;
  state: string;
};

export async function authorizationRequest(config: client.Configuration, params: Record<string, string> = {}): Promise<AuthorizationRequest> {
  const codeVerifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid email profile',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    nonce,
    state,
    ...params,
  });
  return { url, codeVerifier, nonce, state };
}

/**
 * Drives the provider's pages like a person: opens the authorization URL, fills the login form,
 * allows on the consent page if one appears, and returns the URL the browser lands on at the client.
 */
export async function signInThroughPages(
  ua: UserAgent,
  url: URL,
  credentials: { email: string; password: string },
  options: { consent?: 'allow' | 'deny' } = {},
): Promise<URL> {
  let result = await ua.navigate(url.href);
  for (let steps = 0; steps < 5 && isPage(result); steps += 1) {
    const page: Page = result;
    if (page.document.querySelector('input[name=password]')) {
      result = await ua.submit(page, '/login', credentials);
    } else if (page.document.querySelector('button[value=allow]')) {
      result = await ua.submit(page, '/consent', { decision: options.consent ?? 'allow' });
    } else {
      throw new Error(`unexpected page ${page.status} at ${page.url}:\n${page.body}`);
    }
  }
  if (isPage(result)) throw new Error(`sign-in did not finish: ${result.url}`);
  return new URL(result.redirectedTo);
}

/** The whole code + PKCE flow, returning the token response. */
export async function signIn(
  gatehouse: TestGatehouse,
  config: client.Configuration,
  credentials: { email: string; password: string },
  params: Record<string, string> = {},
  ua = new UserAgent(gatehouse.url),
) {
  const request = await authorizationRequest(config, params);
  const callback = await signInThroughPages(ua, request.url, credentials);
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: request.codeVerifier,
    expectedNonce: request.nonce,
    expectedState: request.state,
    idTokenExpected: true,
  });
  return { tokens, request, callback, ua };
}
