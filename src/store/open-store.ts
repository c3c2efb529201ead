import { resolve } from 'node:path';

import type { Clock } from '../clock.ts';
import type { Environment } from '../config/load-config.ts';
import { GatehouseError } from '../errors.ts';
import { openSqliteStore } from './sqlite/index.ts';
import type { Store } from './types.ts';

/** Resolves `sqlite:relative/or/absolute/path.db` to a file path. */
function sqlitePathFromUrl(databaseUrl: string): string {
  const rest = databaseUrl.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
  if (rest === ':memory:') return rest;
  return resolve(rest);
}

/**
 * Picks the backend from DATABASE_URL. Opening never changes a production schema: it changes only
 * through `gatehouse db migrate` (`store.migrate()`), and start-up refuses while `pendingMigrations()`
 * lists anything, for SQLite as for MongoDB (src/server.ts). Outside production (`env` unset counts
 * as development) a SQLite file is migrated as it is opened, so the CLI works on a fresh file at
 * once; MongoDB is never migrated here (the server migrates it at start-up outside production).
 */
export async function openStore(databaseUrl: string, options: { env?: Environment; clock?: Clock } = {}): Promise<Store> {
  if (databaseUrl.startsWith('sqlite:')) {
    const { clock } = options;
    return openSqliteStore(sqlitePathFromUrl(databaseUrl), clock ? () => clock().getTime() : Date.now, { migrate: options.env !== 'production' });
  }
  if (/^mongodb(\+srv)?:\/\//.test(databaseUrl)) {
    // Loaded on demand, so SQLite deployments never load mongoose.
    const { openMongoStore } = await import('./mongo/index.ts');
    return openMongoStore(databaseUrl);
  }
  throw new GatehouseError('unsupported_database', 'store.database_url_must_start_with', { value1: JSON.stringify(databaseUrl) });
}
