import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';

import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { resolveSecrets } from '../../src/config/secrets.ts';
import { providerMetadata } from '../../src/libraries/clients.ts';
import { maxStaleMs } from '../../src/oidc/read-cache.ts';
import { openStore } from '../../src/store/open-store.ts';
import { schemaVersion } from '../../src/store/sqlite/database.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { movableClock } from '../helpers/clock.ts';
import { redirectUri, startGatehouse, testEnvironment } from '../helpers/gatehouse.ts';
import { freePort, sleep, startMain, withTimeout } from '../helpers/main-process.ts';
import { relyingParty, signIn } from '../helpers/relying-party.ts';
import { describeRun, succeeded } from '../helpers/cli-assertions.ts';
import type { CliRun } from '../helpers/run-cli.ts';
import { cliFor, cliProcessFor } from '../helpers/run-cli.ts';
import { isPage, UserAgent } from '../helpers/user-agent.ts';

type Json = Record<string, unknown>;
type Gatehouse = ReturnType<typeof cliFor>;

const dirs: string[] = [];

/** A fresh data directory and a `gatehouse` CLI pointed at it. */
function freshCli(): { dir: string; gatehouse: Gatehouse } {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-'));
  dirs.push(dir);
  return { dir, gatehouse: cliFor(testEnvironment(dir)) };
}

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A successful `--json` run whose stdout is exactly one JSON document. */
function jsonOf<T = Json>(run: CliRun): T {
  const stdout = succeeded(run);
  expect(stdout.endsWith('\n')).toBe(true);
  // JSON.parse rejects anything but a single document (a second one, or stray text, is a SyntaxError).
  return JSON.parse(stdout) as T;
}

type Failure = { exit: number; error: string; message: RegExp };

/**
 * A failed run in text mode: the expected exit code, nothing on stdout, and one readable line on
 * stderr starting with "gatehouse: ". A usage error may add the command's usage on a second line.
 */
function expectTextFailure(run: CliRun, expected: Failure): string {
  expect(run.code, describeRun(run)).toBe(expected.exit);
  expect(run.stdout, describeRun(run)).toBe('');
  expect(run.stderr, describeRun(run)).not.toContain('    at ');
  expect(run.stderr.endsWith('\n'), describeRun(run)).toBe(true);
  const [first, ...rest] = run.stderr.trimEnd().split('\n');
  // An option the command does not take is named with the command: "gatehouse clients add: unknown option --foo …".
  expect(first).toMatch(/^gatehouse(?: [a-z-]+){0,3}: \S/);
  expect(first).toMatch(expected.message);
  if (expected.error === 'usage') {
    expect(rest.every((line) => line.startsWith('usage: gatehouse ')), describeRun(run)).toBe(true);
    expect(rest.length).toBeLessThanOrEqual(1);
  } else {
    expect(rest, describeRun(run)).toEqual([]);
  }
  return first!;
}

/** A failed run with --json: the expected exit code, nothing on stdout, one JSON object on stderr. */
function expectJsonFailure(run: CliRun, expected: Failure): void {
  expect(run.code, describeRun(run)).toBe(expected.exit);
  expect(run.stdout, describeRun(run)).toBe('');
  expect(run.stderr, describeRun(run)).not.toContain('    at ');
  const body = JSON.parse(run.stderr) as Json;
  expect(Object.keys(body).sort()).toEqual(['error', 'message']);
  expect(body.error).toBe(expected.error);
  expect(body.message).toEqual(expect.any(String));
  expect(body.message).toMatch(expected.message);
}

/** Runs a failing command twice, in text mode and with --json, and checks both. */
async function expectFailure(gatehouse: Gatehouse, args: string[], expected: Failure, input?: string): Promise<void> {
  const [text, json] = await Promise.all([gatehouse(args, input), gatehouse([...args, '--json'], input)]);
  expectTextFailure(text, expected);
  expectJsonFailure(json, expected);
}

/** The raw bytes SQLite keeps for a database: the main file and, while connections hold it, the WAL. */
function databaseBytes(dir: string): Buffer {
  const file = join(dir, 'gatehouse.db');
  const parts = [readFileSync(file)];
  if (existsSync(`${file}-wal`)) parts.push(readFileSync(`${file}-wal`));
  return Buffer.concat(parts);
}

const appRedirect = 'http://127.0.0.1:8080/callback';

