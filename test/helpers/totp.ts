import { createHmac } from 'node:crypto';

/**
 * HOTP/TOTP written from RFC 4226 §5.3 and RFC 6238 with node:crypto only: the tests compute
 * codes the way an authenticator app would, independently of the otplib Gatehouse uses.
 */

export function base32Decode(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of text.replace(/[\s=]/g, '').toUpperCase()) {
    const index = alphabet.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    bits += index.toString(2).padStart(5, '0');
  }
  return Buffer.from((bits.match(/.{8}/g) ?? []).map((byte) => parseInt(byte, 2)));
}

export function hotp(key: Buffer, counter: number, digits = 6): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(message).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** digits).padStart(digits, '0');
}

/** The code an app shows for a base32 secret at `at` (+ `offsetSeconds`). */
export function totp(secret: string, offsetSeconds = 0, at = Date.now()): string {
  return hotp(base32Decode(secret), Math.floor((at / 1000 + offsetSeconds) / 30));
}
