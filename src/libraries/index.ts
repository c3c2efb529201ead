import type { AccountDeletionLibrary } from './account-deletion.ts';
import { accountDeletionLibrary } from './account-deletion.ts';
import type { AccountsLibrary } from './accounts.ts';
import type { EmailChangeLibrary } from './email-change.ts';
import { emailChangeLibrary } from './email-change.ts';
import type { SecurityNotificationsLibrary } from './security-notifications.ts';
import { securityNotificationsLibrary } from './security-notifications.ts';
import { accountsLibrary } from './accounts.ts';
import type { ApisLibrary } from './apis.ts';
import { apisLibrary } from './apis.ts';
import type { ApplyLibrary } from './apply.ts';
import { applyLibrary } from './apply.ts';
import type { AuditLibrary } from './audit.ts';
import { auditLibrary, observeAuditTrail } from './audit.ts';
import type { ClientsLibrary } from './clients.ts';
import { clientsLibrary } from './clients.ts';
import type { ConnectionsLibrary } from './connections.ts';
import { connectionsLibrary } from './connections.ts';
import type { CredentialsLibrary } from './credential-stamp.ts';
import type { DevicesLibrary } from './devices.ts';
import { devicesLibrary } from './devices.ts';
import { credentialsLibrary } from './credential-stamp.ts';
import type { LibraryDependencies } from './dependencies.ts';
import type { VerificationLibrary } from './email-verification.ts';
import { verificationDependencies, verificationLibrary } from './email-verification.ts';
import type { ImportUsersLibrary } from './import-users.ts';
import { importUsersLibrary } from './import-users.ts';
import type { IdentitiesLibrary } from './linked-identities.ts';
import { identitiesLibrary } from './linked-identities.ts';
import type { MailQueueLibrary } from './mail-queue.ts';
import { mailQueueLibrary } from './mail-queue.ts';
import type { CodesLibrary } from './one-time-codes.ts';
import { codesLibrary } from './one-time-codes.ts';
import type { PasskeysLibrary } from './passkeys.ts';
import { passkeysLibrary } from './passkeys.ts';
import type { RecoveryLibrary } from './recovery.ts';
import { recoveryLibrary } from './recovery.ts';
import type { RegistrationLibrary } from './registration.ts';
import { registrationLibrary } from './registration.ts';
import type { RegistrationTokensLibrary } from './registration-tokens.ts';
import { registrationTokensLibrary } from './registration-tokens.ts';
import type { SecondFactorLibrary } from './second-factor.ts';
import type { SessionsLibrary } from './sessions.ts';
import { sessionsLibrary } from './sessions.ts';
import { secondFactorLibrary } from './second-factor.ts';
import type { SignInCodeLibrary } from './sign-in-code.ts';
import { signInCodeLibrary } from './sign-in-code.ts';
import type { SignInsLibrary } from './sign-ins.ts';
import { signInsLibrary } from './sign-ins.ts';
import type { SigningKeysLibrary } from './signing-keys.ts';
import { signingKeysLibrary } from './signing-keys.ts';
import type { UpstreamLibrary } from './upstream-sign-in.ts';
import { upstreamLibrary } from './upstream-sign-in.ts';
import type { WebhooksLibrary } from './webhooks.ts';
import { webhooksLibrary } from './webhooks.ts';

export type { LibraryDependencies } from './dependencies.ts';
export type { AuditSource } from './audit.ts';
export { apiSource, cliSource, systemSource } from './audit.ts';

/**
 * Everything below the pages and the CLI: one object per library, each a few functions with their
 * dependencies bound. Routes and commands call these, never the store; an action records its own
 * audit event, so the CLI and a page doing the same thing leave the same trail. Functions that
 * change something take an AuditSource (who, from where) last.
 */
