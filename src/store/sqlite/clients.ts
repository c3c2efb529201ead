import type { DatabaseSync } from 'node:sqlite';

import { GatehouseError } from '../../errors.ts';
import { deleteInBatches } from '../batches.ts';
import type { ClientMetadata, ClientRecord, ClientStore } from '../types.ts';
import { insertOrConflict } from './unique.ts';

type Row = {
  client_id: string; metadata: string; encrypted_secret: string | null; created_at: number; dynamic: number; last_used_at: number | null;
  previous_encrypted_secret: string | null; previous_secret_expires_at: number | null;
};

function toRecord(row: Row | undefined): ClientRecord | undefined {
  if (!row) return undefined;
  return {
    metadata: JSON.parse(row.metadata) as ClientMetadata,
    ...(row.encrypted_secret ? { encryptedSecret: row.encrypted_secret } : {}),
    ...(row.previous_encrypted_secret && row.previous_secret_expires_at !== null
      ? { previousEncryptedSecret: row.previous_encrypted_secret, previousSecretExpiresAt: new Date(row.previous_secret_expires_at) }
      : {}),
    createdAt: new Date(row.created_at),
    dynamic: row.dynamic === 1,
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at),
  };
}

export function createSqliteClientStore(db: DatabaseSync): ClientStore {
  const statements = {
    insert: db.prepare('INSERT INTO clients (client_id, metadata, encrypted_secret, created_at, dynamic, last_used_at) VALUES (?, ?, ?, ?, ?, ?)'),
    find: db.prepare('SELECT * FROM clients WHERE client_id = ?'),
    list: db.prepare('SELECT * FROM clients ORDER BY created_at, client_id'),
    remove: db.prepare('DELETE FROM clients WHERE client_id = ?'),
    replace: db.prepare(`UPDATE clients SET metadata = ?, encrypted_secret = ?, previous_encrypted_secret = ?, previous_secret_expires_at = ?
      WHERE client_id = ?`),
    // Replaces only a dynamic client: an operator's row with this id makes the update a no-op (0 changes).
    save: db.prepare(`
      INSERT INTO clients (client_id, metadata, encrypted_secret, created_at, dynamic, last_used_at) VALUES (?, ?, ?, ?, 1, ?)
      ON CONFLICT (client_id) DO UPDATE SET
        metadata = excluded.metadata, encrypted_secret = excluded.encrypted_secret,
        created_at = excluded.created_at, last_used_at = excluded.last_used_at
      WHERE clients.dynamic = 1`),
    touch: db.prepare('UPDATE clients SET last_used_at = max(coalesce(last_used_at, 0), ?) WHERE client_id = ?'),
    // A bounded batch through the clients_dynamic_unused index (the same expression).
    removeUnused: db.prepare(`DELETE FROM clients WHERE rowid IN
      (SELECT rowid FROM clients WHERE dynamic = 1 AND coalesce(last_used_at, created_at) < ? LIMIT ?) RETURNING client_id`),
  };
  const removeUnused = (before: Date, limit: number) =>
    limit <= 0 ? [] : (statements.removeUnused.all(before.getTime(), limit) as Array<{ client_id: string }>).map((row) => row.client_id);
  return {
    async create(client) {
      insertOrConflict(
        () => statements.insert.run(
          client.metadata.client_id, JSON.stringify(client.metadata), client.encryptedSecret ?? null, client.createdAt.getTime(),
          client.dynamic ? 1 : 0, client.lastUsedAt?.getTime() ?? null,
        ),
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
    async replace(clientId, change) {
      const previous = change.previousEncryptedSecret && change.previousSecretExpiresAt;
      const { changes } = statements.replace.run(
        JSON.stringify(change.metadata), change.encryptedSecret ?? null,
        previous ? change.previousEncryptedSecret! : null, previous ? change.previousSecretExpiresAt!.getTime() : null, clientId,
      );
      return Number(changes) > 0;
    },
    async save(record) {
      const clientId = record.metadata.client_id;
      if (!record.dynamic) throw new GatehouseError('internal', 'store.client_not_dynamic', { clientId });
      const { changes } = statements.save.run(
        clientId, JSON.stringify(record.metadata), record.encryptedSecret ?? null, record.createdAt.getTime(), record.lastUsedAt?.getTime() ?? null,
      );
      if (Number(changes) === 0) throw new GatehouseError('conflict', 'store.client_exists', { clientId });
    },
    async touch(clientId, at) {
      return Number(statements.touch.run(at.getTime(), clientId).changes) > 0;
    },
    async removeUnusedDynamic(before, limit) {
      return removeUnused(before, limit);
    },
    async sweepUnusedDynamic(before, limit) {
      const sweepBatch = async (batch: number) => removeUnused(before, batch).length;
      return limit === undefined ? deleteInBatches(sweepBatch) : sweepBatch(limit);
    },
  };
}
