import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { clientIdMetadataDocumentDraft } from '../../src/oidc/configuration.ts';
import { redirectUri, startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startHttpsServer } from '../helpers/mcp-tls.ts';
import type { TestHttpsServer } from '../helpers/mcp-tls.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

const alice = { email: 'alice@example.com', password: 'alice has a long password' };

type Served = { status?: number; type?: string; body: string; headers?: Record<string, string>; delayMs?: number };

/** An https server on loopback serving metadata documents by path, counting requests. */
let documents: TestHttpsServer;
const served = new Map<string, Served>();
const requests = new Map<string, number>();

function documentFor(path: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    client_id: `${documents.origin}${path}`,
    client_name: 'Trusted Bank Agent',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    ...overrides,
  };
}

function serve(path: string, document: Record<string, unknown> | string, options: Omit<Served, 'body'> = {}): string {
  served.set(path, { type: 'application/json', ...options, body: typeof document === 'string' ? document : JSON.stringify(document) });
  return `${documents.origin}${path}`;
}

/** Starts an authorization request as openid-client builds it, with the document URL as client_id. */
async function authorize(gatehouse: TestGatehouse, clientId: string, ua = new UserAgent(gatehouse.url), extra: Record<string, string> = {}) {
  const config = await client.discovery(new URL(gatehouse.url), clientId, undefined, client.None(), { execute: [client.allowInsecureRequests] });
  const codeVerifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri, scope: 'openid', state: client.randomState(),
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256', ...extra,
  });
  return { config, codeVerifier, url, ua, result: await ua.navigate(url.href) };
}

/** The OAuth error an authorization request ended in (the provider's error page shows it; no redirect to an unverified client). */
function errorOf(result: Awaited<ReturnType<typeof authorize>>['result']): string {
  if (!isPage(result)) return `redirected to ${result.redirectedTo}`;
  expect(result.status).toBeGreaterThanOrEqual(400);
  return /invalid_client_metadata|invalid_client|invalid_redirect_uri|invalid_request/u.exec(result.body)?.[0] ?? result.body;
}

beforeAll(async () => {
  documents = await startHttpsServer((req, res) => {
    const path = new URL(req.url!, 'https://x').pathname;
    requests.set(path, (requests.get(path) ?? 0) + 1);
    const document = served.get(path);
    if (!document) return res.writeHead(404).end();
    setTimeout(() => {
      res.writeHead(document.status ?? 200, { ...(document.type ? { 'content-type': document.type } : {}), ...document.headers }).end(document.body);
    }, document.delayMs ?? 0);
  });
});
afterAll(() => documents.close());

