import { randomUUID } from 'node:crypto';

import { z } from 'zod';

import { GatehouseError } from '../errors.ts';
import type { AccountRecord, Store } from '../store/types.ts';
import type { Config } from '../config/load-config.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { checkPasswordPolicyAsync, defaultPasswordPolicy } from './password-policy.ts';
import { checkPassword, defaultHashLimits, failureFloorFor, hashLimitsFrom, hashOptionsFrom, hashPassword, padToFloor, passwordHashOptions } from './passwords.ts';
import type { HashLimits, HashOptions } from './passwords.ts';
import type { NewAccountInput } from './schemas.ts';
import { emailSchema, newAccountSchema } from './schemas.ts';
import { invalidInput } from './validation.ts';

/** How passwords are checked and hashed: `passwords` in the configuration. */
export type PasswordSettings = {
  hash: HashOptions;
  minLength: number;
  /** The costliest hashes accepted from elsewhere; every failed sign-in takes as long as the costliest. */
  limits: HashLimits;
};

export const defaultPasswordSettings: PasswordSettings = { hash: passwordHashOptions, minLength: defaultPasswordPolicy.minLength, limits: defaultHashLimits };

export function passwordSettingsFrom(config: Pick<Config, 'passwords'>): PasswordSettings {
  return { hash: hashOptionsFrom(config.passwords.argon2), minLength: config.passwords.minLength, limits: hashLimitsFrom(config.passwords) };
}

export async function createAccount(store: Pick<Store, 'accounts'>, input: NewAccountInput, settings: PasswordSettings = defaultPasswordSettings): Promise<AccountRecord> {
  const parsed = newAccountSchema.safeParse(input);
  if (!parsed.success) throw invalidInput(parsed.error.issues);
  const { email, password, name, givenName, familyName, emailVerified, roles } = parsed.data;
  const verdict = await checkPasswordPolicyAsync(password, { email, ...(name ? { name } : {}) }, { ...defaultPasswordPolicy, minLength: settings.minLength });
  if (!verdict.ok) throw invalidInput([{ path: ['password'], message: verdict.reason }]);
  if (await store.accounts.findByEmail(email)) throw new GatehouseError('conflict', 'libraries.account_exists', { email });
  return store.accounts.create({
    id: randomUUID(),
    email,
    passwordHash: await hashPassword(password, settings.hash),
    emailVerified,
    profile: {
      ...(name ? { name } : {}),
      ...(givenName ? { given_name: givenName } : {}),
      ...(familyName ? { family_name: familyName } : {}),
    },
    roles: [...new Set(roles)],
    disabled: false,
  });
}

/**
 * Checks an email and password. Unknown email and wrong password fail alike, and take the same
 * time: every failure is padded (on a timer) to the time the costliest accepted hash takes to
 * verify (see failureFloorFor), whether the account is unknown, has an argon2 hash or an imported
 * bcrypt one. A success is not padded. A disabled account is reported only to someone who knew its
 * password.
 */
export async function authenticate(store: Pick<Store, 'accounts'>, email: string, password: string, settings: PasswordSettings = defaultPasswordSettings): Promise<AccountRecord> {
  const startedAt = performance.now();
  // Measured once, on the first sign-in: the first failure waits for it, no start-up does.
  const floor = failureFloorFor(settings.limits);
  const account = await store.accounts.findByEmail(email);
  const { valid, needsRehash } = await checkPassword(account?.passwordHash, password, settings.hash);
  if (!account || !valid) {
    await padToFloor(startedAt, floor);
    throw new GatehouseError('invalid_credentials', 'libraries.incorrect_email_or_password');
  }
  if (account.disabled) throw new GatehouseError('account_disabled', 'libraries.account_disabled_contact_your_administrator');
  if (needsRehash) {
    // Imported bcrypt or weaker argon2: replace the hash, but only if nobody changed it meanwhile.
    const rehashed = await store.accounts.update(account.id, { passwordHash: await hashPassword(password, settings.hash) }, { passwordHash: account.passwordHash });
    return rehashed ?? account;
  }
  return account;
}

export async function findAccountByIdOrEmail(store: Pick<Store, 'accounts'>, idOrEmail: string): Promise<AccountRecord> {
  const account = idOrEmail.includes('@') ? await store.accounts.findByEmail(idOrEmail) : await store.accounts.findById(idOrEmail);
  if (!account) throw new GatehouseError('not_found', 'libraries.no_account', { who: idOrEmail });
  return account;
}

/** Disabling also ends every session and revokes every grant and token the account holds. */
export async function setAccountDisabled(store: Pick<Store, 'accounts' | 'oidc'>, accountId: string, disabled: boolean): Promise<AccountRecord> {
  const account = await store.accounts.update(accountId, { disabled });
  if (!account) throw new GatehouseError('not_found', 'libraries.no_account', { who: accountId });
  if (disabled) await store.oidc.revokeByAccountId(accountId);
  return account;
}

/** The claims an account can release; the provider filters them by granted scope. */
export function accountClaims(account: AccountRecord): Record<string, unknown> {
  return {
    sub: account.id,
    email: account.email,
    email_verified: account.emailVerified,
    ...account.profile,
    updated_at: Math.floor(account.updatedAt.getTime() / 1000),
    roles: account.roles,
  };
}

