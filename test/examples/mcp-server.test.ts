import type { IncomingMessage } from 'node:http';

import { UnauthorizedError, discoverOAuthServerInfo } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import { decodeJwt } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { codeFromCallback, InMemoryOAuthClientProvider } from '../../examples/mcp-server/client.ts';
import { startMcpServer } from '../../examples/mcp-server/server.ts';
import type { RunningMcpServer } from '../../examples/mcp-server/server.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { startHttpsServer } from '../helpers/mcp-tls.ts';
import type { TestHttpsServer } from '../helpers/mcp-tls.ts';
import { relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';
import { freePort } from './ports.ts';

const otherApi = 'https://other.example.test';
const alice = { email: 'alice@example.com', password: 'correct horse battery staple' };
const bob = { email: 'bob@example.com', password: 'tr0ub4dor &3 but longer' };

let gatehouse: TestGatehouse;
let mcp: RunningMcpServer;
let people: { alice: string; bob: string };
let redirectUrl: string;
/** The MCP request an MCP client opens with. */
const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '0' } } };

beforeAll(async () => {
  gatehouse = await startGatehouse({ env: { CLIENT_REGISTRATION: 'open', CLIENT_ID_METADATA_DOCUMENTS: 'on' } });
  mcp = await startMcpServer({ issuer: gatehouse.url, host: '127.0.0.1' });
  // The operator registers the MCP server as an API, its URL as the identifier (the tokens' audience).
  await gatehouse.addApi({ identifier: mcp.resource, name: 'Example MCP server', scopes: ['mcp:tools', 'mcp:other'] });
  await gatehouse.addApi({ identifier: otherApi, scopes: ['mcp:tools'] });
  people = {
    alice: await gatehouse.addUser(alice.email, alice.password, { name: 'Alice' }),
    bob: await gatehouse.addUser(bob.email, bob.password, { name: 'Bob' }),
  };
  // Where the browser is sent back with the code: a loopback URL (the user agent stops there).
  redirectUrl = `http://127.0.0.1:${await freePort()}/callback`;
});

afterAll(async () => {
  await mcp?.close();
  await gatehouse?.stop();
});

const clientMetadata = (): OAuthClientMetadata => ({
  client_name: 'Test agent',
  redirect_uris: [redirectUrl],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
});

/**
 * The person, in a browser: opens the authorization URL, signs in, allows on the consent page (kept
 * for the test to read), and lands on the client's redirect URI.
 */
async function signInAsBrowser(url: URL, person: { email: string; password: string }): Promise<{ callback: URL; consent: Page }> {
  const ua = new UserAgent(gatehouse.url);
  let consent: Page | undefined;
  let result = await ua.navigate(url.href);
  for (let steps = 0; steps < 5 && isPage(result); steps += 1) {
    const page: Page = result;
    if (page.document.querySelector('input[name=password]')) {
      result = await ua.submit(page, '/login', person);
    } else if (page.document.querySelector('button[value=allow]')) {
      consent = page;
      result = await ua.submit(page, '/consent', { decision: 'allow' });
    } else {
      throw new Error(`unexpected page ${page.status} at ${page.url}:\n${page.body}`);
    }
  }
  if (isPage(result)) throw new Error(`sign-in did not finish: ${result.url}`);
  if (!consent) throw new Error('no consent page was shown');
  return { callback: new URL(result.redirectedTo), consent };
}

/** What the consent page says about the application: its name, its host, the notice. */
function consentSays(page: Page) {
  const text = (selector: string) => page.document.querySelector(selector)?.text.replace(/\s+/g, ' ').trim();
  return { name: text('h1 + p strong'), host: text('.client-host'), notice: text('.client-notice'), permissions: page.document.querySelectorAll('.permissions li').map((li) => li.text.trim()) };
}

/**
 * What an MCP client does, with the SDK's Client and its OAuth support: connect, be refused, find
 * Gatehouse, register (unless `provider` already is), send the person through the sign-in pages (as
 * a browser would), redeem the code, connect again and call `whoami`.
 */
