import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

import { exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { succeeded } from '../helpers/cli-assertions.ts';
import type { MovableClock } from '../helpers/clock.ts';
import { movableClock } from '../helpers/clock.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { cliFor } from '../helpers/run-cli.ts';

const api = 'https://orders.example.test';
const day = 86_400_000;
/** Changes made by the CLI (another store handle) reach the server's read cache within 1 s. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 1_100));

type Auth = ReturnType<typeof client.None>;

async function tokenWith(gatehouse: TestGatehouse, clientId: string, auth: Auth, secret?: string): Promise<client.TokenEndpointResponse> {
  const rp = await client.discovery(new URL(gatehouse.url), clientId, secret, auth, { execute: [client.allowInsecureRequests] });
  return client.clientCredentialsGrant(rp, { scope: 'orders:read', resource: api });
}

async function refusedWith(gatehouse: TestGatehouse, clientId: string, auth: Auth, secret?: string): Promise<void> {
  const error = await tokenWith(gatehouse, clientId, auth, secret).then(() => undefined, (caught: unknown) => caught);
  // Refused with a Basic challenge when the request carried an Authorization header, in the body otherwise.
  if (error instanceof client.WWWAuthenticateChallengeError) {
    expect(error.cause[0]?.parameters.error).toBe('invalid_client');
    return;
  }
  expect(error, 'the token request should have been refused').toBeInstanceOf(client.ResponseBodyError);
  expect((error as client.ResponseBodyError).error).toBe('invalid_client');
}

describe('client authentication methods, each enforced as registered', () => {
  let gatehouse: TestGatehouse;
  let clock: MovableClock;
  let cli: ReturnType<typeof cliFor>;
  const jwksServer = createServer();
  let jwksBody = '';
  let jwksUri = '';

  const add = async (...args: string[]) => JSON.parse(succeeded(await cli(['--json', 'clients', 'add', '--name', 'Worker', '--grant-type', 'client_credentials', ...args]))) as
    { client_id: string; client_secret?: string; token_endpoint_auth_method: string };

  beforeAll(async () => {
    clock = movableClock();
    gatehouse = await startGatehouse({ clock });
    await gatehouse.addApi({ identifier: api, scopes: ['orders:read'] });
    cli = cliFor(gatehouse.env);
    jwksServer.on('request', (_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(jwksBody);
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(async () => {
    jwksServer.close();
    await gatehouse?.stop();
  });

  it('client_secret_basic (the default): the secret in the Authorization header, never in the body', async () => {
    const registered = await add();
    expect(registered.token_endpoint_auth_method).toBe('client_secret_basic');
    const secret = registered.client_secret!;
    await expect(tokenWith(gatehouse, registered.client_id, client.ClientSecretBasic(secret), secret)).resolves.toHaveProperty('access_token');
    await refusedWith(gatehouse, registered.client_id, client.ClientSecretPost(secret), secret);
    await refusedWith(gatehouse, registered.client_id, client.None());
  });

  it('client_secret_post: the secret in the body, never in the Authorization header', async () => {
    const registered = await add('--auth-method', 'client_secret_post');
    expect(registered.token_endpoint_auth_method).toBe('client_secret_post');
    const secret = registered.client_secret!;
    await expect(tokenWith(gatehouse, registered.client_id, client.ClientSecretPost(secret), secret)).resolves.toHaveProperty('access_token');
    await refusedWith(gatehouse, registered.client_id, client.ClientSecretBasic(secret), secret);
    await refusedWith(gatehouse, registered.client_id, client.ClientSecretPost('not-the-secret'), 'not-the-secret');
  });

  for (const alg of ['ES256', 'EdDSA'] as const) {
    it(`private_key_jwt with the keys given inline (--jwks): ${alg} assertions; another key and a secret are refused`, async () => {
      const { privateKey, publicKey } = await generateKeyPair(alg);
      const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: `${alg}-1`, use: 'sig' }] });
      const registered = await add('--auth-method', 'private_key_jwt', '--jwks', jwks);
      expect(registered.token_endpoint_auth_method).toBe('private_key_jwt');
      expect(registered.client_secret).toBeUndefined();

      await expect(tokenWith(gatehouse, registered.client_id, client.PrivateKeyJwt({ key: privateKey, kid: `${alg}-1` }))).resolves.toHaveProperty('access_token');
      const other = await generateKeyPair(alg);
      await refusedWith(gatehouse, registered.client_id, client.PrivateKeyJwt({ key: other.privateKey, kid: `${alg}-1` }));
      await refusedWith(gatehouse, registered.client_id, client.ClientSecretBasic('guess'), 'guess');
    });
  }

  it('private_key_jwt with a jwks_uri: RS256 assertions checked against the keys fetched from there', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    jwksBody = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' }] });
    const registered = await add('--auth-method', 'private_key_jwt', '--jwks-uri', jwksUri);
    await expect(tokenWith(gatehouse, registered.client_id, client.PrivateKeyJwt({ key: privateKey, kid: 'rsa-1' }))).resolves.toHaveProperty('access_token');
    await refusedWith(gatehouse, registered.client_id, client.None());
  });

  it('refuses private_key_jwt without keys, keys for another method, and a public client with another method', async () => {
    for (const args of [
      ['--auth-method', 'private_key_jwt'],
      ['--auth-method', 'client_secret_basic', '--jwks-uri', 'https://keys.example/jwks.json'],
      ['--auth-method', 'private_key_jwt', '--jwks', '{"keys":[{"kty":"EC","crv":"P-256","x":"x","y":"y","d":"private"}]}'],
      ['--public', '--auth-method', 'client_secret_post'],
      ['--auth-method', 'client_secret_jwt'],
    ]) {
      const run = await cli(['clients', 'add', '--name', 'Worker', '--redirect-uri', 'https://app.example/cb', ...args]);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(1);
    }
  });

  it('rotate-secret with an overlap: both secrets work until it ends, then only the new one', async () => {
    const registered = await add();
    const old = registered.client_secret!;
    const rotated = JSON.parse(succeeded(await cli(['--json', 'clients', 'rotate-secret', '--id', registered.client_id, '--overlap-days', '2']))) as
      { client_secret: string; previous_secret_expires_at: string };
    expect(rotated.client_secret).not.toBe(old);
    expect(Date.parse(rotated.previous_secret_expires_at) - Date.now()).toBeGreaterThan(2 * day - 60_000);
    await settle();

    const fresh = rotated.client_secret;
    await expect(tokenWith(gatehouse, registered.client_id, client.ClientSecretBasic(fresh), fresh)).resolves.toHaveProperty('access_token');
    await expect(tokenWith(gatehouse, registered.client_id, client.ClientSecretBasic(old), old)).resolves.toHaveProperty('access_token');

    // Without an overlap the old secret stops at once (and so does the one still in its overlap).
    const again = JSON.parse(succeeded(await cli(['--json', 'clients', 'rotate-secret', '--id', registered.client_id]))) as { client_secret: string; previous_secret_expires_at: null };
    expect(again.previous_secret_expires_at).toBeNull();
    await settle();
    await refusedWith(gatehouse, registered.client_id, client.ClientSecretBasic(fresh), fresh);
    await refusedWith(gatehouse, registered.client_id, client.ClientSecretBasic(old), old);
    const newest = again.client_secret;
    await expect(tokenWith(gatehouse, registered.client_id, client.ClientSecretBasic(newest), newest)).resolves.toHaveProperty('access_token');

    // An overlap ends with the server's clock (moved forward only: its read cache counts with it too).
    const other = await add();
    const rotatedOther = JSON.parse(succeeded(await cli(['--json', 'clients', 'rotate-secret', '--id', other.client_id, '--overlap-days', '2']))) as { client_secret: string };
    await settle();
    await expect(tokenWith(gatehouse, other.client_id, client.ClientSecretBasic(other.client_secret!), other.client_secret!)).resolves.toHaveProperty('access_token');
    clock.advance(2 * day + 60_000);
    await refusedWith(gatehouse, other.client_id, client.ClientSecretBasic(other.client_secret!), other.client_secret!);
    await expect(tokenWith(gatehouse, other.client_id, client.ClientSecretBasic(rotatedOther.client_secret), rotatedOther.client_secret)).resolves.toHaveProperty('access_token');
  });

  it('update changes the method as registered: basic to post keeps the secret, to private_key_jwt drops it', async () => {
    const registered = await add();
    const secret = registered.client_secret!;
    succeeded(await cli(['clients', 'update', '--id', registered.client_id, '--auth-method', 'client_secret_post']));
    await settle();
    await expect(tokenWith(gatehouse, registered.client_id, client.ClientSecretPost(secret), secret)).resolves.toHaveProperty('access_token');
    await refusedWith(gatehouse, registered.client_id, client.ClientSecretBasic(secret), secret);

    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'ec-1' }] });
    succeeded(await cli(['clients', 'update', '--id', registered.client_id, '--auth-method', 'private_key_jwt', '--jwks', jwks]));
    await settle();
    await expect(tokenWith(gatehouse, registered.client_id, client.PrivateKeyJwt({ key: privateKey, kid: 'ec-1' }))).resolves.toHaveProperty('access_token');
    await refusedWith(gatehouse, registered.client_id, client.ClientSecretPost(secret), secret);
  });
});
