import { createHmac } from 'node:crypto';

import { GatehouseError } from '../errors.ts';
import type { AccountRecord, ErasureCounts, ModelPayload, SessionActivity } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit, systemSource } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { endSessions } from './sessions.ts';

/**
 * Deleting accounts: a person's own request waits out a grace period (accounts.deletionGraceDays)
 * during which signing in offers to cancel it (src/flows/pending-deletion/); an operator's
 * (`gatehouse users delete`) and the end of a grace period (the sweeper) erase at once. Erasing
 * first ends every session (queuing the back-channel logouts that tell the applications), then
 * removes the account and every record about it in one store call (AccountErasureStore), which
 * leaves the audit trail pseudonymous: the account's events keep their type, time and client under
 * a keyed hash of the account id (`pseudonymFor`), nothing that names the person.
 *
 * Also the person's copy of their data (`exportData`): everything Gatehouse holds about them,
 * described, never a hash, secret, code or token.
 */

/** Most of each kind an export lists (sessions, grants, audit events): more than an account plausibly has. */
const exportLimit = 1000;

/** Accounts erased per sweep. */
const sweepBatch = 50;

export type AccountDeletionLibrary = {
  /**
   * Schedules the account's erasure after the grace period (at once when it is 0) and ends every
   * session (reason `account_deleted`: applications are told by back-channel logout). Audited
   * `account_deletion_requested`. `not_found` when there is no such account.
   */
  request(accountId: string, source: AuditSource): Promise<{ deleteAfter: Date }>;
  /** Keeps the account: clears a pending deletion. Audited `account_deletion_cancelled`; false when none was pending. */
  cancel(accountId: string, source: AuditSource): Promise<boolean>;
  /**
   * Erases the account at once (see the file's comment); audited `account_deleted` under the
   * account's pseudonym. `not_found` when there is no such account.
   */
  deleteNow(accountId: string, source: AuditSource): Promise<{ pseudonym: string; email: string; erased: ErasureCounts; sessions: number; logoutsQueued: number }>;
  /** The ids of accounts whose grace period has passed at `now`, at most `limit`. */
  due(now: Date, limit?: number): Promise<string[]>;
  /** Erases the accounts due now (the sweeper, on the lease holder); returns how many. */
  sweep(limit?: number): Promise<number>;
  /**
   * Everything Gatehouse holds about the person, as JSON-ready data. With `source`, audited
   * `account_data_exported`. `not_found` when there is no such account.
   */
  exportData(accountId: string, source?: AuditSource): Promise<AccountExport>;
  /** The pseudonym the audit trail keeps for an erased account id. */
  pseudonymFor(accountId: string): string;
};

export type AccountExport = {
  format: 'gatehouse-account-export';
  version: 1;
  exportedAt: string;
  account: Record<string, unknown>;
  linkedIdentities: Array<Record<string, unknown>>;
  factors: { password: { set: boolean }; authenticatorApp: Record<string, unknown> | null; passkeys: Array<Record<string, unknown>> };
  sessions: Array<Record<string, unknown>>;
  grants: Array<Record<string, unknown>>;
  /** The applications used, with the consent remembered for each (the account centre's "Connected apps"). */
  applications: Array<Record<string, unknown>>;
  /** The browsers signed in from (known by a keyed hash of a random cookie: only when they were seen). */
  knownDevices: Array<Record<string, unknown>>;
  auditEvents: Array<Record<string, unknown>>;
};

/**
 * A keyed hash of an account id under KEY_ENCRYPTION_KEY (through a key of its own, derived for
 * this one use): the same account always gives the same pseudonym, so its erased events can still
 * be counted and correlated, but without the key nobody can tell whose they were.
 */
export function auditPseudonym(keyEncryptionKey: Buffer, accountId: string): string {
  const key = createHmac('sha256', keyEncryptionKey).update('gatehouse audit pseudonym v1').digest();
  return `erased:${createHmac('sha256', key).update(accountId).digest('base64url').slice(0, 32)}`;
}

const iso = (value: unknown): string | null => {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number' && Number.isFinite(value)) return new Date(value * 1000).toISOString();
  return null;
};

