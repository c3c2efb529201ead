import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { GatehouseError } from '../../src/errors.ts';
import { registerApi } from '../../src/libraries/apis.ts';
import { providerMetadata, registerClient } from '../../src/libraries/clients.ts';
import type { NewClientInput } from '../../src/libraries/clients.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';

let dir: string;
let store: Store;
const key = randomBytes(32);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-clients-'));
  store = openSqliteStore(join(dir, 'clients.db'));
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refused(input: NewClientInput): Promise<string> {
  const error = await registerClient(store, key, input).then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(GatehouseError);
  expect((error as GatehouseError).code).toBe('invalid_input');
  return (error as GatehouseError).message;
}

describe('registerClient', () => {
  it('registers a confidential client with a secret that is stored sealed', async () => {
    const { metadata, clientSecret } = await registerClient(store, key, { name: 'Web', redirectUris: ['https://app.example/cb'] });
    expect(metadata).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] });
    expect(clientSecret).toMatch(/^[\w-]{43}$/);
    const record = (await store.clients.find(metadata.client_id))!;
    expect(record.encryptedSecret).toBeDefined();
    expect(record.encryptedSecret).not.toContain(clientSecret);
    expect(JSON.stringify(record.metadata)).not.toContain(clientSecret);
    expect(readFileSync(join(dir, 'clients.db')).includes(clientSecret!)).toBe(false);
    expect(providerMetadata(record, key).client_secret).toBe(clientSecret);
  });

  it('registers a public client without a secret', async () => {
    const { metadata, clientSecret } = await registerClient(store, key, { name: 'SPA', public: true, redirectUris: ['http://localhost:5173/cb'] });
    expect(clientSecret).toBeUndefined();
    expect(metadata.token_endpoint_auth_method).toBe('none');
  });

  it('registers a machine-to-machine client without redirect URIs', async () => {
    const { metadata } = await registerClient(store, key, { name: 'Worker', grantTypes: ['client_credentials'] });
    expect(metadata).toMatchObject({ grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
  });

  it('accepts loopback http redirect URIs only', async () => {
    for (const uri of ['http://localhost:8080/cb', 'http://127.0.0.1/cb', 'http://[::1]:3000/cb']) {
      await expect(registerClient(store, key, { name: 'Loopback', redirectUris: [uri] })).resolves.toBeDefined();
    }
  });

  it('refuses unsafe or inconsistent registrations with a reason', async () => {
    expect(await refused({ name: 'x', redirectUris: ['http://app.example/cb'] })).toMatch(/must use https/);
    expect(await refused({ name: 'x', redirectUris: ['https://app.example/cb#frag'] })).toMatch(/fragment/);
    expect(await refused({ name: 'x', redirectUris: ['/relative'] })).toMatch(/absolute/);
    expect(await refused({ name: 'x', redirectUris: ['https://user:pw@app.example/cb'] })).toMatch(/credentials/);
    expect(await refused({ name: 'x', redirectUris: ['javascript:alert(1)'] })).toMatch(/https/);
    expect(await refused({ name: '', redirectUris: ['https://app.example/cb'] })).toMatch(/name/);
    expect(await refused({ name: 'x' })).toMatch(/redirect URI is required/);
    expect(await refused({ name: 'x', public: true, grantTypes: ['client_credentials'] })).toMatch(/public client cannot use client_credentials/);
    expect(await refused({ name: 'x', public: true, pkceExempt: true, redirectUris: ['https://app.example/cb'] })).toMatch(/only a confidential client/);
    expect(await refused({ name: 'x', grantTypes: ['password' as never] })).toMatch(/grant types are/);
    expect(await refused({ name: 'x', grantTypes: ['refresh_token', 'client_credentials'] })).toMatch(/refresh_token needs authorization_code/);
  });
});

describe('registerApi', () => {
  it('registers an API with its scopes and defaults', async () => {
    const api = await registerApi(store, { identifier: 'https://api.example/v1', scopes: ['read', 'read', 'write'] });
    expect(api).toMatchObject({ scopes: ['read', 'write'], signingAlg: 'RS256', accessTokenTtl: 3600 });
    expect((await store.apis.find('https://api.example/v1'))?.scopes).toEqual(['read', 'write']);
  });

  it('refuses a relative identifier, a fragment, a bad scope and a duplicate', async () => {
    for (const input of [{ identifier: 'api' }, { identifier: 'https://api.example/#x' }, { identifier: 'https://api.example/2', scopes: ['has space'] }, { identifier: 'https://api.example/3', signingAlg: 'HS256' as never }]) {
      await expect(registerApi(store, input)).rejects.toMatchObject({ code: 'invalid_input' });
    }
    await expect(registerApi(store, { identifier: 'https://api.example/v1' })).rejects.toMatchObject({ code: 'conflict' });
  });
});
