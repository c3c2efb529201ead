import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { importJWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GatehouseError } from '../../src/errors.ts';
import { advanceRing, importIntoRing, providerJwks, publicJwks, revokeFromRing, rotateRing, signingAlgorithms } from '../../src/keys/key-ring.ts';
import type { PrivateJwk } from '../../src/keys/key-ring.ts';
import type { Schedule } from '../../src/keys/rotation.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { KeyRing, Store } from '../../src/store/types.ts';

const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const schedule: Schedule = { jwksCacheSeconds: 900, rotationIntervalSeconds: 90 * 86_400, maxTokenLifetimeSeconds: 86_400, marginSeconds: 300 };

let dir: string;
let path: string;
let store: Store;
const encryptionKey = randomBytes(32);
let first: KeyRing;
let firstJwks: PrivateJwk[];

// Generating an RSA key takes a moment: do it once and look at the result from several sides.
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gatehouse-keys-'));
  path = join(dir, 'gatehouse.db');
  store = openSqliteStore(path);
  first = (await advanceRing(store.signingKeys, encryptionKey, schedule)).ring;
  firstJwks = providerJwks(first, encryptionKey).keys;
});

afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<GatehouseError> {
  const error = await promise.then(() => new Error('expected a rejection'), (rejected: unknown) => rejected);
  expect(error).toBeInstanceOf(GatehouseError);
  return error as GatehouseError;
}

describe('the key ring on an empty store', () => {
  it('creates one current RS256, ES256 and EdDSA key, RS256 first', () => {
    expect(first.version).toBe(1);
    expect(first.keys.map((key) => [key.alg, key.state])).toEqual([['RS256', 'current'], ['ES256', 'current'], ['EdDSA', 'current']]);
    expect(firstJwks.map((key) => [key.alg, key.kty])).toEqual([['RS256', 'RSA'], ['ES256', 'EC'], ['EdDSA', 'OKP']]);
    expect(signingAlgorithms).toEqual(['RS256', 'ES256', 'EdDSA']);
    for (const key of firstJwks) {
      expect(key.use).toBe('sig');
      expect(typeof key.d).toBe('string');
    }
    for (const key of first.keys) expect(key.encryptedPrivateJwk.startsWith('v1.')).toBe(true);
  });

  it('changes nothing when advanced again before anything is due', async () => {
    const again = await advanceRing(store.signingKeys, encryptionKey, schedule);
    expect(again.changes).toEqual([]);
    expect(again.ring).toEqual(first);
  });

  it('cannot be read with another encryption key', () => {
    let error: unknown;
    try {
      providerJwks(first, randomBytes(32));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).code).toBe('invalid_config');
  });

  it('publishes public JWKs without any private member', () => {
    const { keys } = publicJwks(first);
    expect(keys).toHaveLength(3);
    for (const key of keys) {
      for (const member of privateMembers) expect(key).not.toHaveProperty(member);
      expect(key).toMatchObject({ use: 'sig' });
    }
  });

  it('never writes the private key material to the database files', async () => {
    // Closing checkpoints the WAL into the main file; read any -wal/-shm left as well.
    await store.close();
    const bytes = Buffer.concat(['', '-wal', '-shm'].map((suffix) => `${path}${suffix}`).filter(existsSync).map((file) => readFileSync(file)));
    store = openSqliteStore(path);

    expect(bytes.includes(Buffer.from(firstJwks[0]!.n as string))).toBe(true); // the search works
    for (const key of firstJwks) {
      const d = key.d as string;
      expect(bytes.includes(Buffer.from(d)), `${key.alg} d as text`).toBe(false);
      expect(bytes.includes(Buffer.from(d, 'base64url')), `${key.alg} d as bytes`).toBe(false);
    }
  });

  it.each(signingAlgorithms.map((alg) => [alg]))('signs an %s token that verifies with the published key', async (alg) => {
    const privateJwk = firstJwks.find((key) => key.alg === alg)!;
    const token = await new SignJWT({ sub: 'acct-alice' }).setProtectedHeader({ alg, kid: privateJwk.kid }).setIssuedAt().setExpirationTime('5m').sign(await importJWK(privateJwk, alg));
    const published = publicJwks(first).keys.find((key) => key.kid === privateJwk.kid)!;
    expect((await jwtVerify(token, await importJWK(published, alg))).payload.sub).toBe('acct-alice');
    const other = publicJwks(first).keys.find((key) => key.alg !== alg)!;
    await expect(jwtVerify(token, await importJWK(other, String(other.alg)))).rejects.toThrow();
  });
});