/** A session as the person may see it: when, how, which applications, from which browser; never its id (a bearer credential in the cookie). */
function describeSession(payload: ModelPayload, expiresAt: Date | null, activity: SessionActivity | undefined): Record<string, unknown> {
  const authorizations = payload.authorizations && typeof payload.authorizations === 'object' ? Object.keys(payload.authorizations as object) : [];
  const device = activity
    ? { userAgent: activity.userAgent, sourceAddress: activity.sourceAddress, firstSeenAt: activity.firstSeenAt.toISOString(), lastSeenAt: activity.lastSeenAt.toISOString() }
    : undefined;
  return {
    signedInAt: iso(payload.loginTs),
    expiresAt: iso(expiresAt),
    ...(Array.isArray(payload.amr) ? { methods: payload.amr.filter((each) => typeof each === 'string') } : {}),
    ...(typeof payload.acr === 'string' ? { acr: payload.acr } : {}),
    applications: authorizations,
    ...(device ? { device } : {}),
  };
}

/** A grant: the application, what it may read, when; never its id. */
function describeGrant(payload: ModelPayload, expiresAt: Date | null): Record<string, unknown> {
  const openid = payload.openid && typeof payload.openid === 'object' ? payload.openid as { scope?: unknown; claims?: unknown } : {};
  const resources = payload.resources && typeof payload.resources === 'object' ? payload.resources as Record<string, unknown> : {};
  return {
    clientId: typeof payload.clientId === 'string' ? payload.clientId : null,
    scopes: typeof openid.scope === 'string' ? openid.scope.split(' ').filter(Boolean) : [],
    ...(Array.isArray(openid.claims) ? { claims: openid.claims } : {}),
    resources: Object.fromEntries(Object.entries(resources).map(([resource, scope]) => [resource, typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []])),
    grantedAt: iso(payload.iat),
    expiresAt: iso(expiresAt),
  };
}

/** The account's own fields: never its password hash (whether there is a password is in `factors`). */
function describeAccount(account: AccountRecord): Record<string, unknown> {
  return {
    id: account.id,
    email: account.email,
    emailVerified: account.emailVerified,
    profile: account.profile,
    roles: account.roles,
    disabled: account.disabled,
    createdAt: account.createdAt.toISOString(),
    updatedAt: account.updatedAt.toISOString(),
    profileUpdatedAt: account.profileUpdatedAt.toISOString(),
    deleteAfter: account.deleteAfter ? account.deleteAfter.toISOString() : null,
  };
}

