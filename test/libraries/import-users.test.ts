import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import argon2 from 'argon2';
import bcrypt from 'bcryptjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createAccount } from '../../src/libraries/accounts.ts';
import { importSummary, importUsers, maxImportBytes, readImportFile } from '../../src/libraries/import-users.ts';
import { checkPassword, hashLimitsFrom } from '../../src/libraries/passwords.ts';
import { GatehouseError } from '../../src/errors.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { AccountRecord, Store } from '../../src/store/types.ts';
import { caught } from '../helpers/caught.ts';

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let dir: string;
let store: Store;
let bcryptHash: string;
let argon2Hash: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-import-'));
  // Real hashes as another app would have stored them: bcrypt (PHP's $2y$ is derived below) and
  // argon2id with other parameters than ours.
  bcryptHash = bcrypt.hashSync('old bcrypt password', 4);
  argon2Hash = await argon2.hash('old argon2 password', { type: argon2.argon2id, memoryCost: 8192, timeCost: 1, parallelism: 1 });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let count = 0;
beforeEach(() => {
  count += 1;
  store = openSqliteStore(join(dir, `import-${count}.db`));
});

afterEach(async () => {
  await store.close();
});

const jsonl = (...rows: unknown[]) => rows.map((row) => (typeof row === 'string' ? row : JSON.stringify(row))).join('\n');

async function snapshot(): Promise<{ accounts: AccountRecord[]; audit: unknown[] }> {
  return { accounts: await store.accounts.list(), audit: await store.audit.tail({ limit: 100 }) };
}

