import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Clock } from '../../src/clock.ts';
import { createAccount, defaultPasswordSettings } from '../../src/libraries/accounts.ts';
import { hashOptionsFrom } from '../../src/libraries/passwords.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/load-config.ts';
import { createLogger } from '../../src/logger.ts';
import { registerApi } from '../../src/libraries/apis.ts';
import type { NewApiInput } from '../../src/libraries/apis.ts';
import { registerClient } from '../../src/libraries/clients.ts';
import type { NewClientInput } from '../../src/libraries/clients.ts';
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
      emailChanges: { ...limits.emailChanges, perSourcePerHour: 1_000_000 },
    },
  };
}

/**
 * Password hashing at the least cost the configuration schema allows (argon2id, 7 MiB, one pass),
 * and accepted hashes limited to that much, which sets how long every failed sign-in is padded to
 * (passwords.argon2Max, bcryptMaxCost; see failureFloorFor): milliseconds instead of a third of a
 * second. Tests whose subject is hashing, its cost or its timing, or races that its duration widens,
 * start with `passwordHashing: 'production'` instead.
 */
export function cheapPasswordHashing(config: Config): Config {
  return {
    ...config,
    passwords: {
      ...config.passwords,
      argon2: { memoryKiB: 7168, iterations: 1, parallelism: 1 },
      bcryptMaxCost: 4,
      argon2Max: { memoryKiB: 7168, memoryKiBTimesIterations: 7168, parallelism: 1 },
    },
  };
}

/**
 * Mail polled for every 200 ms instead of every 5 s. Queued mail is normally sent at once, but mail
 * queued while a delivery round is running waits for the next poll; a test waiting for that mail
 * would wait out the rest of the interval. Tests that set mail.pollSeconds keep theirs.
 */
export function promptMailDelivery(config: Config): Config {
  return { ...config, mail: { ...config.mail, pollSeconds: Math.min(config.mail.pollSeconds, 0.2) } };
}

export type StartOptions = {
  dir?: string;
  env?: NodeJS.ProcessEnv;
  adjust?: (config: Config) => Config;
  /** 'cheap' (the default): cheapPasswordHashing; 'production': config/default.json's parameters. */
  passwordHashing?: 'cheap' | 'production';
  /** The clock the server reads the time from (a movableClock); the system clock by default. */
  clock?: Clock;
};

/**
 * Starts the real server on an ephemeral port with a fresh SQLite file in a temporary directory.
 * The issuer is the loopback address it listens on.
 */
export async function startGatehouse(options: StartOptions = {}): Promise<TestGatehouse> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'gatehouse-test-'));
  const env = { ...testEnvironment(dir), ...options.env };
  const given = options.adjust ?? ((config: Config) => config);
  const hashing = options.passwordHashing === 'production' ? (config: Config) => config : cheapPasswordHashing;
  const adjust = (config: Config) => given(relaxSourceLimits(promptMailDelivery(hashing(config))));
  const serverOptions = { host: '127.0.0.1', ...(options.clock ? { clock: options.clock } : {}) };
  const server = await startServer(adjust(loadConfig(env)), createLogger({ silent: !process.env.GATEHOUSE_TEST_LOGS }), serverOptions);
  return wrap(server, dir, { ...env, ISSUER: env.ISSUER ?? server.url, PORT: String(server.port) }, adjust, serverOptions);
}

function wrap(server: RunningServer, dir: string, env: NodeJS.ProcessEnv, adjust: (config: Config) => Config, serverOptions: { host: string; clock?: Clock }): TestGatehouse {
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
      // Hashed as the server hashes (no rehash at the first sign-in), checked as the defaults check.
      const settings = { ...defaultPasswordSettings, hash: hashOptionsFrom(server.config.passwords.argon2) };
      const account = await createAccount(server.store, { email, password, emailVerified: true, ...extra }, settings);
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
      const next = await startServer(adjust(loadConfig(env)), createLogger({ silent: true }), serverOptions);
      return wrap(next, dir, env, adjust, serverOptions);
    },
    async stop() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