export function accountDeletionLibrary(deps: LibraryDependencies): AccountDeletionLibrary {
  const { store, config, clock, logger, keyEncryptionKey } = deps;
  const record = (type: string, source: AuditSource, event: { accountId: string; details?: Record<string, unknown> }) =>
    recordAudit(store.audit, auditEvent(type, source, event), logger, clock);
  const sessions = { store, clock, ...(logger ? { logger } : {}), config };

  async function existing(accountId: string): Promise<AccountRecord> {
    const account = await store.accounts.findById(accountId);
    if (!account) throw new GatehouseError('not_found', 'libraries.no_account', { who: accountId });
    return account;
  }

  async function deleteNow(accountId: string, source: AuditSource) {
    const account = await existing(accountId);
    // Tell the applications first: the logouts queued here outlive the erasure (pending deliveries
    // stay until delivered; they name the account only by its id and the session).
    const ended = await endSessions(sessions, account.id, { source, reason: 'account_deleted' });
    const pseudonym = auditPseudonym(keyEncryptionKey, account.id);
    // Recorded before the erasure, under the account's id: the operator's systems are told which
    // account goes (the webhook user.deleted is queued as the event is recorded and names it, so
    // they can erase their copies), then the erasure makes this event pseudonymous like every other
    // about the account; account_deleted, after it, is the pseudonymous record.
    await recordAudit(store.audit, auditEvent('account_erasure_started', source, { accountId: account.id, details: { email: account.email } }), logger, clock);
    const erased = await store.accountErasure.erase({ accountId: account.id, email: account.email, pseudonym });
    await recordAudit(store.audit, auditEvent('account_deleted', source, {
      accountId: pseudonym, details: { scheduled: account.deleteAfter !== undefined, sessions: ended.sessions, logoutsQueued: ended.queued },
    }), logger, clock);
    return { pseudonym, email: account.email, erased, sessions: ended.sessions, logoutsQueued: ended.queued };
  }

  async function due(now: Date, limit = sweepBatch) {
    return store.accounts.dueForDeletion(now, limit);
  }

  return {
    async request(accountId, source) {
      const account = await existing(accountId);
      const graceDays = config.accounts.deletionGraceDays;
      const deleteAfter = new Date(clock().getTime() + graceDays * 86_400_000);
      await store.accounts.scheduleDeletion(account.id, deleteAfter);
      await record('account_deletion_requested', source, { accountId: account.id, details: { deleteAfter: deleteAfter.toISOString(), graceDays } });
      if (graceDays === 0) {
        await deleteNow(account.id, source);
        return { deleteAfter };
      }
      await endSessions(sessions, account.id, { source, reason: 'account_deleted' });
      return { deleteAfter };
    },
    async cancel(accountId, source) {
      const account = await existing(accountId);
      if (!account.deleteAfter) return false;
      await store.accounts.scheduleDeletion(account.id, null);
      await record('account_deletion_cancelled', source, { accountId: account.id, details: { deleteAfter: account.deleteAfter.toISOString() } });
      return true;
    },
    deleteNow,
    due,
    async sweep(limit = sweepBatch) {
      let deleted = 0;
      for (const accountId of await due(clock(), limit)) {
        try {
          await deleteNow(accountId, systemSource);
          deleted += 1;
        } catch (error) {
          // Another instance erased it meanwhile; anything else is retried at the next sweep.
          if (error instanceof GatehouseError && error.code === 'not_found') continue;
          logger?.error('account deletion failed; retried at the next sweep', { error: error instanceof Error ? error.message : String(error) });
        }
      }
      return deleted;
    },
    async exportData(accountId, source) {
      const account = await existing(accountId);
      if (source) await record('account_data_exported', source, { accountId: account.id });
      const [identities, factor, passkeys, liveSessions, grants, events, activity, apps, devices] = await Promise.all([
        store.linkedIdentities.listForAccount(account.id),
        store.secondFactors.find(account.id),
        store.passkeys.listForAccount(account.id),
        store.oidc.listByAccountId('Session', account.id, exportLimit),
        store.oidc.listByAccountId('Grant', account.id, exportLimit),
        store.audit.tail({ accountId: account.id, limit: exportLimit }),
        store.sessionActivity.listSessions(account.id, clock()),
        store.sessionActivity.listApps(account.id, exportLimit),
        store.knownDevices.list(account.id),
      ]);
      const activityOf = new Map(activity.map((each) => [each.sessionId, each]));
      const connections = new Map((await store.connections.list()).map((connection) => [connection.id, connection.name]));
      return {
        format: 'gatehouse-account-export',
        version: 1,
        exportedAt: clock().toISOString(),
        account: describeAccount(account),
        linkedIdentities: identities.map((identity) => ({
          connection: identity.connectionId,
          connectionName: connections.get(identity.connectionId) ?? null,
          subject: identity.subject,
          email: identity.email,
          linkedAt: identity.linkedAt.toISOString(),
          lastUsedAt: iso(identity.lastUsedAt),
        })),
        factors: {
          password: { set: account.passwordHash !== null },
          authenticatorApp: factor?.activatedAt
            ? { enabledSince: factor.activatedAt.toISOString(), recoveryCodesLeft: factor.recoveryCodes.filter((code) => !code.usedAt).length }
            : null,
          passkeys: passkeys.map((passkey) => ({
            name: passkey.name,
            createdAt: passkey.createdAt.toISOString(),
            lastUsedAt: iso(passkey.lastUsedAt),
            synced: passkey.backedUp,
            deviceType: passkey.deviceType,
          })),
        },
        sessions: liveSessions.map((session) => describeSession(session.payload, session.expiresAt, activityOf.get(session.id))),
        grants: grants.map((grant) => describeGrant(grant.payload, grant.expiresAt)),
        applications: apps.map((app) => ({
          clientId: app.clientId,
          consentRemembered: app.remembered,
          scopes: app.scope.split(' ').filter(Boolean),
          claims: app.claims,
          resources: Object.fromEntries(Object.entries(app.resourceScopes).map(([resource, scope]) => [resource, scope.split(' ').filter(Boolean)])),
          grantedAt: iso(app.grantedAt),
          lastUsedAt: iso(app.lastUsedAt),
        })),
        knownDevices: devices.map((device) => ({ firstSeenAt: device.firstSeenAt.toISOString(), lastSeenAt: device.lastSeenAt.toISOString() })),
        auditEvents: events.map((event) => ({
          at: event.at.toISOString(),
          type: event.type,
          actor: event.actor,
          ...(event.clientId ? { clientId: event.clientId } : {}),
          ...(event.sourceAddress ? { sourceAddress: event.sourceAddress } : {}),
          details: event.details,
        })),
      };
    },
    pseudonymFor: (accountId) => auditPseudonym(keyEncryptionKey, accountId),
  };
}