export type Libraries = {
  accounts: AccountsLibrary;
  registration: RegistrationLibrary;
  /** Email verification. */
  verification: VerificationLibrary;
  /** Password reset and change. */
  recovery: RecoveryLibrary;
  secondFactor: SecondFactorLibrary;
  /** Passkeys (WebAuthn): registering them, checking them at sign-in, naming and removing them. */
  passkeys: PasskeysLibrary;
  signInCode: SignInCodeLibrary;
  /** Stamps of accounts' credentials: a half-finished sign-in ends when its stamp no longer matches. */
  credentials: CredentialsLibrary;
  /** The audit trail of sign-ins (how people got in, and refusals). */
  signIns: SignInsLibrary;
  /** Mailed one-time codes and links. */
  codes: CodesLibrary;
  /** Operators' clients, and those that register themselves (RFC 7591/7592): sealed secrets, last use, expiry. */
  clients: ClientsLibrary;
  /** Initial access tokens for dynamic client registration (CLIENT_REGISTRATION=token). */
  registrationTokens: RegistrationTokensLibrary;
  apis: ApisLibrary;
  /** Configuration as code: a file's clients, APIs, connections and roles made to exist as written (`gatehouse apply`, GATEHOUSE_SEED_FILE). */
  apply: ApplyLibrary;
  audit: AuditLibrary;
  importUsers: ImportUsersLibrary;
  signingKeys: SigningKeysLibrary;
  mailQueue: MailQueueLibrary;
  /** Ending people's sessions and telling their applications (the back-channel logout queue, its audit events). */
  sessions: SessionsLibrary;
  /** The account centre's sessions (devices: browser, place, first and last seen) and apps (remembered consent, last use, removal). */
  devices: DevicesLibrary;
  /** Connections to upstream identity providers ("Sign in with …"): presets, sealed secrets, audited changes. */
  connections: ConnectionsLibrary;
  /** Upstream identities linked to accounts: one account per identity, never the last way in unlinked. */
  identities: IdentitiesLibrary;
  /** Signing in with another provider: the upstream protocol (discovery, code flow with PKCE, ID token checks, GitHub's API). */
  upstream: UpstreamLibrary;
  /** Changing one's email address: a code and link to the new one, an undo link to the old one. */
  emailChange: EmailChangeLibrary;
  /** Mails about changes to how an account signs in (second factor, passkeys, a new device), from the audit events. */
  securityNotifications: SecurityNotificationsLibrary;
  /** Deleting accounts (a person's request with a grace period, an operator's at once, the sweep) and a person's export of their data. */
  accountDeletion: AccountDeletionLibrary;
  /** Webhooks: registered endpoints, the events queued for them (from the audit trail), the delivery queue. */
  webhooks: WebhooksLibrary;
};

/** Builds the libraries once, at start-up (src/app.ts) or when a CLI command starts (src/cli/context.ts). */
export function createLibraries(given: LibraryDependencies): Libraries {
  // One observer of the audit trail: every event the libraries below record is mailed when it calls
  // for a security notification (security-notifications.ts: never throws, the mail is queued
  // apart) and queues its webhook deliveries (webhooks.ts), in the call that records it.
  const securityNotifications = securityNotificationsLibrary(given);
  const deps: LibraryDependencies = {
    ...given,
    store: observeAuditTrail(given.store, async (event) => {
      await securityNotifications.observe(event);
      await webhooks.observe(event);
    }, given.logger),
  };
  // Built on the observed store, so its own events (webhook_added, …) are observed too.
  const webhooks = webhooksLibrary(deps);
  const accounts = accountsLibrary(deps);
  const connections = connectionsLibrary(deps);
  const clients = clientsLibrary(deps);
  const apis = apisLibrary(deps);
  const codes = codesLibrary(deps);
  const verification = verificationDependencies({ ...deps, codes: codes.emailCodes });
  return {
    accounts,
    registration: registrationLibrary({ ...verification, passwords: accounts.passwords }),
    verification: verificationLibrary(verification),
    recovery: recoveryLibrary({ ...deps, codes: codes.resetLinks, passwords: accounts.passwords }),
    secondFactor: secondFactorLibrary(deps),
    passkeys: passkeysLibrary(deps),
    signInCode: signInCodeLibrary({ store: deps.store, codes: codes.emailCodes, outbox: deps.outbox, keyEncryptionKey: deps.keyEncryptionKey, clock: deps.clock, ...(deps.logger ? { logger: deps.logger } : {}) }),
    signIns: signInsLibrary(deps),
    credentials: credentialsLibrary(deps),
    codes,
    clients,
    registrationTokens: registrationTokensLibrary(deps),
    apis,
    apply: applyLibrary({ store: deps.store, config: deps.config, clock: deps.clock, clients, apis, connections, accounts }),
    audit: auditLibrary(deps),
    importUsers: importUsersLibrary(deps),
    signingKeys: signingKeysLibrary(deps),
    mailQueue: mailQueueLibrary(deps),
    sessions: sessionsLibrary(deps),
    devices: devicesLibrary(deps),
    emailChange: emailChangeLibrary({
      ...deps, changeCodes: codes.emailCodes, undoLinks: codes.mailed(deps.config.accounts.emailChangeUndoDays * 86_400), resetLinks: codes.resetLinks,
    }),
    securityNotifications,
    connections,
    identities: identitiesLibrary(deps),
    upstream: upstreamLibrary({ ...deps, clientSecret: connections.clientSecret, timeoutMs: deps.config.connections.timeoutSeconds * 1000 }),
    accountDeletion: accountDeletionLibrary(deps),
    webhooks,
  };
}
