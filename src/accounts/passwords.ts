import argon2 from 'argon2';
import bcrypt from 'bcryptjs';

export type HashOptions = { type: typeof argon2.argon2id; memoryCost: number; timeCost: number; parallelism: number };

/** OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane (config `passwords.argon2`). */
export const passwordHashOptions: HashOptions = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 };

export function hashOptionsFrom(config: { memoryKiB: number; iterations: number; parallelism: number }): HashOptions {
  return { type: argon2.argon2id, memoryCost: config.memoryKiB, timeCost: config.iterations, parallelism: config.parallelism };
}

/** Longest password accepted, in UTF-8 bytes: generous for passphrases, bounded against abuse. */
export const maxPasswordBytes = 1024;

export function hashPassword(password: string, options: HashOptions = passwordHashOptions): Promise<string> {
  return argon2.hash(password.normalize('NFKC'), options);
}

/** Hash formats we can verify (by prefix; the importer checks argon2's structure): argon2, and bcrypt from other apps. */
export function isSupportedHash(hash: string): boolean {
  return /^\$argon2(id|i|d)\$/.test(hash) || /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(hash);
}

export type PasswordCheck = {
  valid: boolean;
  /** The hash is bcrypt or weaker argon2 than configured: store a new hash now that we know the password. */
  needsRehash: boolean;
};

// Hashed once per set of parameters, lazily: verifying against it when no account matches makes an
// unknown email cost the same time as a wrong password, also after the parameters were raised.
const dummyHashes = new Map<string, Promise<string>>();

export function dummyHashFor(options: HashOptions): Promise<string> {
  const key = `${options.memoryCost}:${options.timeCost}:${options.parallelism}`;
  let hash = dummyHashes.get(key);
  if (!hash) {
    hash = hashPassword('gatehouse-timing-equalizer', options);
    dummyHashes.set(key, hash);
  }
  return hash;
}

export async function checkPassword(hash: string | null | undefined, password: string, options: HashOptions = passwordHashOptions): Promise<PasswordCheck> {
  if (!hash) {
    await argon2.verify(await dummyHashFor(options), password.normalize('NFKC')).catch(() => false);
    return { valid: false, needsRehash: false };
  }
  try {
    if (hash.startsWith('$2')) {
      // bcrypt hashed the password as the other app received it (not normalized); $2y$ is PHP's
      // name for $2b$. bcrypt looks at the first 72 bytes only, which is why we rehash.
      const valid = await bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$'));
      return { valid, needsRehash: valid };
    }
    const valid = await argon2.verify(hash, password.normalize('NFKC'));
    // needsRehash compares parameters only: argon2i and argon2d hashes are upgraded to argon2id too.
    return { valid, needsRehash: valid && (!hash.startsWith('$argon2id$') || argon2.needsRehash(hash, options)) };
  } catch {
    return { valid: false, needsRehash: false };
  }
}
