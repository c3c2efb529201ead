import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';

import { schemaVersion } from '../../src/store/sqlite/database.ts';
import { redirectUri } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import type { Exit } from '../helpers/main-process.ts';
import { freePort, sleep, withTimeout } from '../helpers/main-process.ts';
import { relyingParty, signIn } from '../helpers/relying-party.ts';

/**
 * Upgrades without downtime: the previous release's code and this code serve one SQLite database at
 * the same time, through this code's migration. The previous release is the last commit before the
 * newest migration was added (computed from git, so the test stays about the newest migration as
 * more are added); its code is taken from git into a temporary directory.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const databaseTs = 'src/store/sqlite/database.ts';

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** The migrations' names in a version of database.ts, in order. */
function migrationNames(source: string): string[] {
  return [...source.matchAll(/\{ name: '(\d{4}_[a-z0-9_]+)'/g)].map((match) => match[1]!);
}

type Previous = { commit: string; newest: string; migrations: number } | { skipped: string };

/**
 * The commit to run as the previous release: the parent of the commit that added the newest
 * migration, or HEAD when the newest migration is not committed yet (a working tree that adds one).
 */
function previousRelease(): Previous {
  const newest = migrationNames(readFileSync(join(root, databaseTs), 'utf8')).at(-1)!;
  let commit: string;
  try {
    git('rev-parse', '--verify', 'HEAD');
    const adding = git('log', '--format=%H', '--reverse', `-S'${newest}'`, '--', databaseTs).split('\n').filter(Boolean)[0];
    commit = adding ? git('rev-parse', '--verify', `${adding}^`) : git('rev-parse', 'HEAD');
  } catch (error) {
    const reason = ((error as { stderr?: string }).stderr || (error as Error).message).split('\n')[0];
    return { skipped: `no git history to take the previous release from (${reason}); a full clone runs it` };
  }
  const migrations = migrationNames(git('show', `${commit}:${databaseTs}`)).length;
  return { commit, newest, migrations };
}

const previous = previousRelease();
// One line in the run's output, whatever the reporter shows of a skipped test.
if ('skipped' in previous) console.warn(`skipped: the upgrade test: ${previous.skipped}`);

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** One Gatehouse code tree: this one, or the previous release extracted from git. */
type Tree = { dir: string; name: string };

function extract(commit: string): Tree {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-previous-'));
  dirs.push(dir);
  execFileSync('bash', ['-c', `git archive ${commit} | tar -x -C "${dir}"`], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  // Its dependencies are this checkout's (a release's lockfile changes seldom; what it imports is there).
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  return { dir, name: `previous (${commit.slice(0, 7)})` };
}

/** Runs a tree's CLI as its own process; resolves with its exit. */
function cli(tree: Tree, env: NodeJS.ProcessEnv, args: string[], input = ''): Promise<Exit> {
  const child = spawn(process.execPath, ['src/cli/main.ts', ...args], { cwd: tree.dir, env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => {});
  child.stdin.end(input);
  return withTimeout(new Promise((resolveExit) => child.on('close', (code, signal) => resolveExit({ code, signal, stdout, stderr }))), 30_000, `${tree.name}: gatehouse ${args.join(' ')}`);
}

type Server = { url: string; child: ChildProcess; exited: Promise<Exit>; stop(): Promise<Exit> };

/** Starts a tree's server (src/main.ts) on `port`; resolves once /readyz answers 200, or with its exit if it stops first. */
async function serve(tree: Tree, env: NodeJS.ProcessEnv, port: number): Promise<Server | Exit> {
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['src/main.ts'], { cwd: tree.dir, env: { PATH: process.env.PATH, ...env, PORT: String(port), ISSUER: url }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<Exit>((resolveExit) => child.on('close', (code, signal) => resolveExit({ code, signal, stdout, stderr })));
  const deadline = Date.now() + 30_000;
  while (child.exitCode === null) {
    if (Date.now() > deadline) throw new Error(`${tree.name} on ${port} did not become ready:\n${stderr}`);
    if (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1_000) }).then((response) => response.ok, () => false)) {
      return {
        url, child, exited,
        async stop() {
          child.kill('SIGTERM');
          return withTimeout(exited, 15_000, `${tree.name} stopping`);
        },
      };
    }
    await sleep(100);
  }
  return exited;
}

const person = { email: 'upgrade@example.com', password: 'correct horse battery staple' };

/** A sign-in through the pages of the server at `url`, as the client; its ID token. */
async function signInAt(url: string, registered: { clientId: string; clientSecret: string }): Promise<string> {
  const gatehouse = { url } as TestGatehouse;
  const { tokens } = await signIn(gatehouse, await relyingParty(gatehouse, registered), person);
  return tokens.id_token!;
}

/** Verifies an ID token with the JWKS the server at `url` publishes. */
async function verifiedBy(url: string, idToken: string, audience: string) {
  const { payload } = await jwtVerify(idToken, createRemoteJWKSet(new URL(`${url}/jwks`)), { audience });
  return payload;
}

describe('an upgrade without downtime (SQLite)', () => {
  const title = 'skipped' in previous
    ? `skipped: ${previous.skipped}`
    : `the previous release (${previous.commit.slice(0, 7)}, before ${previous.newest}) and this code serve one database at once, through the migration`;

  it.skipIf('skipped' in previous)(title, async () => {
    const { commit, migrations } = previous as Exclude<Previous, { skipped: string }>;
    const old = extract(commit);
    const current: Tree = { dir: root, name: 'this code' };
    const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-upgrade-'));
    dirs.push(dataDir);
    const env: NodeJS.ProcessEnv = {
      NODE_ENV: 'production',
      DATA_DIR: dataDir,
      DATABASE_URL: `sqlite:${join(dataDir, 'gatehouse.db')}`,
      COOKIE_KEYS: randomBytes(32).toString('base64'),
      KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      // Nothing listens there: no test here sends mail (a failed delivery is retried, not fatal).
      SMTP_URL: 'smtp://127.0.0.1:9',
    };

    // The previous release sets its database up, as its operator did, and serves it.
    const setUp = await cli(old, env, ['db', 'migrate']);
    expect(setUp.code, setUp.stderr).toBe(0);
    const user = await cli(old, env, ['users', 'add', '--email', person.email, '--verified'], `${person.password}\n`);
    expect(user.code, user.stderr).toBe(0);
    const added = await cli(old, env, ['clients', 'add', '--json', '--name', 'Upgrade test', '--redirect-uri', redirectUri]);
    expect(added.code, added.stderr).toBe(0);
    const { client_id: clientId, client_secret: clientSecret } = JSON.parse(added.stdout) as { client_id: string; client_secret: string };
    const registered = { clientId, clientSecret };

    const [oldPort, newPort] = [await freePort(), await freePort()];
    const oldServer = await serve(old, env, oldPort);
    if (!('url' in oldServer)) throw new Error(`the previous release did not start: ${oldServer.stderr}`);
    const beforeUpgrade = await signInAt(oldServer.url, registered);

    // This code refuses to serve until its migration is applied (production never migrates by itself)…
    const status = await cli(current, env, ['db', 'status', '--json']);
    expect(status.code, status.stderr).toBe(0);
    const pending = (JSON.parse(status.stdout) as { pending: string[] }).pending;
    expect(pending.length).toBeGreaterThan(0);
    expect(pending.at(-1)).toBe((previous as { newest: string }).newest);
    const refused = await serve(current, env, newPort);
    expect('code' in refused && refused.code, 'this code started on an unmigrated database').toBe(1);

    // …which is applied while the previous release serves.
    const migrated = await cli(current, env, ['db', 'migrate']);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toContain(`applied: ${pending.join(', ')}`);
    expect(migrations + pending.length).toBe(schemaVersion);

    // The previous release goes on serving on the migrated database: ready, and signing people in.
    expect((await fetch(`${oldServer.url}/readyz`)).status).toBe(200);
    const duringUpgrade = await signInAt(oldServer.url, registered);

    // Both serve at once: each signs in, and each one's tokens verify against the other's JWKS.
    const newServer = await serve(current, env, newPort);
    if (!('url' in newServer)) throw new Error(`this code did not start: ${newServer.stderr}`);
    const fromNew = await signInAt(newServer.url, registered);
    const fromOld = await signInAt(oldServer.url, registered);
    const subject = (await verifiedBy(oldServer.url, beforeUpgrade, clientId)).sub;
    for (const token of [beforeUpgrade, duringUpgrade, fromOld]) expect((await verifiedBy(newServer.url, token, clientId)).sub).toBe(subject);
    expect((await verifiedBy(oldServer.url, fromNew, clientId)).sub).toBe(subject);

    // The previous release is retired; this code goes on with everything it made.
    const oldExit = await oldServer.stop();
    expect(oldExit.code, oldExit.stderr).toBe(0);
    expect((await verifiedBy(newServer.url, await signInAt(newServer.url, registered), clientId)).sub).toBe(subject);
    const newExit = await newServer.stop();
    expect(newExit.code, newExit.stderr).toBe(0);
  }, 180_000);
});