async function signInAndCallWhoami(person: { email: string; password: string }, provider: InMemoryOAuthClientProvider, authorizationUrls: URL[]) {
  const transport = new StreamableHTTPClientTransport(new URL(mcp.url), { authProvider: provider });
  const mcpClient = new Client({ name: 'test-agent', version: '1.0.0' });
  await expect(mcpClient.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
  const authorizationUrl = authorizationUrls.at(-1)!;
  const { callback, consent } = await signInAsBrowser(authorizationUrl, person);
  expect(callback.href.startsWith(`${redirectUrl}?`)).toBe(true);
  await transport.finishAuth(codeFromCallback(callback, provider.expectedState));

  await mcpClient.connect(new StreamableHTTPClientTransport(new URL(mcp.url), { authProvider: provider }));
  const tools = await mcpClient.listTools();
  const result = await mcpClient.callTool({ name: 'whoami' });
  await mcpClient.close();
  return { authorizationUrl, consent: consentSays(consent), tools: tools.tools.map((tool) => tool.name), answer: result.structuredContent as { sub: string; client_id: string; scopes: string[] }, text: result.content };
}

function newProvider(authorizationUrls: URL[], extra: { clientMetadataUrl?: string } = {}) {
  return new InMemoryOAuthClientProvider({ redirectUrl, clientMetadata: clientMetadata(), ...extra, onAuthorizationUrl: (url) => void authorizationUrls.push(url) });
}

describe('the example MCP server', () => {
  it('answers an MCP request without a token with 401 and where to find its protected resource metadata', async () => {
    const response = await fetch(mcp.url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify(initialize) });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${mcp.resource}/.well-known/oauth-protected-resource"`);

    const metadata = await fetch(`${mcp.resource}/.well-known/oauth-protected-resource`);
    expect(metadata.status).toBe(200);
    expect(await metadata.json()).toMatchObject({ resource: mcp.resource, authorization_servers: [gatehouse.url], scopes_supported: ['mcp:tools'], bearer_methods_supported: ['header'] });
  });

  it('leads the SDK to Gatehouse (RFC 9728, then RFC 8414 metadata)', async () => {
    const info = await discoverOAuthServerInfo(mcp.url);
    expect(info.authorizationServerUrl).toBe(gatehouse.url);
    expect(info.resourceMetadata?.resource).toBe(mcp.resource);
    expect(info.authorizationServerMetadata).toMatchObject({
      issuer: gatehouse.url,
      code_challenge_methods_supported: ['S256'],
      registration_endpoint: expect.any(String),
      client_id_metadata_document_supported: true,
    });
    // The RFC 8414 document itself, not only OpenID Connect discovery.
    const rfc8414 = await fetch(`${gatehouse.url}/.well-known/oauth-authorization-server`);
    expect(rfc8414.status).toBe(200);
    expect(await rfc8414.json()).toMatchObject({ issuer: gatehouse.url, registration_endpoint: expect.any(String) });
  });
});

describe('an MCP client built on the SDK, registering by dynamic client registration', () => {
  it('signs a person in and calls whoami as them; a second person gets theirs', async () => {
    const urls: URL[] = [];
    const provider = newProvider(urls);
    const first = await signInAndCallWhoami(alice, provider, urls);

    // It registered itself (RFC 7591): a public client, with the redirect URI it asked for.
    const registered = (await provider.clientInformation())!;
    expect(registered.client_id).toBeTruthy();
    expect('client_secret' in registered && registered.client_secret).toBeFalsy();
    expect((await gatehouse.store.clients.find(registered.client_id))?.metadata).toMatchObject({ redirect_uris: [redirectUrl], token_endpoint_auth_method: 'none' });

    // Code flow with PKCE and the resource indicator; the scopes the MCP server published.
    const params = first.authorizationUrl.searchParams;
    expect(Object.fromEntries(params)).toMatchObject({ client_id: registered.client_id, response_type: 'code', code_challenge_method: 'S256', resource: mcp.resource, scope: 'mcp:tools', redirect_uri: redirectUrl });
    const accessToken = (await provider.tokens())!.access_token;
    expect(decodeJwt(accessToken)).toMatchObject({ iss: gatehouse.url, aud: mcp.resource, sub: people.alice, client_id: registered.client_id, scope: 'mcp:tools' });

    // The consent page names it as it named itself, and says nobody reviewed it.
    expect(first.consent.name).toBe('Test agent');
    expect(first.consent.host).toBeUndefined();
    expect(first.consent.notice).toContain('This application registered itself');
    expect(first.consent.permissions).toEqual(['Use the permission “mcp:tools”']);

    expect(first.tools).toEqual(['whoami']);
    expect(first.answer).toEqual({ sub: people.alice, client_id: registered.client_id, scopes: ['mcp:tools'] });
    expect(first.text).toEqual([{ type: 'text', text: `You are ${people.alice}, signed in through ${registered.client_id}, with the scopes mcp:tools.` }]);

    // The same agent (already registered), another person.
    const bobUrls: URL[] = [];
    const forBob = newProvider(bobUrls);
    forBob.saveClientInformation(registered);
    const second = await signInAndCallWhoami(bob, forBob, bobUrls);
    expect(second.answer).toEqual({ sub: people.bob, client_id: registered.client_id, scopes: ['mcp:tools'] });
    expect(await gatehouse.store.clients.list()).toHaveLength(1); // no second registration
  });
});

