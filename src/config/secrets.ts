import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { z } from 'zod';

import { GatehouseError } from '../errors.ts';
import type { Config } from './load-config.ts';
import { parseEncryptionKey } from './load-config.ts';

export type Secrets = {
  cookieKeys: string[];
  keyEncryptionKey: Buffer;
  /** Where they came from, so start-up can warn about generated ones. */
  source: 'environment' | 'generated' | 'file';
  file?: string;
};

const fileSchema = z.object({
  cookieKeys: z.array(z.string().min(32)).min(1),
  keyEncryptionKey: z.string(),
});

/**
 * Secrets from the environment; in development and test, missing ones are generated once and kept
 * in DATA_DIR/secrets.json (mode 0600). Production never gets here without both (loadConfig refuses).
 */
export function resolveSecrets(config: Config): Secrets {
  if (config.cookieKeys && config.keyEncryptionKey) {
    return { cookieKeys: config.cookieKeys, keyEncryptionKey: config.keyEncryptionKey, source: 'environment' };
  }
  if (config.env === 'production') {
    throw new GatehouseError('invalid_config', 'config.cookie_keys_and_key_encryption');
  }
  const file = join(config.dataDir, 'secrets.json');
  let stored: z.infer<typeof fileSchema> | undefined;
  let source: Secrets['source'] = 'file';
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new GatehouseError('invalid_config', 'config.cannot_read_check_data_dir', { file, code: String(code) });
  }
  if (text !== undefined) {
    try {
      stored = fileSchema.parse(JSON.parse(text));
    } catch {
      throw new GatehouseError('invalid_config', 'config.malformed_restore_it_from_backup', { file });
    }
  }
  if (!stored) {
    stored = { cookieKeys: [randomBytes(32).toString('base64url')], keyEncryptionKey: randomBytes(32).toString('base64') };
    mkdirSync(config.dataDir, { recursive: true });
    // Written whole to a private temporary name, then linked into place: link() fails if another
    // process got there first (then read theirs), and no one ever reads a half-written file.
    const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    try {
      linkSync(temporary, file);
      source = 'generated';
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      stored = fileSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
    } finally {
      rmSync(temporary, { force: true });
    }
  }
  return {
    cookieKeys: config.cookieKeys ?? stored.cookieKeys,
    keyEncryptionKey: config.keyEncryptionKey ?? parseEncryptionKey(stored.keyEncryptionKey, `keyEncryptionKey in ${file}`),
    source,
    file,
  };
}
