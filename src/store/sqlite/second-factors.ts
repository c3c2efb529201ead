import type { DatabaseSync } from 'node:sqlite';

import type { SecondFactorStore, TotpFactorRecord } from '../types.ts';
import { transaction } from './database.ts';

type Row = {
  account_id: string;
  sealed_secret: string;
  activated_at: number | null;
  last_time_step: number;
  recovery_codes: string;
  failed_attempts: number;
  last_failure_at: number | null;
  created_at: number;
};

type StoredRecoveryCode = { hash: string; usedAt: number | null };

function toRecord(row: Row | undefined): TotpFactorRecord | undefined {
  if (!row) return undefined;
  return {
    accountId: row.account_id,
    sealedSecret: row.sealed_secret,
    activatedAt: row.activated_at === null ? null : new Date(row.activated_at),
    lastTimeStep: row.last_time_step,
    recoveryCodes: (JSON.parse(row.recovery_codes) as StoredRecoveryCode[]).map((code) => ({ hash: code.hash, usedAt: code.usedAt === null ? null : new Date(code.usedAt) })),
    failedAttempts: row.failed_attempts,
    lastFailureAt: row.last_failure_at === null ? null : new Date(row.last_failure_at),
    createdAt: new Date(row.created_at),
  };
}

const unused = (hashes: string[]) => JSON.stringify(hashes.map((hash): StoredRecoveryCode => ({ hash, usedAt: null })));

export function createSqliteSecondFactorStore(db: DatabaseSync): SecondFactorStore {
  const statements = {
    find: db.prepare('SELECT * FROM totp_factors WHERE account_id = ?'),
    // An enrolling factor is replaced; an active one is left alone.
    begin: db.prepare(`INSERT INTO totp_factors (account_id, sealed_secret, created_at) VALUES (?, ?, ?)
      ON CONFLICT (account_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, created_at = excluded.created_at,
        last_time_step = 0, recovery_codes = '[]', failed_attempts = 0, last_failure_at = NULL
      WHERE totp_factors.activated_at IS NULL`),
    activate: db.prepare(`UPDATE totp_factors SET activated_at = ?, last_time_step = ?, recovery_codes = ?, failed_attempts = 0, last_failure_at = NULL
      WHERE account_id = ? AND sealed_secret = ? AND activated_at IS NULL`),
    acceptTimeStep: db.prepare('UPDATE totp_factors SET last_time_step = ? WHERE account_id = ? AND activated_at IS NOT NULL AND last_time_step < ?'),
    setRecoveryCodes: db.prepare('UPDATE totp_factors SET recovery_codes = ? WHERE account_id = ? AND activated_at IS NOT NULL'),
    failure: db.prepare('UPDATE totp_factors SET failed_attempts = failed_attempts + 1, last_failure_at = ? WHERE account_id = ?'),
    reserve: db.prepare('UPDATE totp_factors SET failed_attempts = failed_attempts + 1, last_failure_at = ? WHERE account_id = ? AND failed_attempts = ?'),
    clearFailures: db.prepare('UPDATE totp_factors SET failed_attempts = 0, last_failure_at = NULL WHERE account_id = ?'),
    remove: db.prepare('DELETE FROM totp_factors WHERE account_id = ?'),
  };
  const find = (accountId: string) => toRecord(statements.find.get(accountId) as Row | undefined);
  return {
    async find(accountId) {
      return find(accountId);
    },
    async begin(accountId, sealedSecret, at) {
      return Number(statements.begin.run(accountId, sealedSecret, at.getTime()).changes) === 1;
    },
    async activate(accountId, sealedSecret, timeStep, hashes, at) {
      return Number(statements.activate.run(at.getTime(), timeStep, unused(hashes), accountId, sealedSecret).changes) === 1;
    },
    async acceptTimeStep(accountId, timeStep) {
      return Number(statements.acceptTimeStep.run(timeStep, accountId, timeStep).changes) === 1;
    },
    async useRecoveryCode(accountId, hash, at) {
      // Read and write under one write lock: two requests cannot both see the code unused.
      return transaction(db, () => {
        const row = statements.find.get(accountId) as Row | undefined;
        if (!row || row.activated_at === null) return false;
        const codes = JSON.parse(row.recovery_codes) as StoredRecoveryCode[];
        const code = codes.find((each) => each.hash === hash && each.usedAt === null);
        if (!code) return false;
        code.usedAt = at.getTime();
        statements.setRecoveryCodes.run(JSON.stringify(codes), accountId);
        return true;
      });
    },
    async replaceRecoveryCodes(accountId, hashes) {
      return Number(statements.setRecoveryCodes.run(unused(hashes), accountId).changes) === 1;
    },
    async recordFailure(accountId, at) {
      statements.failure.run(at.getTime(), accountId);
      return find(accountId);
    },
    async reserveAttempt(accountId, seenFailures, at) {
      return Number(statements.reserve.run(at.getTime(), accountId, seenFailures).changes) === 1;
    },
    async clearFailures(accountId) {
      statements.clearFailures.run(accountId);
    },
    async remove(accountId) {
      return Number(statements.remove.run(accountId).changes) === 1;
    },
  };
}

/** Account erasure (account-erasure.ts): the authenticator app and its recovery codes. */
export function secondFactorEraser(db: DatabaseSync) {
  const statement = db.prepare('DELETE FROM totp_factors WHERE account_id = ?');
  return (subject: { accountId: string }) => Number(statement.run(subject.accountId).changes);
}