describe('gatehouse --help', () => {
  it('lists every command with exit 0, and exits 2 when given nothing to do', async () => {
    // Real processes: the binary itself starts, and its exit codes are what a shell sees.
    const gatehouse = cliProcessFor(testEnvironment(freshCli().dir));
    const [help, bare] = await Promise.all([gatehouse(['--help']), gatehouse([])]);
    const usage = succeeded(help);
    expect(usage).toMatch(/^usage: gatehouse <command>/);
    for (const command of ['clients add', 'clients list', 'clients show', 'clients remove', 'apis add', 'apis list', 'apis remove', 'users add', 'users list', 'users show', 'users disable', 'users enable']) {
      expect(usage).toContain(`  ${command}`);
    }
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe('');
    expect(bare.stderr).toContain('usage: gatehouse <command>');
  });

  it('lists a group’s subcommands when given only the group', async () => {
    const { gatehouse } = freshCli();
    const run = await gatehouse(['clients']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('  clients add');
    expect(run.stderr).not.toContain('users add');
  });

  it('names the flags, not internal field names, in validation errors', async () => {
    const { gatehouse } = freshCli();
    const line = expectTextFailure(await gatehouse(['clients', 'add', '--name', 'x', '--redirect-uri', '/cb', '--grant-type', 'password']), { exit: 1, error: 'invalid_input', message: /--redirect-uri: "\/cb" is not an absolute URL/ });
    expect(line).toContain('--grant-type: ');
    expect(line).not.toMatch(/redirectUris|grantTypes/);
    expectTextFailure(await gatehouse(['apis', 'add', '--identifier', 'https://api.example', '--access-token-ttl', '5']), { exit: 1, error: 'invalid_input', message: /--access-token-ttl: / });
  });

  it('checks a new user’s details before reading the password', async () => {
    // A real process: a failure's exit code and stderr line as a shell sees them, stdin a real pipe.
    const gatehouse = cliProcessFor(testEnvironment(freshCli().dir));
    // No password on stdin at all: the bad email and role are still what is reported.
    expectTextFailure(await gatehouse(['users', 'add', '--email', 'bad', '--role', 'a b'], ''), { exit: 1, error: 'invalid_input', message: /--email: Enter a valid email address\.; --role: / });
  });
});

describe('gatehouse db', () => {
  it('reports the schema up to date and migrates idempotently', async () => {
    const { gatehouse } = freshCli();
    expect(jsonOf(await gatehouse(['db', 'migrate', '--json']))).toEqual({ store: 'sqlite', applied: [] });
    expect(jsonOf(await gatehouse(['db', 'status', '--json']))).toEqual({ store: 'sqlite', pending: [] });
    expect(succeeded(await gatehouse(['db', 'status']))).toBe('sqlite: up to date\n');
  });

  /** A fresh data directory in production: only `db migrate` changes the SQLite file's schema there. */
  function productionCli(): { dir: string; env: NodeJS.ProcessEnv; gatehouse: Gatehouse } {
    const { dir } = freshCli();
    const env = {
      ...testEnvironment(dir), NODE_ENV: 'production', SMTP_URL: 'smtp://127.0.0.1:2525',
      COOKIE_KEYS: 'k'.repeat(32), KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    };
    return { dir, env, gatehouse: cliFor(env) };
  }

  /** The schema version SQLite records in the file (0 for a new one). */
  function userVersion(dir: string): number {
    const db = new DatabaseSync(join(dir, 'gatehouse.db'));
    try {
      return (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
    } finally {
      db.close();
    }
  }

  const migrationRequired = /the database is missing 0001_initial, [^\n]*; run `npx gatehouse db migrate` first$/;

  it('in production, lists the pending SQLite migrations and refuses other commands until db migrate has applied them', async () => {
    const { dir, gatehouse } = productionCli();
    const status = jsonOf<{ store: string; pending: string[] }>(await gatehouse(['db', 'status', '--json']));
    expect(status.store).toBe('sqlite');
    expect(status.pending).toHaveLength(schemaVersion);
    expect(status.pending[0]).toBe('0001_initial');
    expect(succeeded(await gatehouse(['db', 'status']))).toBe(`sqlite: pending ${status.pending.join(', ')}\n`);
    await expectFailure(gatehouse, ['clients', 'list'], { exit: 1, error: 'migration_required', message: migrationRequired });
    // Opening the file migrated nothing.
    expect(userVersion(dir)).toBe(0);

    expect(jsonOf(await gatehouse(['db', 'migrate', '--json']))).toEqual({ store: 'sqlite', applied: status.pending });

    expect(userVersion(dir)).toBe(schemaVersion);
    expect(jsonOf(await gatehouse(['db', 'status', '--json']))).toEqual({ store: 'sqlite', pending: [] });
    expect(succeeded(await gatehouse(['db', 'status']))).toBe('sqlite: up to date\n');
    expect(succeeded(await gatehouse(['db', 'migrate']))).toBe('the database is up to date\n');
    expect(jsonOf(await gatehouse(['clients', 'list', '--json']))).toEqual([]);
  });

  it('in production, db migrate run by several processes at once applies each SQLite migration once', async () => {
    const { dir, env, gatehouse } = productionCli();
    const { pending } = jsonOf<{ pending: string[] }>(await gatehouse(['db', 'status', '--json']));
    expect(pending).toHaveLength(schemaVersion);

    // Real processes: the subject is separate processes migrating one file at once.
    const runs = await Promise.all([1, 2, 3].map(() => cliProcessFor(env)(['db', 'migrate', '--json'])));

    const applied = runs.map((run) => jsonOf<{ applied: string[] }>(run).applied);
    // The first to migrate found every step pending; the others, what was left when they looked.
    expect(applied).toContainEqual(pending);
    for (const list of applied) expect(pending.slice(pending.length - list.length)).toEqual(list);
    expect(userVersion(dir)).toBe(schemaVersion);
    expect(jsonOf(await gatehouse(['db', 'status', '--json']))).toEqual({ store: 'sqlite', pending: [] });
  });

  it('in production, the server refuses to start on an unmigrated SQLite file with one line, and starts after db migrate', async () => {
    const { dir, env, gatehouse } = productionCli();
    const port = await freePort();
    const serverEnv = { ...env, PORT: String(port), ISSUER: `http://127.0.0.1:${port}` };

    const refusing = startMain(serverEnv);
    // A server that starts after all is stopped, not left running.
    const refused = await withTimeout(refusing.exited, 20_000, 'the server refusing to start').finally(() => refusing.child.kill('SIGKILL'));

    expect(refused.code, refused.stderr).toBe(1);
    const { pending } = jsonOf<{ pending: string[] }>(await gatehouse(['db', 'status', '--json']));
    expect(refused.stderr).toBe(`gatehouse: the database is missing ${pending.join(', ')}; run \`npx gatehouse db migrate\` first\n`);
    expect(userVersion(dir)).toBe(0);

    succeeded(await gatehouse(['db', 'migrate']));
    const running = startMain(serverEnv);
    try {
      const deadline = Date.now() + 20_000;
      let ready: unknown;
      while (!ready) {
        if (running.child.exitCode !== null) throw new Error(`the server exited: ${(await running.exited).stderr}`);
        if (Date.now() > deadline) throw new Error('the server did not become ready');
        ready = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) }).then((response) => (response.ok ? response.json() : undefined), () => undefined);
        if (!ready) await sleep(100);
      }
      expect(ready).toEqual({ status: 'ready', store: 'sqlite' });
    } finally {
      running.child.kill('SIGTERM');
      await withTimeout(running.exited, 10_000, 'the server stopping');
    }
  });
});

