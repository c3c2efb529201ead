import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { redirectUri, testEnvironment } from './helpers/gatehouse.ts';
import { freePort, sleep, startMain, withTimeout } from './helpers/main-process.ts';
import { dropMongoDatabase, mongodbUri, mongodbUrl, newDatabaseName } from './helpers/mongodb.ts';
import { authorizationRequest, signInThroughPages } from './helpers/relying-party.ts';
import { runCli } from './helpers/run-cli.ts';
import { isPage, UserAgent } from './helpers/user-agent.ts';

/**
 * Two Gatehouse processes on one database (a SQLite file in WAL mode, or MongoDB) must behave as one provider: the same issuer,
 * the same keys, sessions, clients and tokens, whichever instance a request reaches.
 */
const backends = [
  { name: 'one SQLite file', env: (): NodeJS.ProcessEnv => ({}), store: 'sqlite', cleanup: async (_url?: string) => {} },
  ...(mongodbUri ? [{ name: 'one MongoDB database', env: (): NodeJS.ProcessEnv => ({ DATABASE_URL: mongodbUrl(newDatabaseName()) }), store: 'mongodb', cleanup: dropMongoDatabase }] : []),
];

describe.each(backends)('two instances on $name', (backend) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-multi-'));
  const instances: { url: string; stop(): Promise<void> }[] = [];
  let issuer: string;
  let env: NodeJS.ProcessEnv;

  async function startInstance(port: number): Promise<{ url: string; stop(): Promise<void> }> {
    const running = startMain({ ...env, PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (running.child.exitCode !== null) throw new Error(`instance on ${port} exited: ${(await running.exited).stderr}`);
      if (Date.now() > deadline) throw new Error(`instance on ${port} did not become ready`);
      const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
      if (ready) break;
      await sleep(100);
    }
    return {
      url,
      async stop() {
        running.child.kill('SIGTERM');
        await withTimeout(running.exited, 10_000, `instance on ${port} stopping`);
      },
    };
  }

  beforeAll(async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    issuer = `http://127.0.0.1:${portA}`;
    env = { ...testEnvironment(dir), ...backend.env(), ISSUER: issuer };
    // Started together on an empty database: both migrate and look for keys at the same time.
    instances.push(...(await Promise.all([startInstance(portA), startInstance(portB)])));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.stop()));
    await backend.cleanup(env.DATABASE_URL);
    rmSync(dir, { recursive: true, force: true });
  });

  async function cli(args: string[], input?: string): Promise<Record<string, unknown>> {
    const run = await runCli([...args, '--json'], { env, ...(input ? { input } : {}) });
    if (run.code !== 0) throw new Error(`gatehouse ${args.join(' ')} failed: ${run.stderr}`);
    return JSON.parse(run.stdout) as Record<string, unknown>;
  }

  /** An openid-client configuration whose endpoints are those of one instance. */
  async function relyingPartyAt(instanceUrl: string, clientId: string, clientSecret: string): Promise<client.Configuration> {
    const discovered = await client.discovery(new URL(issuer), clientId, clientSecret, client.ClientSecretBasic(clientSecret), { execute: [client.allowInsecureRequests] });
    const metadata = { ...discovered.serverMetadata() };
    for (const endpoint of ['token_endpoint', 'userinfo_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'jwks_uri'] as const) {
      metadata[endpoint] = metadata[endpoint]!.replace(issuer, instanceUrl);
    }
    const config = new client.Configuration(metadata, clientId, clientSecret, client.ClientSecretBasic(clientSecret));
    client.allowInsecureRequests(config);
    return config;
  }

  describe('as one provider', () => {
    it('publish the same issuer and the same keys', async () => {
      const [a, b] = instances;
      const documents = await Promise.all([a!, b!].map(async (instance) => (await fetch(`${instance.url}/.well-known/openid-configuration`)).json() as Promise<{ issuer: string }>));
      expect(documents.map((document) => document.issuer)).toEqual([issuer, issuer]);
      const jwks = await Promise.all([a!, b!].map(async (instance) => (await fetch(`${instance.url}/jwks`)).json() as Promise<{ keys: { kid: string }[] }>));
      expect(jwks[1]!.keys.map((key) => key.kid)).toEqual(jwks[0]!.keys.map((key) => key.kid));
    });

    it('behave as one provider: sessions, clients and tokens cross instances', async () => {
      const [a, b] = instances;
      // The CLI writes to the same database while both run.
      const user = await cli(['users', 'add', '--email', 'multi@example.com', '--verified'], 'multi instance password\n');
      const registered = await cli(['clients', 'add', '--name', 'Multi', '--redirect-uri', redirectUri]);
      const clientId = registered.client_id as string;
      const clientSecret = registered.client_secret as string;
      const [atA, atB] = await Promise.all([relyingPartyAt(a!.url, clientId, clientSecret), relyingPartyAt(b!.url, clientId, clientSecret)]);

      // Sign in through instance A's pages; redeem the code at instance B.
      const ua = new UserAgent(a!.url, b!.url);
      const first = await authorizationRequest(atA, { scope: 'openid email offline_access', prompt: 'consent' });
      const callback = await signInThroughPages(ua, new URL(first.url.href.replace(issuer, a!.url)), { email: 'multi@example.com', password: 'multi instance password' });
      const tokens = await client.authorizationCodeGrant(atB, callback, { pkceCodeVerifier: first.codeVerifier, expectedNonce: first.nonce, expectedState: first.state });
      expect(tokens.claims()?.sub).toBe(user.id);

      // Tokens issued through B are introspected at A and refreshed at A; userinfo answers at B.
      expect(await client.tokenIntrospection(atA, tokens.access_token)).toMatchObject({ active: true, sub: user.id });
      const refreshed = await client.refreshTokenGrant(atA, tokens.refresh_token!);
      expect((await client.fetchUserInfo(atB, refreshed.access_token, user.id as string)).email).toBe('multi@example.com');

      // The session started at A continues at B: no login page, straight back to the client.
      const second = await authorizationRequest(atB, { scope: 'openid email' });
      const result = await ua.navigate(second.url.href.replace(issuer, b!.url));
      if (isPage(result)) throw new Error(`instance B asked again: ${result.body}`);
      expect(new URL(result.redirectedTo).searchParams.get('code')).toBeTruthy();
    });

    it('answer health checks', async () => {
      for (const instance of instances) {
        expect((await fetch(`${instance.url}/healthz`)).status).toBe(200);
        expect(await (await fetch(`${instance.url}/readyz`)).json()).toEqual({ status: 'ready', store: backend.store });
      }
    });
  });
});
