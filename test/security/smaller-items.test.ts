import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { exportJWK, generateKeyPair } from 'jose';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { activateEnrollment, beginEnrollment } from '../../src/libraries/second-factor.ts';
import { runCli } from '../../src/cli/main.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse, testEnvironment } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty, signIn } from '../helpers/relying-party.ts';
import { totp } from '../helpers/totp.ts';
import type { Page } from '../helpers/user-agent.ts';
import { alertOf, isPage, UserAgent } from '../helpers/user-agent.ts';

/**
 * Issue 13, item 7: smaller items from the second security review, each against a real server
 * (SQLite, real HTTP, real SMTP).
 */

const password = 'correct horse battery staple';
const dirs: string[] = [];
let gatehouse: TestGatehouse;

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  gatehouse = await startGatehouse();
});
afterAll(async () => {
  await gatehouse?.stop();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gatehouse.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

type Registered = { clientId: string; clientSecret?: string };

async function clientCredentialsToken(registered: Registered): Promise<string> {
  const answer = await post('/token', { grant_type: 'client_credentials' }, { authorization: basic(registered.clientId, registered.clientSecret!) });
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body.access_token as string;
}

async function introspect(by: Registered, token: string): Promise<Record<string, unknown>> {
  const auth: Record<string, string> = by.clientSecret ? { authorization: basic(by.clientId, by.clientSecret) } : {};
  const answer = await post('/token/introspection', { token, ...(by.clientSecret ? {} : { client_id: by.clientId }) }, auth);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body;
}

describe('introspection: who may introspect what', () => {
  let owner: Registered;
  let other: Registered;
  let resourceServer: Registered;
  let publicClient: Registered;
  let userAccessToken: string;
  let serviceToken: string;

  beforeAll(async () => {
    owner = await gatehouse.addClient({ name: 'Owner app', firstParty: true, grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'] });
    other = await gatehouse.addClient({ name: 'Another confidential app', grantTypes: ['client_credentials'], redirectUris: [] });
    resourceServer = await gatehouse.addClient({ name: 'A resource server', grantTypes: ['client_credentials'], redirectUris: [] });
    publicClient = await gatehouse.addClient({ name: 'A public app', public: true });
    await gatehouse.addUser('introspected@example.com', password);
    const rp = await relyingParty(gatehouse, owner);
    userAccessToken = (await signIn(gatehouse, rp, { email: 'introspected@example.com', password })).tokens.access_token;
    serviceToken = await clientCredentialsToken(owner);
  });

  it('lets a client introspect its own tokens', async () => {
    expect(await introspect(owner, userAccessToken)).toMatchObject({ active: true, client_id: owner.clientId });
    expect(await introspect(owner, serviceToken)).toMatchObject({ active: true, client_id: owner.clientId });
  });

  it('answers {"active": false} to any other client, confidential or public', async () => {
    for (const token of [userAccessToken, serviceToken]) {
      expect(await introspect(other, token)).toEqual({ active: false });
      expect(await introspect(resourceServer, token)).toEqual({ active: false });
      expect(await introspect(publicClient, token)).toEqual({ active: false });
    }
  });

  it('lets a resource server introspect the tokens issued for it (its client_id in the audience), and nobody else', async () => {
    const provider = gatehouse.provider();
    const issuedTo = await provider.Client.find(owner.clientId);
    const token = new provider.ClientCredentials({ client: issuedTo!, scope: '' });
    token.setAudience(resourceServer.clientId);
    const value = await token.save();

    expect(await introspect(resourceServer, value)).toMatchObject({ active: true, client_id: owner.clientId, aud: resourceServer.clientId });
    expect(await introspect(owner, value)).toMatchObject({ active: true });
    expect(await introspect(other, value)).toEqual({ active: false });
  });
});

describe('the registered token endpoint authentication method', () => {
  let registered: Registered;
  beforeAll(async () => {
    registered = await gatehouse.addClient({ name: 'Basic only', grantTypes: ['client_credentials'], redirectUris: [] });
  });

  it('advertises the methods a client may be registered with (each client uses exactly its own: test/oidc/client-auth-methods.test.ts)', async () => {
    const metadata = (await (await fetch(`${gatehouse.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);
  });

  it('refuses a client_secret_basic client that sends its secret in the body (client_secret_post) at token, introspection and revocation', async () => {
    const token = await clientCredentialsToken(registered);
    const inBody = { client_id: registered.clientId, client_secret: registered.clientSecret! };
    for (const [path, form] of [
      ['/token', { grant_type: 'client_credentials' }],
      ['/token/introspection', { token }],
      ['/token/revocation', { token }],
    ] as const) {
      const answer = await post(path, { ...form, ...inBody });
      expect(answer.status, `${path}: ${JSON.stringify(answer.body)}`).toBe(401);
      expect(answer.body.error, path).toBe('invalid_client');
    }
    // The same requests with HTTP Basic work, and the token was not revoked by the refused request.
    expect(await introspect(registered, token)).toMatchObject({ active: true });
    expect((await post('/token/revocation', { token }, { authorization: basic(registered.clientId, registered.clientSecret!) })).status).toBe(200);
    expect(await introspect(registered, token)).toEqual({ active: false });
  });
});

describe('the second-factor page', () => {
  const page = (result: Page | { redirectedTo: string }): Page => {
    if (!isPage(result)) throw new Error(`expected a page, was redirected to ${result.redirectedTo}`);
    return result;
  };
  const alert = (current: Page) => alertOf(current);

  it('says the same thing for a wrong code and for a code already used', async () => {
    const email = 'two-step@example.com';
    const accountId = await gatehouse.addUser(email, password);
    const factors = { store: gatehouse.store, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey };
    const { secret } = await beginEnrollment(factors, { id: accountId, email });
    const used = totp(secret);
    expect((await activateEnrollment(factors, accountId, used)).ok).toBe(true);
    const nearby = new Set([-60, -30, 0, 30, 60].map((offset) => totp(secret, offset)));
    const wrong = ['000000', '111111', '222222'].find((code) => !nearby.has(code))!;

    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Two-step app', firstParty: true }));
    const ua = new UserAgent(gatehouse.url);
    const login = page(await ua.navigate((await authorizationRequest(rp)).url.href));
    const challenge = page(await ua.submit(login, '/login', { email, password }));
    expect(challenge.document.querySelector('input[name=code]')).toBeTruthy();

    const afterWrong = page(await ua.submit(challenge, '/second-factor', { code: wrong }));
    const afterReplay = page(await ua.submit(afterWrong, '/second-factor', { code: used }));

    expect(afterWrong.status).toBe(400);
    expect(afterReplay.status).toBe(afterWrong.status);
    expect(alert(afterWrong)).not.toBe('');
    expect(alert(afterReplay)).toBe(alert(afterWrong));
    // The operator still sees which it was.
    const reasons = (await gatehouse.store.audit.tail({ limit: 10, accountId }))
      .filter((event) => event.type === 'login_second_factor_failed').map((event) => event.details.reason);
    expect(reasons).toEqual(['wrong', 'replayed']);
  });
});

/** The CLI, in this process, with an environment of its own. */
async function cli(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { env, stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) });
  return { code, stdout, stderr };
}

describe('the CLI', () => {
  it('revokes a key whose kid begins with "-", written as the README has it: gatehouse keys revoke KID', async () => {
    const env = { ...testEnvironment(gatehouse.dir), ISSUER: gatehouse.url };
    const kids = ['-dash-kid', '--double-dash-kid'];
    for (const kid of kids) {
      // Each imported key becomes the next key of its algorithm; one at a time per algorithm.
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const file = join(tempDir('gatehouse-kid-'), 'jwks.json');
      writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' }] }));
      const ring = await gatehouse.store.signingKeys.read();
      for (const waiting of ring.keys.filter((key) => key.alg === 'ES256' && key.state === 'next')) {
        expect((await cli(env, ['keys', 'revoke', '--', waiting.kid])).code).toBe(0);
      }
      const imported = await cli(env, ['keys', 'import', file]);
      expect(imported.code, imported.stderr).toBe(0);
      expect((await gatehouse.store.signingKeys.read()).keys.map((key) => key.kid)).toContain(kid);

      const revoked = await cli(env, ['keys', 'revoke', kid]);
      expect(revoked.code, revoked.stderr).toBe(0);
      expect(revoked.stdout).toContain(`revoked ${kid}`);
      expect((await gatehouse.store.signingKeys.read()).keys.map((key) => key.kid)).not.toContain(kid);
    }
    // `--json` still counts as our flag before the kid; an unknown kid is reported as such.
    const missing = await cli(env, ['keys', 'revoke', '--json', '-no-such-kid']);
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stderr)).toMatchObject({ error: 'not_found' });
    expect(missing.stderr).toContain('-no-such-kid');
    // `--` ends the options too; options of a command without positionals are still checked.
    expect((await cli(env, ['keys', 'revoke', '--', '-no-such-kid'])).stderr).toMatch(/^gatehouse: .*-no-such-kid/);
    expect((await cli(env, ['keys', 'list', '-x'])).code).toBe(2);
  });

  it('refuses, in one line naming KEY_ENCRYPTION_KEY, to work on a store whose secrets it cannot open', async () => {
    // The server's database, but not its DATA_DIR (so not its development secrets), and no
    // KEY_ENCRYPTION_KEY: as with a production database and a CLI environment missing the key.
    const elsewhere = tempDir('gatehouse-cli-elsewhere-');
    const env = { ...testEnvironment(elsewhere), DATABASE_URL: `sqlite:${join(gatehouse.dir, 'gatehouse.db')}`, ISSUER: gatehouse.url };
    const before = (await gatehouse.store.clients.list()).length;

    const refused = await cli(env, ['clients', 'add', '--name', 'Sealed elsewhere', '--grant-type', 'client_credentials']);

    expect(refused.code).toBe(2);
    expect(refused.stdout).toBe('');
    expect(refused.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/^gatehouse: KEY_ENCRYPTION_KEY is missing/);
    expect((await gatehouse.store.clients.list()).length).toBe(before);
    expect(existsSync(join(elsewhere, 'secrets.json'))).toBe(false);
    // A wrong key given explicitly is refused as well; read-only commands too (nothing is opened blindly).
    const wrongKey = await cli({ ...env, KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64') }, ['clients', 'list']);
    expect(wrongKey.code).toBe(2);
    expect(wrongKey.stderr).toMatch(/^gatehouse: KEY_ENCRYPTION_KEY is not the key this store was sealed with/);

    // With the server's key the same command works, and the client it adds can get tokens.
    const withKey = { ...env, KEY_ENCRYPTION_KEY: gatehouse.secrets.keyEncryptionKey.toString('base64') };
    const added = await cli(withKey, ['clients', 'add', '--name', 'Sealed right', '--grant-type', 'client_credentials', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const { client_id: clientId, client_secret: clientSecret } = JSON.parse(added.stdout) as { client_id: string; client_secret: string };
    expect(await clientCredentialsToken({ clientId, clientSecret })).toEqual(expect.any(String));
  });
});

describe('mail delivery with a slow SMTP server and two instances', () => {
  const answerDelayMs = 2500;
  const received: string[] = [];
  let smtp: SMTPServer;
  let smtpUrl: string;
  const instances: TestGatehouse[] = [];

  beforeAll(async () => {
    // Accepts the message at once but answers DATA only after answerDelayMs: longer than the lease.
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData(stream, session, callback) {
        stream.on('data', () => {});
        stream.on('end', () => {
          received.push(...session.envelope.rcptTo.map((rcpt) => rcpt.address));
          setTimeout(() => callback(), answerDelayMs);
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', () => resolve()));
    smtpUrl = `smtp://127.0.0.1:${(smtp.server.address() as AddressInfo).port}`;
    const dir = tempDir('gatehouse-slow-smtp-');
    const adjust = (config: TestGatehouse['config']) => ({ ...config, mail: { ...config.mail, leaseSeconds: 1, pollSeconds: 0.2 } });
    for (let index = 0; index < 2; index += 1) instances.push(await startGatehouse({ dir, env: { SMTP_URL: smtpUrl }, adjust }));
  }, 30_000);

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.close()));
    await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  it('sends a message once although the send outlasts the lease', async () => {
    const [first] = instances;
    await first!.store.mail.enqueue({ id: 'slow-1', to: 'slow@example.com', subject: 'Slow', text: 'Sent once', createdAt: new Date() });

    const deadline = Date.now() + 15_000;
    while ((await first!.store.mail.status()).sent < 1) {
      if (Date.now() > deadline) throw new Error('the message was not sent');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Another instance claiming it after the lease would have handed it over by now.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    expect(received).toEqual(['slow@example.com']);
    expect(await first!.store.mail.status()).toMatchObject({ pending: 0, sent: 1, failed: 0 });
  }, 30_000);
});
