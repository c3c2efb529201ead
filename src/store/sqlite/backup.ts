import { copyFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { backup, DatabaseSync } from 'node:sqlite';

import { GatehouseError } from '../../errors.ts';
import { schemaVersion } from './database.ts';

/**
 * `gatehouse db backup` and `db restore` for SQLite (the operator's side of the file: MongoDB has
 * mongodump and mongorestore). A backup is taken from the running server's file with SQLite's
 * online backup API; a restore replaces the file of a stopped deployment, never a running one.
 */

/** The file a `sqlite:` DATABASE_URL names, resolved as openStore resolves it (src/store/open-store.ts). */
export function sqliteFileOf(databaseUrl: string): string {
  const rest = databaseUrl.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
  if (rest === ':memory:') throw new GatehouseError('invalid_input', 'cli.backup_memory_database');
  return resolve(rest);
}

export type BackupReport = { source: string; file: string; bytes: number; schemaVersion: number };

/**
 * Pages copied per step: all of them, in one step. The copy is then one read transaction, a
 * consistent snapshot while the server goes on writing (WAL: readers and the writer do not wait on
 * each other). Copying in small steps would start over after every write of another process, and
 * under steady writes might never finish.
 */
const allPages = 2_147_483_647;

function schemaVersionOf(db: DatabaseSync): number {
  return (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
}

/** `PRAGMA integrity_check`'s first problem, or undefined when the file is sound. */
function integrityProblem(db: DatabaseSync): string | undefined {
  const rows = db.prepare('PRAGMA integrity_check').all() as Array<{ integrity_check: string }>;
  const first = rows[0]?.integrity_check;
  return first === 'ok' ? undefined : (first ?? 'no answer');
}

/** Opens an existing file (never creating one) for reading and writing, waiting up to `busyMs` for a lock. */
function openExisting(path: string, busyMs: number): DatabaseSync {
  if (!existsSync(path)) throw new GatehouseError('not_found', 'cli.backup_no_database', { path });
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
    db.exec(`PRAGMA busy_timeout = ${busyMs}`);
    db.prepare('PRAGMA user_version').get(); // reads the header: a file that is no database fails here
  } catch (error) {
    throw new GatehouseError('store_unavailable', 'store.cannot_open_sqlite_database', { path, value1: (error as Error).message }, { cause: error });
  }
  return db;
}

/** Takes a consistent copy of the database at `databaseUrl` into `file` (refused if it exists), while the server runs. */
export async function backupSqlite(databaseUrl: string, file: string): Promise<BackupReport> {
  const source = sqliteFileOf(databaseUrl);
  const target = resolve(file);
  if (target === source) throw new GatehouseError('invalid_input', 'cli.backup_same_file', { file: target });
  if (existsSync(target)) throw new GatehouseError('conflict', 'cli.backup_file_exists', { file: target });
  const db = openExisting(source, 5000);
  // Written beside its name and renamed at the end: a half-written backup never has the name.
  const partial = `${target}.partial`;
  rmSync(partial, { force: true });
  try {
    await backup(db, partial, { rate: allPages });
  } catch (error) {
    rmSync(partial, { force: true });
    throw new GatehouseError('store_unavailable', 'cli.backup_failed', { path: source, problem: (error as Error).message }, { cause: error });
  } finally {
    db.close();
  }
  const copy = new DatabaseSync(partial);
  let version: number;
  try {
    const problem = integrityProblem(copy);
    if (problem) throw new GatehouseError('store_unavailable', 'cli.backup_not_sound', { file: partial, problem });
    version = schemaVersionOf(copy);
    // One self-contained file: the copy's WAL (if any) is folded in before it is closed.
    copy.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    copy.close();
  }
  renameSync(partial, target);
  return { source, file: target, bytes: statSync(target).size, schemaVersion: version };
}

export type RestoreReport = { file: string; target: string; schemaVersion: number; previous: string | null };

/** Refuses unless `path` is a sound Gatehouse database this code can run; returns its schema version. */
function checkBackup(path: string): number {
  const db = openExisting(path, 0);
  try {
    const problem = integrityProblem(db);
    if (problem) throw new GatehouseError('invalid_input', 'cli.restore_not_sound', { file: path, problem });
    const version = schemaVersionOf(db);
    const hasKeyRing = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'key_ring'").get();
    if (version === 0 || !hasKeyRing) throw new GatehouseError('invalid_input', 'cli.restore_not_gatehouse', { file: path });
    if (version > schemaVersion) throw new GatehouseError('invalid_input', 'cli.restore_newer_schema', { file: path, version, supported: schemaVersion });
    return version;
  } finally {
    db.close();
  }
}

/**
 * Refuses while any process has the database open: a running server keeps a shared lock on its
 * file for as long as it has it open (WAL mode), so an exclusive lock is granted only to a stopped
 * deployment. With the lock held, the WAL is folded into the file, which then stands alone.
 */
function settleStoppedDatabase(path: string): void {
  const db = openExisting(path, 0);
  try {
    try {
      db.exec('PRAGMA locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      db.exec('COMMIT');
    } catch {
      throw new GatehouseError('conflict', 'cli.restore_database_in_use', { path });
    }
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

/**
 * Restores `file` (a `db backup`) as the database at `databaseUrl`. Refused while the deployment
 * runs, for a file that is not a sound Gatehouse database, and for one from a newer schema than this
 * code's. The backup is copied beside the database and renamed over it; the database it replaces is
 * kept as `<database>.before-restore`.
 */
export function restoreSqlite(databaseUrl: string, file: string): RestoreReport {
  const target = sqliteFileOf(databaseUrl);
  const from = resolve(file);
  if (from === target) throw new GatehouseError('invalid_input', 'cli.backup_same_file', { file: from });
  const version = checkBackup(from);
  const previous = `${target}.before-restore`;
  const hadDatabase = existsSync(target);
  if (hadDatabase) {
    settleStoppedDatabase(target);
    if (existsSync(previous)) throw new GatehouseError('conflict', 'cli.restore_previous_exists', { file: previous });
  }
  const incoming = `${target}.restoring`;
  rmSync(incoming, { force: true });
  copyFileSync(from, incoming);
  // A WAL or shared-memory file beside the target belongs to the file being replaced: after the
  // checkpoint above they hold nothing, and left there they would be read as the new file's.
  if (hadDatabase) renameSync(target, previous);
  for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${target}${suffix}`, { force: true });
  renameSync(incoming, target);
  return { file: from, target, schemaVersion: version, previous: hadDatabase ? previous : null };
}
