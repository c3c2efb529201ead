import { randomUUID } from 'node:crypto';

import { z } from 'zod';

import { GatehouseError } from '../errors.ts';
import { message } from '../messages/messages.ts';
import type { AccountRecord, ProfileClaims, Store } from '../store/types.ts';
import type { Config } from '../config/load-config.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { checkPasswordPolicyAsync, defaultPasswordPolicy } from './password-policy.ts';
import { checkPassword, defaultHashLimits, failureFloorFor, hashLimitsFrom, hashOptionsFrom, hashPassword, padToFloor, passwordHashOptions } from './passwords.ts';
import type { HashLimits, HashOptions } from './passwords.ts';
import type { NewAccountInput } from './schemas.ts';
import { emailSchema, newAccountSchema, words } from './schemas.ts';
import { invalidInput } from './validation.ts';
import { endSessions } from './sessions.ts';

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

/**
 * Disabling also ends every session and revokes every grant and token the account holds: through
 * `endSessions` (sessions.ts) when given, which tells the applications too (back-channel logout).
 */
export async function setAccountDisabled(
  store: Pick<Store, 'accounts' | 'oidc'>, accountId: string, disabled: boolean, end?: (accountId: string) => Promise<unknown>,
): Promise<AccountRecord> {
  const account = await store.accounts.update(accountId, { disabled });
  if (!account) throw new GatehouseError('not_found', 'libraries.no_account', { who: accountId });
  if (disabled) await (end ? end(accountId) : store.oidc.revokeByAccountId(accountId));
  return account;
}

/**
 * The claims an account can release; the provider filters them by granted scope and by the claims
 * request parameter. A claim the account does not have is absent (never an empty string);
 * `updated_at` is when the person's information last changed (profileUpdatedAt), not the record.
 */
export function accountClaims(account: AccountRecord): Record<string, unknown> {
  const profile = Object.fromEntries(Object.entries(account.profile).filter(([, value]) => value !== '' && value !== null && value !== undefined));
  if (profile.phone_number === undefined) delete profile.phone_number_verified;
  return {
    sub: account.id,
    email: account.email,
    email_verified: account.emailVerified,
    ...profile,
    updated_at: Math.floor(account.profileUpdatedAt.getTime() / 1000),
    roles: account.roles,
  };
}

// --- the profile (OpenID Connect Core §5.1's standard claims) -------------------------------------

/** Control characters and bidi controls: they forge lines and reorder text in terminals, logs and pages. */
const hiddenCharacters = /[\p{Cc}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

/** One line of text: trimmed, bounded, no line breaks or hidden characters. */
function lineOfText(max: number) {
  return z.string().trim()
    .max(max, words('libraries.at_most_characters', { max }))
    .refine((value) => !hiddenCharacters.test(value), words('libraries.no_control_characters'));
}

/** Text of a few lines (an address): line breaks normalised to \n, each line trimmed, blank lines dropped. */
function linesOfText(max: number, lines: number) {
  return z.string()
    .transform((value) => value.replace(/\r\n?/g, '\n').split('\n').map((line) => line.trim()).filter(Boolean).join('\n'))
    .pipe(z.string()
      .max(max, words('libraries.at_most_characters', { max }))
      .refine((value) => !hiddenCharacters.test(value.replaceAll('\n', '')), words('libraries.no_control_characters'))
      .refine((value) => value.split('\n').length <= lines, words('libraries.profile_lines', { max: lines })));
}

function isWebAddress(value: string): boolean {
  const url = URL.parse(value);
  return !!url && (url.protocol === 'https:' || url.protocol === 'http:') && !!url.hostname && !url.username && !url.password && !/\s/u.test(value);
}

/** YYYY, YYYY-MM-DD or 0000-MM-DD (the year withheld), a real date (OpenID Connect Core §5.1). */
export function isBirthdate(value: string): boolean {
  const match = /^(\d{4})(?:-(\d{2})-(\d{2}))?$/.exec(value);
  if (!match) return false;
  const [, year, month, day] = match;
  if (month === undefined) return year !== '0000';
  // 0000 withholds the year: any day that exists in some year (29 February included). Years 1-99
  // are read as 1901-1999 here, which are leap years alike.
  const date = new Date(Date.UTC(year === '0000' ? 2000 : Number(year), Number(month) - 1, Number(day)));
  return date.getUTCMonth() === Number(month) - 1 && date.getUTCDate() === Number(day);
}

/** An IANA time zone name the platform knows (Europe/Paris, America/Argentina/Buenos_Aires, UTC); no offsets. */
export function isTimeZone(value: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/.test(value)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
    return true;
  } catch {
    return false;
  }
}

