#!/usr/bin/env node
/**
 * `npm run demo`: Gatehouse (development, the default SQLite database under data/) and the three
 * examples wired together. The first run registers their clients, their API and a demo user; later
 * runs find and reuse them. The examples themselves know nothing of Gatehouse's code: only this
 * launcher does.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { systemClock } from '../src/clock.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { isGatehouseError } from '../src/errors.ts';
import { createLogger } from '../src/logger.ts';
import type { AuditSource, Libraries } from '../src/libraries/index.ts';
import { createLibraries } from '../src/libraries/index.ts';
import type { NewClientInput } from '../src/libraries/clients.ts';
import { startServer } from '../src/server.ts';
import { startApi } from './api/server.ts';
import { startSpa } from './spa/server.ts';
import { startWebApp } from './web-app/app.ts';

export type DemoUrls = { webApp: string; spa: string; api: string };

export const defaultDemoUrls: DemoUrls = { webApp: 'http://localhost:8080', spa: 'http://localhost:8081', api: 'http://localhost:8082' };

/**
 * The examples' addresses: localhost on 8080, 8081 and 8082, or on the ports DEMO_WEB_APP_PORT,
 * DEMO_SPA_PORT and DEMO_API_PORT name (PORT moves Gatehouse itself).
 */
export function demoUrls(env: NodeJS.ProcessEnv): DemoUrls {
  const url = (name: string, fallback: string) => {
    const value = env[name];
    if (value === undefined || value === '') return fallback;
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new Error(`${name} must be a port number from 1 to 65535, got ${JSON.stringify(value)}`);
    return `http://localhost:${Number(value)}`;
  };
  return {
    webApp: url('DEMO_WEB_APP_PORT', defaultDemoUrls.webApp),
    spa: url('DEMO_SPA_PORT', defaultDemoUrls.spa),
    api: url('DEMO_API_PORT', defaultDemoUrls.api),
  };
}

export const demoEmail = 'demo@example.com';

export type DemoSetup = {
  webApp: { clientId: string; clientSecret: string };
  spa: { clientId: string };
  api: { identifier: string; scopes: string[] };
  /** The password is known when this run or an earlier one (data/demo.json) created the user. */
  user: { email: string; password?: string };
  /** What this run registered (empty on later runs). */
  created: string[];
};

const apiScopes = ['notes:read', 'notes:write'];

/** The demo acts for the operator: its changes are audited as theirs, marked `via: npm run demo`. */
const demoSource: AuditSource = { actor: 'cli', via: 'npm run demo' };

/**
 * Registers what the demo needs unless it exists: a confidential client for the web app, a public
 * one for the single-page app, the API, and a verified user. Idempotent. Everything goes through
 * the libraries, as `gatehouse clients add` and the others do, and is audited alike.
 */
