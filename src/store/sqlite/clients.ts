import type { DatabaseSync } from 'node:sqlite';

import type { ClientMetadata, ClientRecord, ClientStore } from '../types.ts';
import { insertOrConflict } from './unique.ts';

type Row = { client_id: string; metadata: string; encrypted_secret: string | null; created_at: number };

function toRecord(row: Row | undefined): ClientRecord | undefined {
  if (!row) return undefined;
  return {
    metadata: JSON.parse(row.metadata) as ClientMetadata,
    ...(row.encrypted_secret ? { encryptedSecret: row.encrypted_secret } : {}),
    createdAt: new Date(row.created_at),
  };
}

export function createSqliteClientStore(db: DatabaseSync): ClientStore {
  const statements = {
    insert: db.prepare('INSERT INTO clients (client_id, metadata, encrypted_secret, created_at) VALUES (?, ?, ?, ?)'),
    find: db.prepare('SELECT * FROM clients WHERE client_id = ?'),
    list: db.prepare('SELECT * FROM clients ORDER BY created_at, client_id'),
    remove: db.prepare('DELETE FROM clients WHERE client_id = ?'),
  };
  return {
    async create(client) {
      insertOrConflict(
        () => statements.insert.run(client.metadata.client_id, JSON.stringify(client.metadata), client.encryptedSecret ?? null, client.createdAt.getTime()),
        { id: 'store.client_exists', values: { clientId: client.metadata.client_id } },
      );
    },
    async find(clientId) {
      return toRecord(statements.find.get(clientId) as Row | undefined);
    },
    async list() {
      return (statements.list.all() as Row[]).map((row) => toRecord(row)!);
    },
    async remove(clientId) {
      return Number(statements.remove.run(clientId).changes) > 0;
    },
  };
}
