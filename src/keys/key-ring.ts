import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';

import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import { GatehouseError } from '../errors.ts';
import type { KeyRing, SigningKeyRecord, SigningKeyStore } from '../store/types.ts';
import { open, seal } from './encryption.ts';
import type { RingChange, RingKey, Schedule, SigningAlgorithm } from './rotation.ts';
import { applyChanges, planRotation, publishedKeys, requestRotation, revokeKey, signingAlgorithms } from './rotation.ts';

export { signingAlgorithms };
export type { SigningAlgorithm };

export type PrivateJwk = Record<string, unknown> & { kid: string; alg: string; kty: string; use: 'sig' };

const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export function toPublicJwk(jwk: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...jwk };
  for (const member of privateMembers) delete copy[member];
  return copy;
}

function sealContext(kid: string): string {
  return `signing-key:${kid}`;
}

type KeyMaterial = Pick<RingKey, 'kid' | 'publicJwk' | 'encryptedPrivateJwk'>;

/** Seals a private JWK for the ring; its kid is the RFC 7638 thumbprint unless it brings one. */
async function sealKey(jwk: Record<string, unknown>, alg: SigningAlgorithm, encryptionKey: Buffer): Promise<KeyMaterial> {
  const kid = typeof jwk.kid === 'string' && jwk.kid ? jwk.kid : await calculateJwkThumbprint(jwk as never);
  const privateJwk: PrivateJwk = { ...jwk, kid, alg, use: 'sig', kty: String(jwk.kty) };
  return { kid, publicJwk: toPublicJwk(privateJwk), encryptedPrivateJwk: seal(JSON.stringify(privateJwk), encryptionKey, sealContext(kid)) };
}