/** The profile claims an account keeps, as text (the store's ProfileClaims). */
const upstreamProfileSchema = z.strictObject(Object.fromEntries(
  ['name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'picture', 'website', 'locale', 'zoneinfo']
    .map((claim) => [claim, z.string().trim().min(1).max(2048).refine((value) => !/[\p{Cc}\u202A-\u202E\u2066-\u2069]/u.test(value)).optional()]),
));

const upstreamAccountSchema = z.object({
  email: emailSchema,
  emailVerified: z.boolean(),
  profile: upstreamProfileSchema,
  connectionId: z.string().min(1).max(64),
});

/** What an account created from another provider's identity starts with (see createFromUpstream). */
export type UpstreamAccountInput = { email: string; emailVerified: boolean; profile: Record<string, string>; connectionId: string };

/**
 * Creates the account of a person signing in with another provider for the first time (the
 * connection allows new accounts): no password (its owner can set one by the mailed reset link), the
 * email confirmed only when the upstream said it is verified and the connection trusts that, the
 * profile claims the connection maps. `conflict` when the address has an account (a race with
 * another sign-up): the caller shows its page, nothing is created.
 */
export async function createAccountFromUpstream(store: Pick<Store, 'accounts'>, input: UpstreamAccountInput): Promise<AccountRecord> {
  const parsed = upstreamAccountSchema.safeParse(input);
  if (!parsed.success) throw invalidInput(parsed.error.issues);
  const { email, emailVerified, profile } = parsed.data;
  if (await store.accounts.findByEmail(email)) throw new GatehouseError('conflict', 'libraries.account_exists', { email });
  return store.accounts.create({
    id: randomUUID(), email, passwordHash: null, emailVerified, profile: profile as AccountRecord['profile'], roles: [], disabled: false,
  });
}

/** The details of a new account other than its password (what the CLI checks before asking for one). */
export type NewAccountDetails = Omit<NewAccountInput, 'password'>;

/** People's accounts: creating, signing in with a password, finding, disabling. */
export type AccountsLibrary = {
  /** How passwords are checked and hashed (from the configuration). */
  passwords: PasswordSettings;
  /**
   * Checks a new account's details but the password, and that the email is free: InvalidInputError
   * or `conflict`. Lets a caller refuse before anyone types a password for nothing.
   */
  checkNew(details: NewAccountDetails): Promise<void>;
  /** Creates an account (the password checked by the policy); audited as `account_created`. */
  create(input: NewAccountInput, source: AuditSource): Promise<AccountRecord>;
  /**
   * Creates the account of a person signing in with another provider (see
   * createAccountFromUpstream); audited as `account_created` with the connection.
   */
  createFromUpstream(input: UpstreamAccountInput, source: AuditSource): Promise<AccountRecord>;
  /** Checks an email and password (see authenticate): `invalid_credentials` or `account_disabled` when refused. */
  authenticate(email: string, password: string): Promise<AccountRecord>;
  findById(accountId: string): Promise<AccountRecord | undefined>;
  findByEmail(email: string): Promise<AccountRecord | undefined>;
  /** An account by id, or by email when it has an @; `not_found` when there is none. */
  get(idOrEmail: string): Promise<AccountRecord>;
  list(): Promise<AccountRecord[]>;
  /** Disables an account, ending its sessions and revoking its grants and tokens; audited as `account_disabled`. */
  disable(accountId: string, source: AuditSource): Promise<AccountRecord>;
  /** Enables it again (revoked tokens stay revoked); audited as `account_enabled`. */
  enable(accountId: string, source: AuditSource): Promise<AccountRecord>;
  /** The claims the account can release. */
  claims(account: AccountRecord): Record<string, unknown>;
};

export function accountsLibrary(deps: Pick<LibraryDependencies, 'store' | 'config' | 'clock' | 'logger'>): AccountsLibrary {
  const { store, clock, logger } = deps;
  const passwords = passwordSettingsFrom(deps.config);
  const audit = (type: string, source: AuditSource, account: AccountRecord, details: Record<string, unknown>) =>
    recordAudit(store.audit, auditEvent(type, source, { accountId: account.id, details }), logger, clock);
  const setDisabled = async (accountId: string, disabled: boolean, source: AuditSource) => {
    const account = await setAccountDisabled(store, accountId, disabled);
    await audit(disabled ? 'account_disabled' : 'account_enabled', source, account, { email: account.email });
    return account;
  };
  return {
    passwords,
    async checkNew(details) {
      const checked = newAccountSchema.omit({ password: true }).safeParse(details);
      if (!checked.success) throw invalidInput(checked.error.issues);
      if (await store.accounts.findByEmail(checked.data.email)) throw new GatehouseError('conflict', 'libraries.account_exists', { email: checked.data.email });
    },
    async create(input, source) {
      const account = await createAccount(store, input, passwords);
      await audit('account_created', source, account, { email: account.email, roles: account.roles, email_verified: account.emailVerified });
      return account;
    },
    async createFromUpstream(input, source) {
      const account = await createAccountFromUpstream(store, input);
      await audit('account_created', source, account, { email: account.email, roles: account.roles, email_verified: account.emailVerified, connectionId: input.connectionId });
      return account;
    },
    authenticate: (email, password) => authenticate(store, email, password, passwords),
    findById: (accountId) => store.accounts.findById(accountId),
    findByEmail: (email) => store.accounts.findByEmail(email),
    get: (idOrEmail) => findAccountByIdOrEmail(store, idOrEmail),
    list: () => store.accounts.list(),
    disable: (accountId, source) => setDisabled(accountId, true, source),
    enable: (accountId, source) => setDisabled(accountId, false, source),
    claims: accountClaims,
  };
}
