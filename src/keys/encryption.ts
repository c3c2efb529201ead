import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

import { GatehouseError } from '../errors.ts';

/**
 * AES-256-GCM envelope for secrets at rest (private keys, client secrets):
 * `v1.<key id>.<iv>.<tag>.<ciphertext>`, base64url parts. The key id is derived from the key, so a
 * later key rotation can tell which key sealed a value.
 */
export function encryptionKeyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 8);
}

export function seal(plaintext: string, key: Buffer, context: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  // The context (e.g. "signing-key:<kid>") is authenticated, so a sealed value cannot be moved to
  // another record and decrypted there.
  cipher.setAAD(Buffer.from(context));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', encryptionKeyId(key), iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
}

export function open(sealed: string, key: Buffer, context: string): string {
  const [version, keyId, iv, tag, ciphertext] = sealed.split('.');
  if (version !== 'v1' || !keyId || !iv || !tag || ciphertext === undefined) {
    throw new GatehouseError('internal', 'keys.sealed_secret_in_store_malformed');
  }
  if (keyId !== encryptionKeyId(key)) {
    throw new GatehouseError('invalid_config', 'keys.secret_in_store_was_sealed', { keyId });
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch (error) {
    throw new GatehouseError('internal', 'keys.sealed_secret_in_store_failed', undefined, { cause: error });
  }
}

// Derived once per key and purpose: HMACs on request paths (form tokens, codes) reuse the key.
const derivedKeys = new WeakMap<Buffer, Map<string, Buffer>>();

/**
 * A keyed hash (HMAC-SHA256, base64url) under a key derived with HKDF from KEY_ENCRYPTION_KEY for
 * one purpose, so a value hashed for one use (a mailed code, a form token) means nothing in another.
 */
export function keyedHash(keyEncryptionKey: Buffer, purpose: string, value: string): string {
  let byPurpose = derivedKeys.get(keyEncryptionKey);
  if (!byPurpose) {
    byPurpose = new Map();
    derivedKeys.set(keyEncryptionKey, byPurpose);
  }
  let key = byPurpose.get(purpose);
  if (!key) {
    key = Buffer.from(hkdfSync('sha256', keyEncryptionKey, Buffer.alloc(0), `gatehouse ${purpose}`, 32));
    byPurpose.set(purpose, key);
  }
  return createHmac('sha256', key).update(value).digest('base64url');
}

/** Whether `submitted` is exactly the secret `expected` (a form token, a state value), in constant time. */
export function sameToken(expected: string, submitted: unknown): boolean {
  if (typeof submitted !== 'string') return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(submitted);
  return a.length === b.length && timingSafeEqual(a, b);
}