export async function generateKey(alg: SigningAlgorithm, encryptionKey: Buffer): Promise<KeyMaterial> {
  const { privateKey } = await generateKeyPair(alg === 'EdDSA' ? 'Ed25519' : alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const { kid: _ignored, ...jwk } = await exportJWK(privateKey);
  return sealKey(jwk, alg, encryptionKey);
}

const asRing = (keys: SigningKeyRecord[]) => keys as RingKey[];

/**
 * Changes the ring with compare-and-set: `plan` decides from the ring as stored, keys it asks to
 * create are generated (or taken from `material`), and the new ring replaces the old one only if
 * nobody else changed it meanwhile; otherwise we re-read and decide again. Returns the ring as
 * stored afterwards and whether this call changed it.
 */
export async function changeRing(
  store: SigningKeyStore,
  encryptionKey: Buffer,
  plan: (keys: readonly RingKey[]) => RingChange[],
  options: { now?: Clock; material?: ReadonlyMap<SigningAlgorithm, KeyMaterial> } = {},
): Promise<{ ring: KeyRing; changes: RingChange[] }> {
  const now = options.now ?? systemClock;
  for (let attempt = 0; attempt < 10; attempt += 1) {
    const ring = await store.read();
    const at = now();
    const changes = plan(asRing(ring.keys));
    if (changes.length === 0) return { ring, changes };
    const created = new Map<SigningAlgorithm, KeyMaterial>();
    for (const change of changes) {
      if (change.type === 'create' && !created.has(change.alg)) {
        created.set(change.alg, options.material?.get(change.alg) ?? (await generateKey(change.alg, encryptionKey)));
      }
    }
    const next = applyChanges(asRing(ring.keys), changes, at, created);
    const stored = await store.replace(ring.version, next as SigningKeyRecord[]);
    if (stored) return { ring: stored, changes };
  }
  throw new GatehouseError('conflict', 'keys.key_ring_kept_changing_under');
}

/** Brings the ring up to date with the schedule (bootstrap, publish next, promote, retire, remove). */
export function advanceRing(store: SigningKeyStore, encryptionKey: Buffer, schedule: Schedule, now: Clock = systemClock) {
  return changeRing(store, encryptionKey, (keys) => planRotation(keys, now(), schedule), { now });
}

export function rotateRing(store: SigningKeyStore, encryptionKey: Buffer, schedule: Schedule, immediately: boolean, now: Clock = systemClock) {
  return changeRing(store, encryptionKey, (keys) => requestRotation(keys, now(), schedule, { immediately }), { now });
}

export function revokeFromRing(store: SigningKeyStore, encryptionKey: Buffer, kid: string, now: Clock = systemClock) {
  return changeRing(store, encryptionKey, (keys) => revokeKey(keys, kid), { now });
}

const algorithmsByKty: Record<string, SigningAlgorithm[]> = { RSA: ['RS256'], EC: ['ES256'], OKP: ['EdDSA'] };

/**
 * Imports private keys (a JWKS like jwks.json.example): each becomes the `next` key of its
 * algorithm and takes over on the schedule, after a full JWKS cache lifetime.
 */
export async function importIntoRing(store: SigningKeyStore, encryptionKey: Buffer, schedule: Schedule, jwks: unknown, now: Clock = systemClock) {
  const keys = (jwks as { keys?: unknown })?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new GatehouseError('invalid_input', 'keys.expected_jwks');
  const material = new Map<SigningAlgorithm, KeyMaterial>();
  for (const [index, candidate] of keys.entries()) {
    const jwk = candidate as Record<string, unknown>;
    const alg = (typeof jwk.alg === 'string' ? jwk.alg : algorithmsByKty[String(jwk.kty)]?.[0]) as SigningAlgorithm | undefined;
    if (!alg || !(signingAlgorithms as readonly string[]).includes(alg) || !algorithmsByKty[String(jwk.kty)]?.includes(alg)) {
      throw new GatehouseError('invalid_input', 'keys.key_only_keys_can_be', { value1: index + 1, value2: signingAlgorithms.join(', ') });
    }
    if (jwk.use !== undefined && jwk.use !== 'sig') throw new GatehouseError('invalid_input', 'keys.key_use_must_be_sig', { value1: index + 1 });
    if (typeof jwk.d !== 'string') throw new GatehouseError('invalid_input', 'keys.key_private_key_required_no', { value1: index + 1 });
    if (material.has(alg)) throw new GatehouseError('invalid_input', 'keys.key_only_one_key_can', { value1: index + 1, alg });
    try {
      await importJWK({ ...jwk, alg } as never, alg);
    } catch (error) {
      throw new GatehouseError('invalid_input', 'keys.key_not_valid_key', { value1: index + 1, alg, value2: (error as Error).message });
    }
    material.set(alg, await sealKey(jwk, alg, encryptionKey));
  }
  return changeRing(store, encryptionKey, (ring) => {
    for (const key of ring) {
      if (material.get(key.alg as SigningAlgorithm)?.kid === key.kid) throw new GatehouseError('conflict', 'keys.key_already_in_ring', { kid: key.kid });
      if (material.has(key.alg as SigningAlgorithm) && key.state === 'next') throw new GatehouseError('conflict', 'keys.next_key_already_waiting_import', { alg: key.alg, kid: key.kid });
    }
    return requestRotation(ring, now(), schedule, { immediately: false }).filter((change) => change.type === 'create' && material.has(change.alg));
  }, { now, material });
}

/** The private JWKS oidc-provider signs with: what the JWKS publishes, signing keys first. */
export function providerJwks(ring: KeyRing, encryptionKey: Buffer): { keys: PrivateJwk[] } {
  return {
    keys: publishedKeys(asRing(ring.keys)).map((key) => JSON.parse(open(key.encryptedPrivateJwk, encryptionKey, sealContext(key.kid))) as PrivateJwk),
  };
}

export function publicJwks(ring: KeyRing): { keys: Record<string, unknown>[] } {
  return { keys: publishedKeys(asRing(ring.keys)).map((key) => key.publicJwk) };
}
