import argon2 from 'argon2';

/** OWASP's argon2id baseline: 19 MiB, 2 iterations, 1 lane. */
export const passwordHashOptions = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** Longest password accepted, in UTF-8 bytes: generous for passphrases, bounded against abuse. */
export const maxPasswordBytes = 1024;

export function hashPassword(password: string): Promise<string> {
  return argon2.hash(password.normalize('NFKC'), passwordHashOptions);
}

// Hashed once, lazily: verifying against it when no account matches makes an unknown email cost
// the same time as a wrong password.
let dummyHash: Promise<string> | undefined;

export async function verifyPassword(hash: string | null | undefined, password: string): Promise<boolean> {
  const target = hash ?? (await (dummyHash ??= hashPassword('gatehouse-timing-equalizer')));
  try {
    const matches = await argon2.verify(target, password.normalize('NFKC'));
    return matches && hash !== null && hash !== undefined;
  } catch {
    return false;
  }
}