describe('importUsers', () => {
  it('imports valid lines with their hashes, profile and de-duplicated roles, and records one audit event', async () => {
    const file = jsonl(
      { email: 'Bea@Example.com', name: 'Bea Bcrypt', given_name: 'Bea', family_name: 'Bcrypt', email_verified: true, password_hash: bcryptHash, roles: ['admin', 'ops', 'admin'] },
      { email: 'ari@example.com', password_hash: argon2Hash },
      { email: 'nopass@example.com', name: '  No Password  ' },
      { email: 'phpuser@example.com', password_hash: bcryptHash.replace(/^\$2b\$/, '$2y$') },
      { email: 'nullhash@example.com', password_hash: null },
    );
    const result = await importUsers(store, file, { dryRun: false });
    expect(result).toEqual({ imported: 5, unchanged: 0, errors: [], duplicates: [] });

    const bea = await store.accounts.findByEmail('bea@example.com');
    expect(bea).toMatchObject({
      email: 'Bea@Example.com',
      passwordHash: bcryptHash,
      emailVerified: true,
      profile: { name: 'Bea Bcrypt', given_name: 'Bea', family_name: 'Bcrypt' },
      roles: ['admin', 'ops'],
      disabled: false,
    });
    expect(bea!.id).toMatch(uuid);
    expect(await checkPassword(bea!.passwordHash, 'old bcrypt password')).toEqual({ valid: true, needsRehash: true });

    const ari = await store.accounts.findByEmail('ari@example.com');
    expect(ari).toMatchObject({ passwordHash: argon2Hash, emailVerified: false, profile: {}, roles: [], disabled: false });
    expect(await checkPassword(ari!.passwordHash, 'old argon2 password')).toEqual({ valid: true, needsRehash: true });

    const php = await store.accounts.findByEmail('phpuser@example.com');
    expect(php!.passwordHash).toMatch(/^\$2y\$/);
    expect((await checkPassword(php!.passwordHash, 'old bcrypt password')).valid).toBe(true);

    expect(await store.accounts.findByEmail('nopass@example.com')).toMatchObject({ passwordHash: null, profile: { name: 'No Password' } });
    expect((await store.accounts.findByEmail('nullhash@example.com'))!.passwordHash).toBeNull();
    const ids = (await store.accounts.list()).map((account) => account.id);
    expect(new Set(ids).size).toBe(5);

    const events = await store.audit.tail({ limit: 10 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'users_imported', actor: 'cli', details: { imported: 5, unchanged: 0, errors: 0, duplicates: 0 } });
    expect(Object.keys(events[0]!.details).sort()).toEqual(['duplicates', 'errors', 'imported', 'unchanged']);
    expect(JSON.stringify(events)).not.toMatch(/@|\$2[aby]\$|\$argon2/);
  });

  it('reports every kind of bad line with its 1-based number, skips blank lines, and imports the rest', async () => {
    const lines = [
      /* 1 */ '\uFEFF' + JSON.stringify({ email: 'first@example.com' }),
      /* 2 */ '',
      /* 3 */ `{"email": "broken@example.com", "password_hash": "${bcryptHash}"`,
      /* 4 */ JSON.stringify({ email: 'typo@example.com', pasword_hash: bcryptHash }),
      /* 5 */ JSON.stringify({ email: 'not-an-email' }),
      /* 6 */ JSON.stringify({ email: 'role@example.com', roles: ['has space'] }),
      /* 7 */ JSON.stringify({ email: 'md5@example.com', password_hash: '$1$saltsalt$qjXMvbEw8oaL.CzflDugX/' }),
      /* 8 */ JSON.stringify({ email: 'plain@example.com', password_hash: 'hunter2hunter2' }),
      /* 9 */ JSON.stringify({ email: 'fakeargon@example.com', password_hash: '$argon2id$garbage' }),
      /* 10 */ JSON.stringify({ email: 'cost@example.com', password_hash: bcryptHash.replace(/^\$2b\$04\$/, '$2b$99$') }),
      /* 11 */ JSON.stringify({ email: 'verified@example.com', email_verified: 'yes' }),
      /* 12 */ '   ',
      /* 13 */ JSON.stringify([{ email: 'array@example.com' }]),
      /* 14 */ 'null',
      /* 15 */ JSON.stringify({ email: 'noname@example.com', name: '' }),
      /* 16 */ JSON.stringify({ name: 'Nobody' }),
      /* 17 */ JSON.stringify({ email: 'last@example.com', password_hash: argon2Hash }),
    ];
    const result = await importUsers(store, lines.join('\r\n'), { dryRun: false });
    expect(result.imported).toBe(2);
    expect(result.duplicates).toEqual([]);
    expect(result.errors.map((error) => error.line)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16]);
    const message = (line: number) => result.errors.find((error) => error.line === line)!.message;
    expect(message(3)).toMatch(/^invalid JSON at column \d+$/);
    expect(message(4)).toMatch(/Unrecognized key.*pasword_hash/);
    expect(message(5)).toBe('email: Enter a valid email address.');
    expect(message(6)).toMatch(/^roles\.0: roles are 1-64/);
    expect(message(7)).toMatch(/^password_hash: is not a supported hash/);
    expect(message(8)).toMatch(/^password_hash: is not a supported hash/);
    expect(message(9)).toBe('password_hash: is not a well-formed argon2 hash');
    expect(message(10)).toBe('password_hash: has a bcrypt cost outside 4-31');
    expect(message(11)).toMatch(/^email_verified: /);
    expect(message(13)).toMatch(/expected object/);
    expect(message(14)).toMatch(/expected object/);
    expect(message(15)).toMatch(/^name: /);
    expect(message(16)).toMatch(/^email: /);
    // Nothing of a hash is echoed back, not even from a line that is not JSON.
    expect(JSON.stringify(result.errors)).not.toContain(bcryptHash.slice(7));

    expect((await store.accounts.list()).map((account) => account.email)).toEqual(['first@example.com', 'last@example.com']);
    const [event] = await store.audit.tail({ limit: 10 });
    expect(event!.details).toEqual({ imported: 2, unchanged: 0, errors: 13, duplicates: 0 });
  });

  it('reports the second and later lines of an email as duplicates (case-insensitively); the first wins', async () => {
    const file = jsonl(
      { email: 'dup@example.com', name: 'First' },
      { email: 'other@example.com' },
      { email: 'DUP@example.com', name: 'Second' },
      { email: ' dup@EXAMPLE.com ', name: 'Third', unknown: true },
      // A broken first line still claims its email: the later record is not imported in its place.
      { email: 'broken@example.com', roles: 'admin' },
      { email: 'Broken@example.com' },
    );
    const result = await importUsers(store, file, { dryRun: false });
    expect(result).toEqual({
      imported: 2,
      unchanged: 0,
      errors: [{ line: 5, message: expect.stringMatching(/^roles: /) }],
      duplicates: [{ line: 3, email: 'DUP@example.com' }, { line: 4, email: 'dup@EXAMPLE.com' }, { line: 6, email: 'Broken@example.com' }],
    });
    expect((await store.accounts.findByEmail('dup@example.com'))!.profile).toEqual({ name: 'First' });
    expect(await store.accounts.findByEmail('broken@example.com')).toBeUndefined();
    expect((await store.audit.tail({ limit: 10 }))[0]!.details).toEqual({ imported: 2, unchanged: 0, errors: 1, duplicates: 3 });
  });

  it('changes nothing when the same file is imported again', async () => {
    const file = jsonl(
      { email: 'again@example.com', name: 'Again', email_verified: true, password_hash: bcryptHash, roles: ['b', 'a', 'b'] },
      { email: 'argon@example.com', password_hash: argon2Hash, given_name: 'Argon' },
      { email: 'nohash@example.com' },
    );
    expect(await importUsers(store, file, { dryRun: false })).toEqual({ imported: 3, unchanged: 0, errors: [], duplicates: [] });
    const before = await store.accounts.list();
    // The same users with the emails in another case, and the roles in another order.
    const rerun = file.replace('again@example.com', 'AGAIN@example.com').replace('["b","a","b"]', '["a","b"]');
    expect(await importUsers(store, rerun, { dryRun: false })).toEqual({ imported: 0, unchanged: 3, errors: [], duplicates: [] });
    expect(await importUsers(store, file, { dryRun: false })).toEqual({ imported: 0, unchanged: 3, errors: [], duplicates: [] });
    expect(await store.accounts.list()).toEqual(before);
    expect((await store.audit.tail({ limit: 10 })).map((event) => event.details)).toEqual([
      { imported: 3, unchanged: 0, errors: 0, duplicates: 0 },
      { imported: 0, unchanged: 3, errors: 0, duplicates: 0 },
      { imported: 0, unchanged: 3, errors: 0, duplicates: 0 },
    ]);
  });

  it('leaves an existing account with other details alone, and says which fields differ', async () => {
    const live = await createAccount(store, { email: 'Live@Example.com', password: 'the live password', name: 'Live User', roles: ['staff'] });
    const rehashed = await importUsers(store, jsonl({ email: 'live@example.com', name: 'Live User', password_hash: bcryptHash, roles: ['staff'] }), { dryRun: false });
    expect(rehashed).toEqual({ imported: 0, unchanged: 0, errors: [{ line: 1, message: 'live@example.com already exists with different details (password_hash); left unchanged' }], duplicates: [] });

    const file = jsonl(
      { email: 'new@example.com' },
      { email: 'LIVE@example.com', name: 'Impostor', email_verified: true, password_hash: live.passwordHash, roles: ['admin'] },
    );
    const result = await importUsers(store, file, { dryRun: false });
    expect(result.imported).toBe(1);
    expect(result.errors).toEqual([{ line: 2, message: 'LIVE@example.com already exists with different details (email_verified, name, roles); left unchanged' }]);
    expect(await store.accounts.findById(live.id)).toEqual(live);
    expect((await checkPassword((await store.accounts.findById(live.id))!.passwordHash, 'the live password')).valid).toBe(true);

    // Exactly the live account's details: unchanged, not an error.
    const same = await importUsers(store, jsonl({ email: 'live@example.com', name: 'Live User', password_hash: live.passwordHash, roles: ['staff'] }), { dryRun: false });
    expect(same).toEqual({ imported: 0, unchanged: 1, errors: [], duplicates: [] });
  });

  it('reports an account created by someone else between the check and the write', async () => {
    // A store that does not see the account another process just created.
    // (A proxy rather than a spread: the store's methods need not be own properties.)
    const accounts = new Proxy(store.accounts, { get: (target, property) => (property === 'findByEmail' ? async () => undefined : Reflect.get(target, property)) });
    const racing: Pick<Store, 'accounts' | 'audit'> = { audit: store.audit, accounts };
    const theirs = await createAccount(store, { email: 'race@example.com', password: 'first writer wins' });
    const result = await importUsers(racing, jsonl({ email: 'race@example.com', password_hash: bcryptHash }), { dryRun: false });
    expect(result).toEqual({ imported: 0, unchanged: 0, errors: [{ line: 1, message: 'race@example.com already exists (created meanwhile); left unchanged' }], duplicates: [] });
    expect(await store.accounts.findByEmail('race@example.com')).toEqual(theirs);
  });

  it('writes nothing in a dry run, and reports exactly what the real run then does', async () => {
    await createAccount(store, { email: 'existing@example.com', password: 'an existing password' });
    const file = jsonl(
      { email: 'one@example.com', password_hash: bcryptHash },
      { email: 'two@example.com', password_hash: argon2Hash },
      { email: 'existing@example.com', password_hash: bcryptHash },
      { email: 'ONE@example.com' },
      '{not json',
    );
    const before = await snapshot();
    const dry = await importUsers(store, file, { dryRun: true });
    expect(dry).toEqual({
      imported: 2,
      unchanged: 0,
      errors: [{ line: 3, message: expect.stringMatching(/already exists with different details/) }, { line: 5, message: expect.stringMatching(/^invalid JSON/) }],
      duplicates: [{ line: 4, email: 'ONE@example.com' }],
    });
    expect(await snapshot()).toEqual(before);

    expect(await importUsers(store, file, { dryRun: false })).toEqual(dry);
    expect(await store.accounts.list()).toHaveLength(3);
    // Once imported, a dry run of the same file reports them unchanged.
    const after = await snapshot();
    expect(await importUsers(store, file, { dryRun: true })).toMatchObject({ imported: 0, unchanged: 2 });
    expect(await snapshot()).toEqual(after);
  });
});

