import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/server.ts';
import { openStore } from '../../src/store/open-store.ts';
import { migrateSchema, schemaVersion, walSizeLimitBytes } from '../../src/store/sqlite/database.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';
import { describeStoreContract } from './store-contract.ts';
import { caught } from '../helpers/caught.ts';

describeStoreContract('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gatehouse-store-'));
  const path = join(dir, 'store.db');
  const opened: Store[] = [];
  // The stores' clock: time passes for them by moving it, not by sleeping.
  let offset = 0;
  const clock = () => Date.now() + offset;
  const open = () => {
    const store = openSqliteStore(path, clock);
    opened.push(store);
    return store;
  };
  return {
    store: open(),
    reopen: async () => open(),
    async openUnmigrated(name) {
      // As openStore opens it in production.
      const store = openSqliteStore(join(dir, `${name}.db`), clock, { migrate: false });
      opened.push(store);
      return store;
    },
    async cleanup() {
      for (const store of opened) await store.close();
      await rm(dir, { recursive: true, force: true });
    },
    async passTime(ms) {
      offset += ms;
    },
  };
});

/** Reads a pragma through a connection of its own, as another process would see the file. */
function readPragma(path: string, pragma: string): unknown {
  const db = new DatabaseSync(path);
  try {
    return (db.prepare(`PRAGMA ${pragma}`).get() as Record<string, unknown>)[pragma];
  } finally {
    db.close();
  }
}

