import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createAccount } from '../../src/accounts/accounts.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/load-config.ts';
import { createLogger } from '../../src/logger.ts';
import { registerApi } from '../../src/oidc/apis.ts';
import type { NewApiInput } from '../../src/oidc/apis.ts';
import { registerClient } from '../../src/oidc/clients.ts';
import type { NewClientInput } from '../../src/oidc/clients.ts';
import { startServer } from '../../src/server.ts';
import type { RunningServer } from '../../src/server.ts';

export const redirectUri = 'http://127.0.0.1:8080/callback';
export const postLogoutRedirectUri = 'http://127.0.0.1:8080/logged-out';

export type TestGatehouse = RunningServer & {
  dir: string;
  env: NodeJS.ProcessEnv;
  addClient(input?: Partial<NewClientInput>): Promise<{ clientId: string; clientSecret?: string }>;
  addUser(email: string, password: string, extra?: { name?: string; roles?: string[] }): Promise<string>;
  addApi(input: NewApiInput): Promise<void>;
  /** Stops this server and starts another on the same database and port-less config. */
  restart(): Promise<TestGatehouse>;
  stop(): Promise<void>;
};

/** The environment a test server (and CLI processes pointed at it) runs with. */
export function testEnvironment(dir: string, port = 0): NodeJS.ProcessEnv {
  return { NODE_ENV: 'test', DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'gatehouse.db')}`, PORT: String(port) };
}

/**
 * Every test request comes from 127.0.0.1, so limits per source address would make unrelated tests
 * in one file limit each other. Tests of those limits set them back (after this, in `adjust`).
 */
export function relaxSourceLimits(config: Config): Config {
  const { limits } = config;
  return {
    ...config,
    limits: {
      ...limits,
      password: { ...limits.password, source: { ...limits.password.source, freeFailures: 1_000_000 } },
      clientAuthentication: { ...limits.clientAuthentication, freeFailures: 1_000_000 },
      registrationsPerHour: 1_000_000,
      resetRequestsPerHour: 1_000_000,
      authorizationRequests: { ...limits.authorizationRequests, count: 1_000_000 },
      passwordForms: { ...limits.passwordForms, perSourcePerHour: 1_000_000 },
    },
  };
}

/**
 * Starts the real server on an ephemeral port with a fresh SQLite file in a temporary directory.
 * The issuer is the loopback address it listens on.
 */
export async function startGatehouse(options: { dir?: string; env?: NodeJS.ProcessEnv; adjust?: (config: Config) => Config } = {}): Promise<TestGatehouse> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const env = { ...testEnvironment(dir), ...options.env };
  const given = options.adjust ?? ((config: Config) => config);
  const adjust = (config: Config) => given(relaxSourceLimits(config));
  const server = await startServer(adjust(loadConfig(env)), createLogger({ silent: !process.env.GATEHOUSE_TEST_LOGS }), { host: '127.0.0.1' });
  return wrap(server, dir, { ...env, ISSUER: env.ISSUER ?? server.url, PORT: String(server.port) }, adjust);
}

function wrap(server: RunningServer, dir: string, env: NodeJS.ProcessEnv, adjust: (config: Config) => Config): TestGatehouse {
  return {
    ...server,
    dir,
    env,
    async addClient(input = {}) {
      const { metadata, clientSecret } = await registerClient(server.store, server.secrets.keyEncryptionKey, {
        name: 'Test app',
        redirectUris: [redirectUri],
        postLogoutRedirectUris: [postLogoutRedirectUri],
        ...input,
      });
      return { clientId: metadata.client_id, ...(clientSecret ? { clientSecret } : {}) };
    },
    async addUser(email, password, extra = {}) {
      const account = await createAccount(server.store, { email, password, emailVerified: true, ...extra });
      return account.id;
    },
    async addApi(input) {
      await registerApi(server.store, input);
    },
    async restart() {
      await server.close();
      // Let this process's HTTP clients see the old server's closed keep-alive sockets before the
      // new server takes the same port; otherwise fetch may reuse a dead socket.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const next = await startServer(adjust(loadConfig(env)), createLogger({ silent: true }), { host: '127.0.0.1' });
      return wrap(next, dir, env, adjust);
    },
    async stop() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
