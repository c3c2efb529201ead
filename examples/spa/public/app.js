// @ts-check
/* global document, fetch, Headers, history, location, sessionStorage, URL, URLSearchParams -- the browser's; tsc checks them (tsconfig.json here) */
/**
 * A single-page app that signs in with Gatehouse and calls an API, entirely in the browser:
 * the authorization code flow with PKCE as a public client (no secret), with oauth4webapi.
 * Tokens are kept in memory only (a variable of this module), never in localStorage; the refresh
 * token is rotated by Gatehouse on every use. They are DPoP-bound (RFC 9449): made with a key pair
 * this page creates when it redeems the code, which cannot be exported, so a stolen token is
 * useless without it (Gatehouse, the refresh and the API all ask for a proof of the key).
 */
import * as oauth from 'oauth4webapi';

/**
 * What the page's server tells it (/config.json).
 * @typedef {{ issuer: string, clientId: string, redirectUri: string, scope: string, api: { url: string, resource: string } }} SpaConfig
 */
/**
 * @typedef {{ accessToken: string, refreshToken?: string, idToken: string, claims: oauth.IDToken, expiresAt?: Date, refreshes: number }} Tokens
 */

const config = /** @type {SpaConfig} */ (await (await fetch('/config.json')).json());
const issuer = new URL(config.issuer);
// oauth4webapi refuses plain http; allow it only for a Gatehouse in development on this machine.
const http = ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname) ? { [oauth.allowInsecureRequests]: true } : {};
const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, http));
/** @type {oauth.Client} */
const client = { client_id: config.clientId };
const clientAuth = oauth.None();
// RFC 8707: ask for access tokens whose audience is the API.
const resource = { resource: config.api.resource };

/** @type {Tokens | undefined} */
let tokens;
/** The DPoP handle of these tokens' key (oauth4webapi keeps the servers' nonces in it). @type {oauth.DPoPHandle | undefined} */
let dpop;

/**
 * A request made again once when the server asks for a DPoP nonce (use_dpop_nonce): the handle
 * has kept the nonce the answer carried.
 * @template T
 * @param {() => Promise<T>} request
 * @returns {Promise<T>}
 */
async function withNonce(request) {
  try {
    return await request();
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error;
    return request();
  }
}

/** @param {string} id */
const element = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @param {string} message */
function status(message) {
  element('status').textContent = message;
}

function render() {
  element('signed-out').hidden = Boolean(tokens);
  element('signed-in').hidden = !tokens;
  if (!tokens) return;
  const { claims } = tokens;
  element('who').textContent = String(claims.name ?? claims.email ?? claims.sub);
  element('claims').textContent = JSON.stringify(claims, null, 2);
  element('expires').textContent = tokens.expiresAt?.toISOString() ?? 'unknown';
  element('refreshes').textContent = String(tokens.refreshes);
}

/**
 * @param {oauth.TokenEndpointResponse} response
 * @param {Tokens} [previous]
 * @returns {Tokens}
 */
function keep(response, previous) {
  const claims = oauth.getValidatedIdTokenClaims(response) ?? previous?.claims;
  const idToken = response.id_token ?? previous?.idToken;
  if (!claims || !idToken) throw new Error('no ID token');
  const refreshToken = response.refresh_token ?? previous?.refreshToken;
  return {
    accessToken: response.access_token,
    ...(refreshToken ? { refreshToken } : {}),
    idToken,
    claims,
    ...(response.expires_in ? { expiresAt: new Date(Date.now() + response.expires_in * 1000) } : {}),
    refreshes: previous ? previous.refreshes + 1 : 0,
  };
}

async function login() {
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  // Only what must survive the round trip to Gatehouse, in this tab, removed on return.
  sessionStorage.setItem('pending-login', JSON.stringify({ codeVerifier, state, nonce }));
  const url = new URL(/** @type {string} */ (as.authorization_endpoint));
  url.search = new URLSearchParams({
    client_id: config.clientId,
    redirect_uri: config.redirectUri,
    response_type: 'code',
    scope: config.scope,
    code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    // OpenID Connect grants offline_access (the refresh token) only with prompt=consent.
    prompt: 'consent',
    ...resource,
  }).toString();
  location.assign(url);
}