describe('SQLite store specifics', () => {
  let dir: string;
  let path: string;
  const toClose: Store[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-sqlite-'));
    path = join(dir, 'gatehouse.db');
  });

  afterEach(async () => {
    for (const store of toClose.splice(0)) await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function open(clock?: () => number): Store {
    const store = openSqliteStore(path, clock);
    toClose.push(store);
    return store;
  }

  it('puts the database file in WAL mode', () => {
    open();
    expect(readPragma(path, 'journal_mode')).toBe('wal');
  });

  it('records the schema version in user_version', () => {
    open();
    expect(schemaVersion).toBeGreaterThanOrEqual(1);
    expect(readPragma(path, 'user_version')).toBe(schemaVersion);
  });

  it('0014 marks the clients of an older database as an operator\'s, never used, and the expiry sweep uses its index', async () => {
    // A file as Gatehouse left it before dynamic clients: migrated to version 13.
    const db = new DatabaseSync(path);
    migrateSchema(db, 13);
    db.prepare('INSERT INTO clients (client_id, metadata, encrypted_secret, created_at) VALUES (?, ?, NULL, ?)')
      .run('web-app', JSON.stringify({ client_id: 'web-app', redirect_uris: [] }), Date.parse('2020-01-01T00:00:00Z'));
    db.close();

    const migrated = open();
    expect(readPragma(path, 'user_version')).toBe(schemaVersion);
    expect(await migrated.clients.find('web-app')).toMatchObject({ dynamic: false, lastUsedAt: null });
    expect(await migrated.clients.sweepUnusedDynamic(new Date())).toBe(0);
    expect(await migrated.clients.find('web-app')).toBeDefined();

    const plan = new DatabaseSync(path);
    try {
      const steps = plan.prepare(`EXPLAIN QUERY PLAN SELECT rowid FROM clients WHERE dynamic = 1 AND coalesce(last_used_at, created_at) < ? LIMIT ?`).all(0, 10) as Array<{ detail: string }>;
      expect(steps.map((step) => step.detail).join('; ')).toContain('clients_dynamic_unused');
    } finally {
      plan.close();
    }
  });

  it('creates missing parent directories for the database file', () => {
    path = join(dir, 'nested', 'deeper', 'gatehouse.db');
    open();
    expect(existsSync(path)).toBe(true);
  });

  it('refuses a database written by a newer Gatehouse with store_unavailable', () => {
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${schemaVersion + 1}`);
    db.close();

    const error = caught(() => open());

    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).code).toBe('store_unavailable');
    expect((error as GatehouseError).message).toContain(`schema version ${schemaVersion + 1}`);
    // Nothing was migrated down or over.
    expect(readPragma(path, 'user_version')).toBe(schemaVersion + 1);
  });

  it('expires records on the injected clock, exactly expiresIn seconds later, and sweeping deletes the rows', async () => {
    let now = Date.parse('2024-05-01T12:00:00Z');
    const store = open(() => now);
    const tokens = store.oidc.model('AccessToken');
    await tokens.upsert('at-1', { grantId: 'grant-1' }, 60);
    await tokens.upsert('at-forever', { grantId: 'grant-1' });

    now += 59_999;
    expect(await tokens.find('at-1')).toEqual({ grantId: 'grant-1' });
    expect(await store.oidc.sweepExpired()).toBe(0);

    now += 1;
    expect(await tokens.find('at-1')).toBeUndefined();
    expect(await store.oidc.sweepExpired()).toBe(1);

    const db = new DatabaseSync(path);
    try {
      const ids = (db.prepare('SELECT id FROM oidc_models ORDER BY id').all() as Array<{ id: string }>).map((row) => row.id);
      expect(ids).toEqual(['at-forever']);
    } finally {
      db.close();
    }
  });

  it('caps the WAL: once checkpointed, the next write truncates it to walSizeLimitBytes instead of keeping its peak', async () => {
    let now = Date.parse('2024-05-01T12:00:00Z');
    const store = open(() => now);
    // One large transaction through another connection (as a big sweep used to be) swells the WAL.
    const db = new DatabaseSync(path);
    try {
      db.exec('BEGIN');
      const insert = db.prepare("INSERT INTO oidc_models (model, id, payload, expires_at) VALUES ('AccessToken', ?, ?, ?)");
      for (let index = 0; index < 20_000; index += 1) insert.run(`at-${index}`, JSON.stringify({ filler: 'x'.repeat(500) }), now);
      db.exec('COMMIT');
      db.exec('PRAGMA wal_checkpoint(PASSIVE)');
    } finally {
      db.close();
    }
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(walSizeLimitBytes);

    now += 1;
    // A write by the store starts the WAL over, truncating the file.
    expect(await store.oidc.sweepExpired(100)).toBe(100);

    expect(statSync(`${path}-wal`).size).toBeLessThanOrEqual(walSizeLimitBytes);
  });

  it('stamps consume with the injected clock in epoch seconds', async () => {
    const now = Date.parse('2024-05-01T12:00:00.750Z');
    const store = open(() => now);
    const codes = store.oidc.model('AuthorizationCode');
    await codes.upsert('code-1', { grantId: 'grant-1' }, 60);

    await codes.consume('code-1');

    expect((await codes.find('code-1'))?.consumed).toBe(Math.floor(now / 1000));
  });

  it('close is safe to call twice', async () => {
    const store = open();
    await store.close();
    await expect(store.close()).resolves.toBeUndefined();
  });

  it('openStore opens a sqlite: DATABASE_URL at that path', async () => {
    const store = await openStore(`sqlite:${path}`);
    toClose.push(store);

    expect(store.kind).toBe('sqlite');
    expect(existsSync(path)).toBe(true);
    expect(readPragma(path, 'user_version')).toBe(schemaVersion);
  });

  it('opened without migrating (production), leaves a new file as it is: reads and writes fail with migration_required until migrate', async () => {
    const store = openSqliteStore(path, Date.now, { migrate: false });
    toClose.push(store);
    // `db status` pings before it asks.
    await store.ping();

    const pending = await store.pendingMigrations();
    expect(pending).toHaveLength(schemaVersion);
    expect(pending[0]).toBe('0001_initial');
    expect(readPragma(path, 'user_version')).toBe(0);
    const error = await store.accounts.list().then(() => new Error('list resolved'), (rejected: unknown) => rejected);
    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).code).toBe('migration_required');
    // The words start-up refuses with (src/server.ts), in one line.
    expect((error as GatehouseError).message).toBe(`the database is missing ${pending.join(', ')}; run \`npx gatehouse db migrate\` first`);

    await store.migrate();

    expect(readPragma(path, 'user_version')).toBe(schemaVersion);
    expect(await store.pendingMigrations()).toEqual([]);
    expect(await store.accounts.list()).toEqual([]);
    expect(await store.probeWrite()).toBeUndefined();
  });

  it('openStore migrates a SQLite file as it opens it outside production, and leaves it to db migrate in production', async () => {
    const production = await openStore(`sqlite:${path}`, { env: 'production' });
    toClose.push(production);
    expect(readPragma(path, 'user_version')).toBe(0);
    expect(await production.pendingMigrations()).toHaveLength(schemaVersion);

    for (const env of ['development', 'test'] as const) {
      const other = join(dir, `${env}.db`);
      toClose.push(await openStore(`sqlite:${other}`, { env }));
      expect(readPragma(other, 'user_version')).toBe(schemaVersion);
    }
  });

  it('refuses to start in production while migrations are pending, and starts after db migrate', async () => {
    const env = {
      NODE_ENV: 'production', PORT: '0', ISSUER: 'http://localhost:3000', SMTP_URL: 'smtp://127.0.0.1:2525', DATABASE_URL: `sqlite:${path}`, DATA_DIR: dir,
      COOKIE_KEYS: 'k'.repeat(32), KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    };
    const refused = await startServer(loadConfig(env), createLogger({ silent: true })).then(
      async (running) => {
        await running.close();
        return new Error('started on an unmigrated database');
      },
      (error: unknown) => error,
    );
    expect((refused as GatehouseError).code).toBe('migration_required');
    expect((refused as GatehouseError).message).toMatch(/^the database is missing 0001_initial, [^\n]*; run `npx gatehouse db migrate` first$/);
    // Refusing changed nothing.
    expect(readPragma(path, 'user_version')).toBe(0);

    const store = openSqliteStore(path, Date.now, { migrate: false });
    await store.migrate();
    await store.close();
    const running = await startServer(loadConfig(env), createLogger({ silent: true }));
    try {
      expect(await (await fetch(`http://localhost:${running.port}/readyz`)).json()).toEqual({ status: 'ready', store: 'sqlite' });
    } finally {
      await running.close();
    }
  });

  it.each(['mysql://x', 'postgres://user@db/gatehouse', 'data/gatehouse.db'])('openStore rejects %s with unsupported_database', async (url) => {
    const error = await openStore(url).then(
      () => new Error('openStore resolved'),
      (rejected: unknown) => rejected,
    );

    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).code).toBe('unsupported_database');
  });
});