describe('Client ID Metadata Documents (development: loopback allowed)', () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse({
      env: { CLIENT_ID_METADATA_DOCUMENTS: 'on' },
      adjust: (config) => ({ ...config, dynamicClients: { ...config.dynamicClients, fetchTimeoutSeconds: 0.5, maxDocumentBytes: 5120 } }),
    });
    await gatehouse.addUser(alice.email, alice.password);
  });
  afterAll(() => gatehouse.stop());

  it('advertises the support, as the draft the provider implements', async () => {
    expect(clientIdMetadataDocumentDraft).toBe('draft-02');
    const metadata = await (await fetch(`${gatehouse.url}/.well-known/oauth-authorization-server`)).json() as Record<string, unknown>;
    expect(metadata.client_id_metadata_document_supported).toBe(true);
  });

  it('signs a person in to a client described by its document; the consent page shows the verified host', async () => {
    const clientId = serve('/good.json', documentFor('/good.json'));
    const { result, ua, config, codeVerifier } = await authorize(gatehouse, clientId);
    if (!isPage(result)) throw new Error(`expected the login page, went to ${result.redirectedTo}`);
    const consent = await ua.submit(result, '/login', alice);
    if (!isPage(consent)) throw new Error('expected the consent page');
    const host = new URL(documents.origin).host;
    expect(consent.body).toContain('Trusted Bank Agent');
    expect(consent.body).toContain(`from ${host}`);
    expect(consent.body).toContain(`described by ${host}`);
    const landed = await ua.submit(consent, '/consent', { decision: 'allow' });
    if (isPage(landed)) throw new Error(`expected a redirect, got ${landed.body}`);
    const tokens = await client.authorizationCodeGrant(config, new URL(landed.redirectedTo), { pkceCodeVerifier: codeVerifier, expectedState: client.skipStateCheck });
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.claims()?.aud).toBe(clientId);
    // Nothing stored: a document's client lives in the provider's cache only.
    expect(await gatehouse.store.clients.find(clientId)).toBeUndefined();
  });

  it('refuses each bad document with an OAuth error, storing nothing', async () => {
    const cases: Array<[string, string]> = [
      [serve('/huge.json', documentFor('/huge.json', { client_name: 'x'.repeat(10_000) })), 'invalid_client'],
      [serve('/slow.json', documentFor('/slow.json'), { delayMs: 1500 }), 'invalid_client'],
      [serve('/html.json', documentFor('/html.json'), { type: 'text/html' }), 'invalid_client'],
      [serve('/untyped.json', documentFor('/untyped.json'), { type: '' }), 'invalid_client'],
      [serve('/someone-else.json', documentFor('/other.json')), 'invalid_client_metadata'],
      [serve('/not-json.json', '<html>'), 'invalid_client'],
      [serve('/secret.json', documentFor('/secret.json', { token_endpoint_auth_method: 'client_secret_basic' })), 'invalid_client_metadata'],
      [serve('/first-party.json', documentFor('/first-party.json', { first_party: true })), 'invalid_client_metadata'],
      [serve('/http-redirect-uri.json', documentFor('/http-redirect-uri.json', { redirect_uris: [redirectUri, 'http://evil.example/cb'] })), 'invalid_redirect_uri'],
      [serve('/moved.json', '', { status: 302, headers: { location: 'http://169.254.169.254/latest/meta-data/' } }), 'invalid_client'],
      [serve('/moved-locally.json', '', { status: 307, headers: { location: `${documents.origin}/good.json` } }), 'invalid_client'],
      [serve('/gone.json', '', { status: 404 }), 'invalid_client'],
      // A private address is refused before anything is sent (outside production too).
      ['https://10.0.0.1/client.json', 'invalid_client'],
      ['https://[fd00::1]/client.json', 'invalid_client'],
    ];
    for (const [clientId, error] of cases) {
      const { result } = await authorize(gatehouse, clientId);
      expect({ clientId, error: errorOf(result) }).toEqual({ clientId, error });
    }
    expect(await gatehouse.store.clients.list()).toEqual([]);
  });

  it('refuses a document whose redirect URIs do not include the one asked for', async () => {
    const clientId = serve('/elsewhere.json', documentFor('/elsewhere.json', { redirect_uris: ['https://app.example/cb'] }));
    const { result } = await authorize(gatehouse, clientId);
    expect(errorOf(result)).toBe('invalid_redirect_uri');
  });

  it('uses a document as fetched for a bounded time, and judges it anew when it changed', async () => {
    const clientId = serve('/changing.json', documentFor('/changing.json'));
    expect(isPage((await authorize(gatehouse, clientId)).result)).toBe(true);
    expect(requests.get('/changing.json')).toBe(1);
    // It now claims another client's id: the copy fetched stays in use until it expires…
    serve('/changing.json', documentFor('/changing.json', { client_id: `${documents.origin}/good.json` }));
    const again = await authorize(gatehouse, clientId);
    expect(isPage(again.result) && again.result.status).toBe(200);
    expect(requests.get('/changing.json')).toBe(1);
    // …and once it has (at most an hour), the new document is fetched and refused.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3_601_000 });
    try {
      expect(errorOf((await authorize(gatehouse, clientId)).result)).toBe('invalid_client_metadata');
      expect(requests.get('/changing.json')).toBeGreaterThanOrEqual(2);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Client ID Metadata Documents from listed hosts only', () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse({ env: { CLIENT_ID_METADATA_DOCUMENTS: 'on', CLIENT_ID_METADATA_DOCUMENT_HOSTS: 'agents.example' } });
  });
  afterAll(() => gatehouse.stop());

  it('never fetches a document from a host not on the list', async () => {
    const clientId = serve('/unlisted.json', documentFor('/unlisted.json'));
    const { result } = await authorize(gatehouse, clientId);
    expect(errorOf(result)).toBe('invalid_client');
    expect(requests.get('/unlisted.json')).toBeUndefined();
  });
});

describe('Client ID Metadata Documents off (the default)', () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse();
  });
  afterAll(() => gatehouse.stop());

  it('treats an https client_id as an unknown client and fetches nothing', async () => {
    const clientId = serve('/off.json', documentFor('/off.json'));
    const { result } = await authorize(gatehouse, clientId);
    expect(errorOf(result)).toBe('invalid_client');
    expect(requests.get('/off.json')).toBeUndefined();
  });
});