/** Back from Gatehouse with ?code=… (or ?error=…). */
async function completeLogin() {
  const current = new URL(location.href);
  const pending = sessionStorage.getItem('pending-login');
  sessionStorage.removeItem('pending-login');
  // The code must not stay in the address bar or the history.
  history.replaceState(null, '', '/');
  if (!pending) throw new Error('no sign-in was in progress');
  const { codeVerifier, state, nonce } = JSON.parse(pending);
  const params = oauth.validateAuthResponse(as, client, current, state);
  dpop = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
  const handle = dpop;
  tokens = keep(await withNonce(async () => oauth.processAuthorizationCodeResponse(as, client, await oauth.authorizationCodeGrantRequest(
    as, client, clientAuth, params, config.redirectUri, codeVerifier, { ...http, additionalParameters: resource, DPoP: handle },
  ), { expectedNonce: nonce, requireIdToken: true })));
}

async function refresh() {
  if (!tokens?.refreshToken || !dpop) throw new Error('no refresh token');
  const { refreshToken } = tokens;
  const handle = dpop;
  try {
    tokens = keep(await withNonce(async () => oauth.processRefreshTokenResponse(as, client, await oauth.refreshTokenGrantRequest(
      as, client, clientAuth, refreshToken, { ...http, additionalParameters: resource, DPoP: handle },
    ))), tokens);
  } catch (error) {
    // invalid_grant: revoked, expired, or reused. The person must sign in again.
    if (error instanceof oauth.ResponseBodyError) tokens = undefined;
    throw error;
  }
}

/**
 * @param {string} method
 * @param {unknown} [body]
 */
async function callApi(method, body) {
  if (!tokens || !dpop) throw new Error('not signed in');
  // "DPoP <token>" with a proof of the key for this method, URL and token.
  const { accessToken } = tokens;
  const handle = dpop;
  /** @type {Response} */
  let response;
  try {
    response = await withNonce(() => oauth.protectedResourceRequest(
      accessToken, method, new URL('/notes', config.api.url),
      new Headers(body ? { 'content-type': 'application/json' } : {}), body ? JSON.stringify(body) : null, { ...http, DPoP: handle },
    ));
  } catch (error) {
    // A 401 or 403 with a challenge: shown below like any other answer.
    if (!(error instanceof oauth.WWWAuthenticateChallengeError)) throw error;
    response = error.response;
  }
  const challenge = response.headers.get('www-authenticate');
  element('api-result').textContent = `${response.status}${challenge ? `\nWWW-Authenticate: ${challenge}` : ''}\n${JSON.stringify(await response.json(), null, 2)}`;
}

async function logout() {
  if (!tokens) return;
  const { idToken, refreshToken } = tokens;
  tokens = undefined;
  dpop = undefined;
  // The refresh token would outlive the session at Gatehouse: revoke it first.
  if (refreshToken) {
    await oauth.processRevocationResponse(await oauth.revocationRequest(as, client, clientAuth, refreshToken, http)).catch(() => undefined);
  }
  const url = new URL(/** @type {string} */ (as.end_session_endpoint));
  url.search = new URLSearchParams({ client_id: config.clientId, id_token_hint: idToken, post_logout_redirect_uri: config.redirectUri }).toString();
  location.assign(url);
}

/**
 * Runs an action from a button, then shows the outcome.
 * @param {string} id
 * @param {() => Promise<void>} action
 * @param {string} done
 */
function onClick(id, action, done) {
  element(id).addEventListener('click', () => {
    status('Working…');
    action().then(
      () => status(done),
      (/** @type {unknown} */ error) => status(`Failed: ${error instanceof Error ? error.message : String(error)}`),
    ).finally(render);
  });
}

onClick('login', login, 'Redirecting to Gatehouse…');
onClick('call-api', () => callApi('GET'), 'Called the API.');
onClick('add-note', () => callApi('POST', { text: /** @type {HTMLInputElement} */ (element('note')).value }), 'Sent the note.');
onClick('refresh', refresh, 'Tokens refreshed.');
onClick('logout', logout, 'Signing out…');

const returned = new URLSearchParams(location.search);
if (returned.has('code') || returned.has('error')) {
  try {
    await completeLogin();
    status('Signed in.');
  } catch (error) {
    status(`Sign-in failed: ${error instanceof oauth.AuthorizationResponseError ? (error.error_description ?? error.error) : /** @type {Error} */ (error).message}`);
  }
} else {
  status('Ready.');
}
render();
