import { z } from 'zod';

import { GatehouseError } from '../errors.ts';
import type { LinkedIdentityRecord } from '../store/types.ts';
import { urls } from '../urls.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { describeTime } from './password-reset.ts';
import { invalidInput } from './validation.ts';

/**
 * Identities at upstream providers (a connection and the upstream's stable id of the person)
 * linked to accounts. Who may be linked, and when, is the sign-in's decision (never silent: a proof
 * of the account, or a verified email the operator trusts, or a new account); what is decided
 * here: one identity belongs to at most one account, an identity is never unlinked when it is the
 * account's last way in, and every link and unlink is audited.
 */

export type LinkedIdentity = LinkedIdentityRecord & {
  /** The connection's name; null if the connection was removed. */
  connectionName: string | null;
};

/** How a link came about: the person proved the account, the upstream's verified email was trusted, or the account was created from the identity. */
export type LinkHow = 'proof' | 'trusted_email' | 'created';

export type IdentitiesLibrary = {
  find(connectionId: string, subject: string): Promise<LinkedIdentityRecord | undefined>;
  /** The account's linked identities, oldest first. */
  listForAccount(accountId: string): Promise<LinkedIdentity[]>;
  /**
   * Links; audited identity_linked with details { connectionId, subject, how }. GatehouseError
   * 'conflict' when that identity is already linked (to this or another account); 'not_found' for
   * an unknown account or connection; InvalidInputError for a malformed input.
   */
  link(input: { accountId: string; connectionId: string; subject: string; email: string | null; how: LinkHow }, source: AuditSource): Promise<void>;
  /** Records that the identity signed in now. */
  recordUse(connectionId: string, subject: string): Promise<void>;
  /**
   * Whether the account keeps another way in without this identity: a password, a passkey, or
   * another linked identity whose connection exists and is enabled.
   */
  canUnlink(accountId: string, connectionId: string, subject: string): Promise<boolean>;
  /** Whether the account can sign in through a linked identity (one whose connection exists and is enabled). */
  signsInThrough(accountId: string): Promise<boolean>;
  /**
   * Unlinks (audited identity_unlinked); the account's half-finished sign-ins start again.
   * GatehouseError 'conflict' ("the last way to sign in") when canUnlink is false; 'not_found' when
   * the identity is not linked to this account.
   */
  unlink(accountId: string, connectionId: string, subject: string, source: AuditSource): Promise<void>;
};

const linkSchema = z.object({
  accountId: z.string().min(1).max(128),
  connectionId: z.string().regex(/^[a-z0-9-]{1,40}$/),
  // `sub` is at most 255 ASCII characters (OpenID Connect Core 1.0 §2); GitHub's ids are numbers.
  subject: z.string().min(1).max(255),
  // For people and support only: one longer than any address is dropped rather than refused.
  email: z.string().max(254).nullable().catch(null),
  how: z.enum(['proof', 'trusted_email', 'created']),
});

