#!/usr/bin/env node
/**
 * A command-line MCP client that signs you in and calls `whoami`:
 *
 *   node examples/mcp-server/connect.ts [http://localhost:8083/mcp]
 *
 * It registers itself with Gatehouse by dynamic client registration (Gatehouse must run with
 * CLIENT_REGISTRATION=open), prints the authorization URL to open in a browser, waits on a loopback
 * redirect URI for the code, then calls the tool. With CLIENT_METADATA_URL=https://…/client.json
 * (a document you host, naming this client's redirect URI) it uses that URL as its client_id
 * instead, when Gatehouse supports Client ID Metadata Documents.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { codeFromCallback, InMemoryOAuthClientProvider } from './client.ts';

const serverUrl = new URL(process.argv[2] ?? 'http://localhost:8083/mcp');
const callbackPort = Number(process.env.CALLBACK_PORT ?? 8090);

// The redirect URI: a loopback listener that receives the browser once, with the code.
const callbacks = createServer();
callbacks.listen(callbackPort, '127.0.0.1');
await once(callbacks, 'listening');
const redirectUrl = `http://127.0.0.1:${(callbacks.address() as AddressInfo).port}/callback`;
const callback = new Promise<URL>((resolve) => {
  callbacks.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', redirectUrl);
    if (url.pathname !== '/callback') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('Signed in. You can close this tab and go back to the terminal.');
    resolve(url);
  });
});

const provider = new InMemoryOAuthClientProvider({
  redirectUrl,
  clientMetadata: {
    client_name: 'Gatehouse example MCP client',
    redirect_uris: [redirectUrl],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  },
  ...(process.env.CLIENT_METADATA_URL ? { clientMetadataUrl: process.env.CLIENT_METADATA_URL } : {}),
  onAuthorizationUrl(url) {
    console.log(`Open this URL in a browser to sign in:\n\n  ${url.href}\n`);
  },
});

const client = new Client({ name: 'gatehouse-example-mcp-client', version: '1.0.0' });
const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
try {
  await client.connect(transport);
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
  // The SDK followed the 401 to Gatehouse, registered, and printed the URL (above): wait for the
  // browser, redeem the code, and connect again with the token.
  await transport.finishAuth(codeFromCallback(await callback, provider.expectedState));
  await client.connect(new StreamableHTTPClientTransport(serverUrl, { authProvider: provider }));
}
callbacks.close();

const result = await client.callTool({ name: 'whoami' });
console.log(JSON.stringify(result.structuredContent ?? result.content, null, 2));
await client.close();
