import type { DatabaseSync } from 'node:sqlite';

import type { SigningKeyRecord, SigningKeyState, SigningKeyStore } from '../types.ts';
import { transaction } from './database.ts';

type Row = { kid: string; alg: string; state: string; public_jwk: string; encrypted_private_jwk: string; created_at: number };

function toRecord(row: Row): SigningKeyRecord {
  return {
    kid: row.kid,
    alg: row.alg,
    state: row.state as SigningKeyState,
    publicJwk: JSON.parse(row.public_jwk) as Record<string, unknown>,
    encryptedPrivateJwk: row.encrypted_private_jwk,
    createdAt: new Date(row.created_at),
  };
}

export function createSqliteSigningKeyStore(db: DatabaseSync): SigningKeyStore {
  const statements = {
    list: db.prepare('SELECT * FROM signing_keys ORDER BY created_at, kid'),
    insert: db.prepare(`
      INSERT INTO signing_keys (kid, alg, state, public_jwk, encrypted_private_jwk, created_at)
      VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
  };
  return {
    async list() {
      return (statements.list.all() as Row[]).map(toRecord);
    },
    async insert(keys) {
      return transaction(db, () => {
        for (const key of keys) {
          statements.insert.run(key.kid, key.alg, key.state, JSON.stringify(key.publicJwk), key.encryptedPrivateJwk, key.createdAt.getTime());
        }
        return (statements.list.all() as Row[]).map(toRecord);
      });
    },
  };
}