describe('gatehouse configuration', () => {
  it('reports configuration problems as readable errors naming the variable', async () => {
    const { dir } = freshCli();
    const withEnv = (extra: NodeJS.ProcessEnv) => cliFor({ ...testEnvironment(dir), ...extra });
    await Promise.all([
      expectFailure(withEnv({ DATABASE_URL: 'postgres://db.example/gatehouse' }), ['clients', 'list'], { exit: 2, error: 'invalid_config', message: /^(gatehouse: )?DATABASE_URL must start with sqlite: or mongodb:\/\// }),
      expectFailure(withEnv({ NODE_ENV: 'staging' }), ['users', 'list'], { exit: 2, error: 'invalid_config', message: /NODE_ENV must be one of development, production, test/ }),
      expectFailure(withEnv({ NODE_ENV: 'production' }), ['apis', 'list'], { exit: 2, error: 'invalid_config', message: /COOKIE_KEYS must be set in production/ }),
      expectFailure(withEnv({ PORT: 'eighty' }), ['clients', 'list'], { exit: 2, error: 'invalid_config', message: /PORT must be a whole number from 0 to 65535, got "eighty"/ }),
    ]);
    // Refused before anything was written.
    expect(existsSync(join(dir, 'gatehouse.db'))).toBe(false);
  });

  it('lets commands started together on a fresh data directory share one database and one key', async () => {
    const { dir } = freshCli();
    // Real processes: the subject is separate processes racing on one empty data directory.
    const gatehouse = cliProcessFor(testEnvironment(dir));
    const runs = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((name) => gatehouse(['clients', 'add', '--json', '--name', `Job ${name}`, '--grant-type', 'client_credentials'])));
    const added = runs.map((run) => jsonOf(run));
    expect(new Set(added.map((c) => c.client_id)).size).toBe(5);

    // Every secret opens with the key the server will use (DATA_DIR/secrets.json).
    const config = loadConfig(testEnvironment(dir));
    const store = await openStore(config.databaseUrl);
    try {
      const { keyEncryptionKey } = resolveSecrets(config);
      for (const { client_id: id, client_secret: secret } of added) {
        const record = await store.clients.find(id as string);
        expect(record, `client ${id}`).toBeDefined();
        expect(providerMetadata(record!, keyEncryptionKey).client_secret).toBe(secret);
      }
    } finally {
      await store.close();
    }
  });
});

describe('gatehouse clients', () => {
  let gatehouse: Gatehouse;
  beforeAll(() => {
    ({ gatehouse } = freshCli());
  });

  it('adds a confidential client and shows its secret once, never again', async () => {
    const stdout = succeeded(await gatehouse(['clients', 'add', '--name', 'Orders web', '--redirect-uri', appRedirect]));
    const clientId = /^client_id:\s+(\S+)$/m.exec(stdout)?.[1];
    const secret = /^client_secret:\s+(\S+)$/m.exec(stdout)?.[1];
    expect(clientId).toMatch(/^[\w-]{16,}$/);
    expect(secret).toMatch(/^[\w-]{32,}$/);
    expect(stdout).toMatch(/^type:\s+confidential$/m);
    expect(stdout).toMatch(/shown only once/);

    const [showText, showJson, listText, listJson] = await Promise.all([
      gatehouse(['clients', 'show', clientId!]),
      gatehouse(['clients', 'show', clientId!, '--json']),
      gatehouse(['clients', 'list']),
      gatehouse(['clients', 'list', '--json']),
    ]);
    for (const run of [showText, showJson, listText, listJson]) {
      expect(succeeded(run)).toContain(clientId);
      expect(run.stdout).not.toContain(secret);
      expect(run.stdout).not.toMatch(/"client_secret"|client_secret:/);
    }
    const shown = jsonOf(showJson);
    expect(shown).toMatchObject({ client_id: clientId, client_name: 'Orders web', token_endpoint_auth_method: 'client_secret_basic' });
    expect(shown).not.toHaveProperty('client_secret');
    expect(showText.stdout).toMatch(/^name:\s+Orders web$/m);
  });

  it('prints exactly one JSON document with RFC 7591 names under --json', async () => {
    const before = Math.floor(Date.now() / 1000);
    const added = jsonOf(await gatehouse(['clients', 'add', '--json', '--name', 'Billing', '--redirect-uri', appRedirect, '--redirect-uri', 'https://billing.example.com/cb']));
    expect(added).toEqual({
      client_id: expect.stringMatching(/^[\w-]{16,}$/),
      client_secret: expect.stringMatching(/^[\w-]{32,}$/),
      client_secret_expires_at: 0,
      client_id_issued_at: expect.any(Number),
      client_name: 'Billing',
      redirect_uris: [appRedirect, 'https://billing.example.com/cb'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      first_party: false,
      pkce_exempt: false,
    });
    expect(added.client_id_issued_at).toBeGreaterThanOrEqual(before);
    expect(added.client_id_issued_at).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000));

    // Each client gets its own id and secret.
    const other = jsonOf(await gatehouse(['clients', 'add', '--json', '--name', 'Billing', '--redirect-uri', appRedirect]));
    expect(other.client_id).not.toBe(added.client_id);
    expect(other.client_secret).not.toBe(added.client_secret);
  });

  it('adds a public client (--public): auth method none and no secret', async () => {
    const [json, text] = await Promise.all([
      gatehouse(['clients', 'add', '--json', '--public', '--name', 'Mobile', '--redirect-uri', 'http://[::1]:7000/cb']),
      gatehouse(['clients', 'add', '--public', '--name', 'SPA', '--redirect-uri', 'http://localhost:3000/cb']),
    ]);
    const added = jsonOf(json);
    expect(added).toMatchObject({ client_name: 'Mobile', token_endpoint_auth_method: 'none', redirect_uris: ['http://[::1]:7000/cb'], grant_types: ['authorization_code', 'refresh_token'] });
    expect(added).not.toHaveProperty('client_secret');
    expect(added).not.toHaveProperty('client_secret_expires_at');
    const stdout = succeeded(text);
    expect(stdout).toMatch(/^type:\s+public/m);
    expect(stdout).not.toMatch(/client_secret|shown only once/);
  });

  it('marks a first-party client (--first-party)', async () => {
    const added = jsonOf(await gatehouse(['clients', 'add', '--json', '--first-party', '--name', 'Our portal', '--redirect-uri', appRedirect]));
    expect(added.first_party).toBe(true);
    const [shown, text] = await Promise.all([
      gatehouse(['clients', 'show', added.client_id as string, '--json']),
      gatehouse(['clients', 'show', added.client_id as string]),
    ]);
    expect(jsonOf(shown).first_party).toBe(true);
    expect(succeeded(text)).toMatch(/^type:\s+confidential, first-party/m);
  });

  it('adds a client_credentials client without any redirect URI', async () => {
    const added = jsonOf(await gatehouse(['clients', 'add', '--json', '--name', 'Nightly job', '--grant-type', 'client_credentials']));
    expect(added).toMatchObject({
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      client_secret: expect.stringMatching(/^[\w-]{32,}$/),
    });
  });

  it('records post-logout redirect URIs and scopes', async () => {
    const added = jsonOf(await gatehouse([
      'clients', 'add', '--json', '--name', 'Reports',
      '--redirect-uri', appRedirect,
      '--post-logout-redirect-uri', 'http://127.0.0.1:8080/logged-out',
      '--post-logout-redirect-uri', 'https://reports.example.com/bye',
      '--scope', 'openid', '--scope', 'email',
    ]));
    expect(added.post_logout_redirect_uris).toEqual(['http://127.0.0.1:8080/logged-out', 'https://reports.example.com/bye']);
    expect(added.scope).toBe('openid email');
    const shown = jsonOf(await gatehouse(['clients', 'show', added.client_id as string, '--json']));
    expect(shown).toMatchObject({ post_logout_redirect_uris: added.post_logout_redirect_uris, scope: 'openid email' });
  });

  it('lists exactly the registered clients, oldest first, without secrets', async () => {
    const { gatehouse: empty } = freshCli();
    expect(jsonOf<Json[]>(await empty(['clients', 'list', '--json']))).toEqual([]);
    expect(succeeded(await empty(['clients', 'list']))).toBe('(none)\n');

    const first = jsonOf(await empty(['clients', 'add', '--json', '--name', 'First app', '--redirect-uri', appRedirect]));
    const second = jsonOf(await empty(['clients', 'add', '--json', '--public', '--name', 'Second app', '--redirect-uri', appRedirect]));
    const [json, text] = await Promise.all([empty(['clients', 'list', '--json']), empty(['clients', 'list'])]);
    const listed = jsonOf<Json[]>(json);
    expect(listed.map((c) => c.client_id)).toEqual([first.client_id, second.client_id]);
    expect(listed.map((c) => c.token_endpoint_auth_method)).toEqual(['client_secret_basic', 'none']);
    for (const entry of listed) expect(entry).not.toHaveProperty('client_secret');
    expect(json.stdout).not.toContain(first.client_secret as string);

    const rows = succeeded(text).trimEnd().split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^CLIENT_ID\s+NAME\s+TYPE\s+GRANT TYPES\s+DYNAMIC\s+LAST USED$/);
    expect(rows[1]).toMatch(new RegExp(`^${first.client_id}\\s+First app\\s+confidential\\s+authorization_code,refresh_token\\s+no\\s+-$`));
    expect(rows[2]).toMatch(new RegExp(`^${second.client_id}\\s+Second app\\s+public\\s`));
  });

  it('removes a client', async () => {
    const added = jsonOf(await gatehouse(['clients', 'add', '--json', '--name', 'Short-lived', '--redirect-uri', appRedirect]));
    const id = added.client_id as string;
    expect(jsonOf(await gatehouse(['clients', 'remove', id, '--json']))).toEqual({ client_id: id, removed: true });

    const [show, list, again] = await Promise.all([
      gatehouse(['clients', 'show', id]),
      gatehouse(['clients', 'list', '--json']),
      gatehouse(['clients', 'remove', id]),
    ]);
    expectTextFailure(show, { exit: 1, error: 'not_found', message: new RegExp(`no client ${id}`) });
    expect(jsonOf<Json[]>(list).map((c) => c.client_id)).not.toContain(id);
    expectTextFailure(again, { exit: 1, error: 'not_found', message: new RegExp(`no client ${id}`) });

    // Text mode says what happened.
    const other = jsonOf(await gatehouse(['clients', 'add', '--json', '--name', 'Short-lived 2', '--redirect-uri', appRedirect]));
    expect(succeeded(await gatehouse(['clients', 'remove', other.client_id as string]))).toBe(`removed client ${other.client_id}\n`);
  });

  describe('refuses, with one readable line on stderr and nothing on stdout', () => {
    const invalid = (message: RegExp): Failure => ({ exit: 1, error: 'invalid_input', message });
    const cases: [string, string[], Failure][] = [
      ['a missing --name', ['clients', 'add', '--redirect-uri', appRedirect], invalid(/name/)],
      ['a blank --name', ['clients', 'add', '--name', '   ', '--redirect-uri', appRedirect], invalid(/name/)],
      ['an http redirect URI that is not loopback', ['clients', 'add', '--name', 'X', '--redirect-uri', 'http://app.example.com/callback'], invalid(/http:\/\/app\.example\.com\/callback must use https/)],
      ['a redirect URI with a fragment', ['clients', 'add', '--name', 'X', '--redirect-uri', 'https://app.example.com/callback#done'], invalid(/must not contain a fragment/)],
      ['a relative redirect URI', ['clients', 'add', '--name', 'X', '--redirect-uri', '/callback'], invalid(/"\/callback" is not an absolute URL/)],
      ['a non-loopback http post-logout URI', ['clients', 'add', '--name', 'X', '--redirect-uri', appRedirect, '--post-logout-redirect-uri', 'http://app.example.com/bye'], invalid(/must use https/)],
      ['the authorization code grant without a redirect URI', ['clients', 'add', '--name', 'X'], invalid(/redirect URI is required/)],
      ['a public client with client_credentials', ['clients', 'add', '--name', 'X', '--public', '--grant-type', 'client_credentials'], invalid(/public client cannot use client_credentials/)],
      ['a public client exempt from PKCE', ['clients', 'add', '--name', 'X', '--public', '--pkce-exempt', '--redirect-uri', appRedirect], invalid(/PKCE/)],
      ['an unknown grant type', ['clients', 'add', '--name', 'X', '--grant-type', 'password'], invalid(/grant types are authorization_code, refresh_token, client_credentials/)],
      ['a scope with a quote', ['clients', 'add', '--name', 'X', '--redirect-uri', appRedirect, '--scope', 'say"hi'], invalid(/scope/)],
      ['an unknown option', ['clients', 'add', '--name', 'X', '--redirect-uri', appRedirect, '--colour', 'red'], { exit: 2, error: 'usage', message: /--colour/ }],
      ['an option without its value', ['clients', 'add', '--redirect-uri', appRedirect, '--name'], { exit: 2, error: 'usage', message: /--name/ }],
      ['an unknown command', ['clients', 'frobnicate'], { exit: 2, error: 'usage', message: /unknown command "clients frobnicate"/ }],
      ['an unknown command group', ['tenants', 'list'], { exit: 2, error: 'usage', message: /unknown command "tenants list"/ }],
      ['a missing client id', ['clients', 'show'], { exit: 2, error: 'usage', message: /CLIENT_ID/ }],
      ['an extra argument', ['clients', 'list', 'everything'], { exit: 2, error: 'usage', message: /no arguments/ }],
      ['show of an unknown id', ['clients', 'show', 'no-such-client'], { exit: 1, error: 'not_found', message: /no client no-such-client/ }],
      ['remove of an unknown id', ['clients', 'remove', 'no-such-client'], { exit: 1, error: 'not_found', message: /no client no-such-client/ }],
    ];

    let refusing: Gatehouse;
    beforeAll(() => {
      ({ gatehouse: refusing } = freshCli());
    });

    it.concurrent.each(cases)('%s', async (_name, args, expected) => {
      await expectFailure(refusing, args, expected);
    });

    it('and none of the refused commands registered a client', async () => {
      expect(jsonOf<Json[]>(await refusing(['clients', 'list', '--json']))).toEqual([]);
    });
  });

  it('does not store the client secret in plain text', async () => {
    const { dir, gatehouse: own } = freshCli();
    const added = jsonOf(await own(['clients', 'add', '--json', '--name', 'Vault test', '--redirect-uri', appRedirect]));
    const secret = added.client_secret as string;
    const bytes = databaseBytes(dir);
    // The record is there (so these are the right bytes), its secret is not, in any obvious encoding.
    expect(bytes.includes(added.client_id as string)).toBe(true);
    expect(bytes.includes(secret)).toBe(false);
    expect(bytes.includes(Buffer.from(secret, 'base64url'))).toBe(false);
    expect(bytes.includes(Buffer.from(secret).toString('base64'))).toBe(false);
    expect(readFileSync(join(dir, 'secrets.json'), 'utf8')).not.toContain(secret);
  });
});

