import { randomUUID } from 'node:crypto';

import { describeIssues, GatehouseError } from '../errors.ts';
import type { AccountRecord, Store } from '../store/types.ts';
import type { Config } from '../config/load-config.ts';
import { checkPasswordPolicyAsync, defaultPasswordPolicy } from './password-policy.ts';
import { checkPassword, defaultHashLimits, failureFloorFor, hashLimitsFrom, hashOptionsFrom, hashPassword, padToFloor, passwordHashOptions } from './passwords.ts';
import type { HashLimits, HashOptions } from './passwords.ts';
import type { NewAccountInput } from './schemas.ts';
import { newAccountSchema } from './schemas.ts';

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
  if (!parsed.success) throw new GatehouseError('invalid_input', describeIssues(parsed.error.issues));
  const { email, password, name, givenName, familyName, emailVerified, roles } = parsed.data;
  const verdict = await checkPasswordPolicyAsync(password, { email, ...(name ? { name } : {}) }, { ...defaultPasswordPolicy, minLength: settings.minLength });
  if (!verdict.ok) throw new GatehouseError('invalid_input', `password: ${verdict.reason}`);
  if (await store.accounts.findByEmail(email)) throw new GatehouseError('conflict', `an account with email ${email} already exists`);
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
    throw new GatehouseError('invalid_credentials', 'Incorrect email or password.');
  }
  if (account.disabled) throw new GatehouseError('account_disabled', 'This account is disabled. Contact your administrator.');
  if (needsRehash) {
    // Imported bcrypt or weaker argon2: replace the hash, but only if nobody changed it meanwhile.
    const rehashed = await store.accounts.update(account.id, { passwordHash: await hashPassword(password, settings.hash) }, { passwordHash: account.passwordHash });
    return rehashed ?? account;
  }
  return account;
}

export async function findAccountByIdOrEmail(store: Pick<Store, 'accounts'>, idOrEmail: string): Promise<AccountRecord> {
  const account = idOrEmail.includes('@') ? await store.accounts.findByEmail(idOrEmail) : await store.accounts.findById(idOrEmail);
  if (!account) throw new GatehouseError('not_found', `no account ${idOrEmail}`);
  return account;
}

/** Disabling also ends every session and revokes every grant and token the account holds. */
export async function setAccountDisabled(store: Pick<Store, 'accounts' | 'oidc'>, accountId: string, disabled: boolean): Promise<AccountRecord> {
  const account = await store.accounts.update(accountId, { disabled });
  if (!account) throw new GatehouseError('not_found', `no account ${accountId}`);
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
