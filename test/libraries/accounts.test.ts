import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  accountClaims, applyProfilePatch, authenticate, createAccount, isBirthdate, isLocale, isTimeZone, passwordSettingsFrom, profilePatchSchema, setAccountDisabled, updateProfile,
} from '../../src/libraries/accounts.ts';
import type { ProfilePatch } from '../../src/libraries/accounts.ts';
import { issuesOf } from '../../src/libraries/validation.ts';
import { checkPassword, dummyHashFor, failureFloorFor, hashCostProblem, hashPassword, passwordHashOptions } from '../../src/libraries/passwords.ts';
import { GatehouseError } from '../../src/errors.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';

let dir: string;
let store: Store;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-accounts-'));
  store = openSqliteStore(join(dir, 'accounts.db'));
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<GatehouseError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(GatehouseError);
  return error as GatehouseError;
}

describe('passwords', () => {
  it('checks an unknown email against a dummy hash made with the configured parameters (same cost as a real one)', async () => {
    const raised = { ...passwordHashOptions, memoryCost: 32_768, timeCost: 3 };
    const dummy = await dummyHashFor(raised);
    expect(dummy).toMatch(/^\$argon2id\$v=19\$m=32768,p=1,t=3\$/);
    expect(argon2.needsRehash(dummy, raised)).toBe(false);
    expect(await dummyHashFor(raised)).toBe(dummy);
    expect(await checkPassword(undefined, 'anything at all', raised)).toEqual({ valid: false, needsRehash: false });
  });

  it('hashes with argon2id at the OWASP parameters and verifies', async () => {
    const hash = await hashPassword('a perfectly fine password');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect((await checkPassword(hash, 'a perfectly fine password')).valid).toBe(true);
    expect((await checkPassword(hash, 'a perfectly fine passworD')).valid).toBe(false);
  });

  it('normalizes Unicode (NFKC) so the same password typed differently matches', async () => {
    const hash = await hashPassword('ﬁne café'); // "ﬁ" ligature, precomposed é
    expect((await checkPassword(hash, 'fine cafe\u0301')).valid).toBe(true);
  });

  it('never verifies against a missing or malformed hash', async () => {
    expect((await checkPassword(null, 'gatehouse-timing-equalizer')).valid).toBe(false);
    expect((await checkPassword('not a hash', 'anything')).valid).toBe(false);
  });
});

