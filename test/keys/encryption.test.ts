import { randomBytes } from 'node:crypto';

import { describe, expect, it } from 'vitest';

import { GatehouseError } from '../../src/errors.ts';
import { encryptionKeyId, open, seal } from '../../src/keys/encryption.ts';
import { caught } from '../helpers/caught.ts';

const key = randomBytes(32);
const otherKey = randomBytes(32);
const context = 'signing-key:kid-1';
const plaintext = JSON.stringify({ kty: 'EC', d: 'private-scalar', note: 'ünïcødé ✓' });

function expectGatehouseError(work: () => unknown): GatehouseError {
  const error = caught(work);
  expect(error).toBeInstanceOf(GatehouseError);
  return error as GatehouseError;
}

/** Flips one bit of the decoded bytes of one part (a base64url edit could land on unused bits). */
function flipBit(sealed: string, partIndex: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[partIndex]!, 'base64url');
  bytes[0]! ^= 0x01;
  parts[partIndex] = bytes.toString('base64url');
  return parts.join('.');
}

describe('seal and open', () => {
  it('round-trips a value under the same key and context', () => {
    const sealed = seal(plaintext, key, context);
    expect(open(sealed, key, context)).toBe(plaintext);
  });

  it('round-trips an empty string', () => {
    expect(open(seal('', key, context), key, context)).toBe('');
  });

  it('produces the v1 envelope with the key id and without the plaintext in it', () => {
    const sealed = seal(plaintext, key, context);
    const parts = sealed.split('.');

    expect(parts).toHaveLength(5);
    expect(parts[0]).toBe('v1');
    expect(parts[1]).toBe(encryptionKeyId(key));
    expect(Buffer.from(parts[2]!, 'base64url')).toHaveLength(12);
    expect(Buffer.from(parts[3]!, 'base64url')).toHaveLength(16);
    expect(sealed).not.toContain('private-scalar');
  });

  it('gives a different ciphertext each time for the same value', () => {
    const first = seal(plaintext, key, context);
    const second = seal(plaintext, key, context);

    expect(first).not.toBe(second);
    expect(first.split('.')[2]).not.toBe(second.split('.')[2]);
    expect(open(first, key, context)).toBe(plaintext);
    expect(open(second, key, context)).toBe(plaintext);
  });

  it.each([
    ['iv', 2],
    ['tag', 3],
    ['ciphertext', 4],
  ])('rejects a value whose %s was tampered with', (_part, index) => {
    const tampered = flipBit(seal(plaintext, key, context), index);
    expect(expectGatehouseError(() => open(tampered, key, context)).code).toBe('internal');
  });

  it('rejects a value opened under another context', () => {
    const sealed = seal(plaintext, key, context);
    expect(expectGatehouseError(() => open(sealed, key, 'signing-key:kid-2')).code).toBe('internal');
  });

  it('rejects a value opened with another key, naming the key id it was sealed with', () => {
    const sealed = seal(plaintext, key, context);
    const error = expectGatehouseError(() => open(sealed, otherKey, context));

    expect(error.code).toBe('invalid_config');
    expect(error.message).toContain(encryptionKeyId(key));
  });

  it('rejects another key even when the key id in the envelope is forged to match it', () => {
    const parts = seal(plaintext, key, context).split('.');
    parts[1] = encryptionKeyId(otherKey);

    expect(expectGatehouseError(() => open(parts.join('.'), otherKey, context)).code).toBe('internal');
  });

  it.each(['', 'not-sealed', 'v2.a.b.c.d', 'v1.a.b.c'])('rejects the malformed value %j', (malformed) => {
    expectGatehouseError(() => open(malformed, key, context));
  });
});

describe('encryptionKeyId', () => {
  it('is a short stable id that differs between keys', () => {
    expect(encryptionKeyId(key)).toBe(encryptionKeyId(Buffer.from(key)));
    expect(encryptionKeyId(key)).toHaveLength(8);
    expect(encryptionKeyId(key)).not.toBe(encryptionKeyId(otherKey));
  });
});
