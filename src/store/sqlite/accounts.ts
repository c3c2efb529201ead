import type { DatabaseSync } from 'node:sqlite';

import { normalizeEmail } from '../normalize-email.ts';
import type { AccountPatch, AccountRecord, AccountStore } from '../types.ts';
import { transaction } from './database.ts';
import { insertOrConflict } from './unique.ts';

type Row = {
  id: string;
  email: string;
  password_hash: string | null;
  email_verified: number;
  profile: string;
  roles: string;
  disabled: number;
  created_at: number;
  updated_at: number;
};

function toRecord(row: Row | undefined): AccountRecord | undefined {
  if (!row) return undefined;
  return {
    id: row.id,
    email: row.email,
    passwordHash: row.password_hash,
    emailVerified: row.email_verified === 1,
    profile: JSON.parse(row.profile) as AccountRecord['profile'],
    roles: JSON.parse(row.roles) as string[],
    disabled: row.disabled === 1,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export function createSqliteAccountStore(db: DatabaseSync, clock: () => number = Date.now): AccountStore {
  const statements = {
    insert: db.prepare(`
      INSERT INTO accounts (id, email, email_normalized, password_hash, email_verified, profile, roles, disabled, created_at, updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    byId: db.prepare('SELECT * FROM accounts WHERE id = ?'),
    byEmail: db.prepare('SELECT * FROM accounts WHERE email_normalized = ?'),
    list: db.prepare('SELECT * FROM accounts ORDER BY created_at, id'),
    update: db.prepare(`
      UPDATE accounts SET password_hash = ?, email_verified = ?, profile = ?, roles = ?, disabled = ?, updated_at = ?
      WHERE id = ?`),
  };

  return {
    async create(account) {
      const now = clock();
      insertOrConflict(
        () => statements.insert.run(
          account.id, account.email, normalizeEmail(account.email), account.passwordHash,
          account.emailVerified ? 1 : 0, JSON.stringify(account.profile), JSON.stringify(account.roles),
          account.disabled ? 1 : 0, now, now,
        ),
        { id: 'store.account_exists', values: { email: account.email } },
      );
      return toRecord(statements.byId.get(account.id) as Row)!;
    },
    async findById(id) {
      return toRecord(statements.byId.get(id) as Row | undefined);
    },
    async findByEmail(email) {
      return toRecord(statements.byEmail.get(normalizeEmail(email)) as Row | undefined);
    },
    async list() {
      return (statements.list.all() as Row[]).map((row) => toRecord(row)!);
    },
    async update(id, patch, expected) {
      // Read, compare and write in one write transaction: a concurrent writer (another process)
      // waits, so it can neither slip in between nor have its change overwritten.
      return transaction(db, () => {
        const current = toRecord(statements.byId.get(id) as Row | undefined);
        if (!current) return undefined;
        if (expected && !matches(current, expected)) return undefined;
        const next = { ...current, ...definedFields(patch) };
        statements.update.run(
          next.passwordHash, next.emailVerified ? 1 : 0, JSON.stringify(next.profile), JSON.stringify(next.roles),
          next.disabled ? 1 : 0, clock(), id,
        );
        return toRecord(statements.byId.get(id) as Row);
      });
    },
  };
}

function definedFields(patch: AccountPatch): AccountPatch {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
}

function matches(account: AccountRecord, expected: AccountPatch): boolean {
  return Object.entries(definedFields(expected)).every(
    ([field, value]) => JSON.stringify(account[field as keyof AccountPatch]) === JSON.stringify(value),
  );
}
