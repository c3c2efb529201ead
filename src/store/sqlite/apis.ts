import type { DatabaseSync } from 'node:sqlite';

import type { ApiRecord, ApiStore } from '../types.ts';
import { insertOrConflict } from './unique.ts';

type Row = { identifier: string; name: string | null; scopes: string; signing_alg: string; access_token_ttl: number; created_at: number };

function toRecord(row: Row | undefined): ApiRecord | undefined {
  if (!row) return undefined;
  return {
    identifier: row.identifier,
    ...(row.name ? { name: row.name } : {}),
    scopes: JSON.parse(row.scopes) as string[],
    signingAlg: row.signing_alg as ApiRecord['signingAlg'],
    accessTokenTtl: row.access_token_ttl,
    createdAt: new Date(row.created_at),
  };
}

export function createSqliteApiStore(db: DatabaseSync): ApiStore {
  const statements = {
    insert: db.prepare('INSERT INTO apis (identifier, name, scopes, signing_alg, access_token_ttl, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    find: db.prepare('SELECT * FROM apis WHERE identifier = ?'),
    list: db.prepare('SELECT * FROM apis ORDER BY created_at, identifier'),
    remove: db.prepare('DELETE FROM apis WHERE identifier = ?'),
    replace: db.prepare('UPDATE apis SET name = ?, scopes = ?, signing_alg = ?, access_token_ttl = ? WHERE identifier = ?'),
  };
  return {
    async create(api) {
      insertOrConflict(
        () => statements.insert.run(api.identifier, api.name ?? null, JSON.stringify(api.scopes), api.signingAlg, api.accessTokenTtl, api.createdAt.getTime()),
        { id: 'store.api_exists', values: { identifier: api.identifier } },
      );
    },
    async find(identifier) {
      return toRecord(statements.find.get(identifier) as Row | undefined);
    },
    async list() {
      return (statements.list.all() as Row[]).map((row) => toRecord(row)!);
    },
    async remove(identifier) {
      return Number(statements.remove.run(identifier).changes) > 0;
    },
    async replace(api) {
      return Number(statements.replace.run(api.name ?? null, JSON.stringify(api.scopes), api.signingAlg, api.accessTokenTtl, api.identifier).changes) > 0;
    },
  };
}