describe('importUsers and costly hashes', () => {
  // Well-formed hashes with the parameters under test (nothing verifies them here).
  const bcryptAt = (cost: number) => bcryptHash.replace(/^\$2b\$04\$/, `$2b$${String(cost).padStart(2, '0')}$`);
  const argon2With = (params: string) => `$argon2id$v=19$${params}$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA`;

  it('refuses, one line each, a bcrypt cost or argon2 parameters above the default limits', async () => {
    const result = await importUsers(store, jsonl(
      { email: 'cost12@example.com', password_hash: bcryptAt(12) },
      { email: 'cost13@example.com', password_hash: bcryptAt(13) },
      { email: 'php15@example.com', password_hash: bcryptAt(15).replace(/^\$2b\$/, '$2y$') },
      { email: 'rfc-second@example.com', password_hash: argon2With('m=65536,t=4,p=4') },
      { email: 'keycloak@example.com', password_hash: argon2With('m=7168,t=5,p=1') },
      { email: 'two-gib@example.com', password_hash: argon2With('m=2097152,t=1,p=4') },
      { email: 'many-passes@example.com', password_hash: argon2With('t=40,m=8192,p=1') },
      { email: 'many-lanes@example.com', password_hash: argon2With('m=65536,t=1,p=1000') },
    ), { dryRun: false });
    expect(result.imported).toBe(3);
    expect(result.errors).toEqual([
      { line: 2, message: 'password_hash: has a bcrypt cost of 13, above the limit of 12 (passwords.bcryptMaxCost)' },
      { line: 3, message: 'password_hash: has a bcrypt cost of 15, above the limit of 12 (passwords.bcryptMaxCost)' },
      {
        line: 6,
        message: 'password_hash: has argon2 parameters above the limits: memory 2097152 KiB (at most 65536, passwords.argon2Max.memoryKiB) '
          + 'and memory × iterations 2097152 (at most 262144, passwords.argon2Max.memoryKiBTimesIterations)',
      },
      { line: 7, message: 'password_hash: has argon2 parameters above the limits: memory × iterations 327680 (at most 262144, passwords.argon2Max.memoryKiBTimesIterations)' },
      { line: 8, message: 'password_hash: has argon2 parameters above the limits: parallelism 1000 (at most 16, passwords.argon2Max.parallelism)' },
    ]);
    expect((await store.accounts.list()).map((account) => account.email).sort()).toEqual(['cost12@example.com', 'keycloak@example.com', 'rfc-second@example.com']);
  });

  it('follows the configured limits, which always cover the argon2 parameters Gatehouse hashes with itself', async () => {
    const limits = hashLimitsFrom({
      argon2: { memoryKiB: 131_072, iterations: 3, parallelism: 1 },
      bcryptMaxCost: 13,
      argon2Max: { memoryKiB: 65_536, memoryKiBTimesIterations: 262_144, parallelism: 16 },
    });
    expect(limits).toEqual({ bcryptMaxCost: 13, argon2Max: { memoryKiB: 131_072, memoryKiBTimesIterations: 393_216, parallelism: 16 } });
    const result = await importUsers(store, jsonl(
      { email: 'cost13@example.com', password_hash: bcryptAt(13) },
      { email: 'cost14@example.com', password_hash: bcryptAt(14) },
      { email: 'ours@example.com', password_hash: argon2With('m=131072,t=3,p=1') },
    ), { dryRun: true, limits });
    expect(result).toMatchObject({ imported: 2, errors: [{ line: 2, message: 'password_hash: has a bcrypt cost of 14, above the limit of 13 (passwords.bcryptMaxCost)' }] });
  });
});