export function identitiesLibrary(deps: Pick<LibraryDependencies, 'store' | 'clock' | 'logger' | 'outbox' | 'config'>): IdentitiesLibrary {
  const { store, clock, logger } = deps;
  const audit = (type: string, source: AuditSource, event: { accountId: string; details: Record<string, unknown> }) =>
    recordAudit(store.audit, auditEvent(type, source, event), logger, clock);

  /** Whether the account has a way in other than the identity `except` (none: any). */
  async function otherWayIn(accountId: string, except?: { connectionId: string; subject: string }): Promise<boolean> {
    const account = await store.accounts.findById(accountId);
    if (!account) return false;
    if (account.passwordHash !== null) return true;
    if ((await store.passkeys.countForAccount(accountId)) > 0) return true;
    const others = (await store.linkedIdentities.listForAccount(accountId))
      .filter((identity) => !except || identity.connectionId !== except.connectionId || identity.subject !== except.subject);
    if (others.length === 0) return false;
    // Only through a connection that still signs people in.
    const usable = new Set((await store.connections.list()).filter((connection) => !connection.disabled).map((connection) => connection.id));
    return others.some((identity) => usable.has(identity.connectionId));
  }

  return {
    find: (connectionId, subject) => store.linkedIdentities.find(connectionId, subject),

    async listForAccount(accountId) {
      const identities = await store.linkedIdentities.listForAccount(accountId);
      if (identities.length === 0) return [];
      const names = new Map((await store.connections.list()).map((connection) => [connection.id, connection.name]));
      return identities.map((identity) => ({ ...identity, connectionName: names.get(identity.connectionId) ?? null }));
    },

    async link(input, source) {
      const parsed = linkSchema.safeParse(input);
      if (!parsed.success) throw invalidInput(parsed.error.issues);
      const { accountId, connectionId, subject, email, how } = parsed.data;
      const connection = await store.connections.find(connectionId);
      if (!connection) throw new GatehouseError('not_found', 'libraries.no_connection', { id: connectionId });
      const account = await store.accounts.findById(accountId);
      if (!account) throw new GatehouseError('not_found', 'libraries.no_account', { who: accountId });
      const record: LinkedIdentityRecord = { connectionId, subject, accountId, email, linkedAt: clock(), lastUsedAt: null };
      if (!(await store.linkedIdentities.link(record))) throw new GatehouseError('conflict', 'libraries.identity_already_linked');
      // A connection removed meanwhile: its removal may have swept its identities already, so this
      // one would outlive it (and sign in through a later connection given the same id).
      if (!(await store.connections.find(connectionId))) {
        await store.linkedIdentities.unlink(accountId, connectionId, subject);
        throw new GatehouseError('not_found', 'libraries.no_connection', { id: connectionId });
      }
      await audit('identity_linked', source, { accountId, details: { connectionId, subject, how } });
      // Linked on the upstream's word for the email, not by the owner's own proof: the owner hears of it.
      if (how === 'trusted_email') {
        await deps.outbox.send(account.email, 'identity-linked', {
          email: account.email, connection: connection.name, when: describeTime(clock()), accountUrl: `${deps.config.issuer}${urls.account()}`,
        });
      }
    },

    async recordUse(connectionId, subject) {
      await store.linkedIdentities.recordUse(connectionId, subject, clock());
    },

    canUnlink: (accountId, connectionId, subject) => otherWayIn(accountId, { connectionId, subject }),

    async signsInThrough(accountId) {
      const identities = await store.linkedIdentities.listForAccount(accountId);
      if (identities.length === 0) return false;
      const usable = new Set((await store.connections.list()).filter((connection) => !connection.disabled).map((connection) => connection.id));
      return identities.some((identity) => usable.has(identity.connectionId));
    },

    async unlink(accountId, connectionId, subject, source) {
      const identity = await store.linkedIdentities.find(connectionId, subject);
      if (!identity || identity.accountId !== accountId) throw new GatehouseError('not_found', 'libraries.no_linked_identity');
      if (!(await otherWayIn(accountId, { connectionId, subject }))) throw new GatehouseError('conflict', 'libraries.identity_last_way_in');
      if (!(await store.linkedIdentities.unlink(accountId, connectionId, subject))) throw new GatehouseError('not_found', 'libraries.no_linked_identity');
      // Two unlinks at once may each have counted on the other identity: if no way in is left now,
      // this one is put back (both put back, both refused, rather than an account nobody can enter).
      if (!(await otherWayIn(accountId))) {
        await store.linkedIdentities.link(identity);
        throw new GatehouseError('conflict', 'libraries.identity_last_way_in');
      }
      // A change of the ways in: half-finished sign-ins of the account start again.
      await store.oidc.revokeInteractions(accountId);
      await audit('identity_unlinked', source, { accountId, details: { connectionId, subject } });
    },
  };
}