describe('an MCP client built on the SDK, identified by a Client ID Metadata Document', () => {
  let documents: TestHttpsServer;
  let clientId: string;
  const fetched: string[] = [];

  beforeAll(async () => {
    // The client's metadata document, on https (the SDK and oidc-provider both require it) on a
    // loopback address (allowed by Gatehouse outside production only).
    documents = await startHttpsServer((req: IncomingMessage, res) => {
      fetched.push(req.url ?? '');
      if (req.url !== '/agent/client.json') return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(JSON.stringify({
        client_id: clientId,
        client_name: 'Metadata document agent',
        client_uri: documents.origin,
        redirect_uris: [redirectUrl],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      }));
    });
    clientId = `${documents.origin}/agent/client.json`;
  });

  afterAll(async () => {
    await documents?.close();
  });

  it('signs two people in with no registration at all: the client_id is the document\'s URL', async () => {
    const urls: URL[] = [];
    const before = (await gatehouse.store.clients.list()).length;
    const provider = newProvider(urls, { clientMetadataUrl: clientId });
    const first = await signInAndCallWhoami(alice, provider, urls);
    expect((await provider.clientInformation())?.client_id).toBe(clientId);
    expect(first.authorizationUrl.searchParams.get('client_id')).toBe(clientId);
    expect(first.authorizationUrl.searchParams.get('resource')).toBe(mcp.resource);
    expect(first.answer).toEqual({ sub: people.alice, client_id: clientId, scopes: ['mcp:tools'] });
    expect(fetched).toContain('/agent/client.json'); // Gatehouse read the document
    // The consent page shows the host the document came from, the one thing Gatehouse verified.
    const host = new URL(documents.origin).host;
    expect(first.consent).toMatchObject({ name: 'Metadata document agent', host: `from ${host}` });
    expect(first.consent.notice).toContain(`This application is described by ${host}`);

    const bobUrls: URL[] = [];
    const second = await signInAndCallWhoami(bob, newProvider(bobUrls, { clientMetadataUrl: clientId }), bobUrls);
    expect(second.answer).toEqual({ sub: people.bob, client_id: clientId, scopes: ['mcp:tools'] });
    expect((await gatehouse.store.clients.list()).length).toBe(before); // nothing registered
  });
});

describe('tokens the MCP server refuses', () => {
  let issue: (resource: string, scope: string) => Promise<string>;

  beforeAll(async () => {
    const worker = await gatehouse.addClient({ name: 'A worker', grantTypes: ['client_credentials'], redirectUris: [], postLogoutRedirectUris: [] });
    const rp = await relyingParty(gatehouse, worker);
    issue = (resource, scope) => client.clientCredentialsGrant(rp, { resource, scope }).then((tokens) => tokens.access_token);
  });

  const callWith = (token: string) => fetch(mcp.url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(initialize),
  });

  it('refuses a token Gatehouse issued for another resource (401 invalid_token)', async () => {
    const token = await issue(otherApi, 'mcp:tools');
    expect(decodeJwt(token).aud).toBe(otherApi);
    const response = await callWith(token);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(`Bearer error="invalid_token", error_description="the access token is not valid", resource_metadata="${mcp.resource}/.well-known/oauth-protected-resource"`);
  });

  it('refuses a token for it without the mcp:tools scope (403 insufficient_scope)', async () => {
    const response = await callWith(await issue(mcp.resource, 'mcp:other'));
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(response.headers.get('www-authenticate')).toContain('scope="mcp:tools"');
  });

  it('accepts a token for it with the scope (the same request)', async () => {
    const response = await callWith(await issue(mcp.resource, 'mcp:tools'));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'gatehouse-example-mcp-server' } } });
  });

  it('refuses a token that is not a JWT of Gatehouse\'s', async () => {
    const response = await callWith('not-a-token');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});
