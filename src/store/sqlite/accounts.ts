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
  /** Null only in a row written by an older Gatehouse after 0017 ran (never by this one). */
  profile_updated_at: number | null;
  /** 0020: when the account is to be erased; null when no deletion is pending. */
  delete_after: number | null;
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
    profileUpdatedAt: new Date(row.profile_updated_at ?? row.updated_at),
    ...(row.delete_after !== null && row.delete_after !== undefined ? { deleteAfter: new Date(row.delete_after) } : {}),
  };
}

export function createSqliteAccountStore(db: DatabaseSync, clock: () => number = Date.now): AccountStore {
  const statements = {
    insert: db.prepare(`
      INSERT INTO accounts (id, email, email_normalized, password_hash, email_verified, profile, roles, disabled, created_at, updated_at, profile_updated_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    byId: db.prepare('SELECT * FROM accounts WHERE id = ?'),
    byEmail: db.prepare('SELECT * FROM accounts WHERE email_normalized = ?'),
    list: db.prepare('SELECT * FROM accounts ORDER BY created_at, id'),
    update: db.prepare(`
      UPDATE accounts SET email = ?, email_normalized = ?, password_hash = ?, email_verified = ?, profile = ?, roles = ?, disabled = ?, updated_at = ?, profile_updated_at = ?
      WHERE id = ?`),
    scheduleDeletion: db.prepare('UPDATE accounts SET delete_after = ? WHERE id = ?'),
    dueForDeletion: db.prepare('SELECT id FROM accounts WHERE delete_after IS NOT NULL AND delete_after <= ? ORDER BY delete_after, id LIMIT ?'),
  };

  return {
    async create(account) {
      const now = clock();
      insertOrConflict(
        () => statements.insert.run(
          account.id, account.email, normalizeEmail(account.email), account.passwordHash,
          account.emailVerified ? 1 : 0, JSON.stringify(account.profile), JSON.stringify(account.roles),
          account.disabled ? 1 : 0, now, now, now,
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
        const now = clock();
        // A new address is unique like a new account's (email_normalized): taken is a conflict.
        insertOrConflict(() => statements.update.run(
          next.email, normalizeEmail(next.email), next.passwordHash, next.emailVerified ? 1 : 0, JSON.stringify(next.profile), JSON.stringify(next.roles),
          next.disabled ? 1 : 0, now, changesPersonalInformation(current, next) ? now : current.profileUpdatedAt.getTime(), id,
        ), { id: 'store.account_exists', values: { email: next.email } });
        return toRecord(statements.byId.get(id) as Row);
      });
    },
    async scheduleDeletion(id, deleteAfter) {
      statements.scheduleDeletion.run(deleteAfter ? deleteAfter.getTime() : null, id);
      return toRecord(statements.byId.get(id) as Row | undefined);
    },
    async dueForDeletion(now, limit) {
      return (statements.dueForDeletion.all(now.getTime(), limit) as Array<{ id: string }>).map((row) => row.id);
    },
  };
}

/** The account's own row (account-erasure.ts runs it last, in the erasure's transaction). */
export function accountRowEraser(db: DatabaseSync) {
  const statement = db.prepare('DELETE FROM accounts WHERE id = ?');
  return (subject: { accountId: string }) => Number(statement.run(subject.accountId).changes);
}

/**
 * Whether an update changes what the updated_at claim dates: the profile (compared by content, not
 * key order), the email or email_verified. A password, roles or disabling do not.
 */
function changesPersonalInformation(current: AccountRecord, next: AccountRecord): boolean {
  return current.email !== next.email || current.emailVerified !== next.emailVerified || canonicalJson(current.profile) !== canonicalJson(next.profile);
}

/** JSON with object keys sorted at every depth: equal content, equal text. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => (item && typeof item === 'object' && !Array.isArray(item)
    ? Object.fromEntries(Object.entries(item as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    : item));
}

function definedFields(patch: AccountPatch): AccountPatch {
  return Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
}

function matches(account: AccountRecord, expected: AccountPatch): boolean {
  return Object.entries(definedFields(expected)).every(
    ([field, value]) => JSON.stringify(account[field as keyof AccountPatch]) === JSON.stringify(value),
  );
}
