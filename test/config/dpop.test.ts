import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import type { Config } from '../../src/config/load-config.ts';
import { defaultsSchema, loadConfig } from '../../src/config/load-config.ts';
import { defaultsFile } from '../../src/config/paths.ts';
import type { ProviderDependencies } from '../../src/oidc/configuration.ts';
import { buildProviderConfiguration } from '../../src/oidc/configuration.ts';

const defaults = JSON.parse(readFileSync(defaultsFile, 'utf8')) as Record<string, unknown>;

/** The provider's dPoP feature for a configuration and a KEY_ENCRYPTION_KEY (nothing else is used). */
function dPoPFeature(dpop: Config['dpop'], keyEncryptionKey: Buffer) {
  const config = { ...loadConfig({ NODE_ENV: 'test' }), dpop };
  const deps = { config, keyEncryptionKey, store: { oidc: {} }, reads: { accounts: {}, clients: {}, apis: {} }, pages: {}, clock: {}, cookieKeys: ['k'.repeat(32)], jwks: { keys: [] } };
  return buildProviderConfiguration(deps as unknown as ProviderDependencies).features!.dPoP!;
}

describe('the dpop setting', () => {
  it('is on, with nonces, by default', () => {
    expect(loadConfig({}).dpop).toEqual({ enabled: true, nonces: true });
  });

  it('is validated', () => {
    for (const dpop of [{ enabled: 'yes', nonces: true }, { enabled: true }, { nonces: false }, true]) {
      expect(defaultsSchema.safeParse({ ...defaults, dpop }).success, JSON.stringify(dpop)).toBe(false);
    }
    expect(defaultsSchema.safeParse({ ...defaults, dpop: { enabled: false, nonces: false } }).success).toBe(true);
  });

  it('derives the nonce secret from KEY_ENCRYPTION_KEY: the same on every instance, never the key itself', () => {
    const key = randomBytes(32);
    const one = dPoPFeature({ enabled: true, nonces: true }, key);
    const two = dPoPFeature({ enabled: true, nonces: true }, Buffer.from(key));
    expect(one.nonceSecret).toBeInstanceOf(Buffer);
    expect(one.nonceSecret!.length).toBe(32);
    expect(one.nonceSecret!.equals(two.nonceSecret!)).toBe(true);
    expect(one.nonceSecret!.equals(key)).toBe(false);
    expect(one.nonceSecret!.equals(dPoPFeature({ enabled: true, nonces: true }, randomBytes(32)).nonceSecret!)).toBe(false);
    expect(one.allowReplay).toBe(false);
  });

  it('hands the provider no nonce secret without nonces, and turns the feature off when disabled', () => {
    const key = randomBytes(32);
    expect(dPoPFeature({ enabled: true, nonces: false }, key)).toEqual({ enabled: true, allowReplay: false });
    expect(dPoPFeature({ enabled: false, nonces: true }, key)).toEqual({ enabled: false, allowReplay: false });
  });
});
