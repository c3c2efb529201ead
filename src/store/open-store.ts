import { resolve } from 'node:path';

import { GatehouseError } from '../errors.ts';
import { openSqliteStore } from './sqlite/index.ts';
import type { Store } from './types.ts';

/** Resolves `sqlite:relative/or/absolute/path.db` to a file path. */
export function sqlitePathFromUrl(databaseUrl: string): string {
  const rest = databaseUrl.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
  if (rest === ':memory:') return rest;
  return resolve(rest);
}

/** Picks the backend from DATABASE_URL. */
export async function openStore(databaseUrl: string): Promise<Store> {
  if (databaseUrl.startsWith('sqlite:')) return openSqliteStore(sqlitePathFromUrl(databaseUrl));
  if (/^mongodb(\+srv)?:\/\//.test(databaseUrl)) {
    // Loaded on demand, so SQLite deployments never load mongoose.
    const { openMongoStore } = await import('./mongo/index.ts');
    return openMongoStore(databaseUrl);
  }
  throw new GatehouseError('unsupported_database', `DATABASE_URL must start with sqlite: or mongodb://, got ${JSON.stringify(databaseUrl)}`);
}