export async function provisionDemo(libraries: Libraries, dataDir: string, urls: DemoUrls = defaultDemoUrls): Promise<DemoSetup> {
  const created: string[] = [];

  const clients = await libraries.clients.list();
  const client = async (input: NewClientInput & { redirectUris: string[] }) => {
    const existing = clients.find(({ metadata }) => metadata.client_name === input.name
      && JSON.stringify(metadata.redirect_uris) === JSON.stringify(input.redirectUris)
      && (metadata.token_endpoint_auth_method === 'none') === Boolean(input.public));
    if (existing) return libraries.clients.providerMetadata(existing);
    const { metadata, clientSecret } = await libraries.clients.register(input, demoSource);
    created.push(`client "${input.name}"`);
    return { ...metadata, ...(clientSecret ? { client_secret: clientSecret } : {}) };
  };

  const webApp = await client({
    name: 'Demo web app',
    redirectUris: [`${urls.webApp}/callback`],
    postLogoutRedirectUris: [`${urls.webApp}/`],
    // Sessions ended elsewhere (the account page, a reset, an operator) end the web app's too.
    backchannelLogoutUri: `${urls.webApp}/backchannel-logout`,
  });
  const spa = await client({
    name: 'Demo single-page app',
    public: true,
    redirectUris: [`${urls.spa}/`],
    postLogoutRedirectUris: [`${urls.spa}/`],
  });

  const identifier = urls.api;
  if (!(await libraries.apis.find(identifier))) {
    await libraries.apis.register({ identifier, name: 'Demo notes API', scopes: apiScopes }, demoSource);
    created.push(`API ${identifier}`);
  }

  // The password cannot be read back from its hash: keep the generated one next to the
  // development secrets, to print it again on later runs.
  const stateFile = join(dataDir, 'demo.json');
  let saved: { email?: string; password?: string } = {};
  try {
    saved = JSON.parse(readFileSync(stateFile, 'utf8')) as typeof saved;
  } catch {
    // first run
  }
  let password = saved.email === demoEmail ? saved.password : undefined;
  if (!(await libraries.accounts.findByEmail(demoEmail))) {
    password = randomBytes(12).toString('base64url');
    await libraries.accounts.create({ email: demoEmail, password, name: 'Demo User', emailVerified: true }, demoSource);
    created.push(`user ${demoEmail}`);
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(stateFile, `${JSON.stringify({ email: demoEmail, password }, null, 2)}\n`, { mode: 0o600 });
  }

  return {
    webApp: { clientId: webApp.client_id, clientSecret: String(webApp.client_secret) },
    spa: { clientId: spa.client_id },
    api: { identifier, scopes: apiScopes },
    user: { email: demoEmail, ...(password ? { password } : {}) },
    created,
  };
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  if (config.env === 'production') throw new Error('the demo registers clients and a user with a known password: not in production');
  const urls = demoUrls(process.env);
  const gatehouse = await startServer(config, createLogger());
  if (gatehouse.secrets.source === 'generated') console.warn(`warning: generated development secrets in ${gatehouse.secrets.file}`);
  const closing: (() => Promise<void>)[] = [() => gatehouse.close()];
  const stop = () => {
    Promise.allSettled(closing.reverse().map((close) => close())).finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  const libraries = createLibraries({
    store: gatehouse.store, config: gatehouse.config, clock: systemClock, outbox: gatehouse.outbox, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey,
  });
  const setup = await provisionDemo(libraries, config.dataDir, urls);
  const port = (url: string) => Number(new URL(url).port);
  const api = await startApi({ issuer: gatehouse.url, audience: setup.api.identifier, port: port(urls.api), allowedOrigins: [urls.spa] });
  closing.push(api.close);
  const webApp = await startWebApp({ issuer: gatehouse.url, ...setup.webApp, port: port(urls.webApp) });
  closing.push(webApp.close);
  const spa = await startSpa({ issuer: gatehouse.url, clientId: setup.spa.clientId, api: { url: api.url, resource: setup.api.identifier }, port: port(urls.spa) });
  closing.push(spa.close);

  console.log(`
Gatehouse demo ${setup.created.length ? `(registered ${setup.created.join(', ')})` : '(everything was registered by an earlier run)'}

  Gatehouse         ${gatehouse.url}   discovery: ${gatehouse.url}/.well-known/openid-configuration
  Web app           ${webApp.url}   confidential client ${setup.webApp.clientId}
  Single-page app   ${spa.url}   public client ${setup.spa.clientId}
  API               ${api.url}   identifier ${setup.api.identifier}, scopes ${setup.api.scopes.join(' ')}

  Sign in as        ${setup.user.email}
  Password          ${setup.user.password ?? `(set when the user was created; ${join(config.dataDir, 'demo.json')} is gone. Delete the database to start over)`}

Open ${webApp.url} or ${spa.url} in a browser. Ctrl-C stops everything.`);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') console.error(`demo: port ${(error as { port?: number }).port ?? ''} is already in use (the demo needs 3000, 8080, 8081 and 8082; PORT moves Gatehouse, DEMO_WEB_APP_PORT, DEMO_SPA_PORT and DEMO_API_PORT the examples)`);
    else console.error(`demo: ${isGatehouseError(error) ? error.message : (error as Error).message}`);
    process.exit(1);
  });
}
