import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { migrateSchema, pendingSchemaMigrations } from '../../src/store/sqlite/database.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';

describe('SQLite migration 0017_profile_updated_at', () => {
  let dir: string;
  let path: string;
  const toClose: Store[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-sqlite-0017-'));
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

  it('starts the accounts of an older database from their updated_at, and a password change leaves it there', async () => {
    // The file as Gatehouse left it before 0017 (migrated to version 16), with an account last
    // changed in 2020.
    const lastChanged = Date.parse('2020-02-03T04:05:06Z');
    const db = new DatabaseSync(path);
    migrateSchema(db, 16);
    db.prepare(`INSERT INTO accounts (id, email, email_normalized, password_hash, email_verified, profile, roles, disabled, created_at, updated_at)
      VALUES (?, ?, ?, ?, 1, ?, '[]', 0, ?, ?)`).run('acct-old', 'old@example.com', 'old@example.com', 'h-1', JSON.stringify({ name: 'Old' }), lastChanged, lastChanged);
    expect(pendingSchemaMigrations(db)[0]).toBe('0017_profile_updated_at');
    db.close();

    const migrated = open(() => Date.parse('2026-01-01T00:00:00Z'));
    expect((await migrated.accounts.findById('acct-old'))?.profileUpdatedAt.toISOString()).toBe('2020-02-03T04:05:06.000Z');
    const rehashed = await migrated.accounts.update('acct-old', { passwordHash: 'h-2' });
    expect(rehashed?.updatedAt.toISOString()).toBe('2026-01-01T00:00:00.000Z');
    expect(rehashed?.profileUpdatedAt.toISOString()).toBe('2020-02-03T04:05:06.000Z');
  });
});
