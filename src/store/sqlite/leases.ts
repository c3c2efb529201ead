import type { DatabaseSync } from 'node:sqlite';

import type { LeaseStore } from '../types.ts';

/** One row per lease; taking and renewing it is one upsert that only overwrites a lease that is ours or expired. */
export function createSqliteLeaseStore(db: DatabaseSync): LeaseStore {
  const statements = {
    acquire: db.prepare(`INSERT INTO leases (name, holder, expires_at) VALUES (:name, :holder, :until)
      ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
        WHERE leases.holder = excluded.holder OR leases.expires_at <= :now`),
    release: db.prepare('DELETE FROM leases WHERE name = ? AND holder = ?'),
  };
  return {
    async acquire(name, holder, now, until) {
      return Number(statements.acquire.run({ name, holder, until: until.getTime(), now: now.getTime() }).changes) === 1;
    },
    async release(name, holder) {
      statements.release.run(name, holder);
    },
  };
}