describe('accounts', () => {
  it('creates an account with a hashed password and normalized details', async () => {
    const account = await createAccount(store, { email: ' Erin@Example.com ', password: 'erin password 1', name: 'Erin', roles: ['ops', 'ops'] });
    expect(account.email).toBe('Erin@Example.com');
    expect(account.passwordHash).toMatch(/^\$argon2id\$/);
    expect(account.roles).toEqual(['ops']);
    expect(account.emailVerified).toBe(false);
    expect(accountClaims(account)).toMatchObject({ sub: account.id, email: 'Erin@Example.com', name: 'Erin', roles: ['ops'], email_verified: false });
  });

  it('refuses bad input with one readable error', async () => {
    const cases: [Parameters<typeof createAccount>[1], RegExp][] = [
      [{ email: 'not-an-email', password: 'long enough pw' }, /email/],
      [{ email: 'short@example.com', password: 'short' }, /at least 8/],
      [{ email: 'huge@example.com', password: 'é'.repeat(600) }, /1024 bytes/],
      [{ email: 'role@example.com', password: 'long enough pw', roles: ['has space'] }, /roles/],
      [{ email: 'common@example.com', password: 'Password123' }, /^password: /],
      [{ email: 'alice@example.com', password: 'alice2024!' }, /^password: /],
    ];
    for (const [input, message] of cases) {
      const error = await failure(createAccount(store, input));
      expect(error.code).toBe('invalid_input');
      expect(error.message).toMatch(message);
    }
  });

  it('refuses a second account with the same email in another case', async () => {
    await createAccount(store, { email: 'frank@example.com', password: 'frank password' });
    expect((await failure(createAccount(store, { email: 'FRANK@example.com', password: 'frank password' }))).code).toBe('conflict');
  });

  it('authenticates, and fails alike for an unknown email and a wrong password', async () => {
    const account = await createAccount(store, { email: 'gina@example.com', password: 'gina sails at dawn' });
    expect((await authenticate(store, 'GINA@example.com', 'gina sails at dawn')).id).toBe(account.id);
    const wrong = await failure(authenticate(store, 'gina@example.com', 'not gina sails at dawn'));
    const unknown = await failure(authenticate(store, 'nobody@example.com', 'gina sails at dawn'));
    expect([wrong.code, wrong.message]).toEqual([unknown.code, unknown.message]);
    expect(wrong.code).toBe('invalid_credentials');
  });

  it('disabling refuses login and revokes every session and token of the account', async () => {
    const account = await createAccount(store, { email: 'hank@example.com', password: 'hank keeps bees quietly' });
    await store.oidc.model('Session').upsert('s1', { accountId: account.id, uid: 'u1' }, 3600);
    await store.oidc.model('RefreshToken').upsert('r1', { accountId: account.id, grantId: 'g1' }, 3600);
    await store.oidc.model('Session').upsert('s2', { accountId: 'someone-else', uid: 'u2' }, 3600);

    await setAccountDisabled(store, account.id, true);
    expect((await failure(authenticate(store, 'hank@example.com', 'hank keeps bees quietly'))).code).toBe('account_disabled');
    expect(await store.oidc.model('Session').find('s1')).toBeUndefined();
    expect(await store.oidc.model('RefreshToken').find('r1')).toBeUndefined();
    expect(await store.oidc.model('Session').find('s2')).toBeDefined();

    await setAccountDisabled(store, account.id, false);
    expect((await authenticate(store, 'hank@example.com', 'hank keeps bees quietly')).id).toBe(account.id);
  });

  it('rehashes an imported bcrypt hash to argon2id at the first successful login', async () => {
    for (const [email, prefix] of [['bcrypt-b@example.com', '$2b$'], ['bcrypt-y@example.com', '$2y$']] as const) {
      const bcryptHash = (await bcrypt.hash('an old app password', 10)).replace(/^\$2[ab]\$/, prefix);
      const account = await createAccount(store, { email, password: 'placeholder password' });
      await store.accounts.update(account.id, { passwordHash: bcryptHash });

      expect((await failure(authenticate(store, email, 'not the old password'))).code).toBe('invalid_credentials');
      expect((await store.accounts.findById(account.id))?.passwordHash).toBe(bcryptHash); // a failure changes nothing

      const signedIn = await authenticate(store, email, 'an old app password');
      expect(signedIn.passwordHash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
      expect((await store.accounts.findById(account.id))?.passwordHash).toBe(signedIn.passwordHash);
      expect((await authenticate(store, email, 'an old app password')).passwordHash).toBe(signedIn.passwordHash); // no second rehash
    }
  });

  it('rehashes an argon2 hash with weaker parameters than configured', async () => {
    const account = await createAccount(store, { email: 'weak@example.com', password: 'placeholder password' });
    const weak = await argon2.hash('weakly hashed password', { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    await store.accounts.update(account.id, { passwordHash: weak });
    const signedIn = await authenticate(store, 'weak@example.com', 'weakly hashed password');
    expect(signedIn.passwordHash).not.toBe(weak);
    expect(argon2.needsRehash(signedIn.passwordHash!, passwordHashOptions)).toBe(false);

    // argon2i with our very parameters: argon2's needsRehash ignores the type, we do not.
    const other = await createAccount(store, { email: 'argon2i@example.com', password: 'placeholder password' });
    await store.accounts.update(other.id, { passwordHash: await argon2.hash('an argon2i password', { ...passwordHashOptions, type: argon2.argon2i }) });
    expect((await authenticate(store, 'argon2i@example.com', 'an argon2i password')).passwordHash).toMatch(/^\$argon2id\$/);
  });

  it('follows the configured password settings: minimum length and argon2 parameters', async () => {
    const stronger = passwordSettingsFrom({
      passwords: { argon2: { memoryKiB: 32_768, iterations: 3, parallelism: 1 }, minLength: 12, bcryptMaxCost: 12, argon2Max: { memoryKiB: 65_536, memoryKiBTimesIterations: 262_144, parallelism: 16 } },
    });
    const short = await failure(createAccount(store, { email: 'config@example.com', password: 'tiny fox 10' }, stronger));
    expect(short.message).toBe('password: Use at least 12 characters.');

    const account = await createAccount(store, { email: 'config@example.com', password: 'twelve or more words here' }, stronger);
    expect(account.passwordHash).toMatch(/^\$argon2id\$v=19\$m=32768,p=1,t=3\$/);
    // Raising the parameters later upgrades an existing hash at its next login.
    await store.accounts.update(account.id, { passwordHash: await hashPassword('twelve or more words here') });
    expect((await authenticate(store, 'config@example.com', 'twelve or more words here', stronger)).passwordHash).toMatch(/m=32768,p=1,t=3/);
  });

  it('pads every failed sign-in to the measured time of the costliest accepted hash, whatever the account', async () => {
    // Small limits, so that the floor (bcrypt cost 8 or argon2 at 16 MiB, one pass) is quick to reach.
    const settings = passwordSettingsFrom({
      passwords: { argon2: { memoryKiB: 8_192, iterations: 1, parallelism: 1 }, minLength: 8, bcryptMaxCost: 8, argon2Max: { memoryKiB: 16_384, memoryKiBTimesIterations: 16_384, parallelism: 4 } },
    });
    expect(settings.limits).toEqual({ bcryptMaxCost: 8, argon2Max: { memoryKiB: 16_384, memoryKiBTimesIterations: 16_384, parallelism: 4 } });
    const floor = await failureFloorFor(settings.limits);
    expect(failureFloorFor({ ...settings.limits })).toBe(failureFloorFor(settings.limits)); // measured once
    expect(floor).toBeGreaterThan(0);

    const bcryptAccount = await createAccount(store, { email: 'padded-bcrypt@example.com', password: 'placeholder password' }, settings);
    await store.accounts.update(bcryptAccount.id, { passwordHash: await bcrypt.hash('an old app password', 4) });
    await createAccount(store, { email: 'padded-argon2@example.com', password: 'a password of ours' }, settings);
    for (const email of ['padded-bcrypt@example.com', 'padded-argon2@example.com', 'padded-nobody@example.com']) {
      const started = performance.now();
      expect((await failure(authenticate(store, email, 'a wrong password', settings))).code).toBe('invalid_credentials');
      expect(performance.now() - started, email).toBeGreaterThanOrEqual(floor);
    }
    expect((await authenticate(store, 'padded-argon2@example.com', 'a password of ours', settings)).email).toBe('padded-argon2@example.com');
  });

  it('tells which hashes cost more than the limits allow', () => {
    const limits = { bcryptMaxCost: 12, argon2Max: { memoryKiB: 65_536, memoryKiBTimesIterations: 262_144, parallelism: 16 } };
    const argon2Hash = (params: string) => `$argon2id$v=19$${params}$c2FsdHNhbHQ$aGFzaGhhc2g`;
    expect(hashCostProblem(`$2b$12$${'a'.repeat(53)}`, limits)).toBeUndefined();
    expect(hashCostProblem(`$2y$13$${'a'.repeat(53)}`, limits)).toBe('has a bcrypt cost of 13, above the limit of 12 (passwords.bcryptMaxCost)');
    expect(hashCostProblem(argon2Hash('m=65536,t=4,p=16'), limits)).toBeUndefined();
    expect(hashCostProblem(argon2Hash('m=65537,t=1,p=1'), limits)).toMatch(/^has argon2 parameters above the limits: memory 65537 KiB \(at most 65536/);
    expect(hashCostProblem(argon2Hash('p=1,t=5,m=65536'), limits)).toMatch(/^has argon2 parameters above the limits: memory × iterations 327680 \(at most 262144/);
    expect(hashCostProblem('$argon2i$m=4096,t=3,p=17$c2FsdHNhbHQ$aGFzaGhhc2g', limits)).toMatch(/parallelism 17 \(at most 16/);
  });

  it('reports an unknown account when disabling', async () => {
    expect((await failure(setAccountDisabled(store, 'no-such-id', true))).code).toBe('not_found');
  });
});

describe('the profile: updateProfile and its checks', () => {
  /** The problems a patch is refused with, as `claim.path: message`, or [] when it is accepted. */
  const problems = (patch: unknown): string[] => {
    const parsed = profilePatchSchema.safeParse(patch);
    return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  };
  const parse = (patch: ProfilePatch) => profilePatchSchema.parse(patch);

  it('accepts every standard claim in its standard form', () => {
    expect(problems({
      name: 'Alice Liddell', given_name: 'Alice', family_name: 'Liddell', middle_name: 'Pleasance', nickname: 'Al', preferred_username: 'alice@wonderland',
      profile: 'https://alice.example/', picture: 'http://alice.example/me.png', website: 'https://alice.example/blog?x=1', gender: 'non-binary',
      birthdate: '1852-05-04', zoneinfo: 'America/Argentina/Buenos_Aires', locale: 'en-GB', phone_number: '+441865270000', phone_number_verified: true,
      address: { formatted: '1 Rabbit Hole\nOxford', street_address: '1 Rabbit Hole', locality: 'Oxford', region: 'Oxon', postal_code: 'OX1 1DP', country: 'GB' },
    })).toEqual([]);
  });

  it('reads birthdates as YYYY-MM-DD, 0000-MM-DD or YYYY, real dates only', () => {
    for (const good of ['1852-05-04', '2000-02-29', '0000-02-29', '0000-12-31', '1999', '2024-12-31']) expect(isBirthdate(good), good).toBe(true);
    for (const bad of ['1999-02-29', '1852-5-4', '1852-13-01', '1852-00-10', '1852-04-31', '0000', '85', '04/05/1852', '1852-05-04T00:00:00Z', '', '１８５２']) {
      expect(isBirthdate(bad), bad).toBe(false);
    }
    expect(problems({ birthdate: '1852-02-30' })).toEqual(['birthdate: Enter a date as YYYY-MM-DD (0000-MM-DD without the year), or a year as YYYY.']);
  });

  it('reads zoneinfo as an IANA time zone name, never an offset', () => {
    for (const good of ['Europe/Paris', 'UTC', 'America/Argentina/Buenos_Aires', 'Etc/GMT+1', 'America/Port-au-Prince']) expect(isTimeZone(good), good).toBe(true);
    for (const bad of ['Mars/Olympus_Mons', '+01:00', 'GMT+1:00', 'Europe/', '/Paris', 'Europe//Paris', 'Europe/Paris\n', '', '../etc/passwd']) expect(isTimeZone(bad), bad).toBe(false);
  });

  it('reads locale as a BCP 47 language tag (en_US forgiven)', () => {
    for (const good of ['en', 'en-US', 'en_US', 'zh-Hant-TW', 'de-CH-1996', 'fr-CA']) expect(isLocale(good), good).toBe(true);
    for (const bad of ['e', 'english', 'english please', 'en-', '-en', 'en--US', '123', 'en-US\u202E', 'x'.repeat(40)]) expect(isLocale(bad), bad).toBe(false);
  });

  it('takes phone numbers in E.164, dropping the spaces, dashes, dots and brackets people type', () => {
    expect(parse({ phone_number: '+44 (0)1865-270.000' }).phone_number).toBe('+4401865270000');
    expect(parse({ phone_number: '+1 415 555 0123;ext=42' }).phone_number).toBe('+14155550123;ext=42');
    for (const bad of ['01865 270000', '+0441865270000', '+1234567890123456', 'tel:+14155550123', '+1 415 CALL NOW', '+']) {
      expect(problems({ phone_number: bad }), bad).toEqual(['phone_number: Enter the phone number in international format, such as +14155550123.']);
    }
  });

  it('takes only absolute http(s) addresses without credentials for profile, picture and website', () => {
    for (const claim of ['profile', 'picture', 'website']) {
      for (const bad of ['javascript:alert(1)', 'data:image/png;base64,AAAA', 'ftp://alice.example/', '/me.png', 'https://user:pw@alice.example/', 'https://alice.example/a b', 'alice.example']) {
        expect(problems({ [claim]: bad }), `${claim} ${bad}`).toEqual([`${claim}: Enter a web address starting with http:// or https://.`]);
      }
    }
    expect(problems({ picture: `https://alice.example/${'a'.repeat(2100)}` })).toEqual(['picture: Use at most 2048 characters.']);
  });

  it('refuses control characters, bidi overrides and line breaks in text, and bounds its length', () => {
    for (const bad of ['Alice\u0000', 'Alice\u001b[31m', '\u202Eecila', 'Al\u2066ice', 'Alice\u200F', 'Alice\nLiddell', 'Alice\u0085']) {
      expect(problems({ name: bad }), JSON.stringify(bad)).toEqual(['name: Remove the hidden control characters (such as tabs).']);
    }
    expect(problems({ nickname: 'n'.repeat(201) })).toEqual(['nickname: Use at most 200 characters.']);
    expect(problems({ gender: 'g'.repeat(65) })).toEqual(['gender: Use at most 64 characters.']);
    expect(problems({ address: { postal_code: '1'.repeat(21) } })).toEqual(['address.postal_code: Use at most 20 characters.']);
  });

  it('lets an address keep its lines (a few, without control characters), normalising line breaks', () => {
    expect(parse({ address: { formatted: ' 1 Rabbit Hole \r\n\r\n Oxford\rUK ' } }).address).toEqual({ formatted: '1 Rabbit Hole\nOxford\nUK' });
    expect(problems({ address: { street_address: 'a\nb\nc\nd' } })).toEqual(['address.street_address: Use at most 3 lines.']);
    expect(problems({ address: { formatted: 'a\tb' } })).toEqual(['address.formatted: Remove the hidden control characters (such as tabs).']);
    expect(problems({ address: { locality: 'Ox\nford' } })).toEqual(['address.locality: Remove the hidden control characters (such as tabs).']);
  });

  it('refuses what is not a profile claim, and values of the wrong type', () => {
    expect(problems({ email: 'eve@example.com' })).toHaveLength(1);
    expect(problems({ updated_at: 1 })).toHaveLength(1);
    expect(problems({ address: { planet: 'Mars' } })).toHaveLength(1);
    expect(problems({ phone_number_verified: 'yes' })).toHaveLength(1);
    expect(problems({ name: 42 })).toHaveLength(1);
    expect(problems({ address: 'Oxford' })).toHaveLength(1);
  });

  it('applies a patch: sets, removes with null or empty text, merges the address, and names what changed', () => {
    const current = { name: 'Alice', nickname: 'Al', address: { locality: 'Oxford', country: 'UK' } };
    expect(applyProfilePatch(current, parse({ name: 'Alice Liddell', nickname: '', address: { locality: ' ', postal_code: 'OX1 1DP' } }))).toEqual({
      profile: { name: 'Alice Liddell', address: { country: 'UK', postal_code: 'OX1 1DP' } },
      changed: ['address.locality', 'address.postal_code', 'name', 'nickname'],
    });
    expect(applyProfilePatch(current, parse({ name: 'Alice', nickname: 'Al' }))).toEqual({ profile: current, changed: [] });
    expect(applyProfilePatch(current, parse({ address: null })).profile).toEqual({ name: 'Alice', nickname: 'Al' });
    expect(applyProfilePatch(current, parse({ address: { locality: null, country: '' } })).profile).toEqual({ name: 'Alice', nickname: 'Al' });
    expect(applyProfilePatch({}, parse({})).changed).toEqual([]);
  });

  it('keeps phone_number_verified with its number: a new number is unverified, no number no verification', () => {
    const verified = { phone_number: '+441865270000', phone_number_verified: true };
    expect(applyProfilePatch(verified, parse({ phone_number: '+441865270001' })).profile).toEqual({ phone_number: '+441865270001', phone_number_verified: false });
    expect(applyProfilePatch(verified, parse({ phone_number: '+44 1865 270000' })).changed).toEqual([]);
    expect(applyProfilePatch(verified, parse({ phone_number: '+441865270001', phone_number_verified: true })).profile).toEqual({ phone_number: '+441865270001', phone_number_verified: true });
    expect(applyProfilePatch(verified, parse({ phone_number: '' })).profile).toEqual({});
    expect(applyProfilePatch(verified, parse({ phone_number_verified: null })).profile).toEqual({ phone_number: '+441865270000' });
    const refusal = (() => {
      try {
        applyProfilePatch({}, parse({ phone_number_verified: true }));
      } catch (error) {
        return issuesOf(error);
      }
      return undefined;
    })();
    expect(refusal).toEqual([{ path: ['phone_number_verified'], message: 'Enter a phone number before marking it as verified.' }]);
  });

  it('updates the stored account by id or email, writes nothing when nothing changes, and refuses bad input or an unknown account', async () => {
    const account = await createAccount(store, { email: 'grace@example.com', password: 'grace password 1', name: 'Grace' });
    const { account: updated, changed } = await updateProfile(store, 'Grace@Example.com', { locale: 'en-US', address: { country: 'US' } });
    expect(changed).toEqual(['address.country', 'locale']);
    expect(updated.profile).toEqual({ name: 'Grace', locale: 'en-US', address: { country: 'US' } });
    expect(updated.profileUpdatedAt.getTime()).toBeGreaterThanOrEqual(account.profileUpdatedAt.getTime());
    expect(accountClaims(updated)).toMatchObject({ locale: 'en-US', address: { country: 'US' }, updated_at: Math.floor(updated.profileUpdatedAt.getTime() / 1000) });

    const again = await updateProfile(store, account.id, { locale: 'en-US' });
    expect(again).toEqual({ account: updated, changed: [] });

    const refused = await failure(updateProfile(store, account.id, { birthdate: 'yesterday', website: 'ftp://x' }));
    expect(refused.code).toBe('invalid_input');
    expect(issuesOf(refused)?.map((issue) => issue.path.join('.'))).toEqual(['website', 'birthdate']);
    expect((await failure(updateProfile(store, 'nobody@example.com', { name: 'X' }))).code).toBe('not_found');
    expect((await store.accounts.findById(account.id))?.profile).toEqual(updated.profile);
  });

  it('releases no empty claim and no phone_number_verified without a number, whatever is stored', async () => {
    const account = await createAccount(store, { email: 'heidi@example.com', password: 'heidi password 1' });
    const odd = await store.accounts.update(account.id, { profile: { name: '', phone_number_verified: true } });
    const claims = accountClaims(odd!);
    expect(claims).not.toHaveProperty('name');
    expect(claims).not.toHaveProperty('phone_number_verified');
  });
});