describe('operator changes', () => {
  it('rotate publishes next keys that sign only after a JWKS cache lifetime', async () => {
    const now = new Date();
    const { ring, changes } = await rotateRing(store.signingKeys, encryptionKey, schedule, false, () => now);
    expect(changes.map((change) => change.type)).toEqual(['create', 'create', 'create']);
    const next = ring.keys.filter((key) => key.state === 'next');
    expect(next).toHaveLength(3);
    for (const key of next) expect(key.activatesAt!.getTime() - now.getTime()).toBeGreaterThanOrEqual(schedule.jwksCacheSeconds * 1000);
    // The signing keys did not change; the next keys are published after them.
    expect(providerJwks(ring, encryptionKey).keys.slice(0, 3).map((key) => key.kid)).toEqual(firstJwks.map((key) => key.kid));
    expect((await rotateRing(store.signingKeys, encryptionKey, schedule, false)).changes).toEqual([]);
  });

  it('concurrent rotations make exactly one', async () => {
    const scratch = openSqliteStore(join(dir, 'concurrent.db'));
    try {
      await advanceRing(scratch.signingKeys, encryptionKey, schedule);
      const before = await scratch.signingKeys.read();
      // Five operators (or instances) at once: all read the same version, one replaces it, the
      // others lose the compare-and-set, re-read, and find the next keys already waiting.
      const results = await Promise.all(Array.from({ length: 5 }, () => rotateRing(scratch.signingKeys, encryptionKey, schedule, false)));
      const after = await scratch.signingKeys.read();
      expect(results.filter((result) => result.changes.length > 0)).toHaveLength(1);
      expect(after.version).toBe(before.version + 1);
      for (const alg of signingAlgorithms) expect(after.keys.filter((key) => key.alg === alg && key.state === 'next')).toHaveLength(1);
    } finally {
      await scratch.close();
    }
  });

  it('rotate --immediately makes new keys sign now and retires the old ones', async () => {
    const { ring } = await rotateRing(store.signingKeys, encryptionKey, schedule, true);
    const current = ring.keys.filter((key) => key.state === 'current');
    expect(current).toHaveLength(3);
    for (const key of current) expect(firstJwks.map((jwk) => jwk.kid)).not.toContain(key.kid);
    expect(ring.keys.filter((key) => key.state === 'retired').map((key) => key.kid).sort()).toEqual(firstJwks.map((key) => key.kid).sort());
  });

  it('revoke removes a key from the ring at once, and an unknown kid is refused', async () => {
    const before = await store.signingKeys.read();
    const retired = before.keys.find((key) => key.state === 'retired')!;
    const { ring } = await revokeFromRing(store.signingKeys, encryptionKey, retired.kid);
    expect(ring.keys.map((key) => key.kid)).not.toContain(retired.kid);
    expect(publicJwks(ring).keys.map((key) => key.kid)).not.toContain(retired.kid);
    expect((await failure(revokeFromRing(store.signingKeys, encryptionKey, 'no-such-kid'))).code).toBe('not_found');
  });

  it('imports the keys of jwks.json.example as next keys, once', async () => {
    const scratch = openSqliteStore(join(dir, 'import.db'));
    try {
      await advanceRing(scratch.signingKeys, encryptionKey, schedule);
      const example = JSON.parse(readFileSync(new URL('../../jwks.json.example', import.meta.url), 'utf8')) as { keys: { kid: string }[] };
      const { ring } = await importIntoRing(scratch.signingKeys, encryptionKey, schedule, example);
      const next = ring.keys.filter((key) => key.state === 'next');
      expect(next.map((key) => key.kid).sort()).toEqual(example.keys.map((key) => key.kid).sort());
      expect((await failure(importIntoRing(scratch.signingKeys, encryptionKey, schedule, example))).code).toBe('conflict');
    } finally {
      await scratch.close();
    }
  });

  it('refuses to import what is not a private signing JWKS', async () => {
    const bad = [
      {},
      { keys: [] },
      { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] },
      { keys: [{ kty: 'RSA', alg: 'RS256', n: 'x', e: 'AQAB' }] },
      { keys: [{ kty: 'EC', alg: 'RS256', crv: 'P-256', x: 'x', y: 'y', d: 'd' }] },
      { keys: [{ kty: 'EC', alg: 'ES256', crv: 'P-256', x: 'not', y: 'valid', d: 'key' }] },
    ];
    for (const jwks of bad) expect((await failure(importIntoRing(store.signingKeys, encryptionKey, schedule, jwks))).code, JSON.stringify(jwks)).toBe('invalid_input');
  });
});
