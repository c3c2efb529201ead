import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';

import { schemaVersion } from '../../src/store/sqlite/database.ts';
import { describeRun } from '../helpers/cli-assertions.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { relyingParty, signIn } from '../helpers/relying-party.ts';
import type { CliRun } from '../helpers/run-cli.ts';
import { cliFor, runCliProcess } from '../helpers/run-cli.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-backup-'));
  dirs.push(dir);
  return dir;
}

/** The ids a SQLite file holds, read with its own connection (the file as a restore would find it). */
function idsIn(file: string): { accounts: string[]; clients: string[] } {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const ids = (sql: string) => (db.prepare(sql).all() as Array<{ id: string }>).map((row) => row.id);
    return { accounts: ids('SELECT id FROM accounts'), clients: ids('SELECT client_id AS id FROM clients') };
  } finally {
    db.close();
  }
}

/** Every row of every table, as JSON lines per table: two files with equal dumps hold the same records. */
function dump(file: string): Record<string, string[]> {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>).map((row) => row.name);
    return Object.fromEntries(tables.map((table) => [table, (db.prepare(`SELECT * FROM "${table}"`).all()).map((row) => JSON.stringify(row)).sort()]));
  } finally {
    db.close();
  }
}

function ok(run: CliRun): string {
  expect(run.code, describeRun(run)).toBe(0);
  expect(run.stderr, describeRun(run)).toBe('');
  return run.stdout;
}

/** A refusal: the exit code, nothing on stdout, one line on stderr. */
function refusedWith(run: CliRun, code: number, words: RegExp): void {
  expect(run.code, describeRun(run)).toBe(code);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^gatehouse: [^\n]+\n$/);
  expect(run.stderr).toMatch(words);
}