describe('gatehouse keys', () => {
  type KeysJson = { version: number; keys: { kid: string; alg: string; state: string; activates_at?: string }[] };
  const exampleFile = fileURLToPath(new URL('../../jwks.json.example', import.meta.url));

  it('lists, rotates, exports, imports and revokes keys of the shared ring', async () => {
    const { dir, gatehouse } = freshCli();
    expect(jsonOf<KeysJson>(await gatehouse(['keys', 'list', '--json']))).toEqual({ version: 0, keys: [] });

    // A running instance bootstraps the ring; the CLI works on the same database.
    const running = await startGatehouse({ dir });
    try {
      const listed = jsonOf<KeysJson>(await gatehouse(['keys', 'list', '--json']));
      expect(listed.keys.map((key) => [key.alg, key.state])).toEqual([['RS256', 'current'], ['ES256', 'current'], ['EdDSA', 'current']]);
      expect(succeeded(await gatehouse(['keys', 'list']))).toMatch(/^KID\s+ALG\s+STATE/);

      const rotated = jsonOf<KeysJson & { changes: unknown[] }>(await gatehouse(['keys', 'rotate', '--json']));
      expect(rotated.keys.filter((key) => key.state === 'next')).toHaveLength(3);
      for (const key of rotated.keys.filter((each) => each.state === 'next')) expect(Date.parse(key.activates_at!)).toBeGreaterThan(Date.now());

      const exported = jsonOf<{ keys: Record<string, unknown>[] }>(await gatehouse(['keys', 'export', '--public', '--json']));
      expect(exported.keys).toHaveLength(6);
      for (const key of exported.keys) expect(key).not.toHaveProperty('d');
      expectTextFailure(await gatehouse(['keys', 'export']), { exit: 1, error: 'invalid_input', message: /only --public/ });

      // A next key is already waiting for every algorithm: importing now is refused.
      expectTextFailure(await gatehouse(['keys', 'import', exampleFile]), { exit: 1, error: 'conflict', message: /next RS256 key is already waiting/ });

      const immediate = jsonOf<KeysJson>(await gatehouse(['keys', 'rotate', '--immediately', '--json']));
      const current = immediate.keys.filter((key) => key.state === 'current').map((key) => key.kid);
      expect(current.some((kid) => listed.keys.map((key) => key.kid).includes(kid))).toBe(false);

      const revoked = await gatehouse(['keys', 'revoke', current[0]!]);
      expect(revoked.code).toBe(0);
      expect(revoked.stderr).toMatch(/^warning: every token signed with .* now fails verification/);
      expect(jsonOf<KeysJson>(await gatehouse(['keys', 'list', '--json'])).keys.map((key) => key.kid)).not.toContain(current[0]);
      await expectFailure(gatehouse, ['keys', 'revoke', 'no-such-kid'], { exit: 1, error: 'not_found', message: /no-such-kid/ });

      // Every change is in the audit trail: the instance's bootstrap (the management API, the key
      // ring), then the operator's commands.
      const audit = jsonOf<{ type: string; actor: string; details: { command?: string } }[]>(await gatehouse(['audit', 'tail', '--json']));
      expect(audit.map((event) => [event.type, event.actor, event.details.command])).toEqual([
        ['api_added', 'system', undefined],
        ['key_ring_changed', 'system', undefined],
        ['key_ring_changed', 'cli', 'keys rotate'],
        ['key_ring_changed', 'cli', 'keys rotate --immediately'],
        ['key_ring_changed', 'cli', 'keys revoke'],
      ]);
    } finally {
      await running.close();
    }
  });

  it('imports a private JWKS as next keys and refuses what is not one', async () => {
    const { dir, gatehouse } = freshCli();
    const running = await startGatehouse({ dir });
    try {
      const example = JSON.parse(readFileSync(exampleFile, 'utf8')) as { keys: { kid: string }[] };
      const imported = jsonOf<KeysJson>(await gatehouse(['keys', 'import', exampleFile, '--json']));
      expect(imported.keys.filter((key) => key.state === 'next').map((key) => key.kid).sort()).toEqual(example.keys.map((key) => key.kid).sort());
      expectTextFailure(await gatehouse(['keys', 'import', join(dir, 'missing.json')]), { exit: 1, error: 'invalid_input', message: /cannot read .*missing\.json as JSON/ });
      expectTextFailure(await gatehouse(['keys', 'import', join(dir, 'gatehouse.db')]), { exit: 1, error: 'invalid_input', message: /as JSON/ });
    } finally {
      await running.close();
    }
  });
});