describe('importSummary', () => {
  it('prints the counts, then one line per problem in line order', () => {
    const result = { imported: 3, unchanged: 1, errors: [{ line: 4, message: 'invalid JSON' }, { line: 9, message: 'email: Enter a valid email address.' }], duplicates: [{ line: 6, email: 'a@example.com' }] };
    expect(importSummary(result, { dryRun: false })).toBe([
      'imported 3, unchanged 1, 2 errors, 1 duplicate',
      'line 4: invalid JSON',
      'line 6: duplicate of an earlier line\'s email a@example.com; skipped',
      'line 9: email: Enter a valid email address.',
    ].join('\n'));
    expect(importSummary({ imported: 1, unchanged: 0, errors: [], duplicates: [] }, { dryRun: true })).toBe('dry run, nothing written: would import 1, unchanged 0, 0 errors, 0 duplicates');
  });
});

describe('readImportFile', () => {
  it('reads UTF-8 text and refuses what is missing, too large or not text', () => {
    const good = join(dir, 'users.jsonl');
    writeFileSync(good, '{"email": "zoë@example.com"}\n');
    expect(readImportFile(good)).toBe('{"email": "zoë@example.com"}\n');

    const missing = caught(() => readImportFile(join(dir, 'missing.jsonl')));
    expect(missing).toBeInstanceOf(GatehouseError);
    expect(missing).toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/^cannot read .*missing\.jsonl: ENOENT/) });

    const huge = join(dir, 'huge.jsonl');
    writeFileSync(huge, '');
    truncateSync(huge, maxImportBytes + 1); // sparse: no 50 MB written
    expect(caught(() => readImportFile(huge))).toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/larger than the limit of 50 MB/) });
    truncateSync(huge, maxImportBytes);
    expect(readImportFile(huge)).toHaveLength(maxImportBytes);

    const binary = join(dir, 'binary.jsonl');
    writeFileSync(binary, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expect(caught(() => readImportFile(binary))).toMatchObject({ code: 'invalid_input', message: expect.stringMatching(/not UTF-8/) });
  });
});