describe('gatehouse db backup and db restore (SQLite)', () => {
  it('backs up a running server under write load, restores it into the stopped deployment, and the restored server verifies tokens issued before', async () => {
    let gatehouse: TestGatehouse = await startGatehouse();
    const { dir, env } = gatehouse;
    const backupFile = join(scratch(), 'gatehouse-backup.db');

    // Before the backup: a person signed in; their ID token is signed with the ring's current key.
    const beforeId = await gatehouse.addUser('before@example.com', 'correct horse battery staple');
    const client = await gatehouse.addClient();
    const { tokens } = await signIn(gatehouse, await relyingParty(gatehouse, client), { email: 'before@example.com', password: 'correct horse battery staple' });
    const idToken = tokens.id_token!;

    // Writes one after another (an account, then a client) for as long as the backup runs: the
    // backup must hold exactly the first k of them, for some k, and nothing half-written.
    const written: Array<{ kind: 'accounts' | 'clients'; id: string }> = [];
    let backingUp = true;
    const load = (async () => {
      for (let n = 0; backingUp || n < 4; n += 1) {
        written.push({ kind: 'accounts', id: await gatehouse.addUser(`load-${n}@example.com`, 'correct horse battery staple') });
        written.push({ kind: 'clients', id: (await gatehouse.addClient({ name: `Load ${n}` })).clientId });
      }
    })();
    const writtenBefore = written.length;
    // The CLI as its own process, as an operator runs it beside the server.
    const backup = await runCliProcess(['db', 'backup', backupFile], { env, timeoutMs: 30_000 }).finally(() => {
      backingUp = false;
    });
    const writtenAfter = written.length;
    await load;
    expect(ok(backup)).toMatch(new RegExp(`^backed up .*gatehouse\\.db to .*gatehouse-backup\\.db \\(\\d+ bytes, schema version ${schemaVersion}\\)\\n$`));
    expect(existsSync(`${backupFile}.partial`)).toBe(false);

    const saved = idsIn(backupFile);
    const savedCount = saved.accounts.length + saved.clients.length;
    const base = { accounts: 1, clients: 1 }; // before@example.com and its client
    const k = savedCount - base.accounts - base.clients;
    // Consistent: a prefix of the writes, taken between the command's start and its end.
    expect(k).toBeGreaterThanOrEqual(writtenBefore);
    expect(k).toBeLessThanOrEqual(writtenAfter);
    const prefix = written.slice(0, k);
    expect(new Set(saved.accounts)).toEqual(new Set([beforeId, ...prefix.filter((w) => w.kind === 'accounts').map((w) => w.id)]));
    expect(new Set(saved.clients)).toEqual(new Set([client.clientId, ...prefix.filter((w) => w.kind === 'clients').map((w) => w.id)]));
    expect(written.length).toBeGreaterThan(k); // the load went on after the copy: the restore must undo it

    // A running deployment is never restored over.
    const cli = cliFor(env);
    refusedWith(await cli(['db', 'restore', backupFile]), 1, /is in use: stop every Gatehouse server/);

    await gatehouse.close();
    const restored = await cli(['db', 'restore', backupFile]);
    expect(ok(restored)).toContain(`restored ${backupFile} as ${join(dir, 'gatehouse.db')} (schema version ${schemaVersion})`);
    expect(restored.stdout).toContain(`kept as ${join(dir, 'gatehouse.db')}.before-restore`);
    expect(idsIn(join(dir, 'gatehouse.db.before-restore')).accounts.length).toBe(1 + written.filter((w) => w.kind === 'accounts').length);

    // Every record of the backup moment, in every table, and none written after it.
    const after = idsIn(join(dir, 'gatehouse.db'));
    expect(after.accounts.sort()).toEqual(saved.accounts.sort());
    expect(after.clients.sort()).toEqual(saved.clients.sort());
    const tables = dump(backupFile);
    expect(Object.keys(tables)).toEqual(expect.arrayContaining(['accounts', 'clients', 'key_ring', 'oidc_models', 'audit_events']));
    expect(tables.oidc_models!.length).toBeGreaterThan(0); // the session and grant of the sign-in before
    expect(dump(join(dir, 'gatehouse.db'))).toEqual(tables);

    // A server on the restored file publishes the key that signed the token before the backup.
    gatehouse = await startGatehouse({ dir });
    try {
      const jwks = createRemoteJWKSet(new URL(`${gatehouse.url}/jwks`));
      const { payload } = await jwtVerify(idToken, jwks, { audience: client.clientId });
      expect(payload.sub).toEqual(expect.any(String));
      // And the people of the backup sign in with their passwords.
      const again = await signIn(gatehouse, await relyingParty(gatehouse, client), { email: 'before@example.com', password: 'correct horse battery staple' });
      expect((await jwtVerify(again.tokens.id_token!, jwks, { audience: client.clientId })).payload.sub).toBe(payload.sub);
    } finally {
      await gatehouse.stop();
    }
  });

  it('refuses what it cannot do safely, with one line each', async () => {
    const dir = scratch();
    const env = { NODE_ENV: 'test', DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'gatehouse.db')}` };
    const cli = cliFor(env);
    ok(await cli(['users', 'list'])); // creates and migrates the database
    const backupFile = join(dir, 'copy.db');
    ok(await cli(['db', 'backup', backupFile]));

    // Never overwrites a file, never backs up onto the database itself.
    refusedWith(await cli(['db', 'backup', backupFile]), 1, /already exists; name a new file/);
    refusedWith(await cli(['db', 'backup', join(dir, 'gatehouse.db')]), 1, /is the database itself/);

    // A backup from a newer Gatehouse: refused, the database untouched.
    const newer = join(dir, 'newer.db');
    copyFileSync(backupFile, newer);
    const db = new DatabaseSync(newer);
    db.exec(`PRAGMA user_version = ${schemaVersion + 1}`);
    db.close();
    refusedWith(await cli(['db', 'restore', newer]), 1, new RegExp(`schema version ${schemaVersion + 1}, newer than this Gatehouse \\(${schemaVersion}\\)`));

    // Not a database, not a Gatehouse database, no file at all.
    const garbage = join(dir, 'garbage.db');
    writeFileSync(garbage, 'not a database at all, just some bytes '.repeat(200));
    refusedWith(await cli(['db', 'restore', garbage]), 1, /garbage\.db/);
    const empty = join(dir, 'empty.db');
    new DatabaseSync(empty).close();
    refusedWith(await cli(['db', 'restore', empty]), 1, /is not a Gatehouse database/);
    refusedWith(await cli(['db', 'restore', join(dir, 'missing.db')]), 1, /no database at .*missing\.db/);
    expect(existsSync(join(dir, 'gatehouse.db.before-restore'))).toBe(false);

    // MongoDB has its own tools: one line, exit 2 (this configuration cannot run the command).
    const mongo = cliFor({ ...env, DATABASE_URL: 'mongodb://127.0.0.1:1/gatehouse' });
    refusedWith(await mongo(['db', 'backup', join(dir, 'm.db')]), 2, /mongodump and restore with mongorestore/);
    refusedWith(await mongo(['db', 'restore', backupFile]), 2, /mongodump and restore with mongorestore/);

    // Restoring into a deployment that has no database yet: the backup becomes it.
    const fresh = scratch();
    const restored = await cliFor({ ...env, DATA_DIR: fresh, DATABASE_URL: `sqlite:${join(fresh, 'g.db')}` })(['db', 'restore', backupFile, '--json']);
    expect(JSON.parse(ok(restored))).toEqual({ file: backupFile, database: join(fresh, 'g.db'), schema_version: schemaVersion, previous: null });
  });
});
