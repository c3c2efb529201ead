import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { importJWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GatehouseError } from '../../src/errors.ts';
import { loadSigningKeys, signingAlgorithms } from '../../src/keys/key-ring.ts';
import type { PrivateJwk } from '../../src/keys/key-ring.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { SigningKeyRecord, Store } from '../../src/store/types.ts';

const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

let dir: string;
let path: string;
let store: Store;
const encryptionKey = randomBytes(32);
let ringBefore: SigningKeyRecord[];
let first: PrivateJwk[];
let second: PrivateJwk[];
let stored: SigningKeyRecord[];

// Generating an RSA key takes a moment: do it once and look at the result from several sides.
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-keys-'));
  path = join(dir, 'gatehouse.db');
  store = openSqliteStore(path);
  ringBefore = await store.signingKeys.list();
  first = (await loadSigningKeys(store.signingKeys, encryptionKey)).keys;
  second = (await loadSigningKeys(store.signingKeys, encryptionKey)).keys;
  stored = await store.signingKeys.list();
});

afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

function storedKey(kid: string): SigningKeyRecord {
  const record = stored.find((key) => key.kid === kid);
  if (!record) throw new Error(`no stored key ${kid}`);
  return record;
}

describe('loadSigningKeys', () => {
  it('creates one RS256 and one ES256 key in an empty store', () => {
    expect(ringBefore).toEqual([]);
    expect(first.map((key) => [key.alg, key.kty])).toEqual([['RS256', 'RSA'], ['ES256', 'EC']]);
    expect(first[1]?.crv).toBe('P-256');
    expect(signingAlgorithms).toEqual(['RS256', 'ES256']);
    for (const key of first) {
      expect(key.use).toBe('sig');
      expect(typeof key.kid).toBe('string');
      expect(typeof key.d).toBe('string');
    }
    expect(new Set(first.map((key) => key.kid)).size).toBe(2);
  });

  it('stores exactly those keys, current and sealed', () => {
    expect(stored).toHaveLength(2);
    expect(stored.map((key) => key.kid).sort()).toEqual(first.map((key) => key.kid).sort());
    for (const record of stored) {
      expect(record.state).toBe('current');
      expect(record.encryptedPrivateJwk.startsWith('v1.')).toBe(true);
      expect(record.alg).toBe(first.find((key) => key.kid === record.kid)?.alg);
    }
  });

  it('returns the same keys on a second call instead of generating new ones', () => {
    expect(second.map((key) => key.kid)).toEqual(first.map((key) => key.kid));
    expect(second).toEqual(first);
  });

  it('returns the same keys from a reopened store', async () => {
    const reopened = openSqliteStore(path);
    try {
      const { keys } = await loadSigningKeys(reopened.signingKeys, encryptionKey);
      expect(keys.map((key) => key.kid)).toEqual(first.map((key) => key.kid));
    } finally {
      await reopened.close();
    }
  });

  it('fails with a GatehouseError when the stored keys were sealed with another encryption key', async () => {
    const error = await loadSigningKeys(store.signingKeys, randomBytes(32)).then(
      () => new Error('loadSigningKeys resolved'),
      (rejected: unknown) => rejected,
    );
    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).code).toBe('invalid_config');
  });

  it('publishes public JWKs without any private member', () => {
    for (const record of stored) {
      for (const member of privateMembers) expect(record.publicJwk, `${record.alg} ${member}`).not.toHaveProperty(member);
      expect(record.publicJwk).toMatchObject({ kid: record.kid, alg: record.alg, use: 'sig' });
    }
    const rsa = storedKey(first[0]!.kid).publicJwk;
    expect(rsa).toMatchObject({ kty: 'RSA', n: first[0]!.n, e: first[0]!.e });
    const ec = storedKey(first[1]!.kid).publicJwk;
    expect(ec).toMatchObject({ kty: 'EC', crv: 'P-256', x: first[1]!.x, y: first[1]!.y });
  });

  it('never writes the private key material to the signing_keys rows', () => {
    const db = new DatabaseSync(path);
    let rows: string;
    try {
      rows = JSON.stringify(db.prepare('SELECT * FROM signing_keys').all());
    } finally {
      db.close();
    }
    expect(rows).toContain(first[0]!.kid);
    for (const key of first) expect(rows).not.toContain(key.d as string);
  });

  it('never writes the private key material to the database files', async () => {
    // Closing checkpoints the WAL into the main file; read any -wal/-shm left as well.
    await store.close();
    const bytes = Buffer.concat(['', '-wal', '-shm'].map((suffix) => `${path}${suffix}`).filter(existsSync).map((file) => readFileSync(file)));

    // The public modulus is there, so the search itself works.
    expect(bytes.includes(Buffer.from(first[0]!.n as string))).toBe(true);
    for (const key of first) {
      const d = key.d as string;
      expect(bytes.includes(Buffer.from(d)), `${key.alg} d as text`).toBe(false);
      expect(bytes.includes(Buffer.from(d, 'base64url')), `${key.alg} d as bytes`).toBe(false);
    }
    store = openSqliteStore(path);
  });

  it.each(signingAlgorithms.map((alg) => [alg]))('signs an %s token that verifies with the stored public JWK', async (alg) => {
    const privateJwk = first.find((key) => key.alg === alg)!;
    const token = await new SignJWT({ sub: 'acct-alice' })
      .setProtectedHeader({ alg, kid: privateJwk.kid })
      .setIssuer('https://id.example.test')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(await importJWK(privateJwk, alg));

    const { payload, protectedHeader } = await jwtVerify(token, await importJWK(storedKey(privateJwk.kid).publicJwk, alg), {
      issuer: 'https://id.example.test',
    });
    expect(payload.sub).toBe('acct-alice');
    expect(protectedHeader.kid).toBe(privateJwk.kid);

    // And not with the other algorithm's key: verification really checks the signature.
    const other = stored.find((key) => key.alg !== alg)!;
    await expect(jwtVerify(token, await importJWK(other.publicJwk, other.alg))).rejects.toThrow();
  });
});
