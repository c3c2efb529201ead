import type { DatabaseSync } from 'node:sqlite';

import type { AppConsent, SessionActivity, SessionActivityStore } from '../types.ts';

type SessionRow = {
  session_id: string; account_id: string; user_agent: string | null; source_address: string | null; amr: string;
  first_seen_at: number; last_seen_at: number; expires_at: number;
};

type AppRow = {
  account_id: string; client_id: string; remembered: number; scope: string; claims: string; resource_scopes: string;
  granted_at: number | null; last_used_at: number | null;
};

function toSession(row: SessionRow): SessionActivity {
  return {
    sessionId: row.session_id,
    accountId: row.account_id,
    userAgent: row.user_agent,
    sourceAddress: row.source_address,
    amr: JSON.parse(row.amr) as string[],
    firstSeenAt: new Date(row.first_seen_at),
    lastSeenAt: new Date(row.last_seen_at),
    expiresAt: new Date(row.expires_at),
  };
}

function toApp(row: AppRow): AppConsent {
  return {
    accountId: row.account_id,
    clientId: row.client_id,
    remembered: row.remembered === 1,
    scope: row.scope,
    claims: JSON.parse(row.claims) as string[],
    resourceScopes: JSON.parse(row.resource_scopes) as Record<string, string>,
    grantedAt: row.granted_at === null ? null : new Date(row.granted_at),
    lastUsedAt: row.last_used_at === null ? null : new Date(row.last_used_at),
  };
}

/** The account centre's records (migration 0018): session_activity and app_consents. */
export function createSqliteSessionActivityStore(db: DatabaseSync): SessionActivityStore {
  const statements = {
    recordSession: db.prepare(`
      INSERT INTO session_activity (session_id, account_id, user_agent, source_address, amr, first_seen_at, last_seen_at, expires_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (session_id) DO UPDATE SET
        account_id = excluded.account_id, user_agent = excluded.user_agent, source_address = excluded.source_address,
        amr = excluded.amr, last_seen_at = excluded.last_seen_at, expires_at = excluded.expires_at`),
    listSessions: db.prepare(`SELECT * FROM session_activity WHERE account_id = ? AND expires_at > ?
      ORDER BY last_seen_at DESC, session_id LIMIT 1000`),
    removeSession: db.prepare('DELETE FROM session_activity WHERE account_id = ? AND session_id = ?'),
    removeSessions: db.prepare('DELETE FROM session_activity WHERE account_id = ? AND session_id <> ?'),
    sweepSessions: db.prepare(`DELETE FROM session_activity WHERE rowid IN
      (SELECT rowid FROM session_activity WHERE expires_at <= ? LIMIT ?)`),
    rememberConsent: db.prepare(`
      INSERT INTO app_consents (account_id, client_id, remembered, scope, claims, resource_scopes, granted_at)
      VALUES (?, ?, 1, ?, ?, ?, ?)
      ON CONFLICT (account_id, client_id) DO UPDATE SET
        remembered = 1, scope = excluded.scope, claims = excluded.claims, resource_scopes = excluded.resource_scopes,
        granted_at = coalesce(app_consents.granted_at, excluded.granted_at)`),
    findApp: db.prepare('SELECT * FROM app_consents WHERE account_id = ? AND client_id = ?'),
    listApps: db.prepare(`SELECT * FROM app_consents WHERE account_id = ?
      ORDER BY max(coalesce(last_used_at, 0), coalesce(granted_at, 0)) DESC, client_id LIMIT ?`),
    recordAppUse: db.prepare(`
      INSERT INTO app_consents (account_id, client_id, last_used_at) VALUES (?, ?, ?)
      ON CONFLICT (account_id, client_id) DO UPDATE SET last_used_at = max(coalesce(app_consents.last_used_at, 0), excluded.last_used_at)`),
    forgetApp: db.prepare('DELETE FROM app_consents WHERE account_id = ? AND client_id = ?'),
    forgetSessions: db.prepare('DELETE FROM session_activity WHERE account_id = ?'),
    forgetApps: db.prepare('DELETE FROM app_consents WHERE account_id = ?'),
  };
  return {
    async recordSession(activity) {
      statements.recordSession.run(
        activity.sessionId, activity.accountId, activity.userAgent, activity.sourceAddress, JSON.stringify(activity.amr),
        activity.firstSeenAt.getTime(), activity.lastSeenAt.getTime(), activity.expiresAt.getTime(),
      );
    },
    async listSessions(accountId, now) {
      return (statements.listSessions.all(accountId, now.getTime()) as SessionRow[]).map(toSession);
    },
    async removeSession(accountId, sessionId) {
      return Number(statements.removeSession.run(accountId, sessionId).changes) > 0;
    },
    async removeSessions(accountId, exceptSessionId) {
      // '' is no session's id: nothing is spared.
      return Number(statements.removeSessions.run(accountId, exceptSessionId ?? '').changes);
    },
    async sweepSessions(now, limit) {
      return Number(statements.sweepSessions.run(now.getTime(), limit).changes);
    },
    async rememberConsent(consent) {
      statements.rememberConsent.run(
        consent.accountId, consent.clientId, consent.scope, JSON.stringify(consent.claims), JSON.stringify(consent.resourceScopes), consent.at.getTime(),
      );
    },
    async findApp(accountId, clientId) {
      const row = statements.findApp.get(accountId, clientId) as AppRow | undefined;
      return row ? toApp(row) : undefined;
    },
    async listApps(accountId, limit) {
      return (statements.listApps.all(accountId, limit) as AppRow[]).map(toApp);
    },
    async recordAppUse(accountId, clientId, at) {
      statements.recordAppUse.run(accountId, clientId, at.getTime());
    },
    async forgetApp(accountId, clientId) {
      return Number(statements.forgetApp.run(accountId, clientId).changes) > 0;
    },
    async forgetAccount(accountId) {
      return Number(statements.forgetSessions.run(accountId).changes) + Number(statements.forgetApps.run(accountId).changes);
    },
  };
}

/** Account erasure (account-erasure.ts): what the account centre saw of the account's sessions, and its remembered consents. */
export function sessionActivityEraser(db: DatabaseSync) {
  const sessions = db.prepare('DELETE FROM session_activity WHERE account_id = ?');
  const consents = db.prepare('DELETE FROM app_consents WHERE account_id = ?');
  return (subject: { accountId: string }) => Number(sessions.run(subject.accountId).changes) + Number(consents.run(subject.accountId).changes);
}