describe('gatehouse audit', () => {
  type AuditJson = { at: string; type: string; actor: string; account_id?: string; client_id?: string; details: Record<string, unknown> }[];

  it('records every operator change, without secrets, and tails it', async () => {
    const { dir, gatehouse } = freshCli();
    const user = jsonOf(await gatehouse(['users', 'add', '--email', 'audited@example.com', '--json'], 'an audited password\n'));
    const added = jsonOf(await gatehouse(['clients', 'add', '--name', 'Audited', '--redirect-uri', appRedirect, '--json']));
    succeeded(await gatehouse(['users', 'disable', 'audited@example.com']));
    succeeded(await gatehouse(['clients', 'remove', added.client_id as string]));
    const running = await startGatehouse({ dir });
    await running.close();

    const run = await gatehouse(['audit', 'tail', '--json']);
    const events = jsonOf<AuditJson>(run);
    expect(events.map((event) => [event.type, event.actor])).toEqual([
      // The server's start-up: the management API registered as a resource, and the key ring.
      ['account_created', 'cli'], ['client_added', 'cli'], ['account_disabled', 'cli'], ['client_removed', 'cli'], ['api_added', 'system'], ['key_ring_changed', 'system'],
    ]);
    expect(events[0]).toMatchObject({ account_id: user.id, details: { email: 'audited@example.com' } });
    expect(events[1]).toMatchObject({ client_id: added.client_id, details: { client_name: 'Audited' } });
    expect(run.stdout).not.toContain(added.client_secret as string);
    expect(run.stdout).not.toContain('an audited password');
    expect(run.stdout).not.toContain('argon2');

    const mine = jsonOf<AuditJson>(await gatehouse(['audit', 'tail', '--account', 'AUDITED@example.com', '--json']));
    expect(mine.map((event) => event.type)).toEqual(['account_created', 'account_disabled']);
    expect(jsonOf<AuditJson>(await gatehouse(['audit', 'tail', '--limit', '1', '--json'])).map((event) => event.type)).toEqual(['key_ring_changed']);
    expect(succeeded(await gatehouse(['audit', 'tail', '--limit', '2']))).toMatch(/api_added[\s\S]*key_ring_changed/);
    expectTextFailure(await gatehouse(['audit', 'tail', '--limit', '0']), { exit: 1, error: 'invalid_input', message: /--limit must be from 1 to 10000/ });
    expectTextFailure(await gatehouse(['audit', 'tail', '--account', 'nobody@example.com']), { exit: 1, error: 'not_found', message: /no account nobody@example.com/ });
  });
});

