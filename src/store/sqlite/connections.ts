import type { DatabaseSync, SQLInputValue } from 'node:sqlite';

import type { ConnectionPatch, ConnectionRecord, ConnectionStore, ConnectionType } from '../types.ts';
import { insertOrConflict } from './unique.ts';

type Row = {
  id: string;
  type: string;
  name: string;
  issuer: string | null;
  tenant: string | null;
  client_id: string;
  sealed_secret: string | null;
  authorization_url: string | null;
  token_url: string | null;
  api_url: string | null;
  scopes: string;
  claim_mapping: string;
  show_on_login_page: number;
  allow_new_accounts: number;
  trust_verified_emails: number;
  trust_upstream_mfa: number;
  disabled: number;
  created_at: number;
  updated_at: number;
};

function toRecord(row: Row | undefined): ConnectionRecord | undefined {
  if (!row) return undefined;
  return {
    id: row.id,
    type: row.type as ConnectionType,
    name: row.name,
    issuer: row.issuer,
    tenant: row.tenant,
    clientId: row.client_id,
    sealedSecret: row.sealed_secret,
    authorizationUrl: row.authorization_url,
    tokenUrl: row.token_url,
    apiUrl: row.api_url,
    scopes: JSON.parse(row.scopes) as string[],
    claimMapping: JSON.parse(row.claim_mapping) as Record<string, string>,
    showOnLoginPage: row.show_on_login_page === 1,
    allowNewAccounts: row.allow_new_accounts === 1,
    trustVerifiedEmails: row.trust_verified_emails === 1,
    trustUpstreamMfa: row.trust_upstream_mfa === 1,
    disabled: row.disabled === 1,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

const text = (value: unknown): SQLInputValue => value as string | null;
const json = (value: unknown): SQLInputValue => JSON.stringify(value);
const flag = (value: unknown): SQLInputValue => (value ? 1 : 0);

/** Each field `update` may set: its column and how its value is stored. */
const columns: Record<keyof ConnectionPatch, [column: string, toColumn: (value: unknown) => SQLInputValue]> = {
  name: ['name', text],
  issuer: ['issuer', text],
  tenant: ['tenant', text],
  clientId: ['client_id', text],
  sealedSecret: ['sealed_secret', text],
  authorizationUrl: ['authorization_url', text],
  tokenUrl: ['token_url', text],
  apiUrl: ['api_url', text],
  scopes: ['scopes', json],
  claimMapping: ['claim_mapping', json],
  showOnLoginPage: ['show_on_login_page', flag],
  allowNewAccounts: ['allow_new_accounts', flag],
  trustVerifiedEmails: ['trust_verified_emails', flag],
  trustUpstreamMfa: ['trust_upstream_mfa', flag],
  disabled: ['disabled', flag],
  updatedAt: ['updated_at', (value) => (value as Date).getTime()],
};

export function createSqliteConnectionStore(db: DatabaseSync): ConnectionStore {
  const statements = {
    insert: db.prepare(`INSERT INTO connections (id, type, name, issuer, tenant, client_id, sealed_secret, authorization_url, token_url, api_url,
      scopes, claim_mapping, show_on_login_page, allow_new_accounts, trust_verified_emails, trust_upstream_mfa, disabled, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    find: db.prepare('SELECT * FROM connections WHERE id = ?'),
    list: db.prepare('SELECT * FROM connections ORDER BY created_at, id'),
    remove: db.prepare('DELETE FROM connections WHERE id = ?'),
  };
  // An update statement per set of fields changed, prepared once (its columns come from `columns` only).
  const updates = new Map<string, ReturnType<DatabaseSync['prepare']>>();
  return {
    async create(record) {
      insertOrConflict(
        () => statements.insert.run(
          record.id, record.type, record.name, record.issuer, record.tenant, record.clientId, record.sealedSecret,
          record.authorizationUrl, record.tokenUrl, record.apiUrl, JSON.stringify(record.scopes), JSON.stringify(record.claimMapping),
          record.showOnLoginPage ? 1 : 0, record.allowNewAccounts ? 1 : 0, record.trustVerifiedEmails ? 1 : 0, record.trustUpstreamMfa ? 1 : 0,
          record.disabled ? 1 : 0, record.createdAt.getTime(), record.updatedAt.getTime(),
        ),
        { id: 'libraries.connection_exists', values: { id: record.id } },
      );
    },
    async find(id) {
      return toRecord(statements.find.get(id) as Row | undefined);
    },
    async list() {
      return (statements.list.all() as Row[]).map((row) => toRecord(row)!);
    },
    async update(id, patch) {
      const fields = (Object.keys(columns) as Array<keyof ConnectionPatch>).filter((field) => patch[field] !== undefined);
      if (fields.length === 0) return toRecord(statements.find.get(id) as Row | undefined);
      const key = fields.join(',');
      let statement = updates.get(key);
      if (!statement) {
        statement = db.prepare(`UPDATE connections SET ${fields.map((field) => `${columns[field][0]} = ?`).join(', ')} WHERE id = ? RETURNING *`);
        updates.set(key, statement);
      }
      const values = fields.map((field) => columns[field][1](patch[field]));
      return toRecord(statement.get(...values, id) as Row | undefined);
    },
    async remove(id) {
      return Number(statements.remove.run(id).changes) === 1;
    },
  };
}