/**
 * A BCP 47 language tag (en, en-US, zh-Hant-TW) whose language is an ISO 639 code (2 or 3
 * letters: "english" is well-formed BCP 47 but no language); en_US is accepted as OpenID Connect
 * notes some send it.
 */
export function isLocale(value: string): boolean {
  if (!/^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$/.test(value)) return false;
  try {
    return Intl.getCanonicalLocales(value.replaceAll('_', '-')).length === 1;
  } catch {
    return false;
  }
}

/** E.164 with an optional extension (+14155550123;ext=12); spaces, dots, dashes and brackets typed between digits are dropped. */
const phoneNumberSchema = z.string().trim().max(40, words('libraries.at_most_characters', { max: 40 }))
  .transform((value) => value.replace(/[\s().-]/g, ''))
  .pipe(z.string().regex(/^\+[1-9]\d{1,14}(?:;ext=\d{1,10})?$/, words('libraries.profile_phone_number')));

const webAddressSchema = z.string().trim().max(2048, words('libraries.at_most_characters', { max: 2048 })).refine(isWebAddress, words('libraries.profile_url'));

/** A change of one claim: a value sets it; null or empty text removes it; absent leaves it. */
function change<T extends z.ZodType>(schema: T) {
  return z.preprocess((value) => (typeof value === 'string' && value.trim() === '' ? null : value), z.union([z.null(), schema])).optional();
}

const addressPatchSchema = z.strictObject({
  formatted: change(linesOfText(500, 6)),
  street_address: change(linesOfText(200, 3)),
  locality: change(lineOfText(100)),
  region: change(lineOfText(100)),
  postal_code: change(lineOfText(20)),
  country: change(lineOfText(100)),
});

/** The claims updateProfile changes, in their claim names; checked at this edge. */
export const profilePatchSchema = z.strictObject({
  name: change(lineOfText(200)),
  given_name: change(lineOfText(200)),
  family_name: change(lineOfText(200)),
  middle_name: change(lineOfText(200)),
  nickname: change(lineOfText(200)),
  preferred_username: change(lineOfText(254)),
  profile: change(webAddressSchema),
  picture: change(webAddressSchema),
  website: change(webAddressSchema),
  gender: change(lineOfText(64)),
  birthdate: change(z.string().trim().refine(isBirthdate, words('libraries.profile_birthdate'))),
  zoneinfo: change(z.string().trim().max(64, words('libraries.at_most_characters', { max: 64 })).refine(isTimeZone, words('libraries.profile_zoneinfo'))),
  locale: change(z.string().trim().max(35, words('libraries.at_most_characters', { max: 35 })).refine(isLocale, words('libraries.profile_locale'))),
  phone_number: change(phoneNumberSchema),
  phone_number_verified: z.union([z.null(), z.boolean()]).optional(),
  address: z.union([z.null(), addressPatchSchema]).optional(),
});

/** A change to an account's profile: a value sets a claim, null (or '') removes it, an absent key leaves it. */
export type ProfilePatch = z.input<typeof profilePatchSchema>;

/**
 * The profile after `patch` (already parsed) and the names of the claims that changed
 * (`address.locality` for a part of the address). A new phone number is unverified unless the patch
 * says otherwise; removing it removes phone_number_verified; an address left empty is removed.
 */
export function applyProfilePatch(current: ProfileClaims, patch: z.output<typeof profilePatchSchema>): { profile: ProfileClaims; changed: string[] } {
  const next: Record<string, unknown> = { ...current };
  const { address, ...claims } = patch;
  for (const [claim, value] of Object.entries(claims)) {
    if (value === undefined) continue;
    if (value === null) delete next[claim];
    else next[claim] = value;
  }
  if (claims.phone_number !== undefined && claims.phone_number_verified === undefined && claims.phone_number !== current.phone_number) {
    if (claims.phone_number === null) delete next.phone_number_verified;
    else next.phone_number_verified = false;
  }
  if (next.phone_number_verified !== undefined && next.phone_number === undefined) {
    throw invalidInput([{ path: ['phone_number_verified'], message: message('libraries.profile_phone_verified_without_number') }]);
  }
  if (address !== undefined) {
    const parts: Record<string, unknown> = address === null ? {} : { ...current.address };
    for (const [part, value] of Object.entries(address ?? {})) {
      if (value === undefined) continue;
      if (value === null) delete parts[part];
      else parts[part] = value;
    }
    if (Object.keys(parts).length) next.address = parts;
    else delete next.address;
  }

  const changed: string[] = [];
  const names = new Set([...Object.keys(current), ...Object.keys(next)]);
  for (const name of [...names].sort()) {
    if (name === 'address') {
      const before = (current.address ?? {}) as Record<string, unknown>;
      const after = (next.address ?? {}) as Record<string, unknown>;
      for (const part of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
        if (before[part] !== after[part]) changed.push(`address.${part}`);
      }
    } else if ((current as Record<string, unknown>)[name] !== next[name]) {
      changed.push(name);
    }
  }
  return { profile: next as ProfileClaims, changed };
}