describe('gatehouse apis', () => {
  it('adds, lists and removes APIs', async () => {
    const { gatehouse } = freshCli();
    const orders = jsonOf(await gatehouse(['apis', 'add', '--json', '--identifier', 'https://api.example.test/orders', '--scope', 'orders:read', '--scope', 'orders:write', '--signing-alg', 'ES256']));
    expect(orders).toEqual({
      identifier: 'https://api.example.test/orders',
      scopes: ['orders:read', 'orders:write'],
      signing_alg: 'ES256',
      access_token_ttl: 3600,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    const billingText = succeeded(await gatehouse(['apis', 'add', '--identifier', 'urn:example:billing', '--name', 'Billing', '--scope', 'invoices:read invoices:send', '--access-token-ttl', '600']));
    expect(billingText).toMatch(/urn:example:billing/);
    expect(billingText).toMatch(/invoices:read invoices:send/);
    expect(billingText).toMatch(/RS256/);

    const [json, text] = await Promise.all([gatehouse(['apis', 'list', '--json']), gatehouse(['apis', 'list'])]);
    const listed = jsonOf<Json[]>(json);
    expect(listed).toHaveLength(2);
    expect(listed[0]).toEqual(orders);
    expect(listed[1]).toMatchObject({ identifier: 'urn:example:billing', name: 'Billing', scopes: ['invoices:read', 'invoices:send'], signing_alg: 'RS256', access_token_ttl: 600 });
    const rows = succeeded(text).trimEnd().split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[1]).toMatch(/^https:\/\/api\.example\.test\/orders\s+orders:read orders:write\s+ES256\s+3600$/);

    expect(jsonOf(await gatehouse(['apis', 'remove', 'https://api.example.test/orders', '--json']))).toEqual({ identifier: 'https://api.example.test/orders', removed: true });
    expect(jsonOf<Json[]>(await gatehouse(['apis', 'list', '--json'])).map((api) => api.identifier)).toEqual(['urn:example:billing']);
    await expectFailure(gatehouse, ['apis', 'remove', 'https://api.example.test/orders'], { exit: 1, error: 'not_found', message: /no API https:\/\/api\.example\.test\/orders/ });
  });

  it('refuses bad input and duplicates', async () => {
    const { gatehouse } = freshCli();
    succeeded(await gatehouse(['apis', 'add', '--identifier', 'https://api.example.test/orders', '--scope', 'orders:read']));
    const invalid = (message: RegExp): Failure => ({ exit: 1, error: 'invalid_input', message });
    await Promise.all([
      expectFailure(gatehouse, ['apis', 'add', '--identifier', 'orders-api', '--scope', 'a'], invalid(/absolute URI/)),
      expectFailure(gatehouse, ['apis', 'add', '--scope', 'a'], invalid(/identifier/)),
      expectFailure(gatehouse, ['apis', 'add', '--identifier', 'https://api.example.test/x#frag'], invalid(/fragment/)),
      expectFailure(gatehouse, ['apis', 'add', '--identifier', 'https://api.example.test/x', '--signing-alg', 'HS256'], invalid(/RS256/)),
      expectFailure(gatehouse, ['apis', 'add', '--identifier', 'https://api.example.test/x', '--access-token-ttl', 'soon'], invalid(/--access-token-ttl must be a whole number/)),
      expectFailure(gatehouse, ['apis', 'add', '--identifier', 'https://api.example.test/orders', '--scope', 'orders:write'], { exit: 1, error: 'conflict', message: /already exists/ }),
    ]);
    // Nothing was added or changed by the refused commands.
    const listed = jsonOf<Json[]>(await gatehouse(['apis', 'list', '--json']));
    expect(listed.map((api) => [api.identifier, api.scopes])).toEqual([['https://api.example.test/orders', ['orders:read']]]);
  });
});

describe('gatehouse users', () => {
  const ada = { email: 'Ada@Example.com', password: 'analytical engine 1843' };
  let gatehouse: Gatehouse;
  let dir: string;
  let adaId: string;

  beforeAll(async () => {
    ({ gatehouse, dir } = freshCli());
    const added = jsonOf(await gatehouse(['users', 'add', '--json', '--email', ada.email, '--name', 'Ada Lovelace', '--verified', '--role', 'admin', '--role', 'auditor'], `${ada.password}\n`));
    adaId = added.id as string;
  });

  it('adds a user with the password read from stdin', async () => {
    expect(adaId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const shown = jsonOf(await gatehouse(['users', 'show', adaId, '--json']));
    expect(shown).toEqual({
      id: adaId,
      email: ada.email,
      email_verified: true,
      name: 'Ada Lovelace',
      roles: ['admin', 'auditor'],
      disabled: false,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      profile_updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    // The password itself is hashed, not stored.
    expect(databaseBytes(dir).includes(ada.password)).toBe(false);

    const text = succeeded(await gatehouse(['users', 'add', '--email', 'grace@example.com'], 'cobol rules forever\n'));
    expect(text).toMatch(/^added user grace@example\.com \(id [0-9a-f-]{36}\)\n$/);
  });

  it('lists users without any password hash', async () => {
    const [json, text] = await Promise.all([gatehouse(['users', 'list', '--json']), gatehouse(['users', 'list'])]);
    const listed = jsonOf<Json[]>(json);
    expect(listed.map((user) => user.email)).toEqual(expect.arrayContaining([ada.email]));
    expect(listed.find((user) => user.id === adaId)).toMatchObject({ email: ada.email, roles: ['admin', 'auditor'], disabled: false });
    for (const run of [json, text]) {
      expect(run.stdout).not.toMatch(/\$argon2|\$v=19\$|password_?hash/i);
    }
    expect(succeeded(text)).toMatch(new RegExp(`^${adaId}\\s+Ada@Example\\.com\\s+yes\\s+admin,auditor\\s+active$`, 'm'));
  });

  it('shows a user by email in any case, or by id', async () => {
    const [upper, lower, byId, text] = await Promise.all([
      gatehouse(['users', 'show', 'ADA@EXAMPLE.COM', '--json']),
      gatehouse(['users', 'show', 'ada@example.com', '--json']),
      gatehouse(['users', 'show', adaId, '--json']),
      gatehouse(['users', 'show', 'ada@EXAMPLE.com']),
    ]);
    for (const run of [upper, lower, byId]) expect(jsonOf(run).id).toBe(adaId);
    const shown = succeeded(text);
    expect(shown).toMatch(new RegExp(`^id:\\s+${adaId}$`, 'm'));
    expect(shown).toMatch(/^email:\s+Ada@Example\.com \(verified\)$/m);
    expect(shown).toMatch(/^status:\s+active$/m);
    expect(shown).not.toMatch(/\$argon2|password_?hash/i);
    await expectFailure(gatehouse, ['users', 'show', 'nobody@example.com'], { exit: 1, error: 'not_found', message: /no account nobody@example\.com/ });
  });

  it('disables and enables a user', async () => {
    const disabled = jsonOf(await gatehouse(['users', 'disable', 'ada@example.com', '--json']));
    expect(disabled).toMatchObject({ id: adaId, disabled: true });
    const [shown, listed] = await Promise.all([gatehouse(['users', 'show', adaId]), gatehouse(['users', 'list'])]);
    expect(succeeded(shown)).toMatch(/^status:\s+disabled$/m);
    expect(succeeded(listed)).toMatch(new RegExp(`^${adaId}\\s.*\\sdisabled$`, 'm'));

    expect(succeeded(await gatehouse(['users', 'enable', adaId]))).toBe(`enabled ${ada.email}\n`);
    expect(jsonOf(await gatehouse(['users', 'show', adaId, '--json'])).disabled).toBe(false);

    await Promise.all([
      expectFailure(gatehouse, ['users', 'disable', 'nobody@example.com'], { exit: 1, error: 'not_found', message: /no account/ }),
      expectFailure(gatehouse, ['users', 'enable', 'no-such-id'], { exit: 1, error: 'not_found', message: /no account/ }),
    ]);
  });

  it('refuses bad input, and never takes the password from argv', async () => {
    const invalid = (message: RegExp): Failure => ({ exit: 1, error: 'invalid_input', message });
    const [tooShort] = await Promise.all([
      gatehouse(['users', 'add', '--email', 'shorty@example.com'], 'hunter2\n'),
      expectFailure(gatehouse, ['users', 'add', '--email', 'shorty@example.com'], invalid(/password: Use at least 8 characters\./), 'hunter2\n'),
      expectFailure(gatehouse, ['users', 'add', '--email', 'nopass@example.com'], invalid(/no password on stdin/), ''),
      expectFailure(gatehouse, ['users', 'add', '--email', 'nopass@example.com'], invalid(/no password on stdin/), '\n'),
      expectFailure(gatehouse, ['users', 'add', '--email', 'not-an-email'], invalid(/email: Enter a valid email address\./), 'long enough password\n'),
      expectFailure(gatehouse, ['users', 'add', '--name', 'No Email'], invalid(/--email is required/), 'long enough password\n'),
      expectFailure(gatehouse, ['users', 'add', '--email', 'x@example.com', '--role', 'has space'], invalid(/roles are/), 'long enough password\n'),
      expectFailure(gatehouse, ['users', 'add', '--email', 'aDA@example.COM'], { exit: 1, error: 'conflict', message: /already exists/ }, 'another long password\n'),
      expectFailure(gatehouse, ['users', 'add', '--email', 'argv@example.com', '--password', 'long enough password'], { exit: 2, error: 'usage', message: /--password/ }),
    ]);
    // A refused password is not echoed back.
    expect(tooShort.stderr).not.toContain('hunter2');

    const emails = jsonOf<Json[]>(await gatehouse(['users', 'list', '--json'])).map((user) => (user.email as string).toLowerCase());
    expect(emails.filter((email) => email === 'ada@example.com')).toHaveLength(1);
    for (const refused of ['shorty@example.com', 'nopass@example.com', 'not-an-email', 'x@example.com', 'argv@example.com']) expect(emails).not.toContain(refused);
  });
});

describe('gatehouse against a running server', () => {
  const bob = { email: 'bob@example.com', password: 'bobs very long password' };
  let server: TestGatehouse;
  let gatehouse: Gatehouse;
  let bobId: string;
  let registered: { clientId: string; clientSecret: string };
  let accessToken: string;
  let rp: client.Configuration;
  // The CLI is another process to the server: the server sees its changes within its read cache's
  // bound (src/oidc/read-cache.ts), moved through on this clock.
  const clock = movableClock();

  beforeAll(async () => {
    server = await startGatehouse({ clock });
    gatehouse = cliFor(server.env);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('signs in with a user and a client the CLI just added', async () => {
    const [user, added] = await Promise.all([
      gatehouse(['users', 'add', '--json', '--email', bob.email, '--name', 'Bob Builder', '--verified'], `${bob.password}\n`),
      gatehouse(['clients', 'add', '--json', '--name', 'CLI-made app', '--redirect-uri', redirectUri]),
    ]);
    bobId = jsonOf(user).id as string;
    const metadata = jsonOf(added);
    registered = { clientId: metadata.client_id as string, clientSecret: metadata.client_secret as string };

    // While the server holds the database open, the CLI's writes sit in the WAL: the secret must
    // be absent there too.
    const bytes = databaseBytes(server.dir);
    expect(bytes.includes(registered.clientId)).toBe(true);
    expect(bytes.includes(registered.clientSecret)).toBe(false);

    rp = await relyingParty(server, registered);
    const { tokens } = await signIn(server, rp, bob);
    expect(tokens.claims()?.sub).toBe(bobId);
    expect(tokens.claims()?.aud).toBe(registered.clientId);
    accessToken = tokens.access_token;

    const userinfo = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(userinfo.status).toBe(200);
    expect(await userinfo.json()).toMatchObject({ sub: bobId, email: bob.email, name: 'Bob Builder' });
  });

  it('revokes the user’s tokens when the CLI disables them', async () => {
    expect(accessToken).toEqual(expect.any(String));
    expect(jsonOf(await gatehouse(['users', 'disable', bob.email, '--json'])).disabled).toBe(true);
    const rejected = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(rejected.status).toBe(401);

    // Revoked, not merely hidden: enabling the account again does not bring the old token back.
    succeeded(await gatehouse(['users', 'enable', bob.email]));
    const stillRejected = await fetch(`${server.url}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(stillRejected.status).toBe(401);
  });

  it('issues API tokens at once for an API and a client_credentials client the CLI just added', async () => {
    const identifier = 'https://api.example.test/inventory';
    const [api, machine] = await Promise.all([
      gatehouse(['apis', 'add', '--json', '--identifier', identifier, '--scope', 'stock:read', '--scope', 'stock:write', '--signing-alg', 'ES256']),
      gatehouse(['clients', 'add', '--json', '--name', 'Stock sync', '--grant-type', 'client_credentials']),
    ]);
    expect(jsonOf(api).signing_alg).toBe('ES256');
    const credentials = jsonOf(machine);
    const config = await relyingParty(server, { clientId: credentials.client_id as string, clientSecret: credentials.client_secret as string });
    const tokens = await client.clientCredentialsGrant(config, { scope: 'stock:read', resource: identifier });
    expect(decodeProtectedHeader(tokens.access_token).alg).toBe('ES256');
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${server.url}/jwks`)), { issuer: server.url, audience: identifier });
    expect(payload).toMatchObject({ client_id: credentials.client_id, scope: 'stock:read' });

    // Once the CLI removes the API, the server no longer issues tokens for it (within the bound).
    succeeded(await gatehouse(['apis', 'remove', identifier]));
    clock.advance(maxStaleMs);
    await expect(client.clientCredentialsGrant(config, { scope: 'stock:read', resource: identifier })).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('shows an error page instead of the login page once the CLI removes the client (within the read cache bound)', async () => {
    expect(rp).toBeDefined();
    const authorizationUrl = (): URL => client.buildAuthorizationUrl(rp, {
      redirect_uri: redirectUri, scope: 'openid', state: client.randomState(),
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    });

    // Before: the request is good and leads to a login page.
    const before = await new UserAgent(server.url).page(authorizationUrl().href);
    expect(before.status).toBe(200);
    expect(before.document.querySelector('input[name=password]')).not.toBeNull();

    expect(succeeded(await gatehouse(['clients', 'remove', registered.clientId]))).toBe(`removed client ${registered.clientId}\n`);
    clock.advance(maxStaleMs);

    const after = await new UserAgent(server.url).navigate(authorizationUrl().href);
    if (!isPage(after)) throw new Error(`expected an error page, was redirected to ${after.redirectedTo}`);
    expect(after.status).toBe(400);
    expect(after.document.querySelector('input[name=password]')).toBeNull();
    expect(after.body).toContain('invalid_client');
  });
});

describe('gatehouse users import', () => {
  type ImportJson = { dry_run: boolean; imported: number; unchanged: number; errors: { line: number; message: string }[]; duplicates: { line: number; email: string }[] };
  type AuditJson = { type: string; actor: string; details: Record<string, unknown> }[];
  let write: (dir: string, name: string, rows: unknown[]) => string;
  let bcryptHash: string;
  let argon2Hash: string;

  beforeAll(async () => {
    // Imported here so that this block adds no lines elsewhere in the file.
    const [{ writeFileSync }, { default: bcrypt }, { default: argon2 }] = await Promise.all([import('node:fs'), import('bcryptjs'), import('argon2')]);
    write = (dir, name, rows) => {
      const file = join(dir, name);
      writeFileSync(file, `${rows.map((row) => (typeof row === 'string' ? row : JSON.stringify(row))).join('\n')}\n`);
      return file;
    };
    bcryptHash = bcrypt.hashSync('an old bcrypt password', 4);
    argon2Hash = await argon2.hash('an old argon2 password', { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 });
  });

  it('imports a file with exit 0, and changes nothing when run again', async () => {
    const { dir, gatehouse } = freshCli();
    const file = write(dir, 'users.jsonl', [
      { email: 'Imported@Example.com', name: 'Imported User', email_verified: true, password_hash: bcryptHash, roles: ['staff', 'staff'] },
      '',
      { email: 'argon@example.com', password_hash: argon2Hash },
      { email: 'nohash@example.com' },
    ]);
    expect(succeeded(await gatehouse(['users', 'import', file]))).toBe('imported 3, unchanged 0, 0 errors, 0 duplicates\n');
    const users = jsonOf<Json[]>(await gatehouse(['users', 'list', '--json']));
    expect(users.map((user) => [user.email, user.email_verified, user.roles, user.disabled]).sort()).toEqual([
      ['Imported@Example.com', true, ['staff'], false], ['argon@example.com', false, [], false], ['nohash@example.com', false, [], false],
    ]);
    expect(users.find((user) => user.email === 'Imported@Example.com')).toMatchObject({ name: 'Imported User' });

    expect(jsonOf<ImportJson>(await gatehouse(['users', 'import', file, '--json']))).toEqual({ dry_run: false, imported: 0, unchanged: 3, errors: [], duplicates: [] });
    expect(jsonOf<Json[]>(await gatehouse(['users', 'list', '--json']))).toEqual(users);

    const audit = await gatehouse(['audit', 'tail', '--json']);
    expect(jsonOf<AuditJson>(audit).map((event) => [event.type, event.actor, event.details])).toEqual([
      ['users_imported', 'cli', { imported: 3, unchanged: 0, errors: 0, duplicates: 0 }],
      ['users_imported', 'cli', { imported: 0, unchanged: 3, errors: 0, duplicates: 0 }],
    ]);
    expect(audit.stdout).not.toMatch(/@|\$2b\$|\$argon2/);
  });

  it('imports the valid lines, then exits 1 with a summary and one line per problem', async () => {
    const { dir, gatehouse } = freshCli();
    const file = write(dir, 'mixed.jsonl', [
      { email: 'good@example.com', password_hash: bcryptHash },
      '{"email": "broken@example.com"',
      { email: 'typo@example.com', pasword_hash: bcryptHash },
      { email: 'GOOD@example.com' },
      { email: 'also-good@example.com', roles: ['a'] },
      { email: 'weak@example.com', password_hash: '5f4dcc3b5aa765d61d8327deb882cf99' },
    ]);
    const run = await gatehouse(['users', 'import', file]);
    // A partial failure: the report is the output (stdout), and the exit code says it failed.
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toBe('');
    expect(run.stdout.trimEnd().split('\n')).toEqual([
      'imported 2, unchanged 0, 3 errors, 1 duplicate',
      'line 2: invalid JSON at column 31',
      expect.stringMatching(/^line 3: Unrecognized key.*"pasword_hash"$/),
      'line 4: duplicate of an earlier line\'s email GOOD@example.com; skipped',
      'line 6: password_hash: is not a supported hash (argon2, or bcrypt $2a$, $2b$ or $2y$)',
    ]);
    expect(jsonOf<Json[]>(await gatehouse(['users', 'list', '--json'])).map((user) => user.email).sort()).toEqual(['also-good@example.com', 'good@example.com']);

    // Again with --json: the imported lines are now unchanged, the problems are the same.
    const json = await gatehouse(['users', 'import', file, '--json']);
    expect(json.code, describeRun(json)).toBe(1);
    expect(json.stderr).toBe('');
    const body = JSON.parse(json.stdout) as ImportJson;
    expect(body).toMatchObject({ dry_run: false, imported: 0, unchanged: 2 });
    expect(body.errors.map((error) => error.line)).toEqual([2, 3, 6]);
    expect(body.duplicates).toEqual([{ line: 4, email: 'GOOD@example.com' }]);
  });

  it('with --dry-run reports what would happen and writes nothing', async () => {
    const { dir, gatehouse } = freshCli();
    succeeded(await gatehouse(['users', 'add', '--email', 'taken@example.com'], 'a long enough password\n'));
    const clean = write(dir, 'clean.jsonl', [{ email: 'new@example.com', password_hash: bcryptHash }, { email: 'other@example.com' }]);
    const conflicting = write(dir, 'conflicting.jsonl', [{ email: 'new@example.com' }, { email: 'Taken@example.com', password_hash: bcryptHash }]);
    const before = jsonOf<Json[]>(await gatehouse(['users', 'list', '--json']));
    const auditBefore = succeeded(await gatehouse(['audit', 'tail', '--json']));

    expect(jsonOf<ImportJson>(await gatehouse(['users', 'import', clean, '--dry-run', '--json']))).toEqual({ dry_run: true, imported: 2, unchanged: 0, errors: [], duplicates: [] });
    expect(succeeded(await gatehouse(['users', 'import', '--dry-run', clean]))).toBe('dry run, nothing written: would import 2, unchanged 0, 0 errors, 0 duplicates\n');
    const refused = await gatehouse(['users', 'import', conflicting, '--dry-run']);
    expect(refused.code, describeRun(refused)).toBe(1);
    expect(refused.stdout).toBe('dry run, nothing written: would import 1, unchanged 0, 1 error, 0 duplicates\nline 2: Taken@example.com already exists with different details (password_hash); left unchanged\n');

    expect(jsonOf<Json[]>(await gatehouse(['users', 'list', '--json']))).toEqual(before);
    expect(succeeded(await gatehouse(['audit', 'tail', '--json']))).toBe(auditBefore);
  });

  it('refuses a missing file or a missing argument', async () => {
    const { dir, gatehouse } = freshCli();
    await expectFailure(gatehouse, ['users', 'import', join(dir, 'missing.jsonl')], { exit: 1, error: 'invalid_input', message: /cannot read .*missing\.jsonl: ENOENT/ });
    await expectFailure(gatehouse, ['users', 'import', dir], { exit: 1, error: 'invalid_input', message: /cannot read .*: EISDIR/ });
    await expectFailure(gatehouse, ['users', 'import'], { exit: 2, error: 'usage', message: /expected FILE\.jsonl/ });
    const usage = succeeded(await gatehouse(['--help']));
    expect(usage).toMatch(/^ {2}users import FILE\.jsonl \[--dry-run\] .*exit 1 if any line is refused/m);
  });

  it('lets imported bcrypt users sign in with their old password, rehashed to argon2id on the way', async () => {
    const { dir, gatehouse } = freshCli();
    // Production hashing: the subject is the rehash to the configured parameters.
    const running = await startGatehouse({ dir, passwordHashing: 'production' });
    try {
      const file = write(dir, 'legacy.jsonl', [
        { email: 'bcrypt@example.com', name: 'Bee Crypt', email_verified: true, password_hash: bcryptHash },
        { email: 'php@example.com', email_verified: true, password_hash: bcryptHash.replace(/^\$2b\$/, '$2y$') },
        { email: 'argon@example.com', email_verified: true, password_hash: argon2Hash },
        { email: 'reset-needed@example.com' },
      ]);
      expect(jsonOf<ImportJson>(await gatehouse(['users', 'import', file, '--json']))).toMatchObject({ imported: 4 });
      const rp = await relyingParty(running, await running.addClient());

      for (const [email, password, prefix] of [['bcrypt@example.com', 'an old bcrypt password', '$2b$'], ['php@example.com', 'an old bcrypt password', '$2y$'], ['argon@example.com', 'an old argon2 password', '$argon2id$v=19$m=8192,']] as const) {
        const imported = await running.store.accounts.findByEmail(email);
        expect(imported!.passwordHash!.startsWith(prefix), email).toBe(true);
        const first = await signIn(running, rp, { email, password });
        expect(first.tokens.claims()?.sub).toBe(imported!.id);
        const rehashed = await running.store.accounts.findByEmail(email);
        expect(rehashed!.passwordHash, email).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
        const again = await signIn(running, rp, { email, password });
        expect(again.tokens.claims()?.sub).toBe(imported!.id);
        expect((await running.store.accounts.findByEmail(email))!.passwordHash).toBe(rehashed!.passwordHash);
      }
      const { tokens } = await signIn(running, rp, { email: 'bcrypt@example.com', password: 'an old bcrypt password' });
      const userinfo = await fetch(`${running.url}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(await userinfo.json()).toMatchObject({ email: 'bcrypt@example.com', email_verified: true, name: 'Bee Crypt' });

      // Without a hash there is nothing to sign in with until a reset.
      await expect(signIn(running, rp, { email: 'reset-needed@example.com', password: 'any password at all' })).rejects.toThrow(/sign-in did not finish/);
      // The rehashed account now differs from the file: re-importing reports it and leaves it alone.
      const rerun = await gatehouse(['users', 'import', file]);
      expect(rerun.code, describeRun(rerun)).toBe(1);
      expect(rerun.stdout).toMatch(/^imported 0, unchanged 1, 3 errors, 0 duplicates\nline 1: bcrypt@example\.com already exists with different details \(password_hash\); left unchanged\n/);
    } finally {
      await running.close();
    }
  });
});
