import type { DatabaseSync } from 'node:sqlite';

import { deleteInBatches } from '../batches.ts';
import type { ModelPayload, ModelStore, OidcStore, StoredModel } from '../types.ts';

type Row = { payload: string; expires_at: number | null };

function parse(row: Row | undefined, now: number): ModelPayload | undefined {
  if (!row) return undefined;
  // The provider checks expiry too; filtering here keeps swept-but-not-yet-deleted rows invisible.
  if (row.expires_at !== null && row.expires_at <= now) return undefined;
  return JSON.parse(row.payload) as ModelPayload;
}

/** oidc-provider's artifacts in one table, keyed by (model, id), with the lookups it needs indexed. */
export function createSqliteOidcStore(db: DatabaseSync, clock: () => number = Date.now): OidcStore {
  const statements = {
    upsert: db.prepare(`
      INSERT INTO oidc_models (model, id, payload, grant_id, user_code, uid, account_id, expires_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (model, id) DO UPDATE SET
        payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code,
        uid = excluded.uid, account_id = excluded.account_id, expires_at = excluded.expires_at`),
    find: db.prepare('SELECT payload, expires_at FROM oidc_models WHERE model = ? AND id = ?'),
    list: db.prepare(`SELECT id, payload, expires_at FROM oidc_models
      WHERE model = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY rowid LIMIT ?`),
    findByUid: db.prepare('SELECT payload, expires_at FROM oidc_models WHERE model = ? AND uid = ? ORDER BY rowid DESC LIMIT 1'),
    findByUserCode: db.prepare('SELECT payload, expires_at FROM oidc_models WHERE model = ? AND user_code = ? ORDER BY rowid DESC LIMIT 1'),
    consume: db.prepare(`UPDATE oidc_models SET payload = json_set(payload, '$.consumed', ?) WHERE model = ? AND id = ?`),
    destroy: db.prepare('DELETE FROM oidc_models WHERE model = ? AND id = ?'),
    revokeByGrantId: db.prepare('DELETE FROM oidc_models WHERE model = ? AND grant_id = ?'),
    revokeByAccountId: db.prepare('DELETE FROM oidc_models WHERE account_id = ?'),
    revokeInteractions: db.prepare("DELETE FROM oidc_models WHERE account_id = ? AND model = 'Interaction'"),
    listByAccountId: db.prepare(`SELECT id, payload, expires_at FROM oidc_models
      WHERE account_id = ? AND model = ? AND (expires_at IS NULL OR expires_at > ?) ORDER BY rowid LIMIT ?`),
    // The kept ids arrive as JSON arrays (one statement for any number of grants); '' matches no id.
    revokeByAccountIdExcept: db.prepare(`
      DELETE FROM oidc_models WHERE account_id = ?
        AND NOT (model = 'Session' AND id = ?)
        AND NOT (model = 'Grant' AND id IN (SELECT value FROM json_each(?)))
        AND (grant_id IS NULL OR grant_id NOT IN (SELECT value FROM json_each(?)))`),
    // A bounded batch through the expires_at index: the sweeper deletes a few hundred rows per
    // statement and yields in between, so a backlog never holds the event loop.
    sweep: db.prepare(`DELETE FROM oidc_models WHERE rowid IN
      (SELECT rowid FROM oidc_models WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)`),
  };
  const sweepBatch = async (limit: number) => Number(statements.sweep.run(clock(), limit).changes);

  function model(name: string): ModelStore {
    return {
      async upsert(id, payload, expiresIn) {
        const expiresAt = typeof expiresIn === 'number' ? clock() + expiresIn * 1000 : null;
        statements.upsert.run(
          name, id, JSON.stringify(payload),
          payload.grantId ?? null, payload.userCode ?? null,
          // only sessions are looked up by uid; other models carry unrelated uids
          name === 'Session' ? (payload.uid ?? null) : null,
          payload.accountId ?? null,
          expiresAt,
        );
      },
      async find(id) {
        return parse(statements.find.get(name, id) as Row | undefined, clock());
      },
      async findByUid(uid) {
        return parse(statements.findByUid.get(name, uid) as Row | undefined, clock());
      },
      async findByUserCode(userCode) {
        return parse(statements.findByUserCode.get(name, userCode) as Row | undefined, clock());
      },
      async consume(id) {
        statements.consume.run(Math.floor(clock() / 1000), name, id);
      },
      async destroy(id) {
        statements.destroy.run(name, id);
      },
      async revokeByGrantId(grantId) {
        statements.revokeByGrantId.run(name, grantId);
      },
    };
  }

  return {
    model,
    async revokeByAccountId(accountId, keep) {
      if (!keep) return Number(statements.revokeByAccountId.run(accountId).changes);
      const grantIds = JSON.stringify(keep.grantIds ?? []);
      return Number(statements.revokeByAccountIdExcept.run(accountId, keep.sessionId ?? '', grantIds, grantIds).changes);
    },
    async listModel(name, limit) {
      const rows = statements.list.all(name, clock(), limit) as Array<Row & { id: string }>;
      return rows.map((row): StoredModel => ({
        id: row.id, payload: JSON.parse(row.payload) as ModelPayload, expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
      }));
    },
    async revokeInteractions(accountId) {
      return Number(statements.revokeInteractions.run(accountId).changes);
    },
    async listByAccountId(name, accountId, limit) {
      const rows = statements.listByAccountId.all(accountId, name, clock(), limit) as Array<Row & { id: string }>;
      return rows.map((row): StoredModel => ({
        id: row.id, payload: JSON.parse(row.payload) as ModelPayload, expiresAt: row.expires_at === null ? null : new Date(row.expires_at),
      }));
    },
    async sweepExpired(limit) {
      return limit === undefined ? deleteInBatches(sweepBatch) : sweepBatch(limit);
    },
  };
}

/** Account erasure (account-erasure.ts): every session, grant, token and interaction of the account. */
export function oidcModelEraser(db: DatabaseSync) {
  const statement = db.prepare('DELETE FROM oidc_models WHERE account_id = ?');
  return (subject: { accountId: string }) => Number(statement.run(subject.accountId).changes);
}
