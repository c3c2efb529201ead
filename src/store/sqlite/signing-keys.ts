import type { DatabaseSync } from 'node:sqlite';

import { decodeRingKey, encodeRingKey } from '../ring-codec.ts';
import type { StoredRingKey } from '../ring-codec.ts';
import type { KeyRing, SigningKeyStore } from '../types.ts';
import { transaction } from './database.ts';

type Row = { version: number; keys: string };

/** The ring is one row: read and replaced whole, guarded by its version. */
export function createSqliteSigningKeyStore(db: DatabaseSync): SigningKeyStore {
  const statements = {
    read: db.prepare('SELECT version, keys FROM key_ring WHERE id = 1'),
    insert: db.prepare('INSERT INTO key_ring (id, version, keys) VALUES (1, 1, ?) ON CONFLICT (id) DO NOTHING'),
    update: db.prepare('UPDATE key_ring SET version = version + 1, keys = ? WHERE id = 1 AND version = ?'),
  };
  const read = (): KeyRing => {
    const row = statements.read.get() as Row | undefined;
    if (!row) return { version: 0, keys: [] };
    return { version: row.version, keys: (JSON.parse(row.keys) as StoredRingKey[]).map(decodeRingKey) };
  };
  return {
    async read() {
      return read();
    },
    async replace(expectedVersion, keys) {
      const text = JSON.stringify(keys.map(encodeRingKey));
      return transaction(db, () => {
        const changed = expectedVersion === 0 ? statements.insert.run(text).changes : statements.update.run(text, expectedVersion).changes;
        return Number(changed) === 1 ? read() : undefined;
      });
    },
  };
}