/**
 * Changes an account's profile claims (validated here: profilePatchSchema). Nothing is written when
 * nothing changes; otherwise the store moves the account's updated_at claim, and the change is
 * audited as `profile_updated` with the names of the changed claims (never their values). Two
 * updates at once: the last one written wins.
 */
export async function updateProfile(store: Pick<Store, 'accounts'>, idOrEmail: string, patch: ProfilePatch): Promise<{ account: AccountRecord; changed: string[] }> {
  const parsed = profilePatchSchema.safeParse(patch);
  if (!parsed.success) throw invalidInput(parsed.error.issues);
  const account = await findAccountByIdOrEmail(store, idOrEmail);
  const { profile, changed } = applyProfilePatch(account.profile, parsed.data);
  if (!changed.length) return { account, changed };
  const updated = await store.accounts.update(account.id, { profile });
  if (!updated) throw new GatehouseError('not_found', 'libraries.no_account', { who: idOrEmail });
  return { account: updated, changed };
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
  /**
   * Changes profile claims of the account with this id or email (see updateProfile); audited as
   * `profile_updated` with the changed claims' names when anything changed.
   */
  updateProfile(idOrEmail: string, patch: ProfilePatch, source: AuditSource): Promise<{ account: AccountRecord; changed: string[] }>;
  /** Replaces the account's roles (validated like a new account's); audited as `roles_changed` when they change. */
  setRoles(idOrEmail: string, roles: string[], source: AuditSource): Promise<AccountRecord>;
  /** The claims the account can release. */
  claims(account: AccountRecord): Record<string, unknown>;
};

export function accountsLibrary(deps: Pick<LibraryDependencies, 'store' | 'config' | 'clock' | 'logger'>): AccountsLibrary {
  const { store, clock, logger } = deps;
  const passwords = passwordSettingsFrom(deps.config);
  const audit = (type: string, source: AuditSource, account: AccountRecord, details: Record<string, unknown>) =>
    recordAudit(store.audit, auditEvent(type, source, { accountId: account.id, details }), logger, clock);
  const setDisabled = async (accountId: string, disabled: boolean, source: AuditSource) => {
    const account = await setAccountDisabled(store, accountId, disabled, (id) => endSessions({ store, clock, ...(logger ? { logger } : {}) }, id, { source, reason: 'account_disabled' }));
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
    async updateProfile(idOrEmail, patch, source) {
      const result = await updateProfile(store, idOrEmail, patch);
      if (result.changed.length) await audit('profile_updated', source, result.account, { email: result.account.email, changed: result.changed });
      return result;
    },
    async setRoles(idOrEmail, roles, source) {
      const parsed = newAccountSchema.shape.roles.safeParse(roles);
      if (!parsed.success) throw invalidInput(parsed.error.issues.map((issue) => ({ ...issue, path: ['roles', ...issue.path] })));
      const current = await findAccountByIdOrEmail(store, idOrEmail);
      const next = [...new Set(parsed.data)];
      if (next.length === current.roles.length && next.every((role, index) => role === current.roles[index])) return current;
      const account = await store.accounts.update(current.id, { roles: next });
      if (!account) throw new GatehouseError('not_found', 'libraries.no_account', { who: idOrEmail });
      await audit('roles_changed', source, account, { email: account.email, roles: account.roles, previous: current.roles });
      return account;
    },
    claims: accountClaims,
  };
}

/**
 * An account as operators read it, the same from the CLI (`--json`) and the management API: never
 * a password hash. `profile_updated_at` is when the profile or the email's verification last
 * changed (the updated_at claim apps see).
 */
export function accountRepresentation(account: AccountRecord) {
  return {
    id: account.id,
    email: account.email,
    email_verified: account.emailVerified,
    ...account.profile,
    roles: account.roles,
    disabled: account.disabled,
    created_at: account.createdAt.toISOString(),
    updated_at: account.updatedAt.toISOString(),
    profile_updated_at: account.profileUpdatedAt.toISOString(),
  };
}
