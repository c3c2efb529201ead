import { exportJWK, calculateJwkThumbprint, generateKeyPair } from 'jose';

import type { SigningKeyRecord, SigningKeyStore } from '../store/types.ts';
import { open, seal } from './encryption.ts';

export type PrivateJwk = Record<string, unknown> & { kid: string; alg: string; kty: string; use: 'sig' };

/** RS256 first: it is the OIDC default and oidc-provider signs with the first key of an alg. */
export const signingAlgorithms = ['RS256', 'ES256'] as const;
export type SigningAlgorithm = (typeof signingAlgorithms)[number];

const privateMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export function toPublicJwk(jwk: Record<string, unknown>): Record<string, unknown> {
  const copy = { ...jwk };
  for (const member of privateMembers) delete copy[member];
  return copy;
}

function sealContext(kid: string): string {
  return `signing-key:${kid}`;
}

export async function generateSigningKey(alg: SigningAlgorithm, encryptionKey: Buffer, now: Date): Promise<SigningKeyRecord> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint(jwk);
  const privateJwk: PrivateJwk = { ...jwk, kid, alg, use: 'sig', kty: jwk.kty! };
  return {
    kid,
    alg,
    state: 'current',
    publicJwk: toPublicJwk(privateJwk),
    encryptedPrivateJwk: seal(JSON.stringify(privateJwk), encryptionKey, sealContext(kid)),
    createdAt: now,
  };
}

/**
 * Makes sure a current key exists for every algorithm, generating and storing the missing ones,
 * and returns the private JWKS the provider signs with. Safe when several processes start at once:
 * the store accepts only the first current key of each algorithm, and returns the ring it kept.
 */
export async function loadSigningKeys(store: SigningKeyStore, encryptionKey: Buffer, now = new Date()): Promise<{ keys: PrivateJwk[] }> {
  let ring = await store.list();
  const missing = signingAlgorithms.filter((alg) => !ring.some((key) => key.alg === alg && key.state === 'current'));
  if (missing.length) {
    ring = await store.insert(await Promise.all(missing.map((alg) => generateSigningKey(alg, encryptionKey, now))));
  }
  // The store keeps one current key per algorithm, so instances starting together agree on it.
  // Every other key of the ring is still published, so tokens it signed keep verifying.
  const signing = signingAlgorithms.map((alg) => ring.find((key) => key.alg === alg && key.state === 'current')!);
  const ordered = [...signing, ...ring.filter((key) => !signing.includes(key))];
  return { keys: ordered.map((key) => JSON.parse(open(key.encryptedPrivateJwk, encryptionKey, sealContext(key.kid))) as PrivateJwk) };
}
