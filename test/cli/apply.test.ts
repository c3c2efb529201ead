import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Libraries } from '../../src/libraries/index.ts';
import type { AuditEvent, Store } from '../../src/store/types.ts';
import { describeRun, succeeded } from '../helpers/cli-assertions.ts';
import { openBesideCli } from '../helpers/cli-libraries.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { redirectUri, startGatehouse, testEnvironment } from '../helpers/gatehouse.ts';
import { relyingParty, signIn } from '../helpers/relying-party.ts';
import type { CliRun } from '../helpers/run-cli.ts';
import { cliFor } from '../helpers/run-cli.ts';

/**
 * `gatehouse apply FILE` in this process, on the database of a real server running beside it: what
 * the file lists is read back through the libraries and the audit trail, and the clients it created
 * get tokens from the server (client credentials, and a person's sign-in through the pages).
 */

const api = 'https://orders.example.test';
const alice = { email: 'alice@example.com', password: 'correct horse battery staple' };
const workerSecret = 'worker-secret-from-the-environment-0001';
const googleSecret = 'google-secret-1';

let server: TestGatehouse;
let env: NodeJS.ProcessEnv;
let gatehouse: ReturnType<typeof cliFor>;
let store: Store;
let libraries: Libraries;
let file: string;

function fileText(changes: { workerName?: string; extraRedirect?: boolean; roles?: string; ttl?: number; webMfa?: boolean; googleShown?: boolean } = {}): string {
  return `
version: 1
apis:
  - identifier: ${api}
    name: Orders
    scopes: [orders:read, orders:write]
    access_token_ttl: ${changes.ttl ?? 600}
clients:
  - client_id: orders-worker
    name: ${changes.workerName ?? 'Orders worker'}
    grant_types: [client_credentials]
    api_scopes: [orders:read]
    client_secret: \${ENV:WORKER_SECRET}
  - client_id: web
    name: Web
    public: true
    redirect_uris: [${redirectUri}${changes.extraRedirect ? ', https://web.example.test/cb' : ''}]
    scopes: [openid, email, profile, roles]
    require_mfa: ${changes.webMfa ?? false}
connections:
  - id: google
    type: google
    name: Google
    client_id: gatehouse.apps.googleusercontent.com
    client_secret: \${ENV:GOOGLE_SECRET}
    show_on_login_page: ${changes.googleShown ?? false}
roles:
  ${alice.email}: [${changes.roles ?? 'admin'}]
`;
}

const write = (text: string, name = 'gatehouse.yaml') => {
  const path = join(server.dir, name);
  writeFileSync(path, text);
  return path;
};

const events = async (): Promise<AuditEvent[]> => store.audit.tail({ limit: 10_000 });

/** A configuration error: exit 2, nothing on stdout, one line on stderr. */
function configurationError(run: CliRun, words: RegExp): void {
  expect(run.code, describeRun(run)).toBe(2);
  expect(run.stdout, describeRun(run)).toBe('');
  expect(run.stderr, describeRun(run)).toMatch(/^gatehouse: [^\n]+\n$/);
  expect(run.stderr).toMatch(words);
}

/** Retries `check` until it passes (the server reads clients through a cache at most 1 s old). */
async function eventually(check: () => Promise<void>, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > until) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

beforeAll(async () => {
  server = await startGatehouse();
  await server.addUser(alice.email, alice.password);
  env = { ...testEnvironment(server.dir), ISSUER: server.url, WORKER_SECRET: workerSecret, GOOGLE_SECRET: googleSecret };
  gatehouse = cliFor(env);
  ({ store, libraries } = await openBesideCli(env));
  file = write(fileText());
});

afterAll(async () => {
  await store?.close();
  await server?.stop();
});

describe('gatehouse apply', () => {
  it('--dry-run prints what it would create and changes nothing', async () => {
    const before = (await events()).length;
    const text = succeeded(await gatehouse(['apply', file, '--dry-run']));
    expect(text).toContain(`APIs\n  + ${api}  create`);
    expect(text).toMatch(/^ {2}\+ orders-worker +create$/m);
    expect(text).toMatch(/^ {2}! alice@example\.com +skipped|^ {2}~ alice@example\.com +update$/m);
    expect(text).toContain('dry run: nothing was changed');
    expect(text).not.toContain(workerSecret);
    expect(await libraries.clients.list()).toEqual([]);
    expect((await events()).length).toBe(before);
  });

  it('makes the file exist as written, through the libraries, audited as the operator through apply', async () => {
    const text = succeeded(await gatehouse(['apply', file]));
    expect(text).toContain('applied: 4 created, 1 updated, 0 deleted, 0 unchanged');
    expect(text).toContain('      roles: [] → [admin]');
    expect(text).not.toContain(workerSecret);

    const worker = await libraries.clients.get('orders-worker');
    expect(worker.metadata).toMatchObject({ client_name: 'Orders worker', grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'orders:read' });
    expect(libraries.clients.providerMetadata(worker).client_secret).toBe(workerSecret);
    expect((await libraries.clients.get('web')).metadata).toMatchObject({ token_endpoint_auth_method: 'none', redirect_uris: [redirectUri], scope: 'openid email profile roles' });
    expect(await libraries.apis.find(api)).toMatchObject({ name: 'Orders', scopes: ['orders:read', 'orders:write'], accessTokenTtl: 600 });
    expect(await libraries.connections.find('google')).toMatchObject({ type: 'google', issuer: 'https://accounts.google.com', showOnLoginPage: false, hasSecret: true });
    expect(await libraries.connections.clientSecret('google')).toBe(googleSecret);
    expect((await libraries.accounts.findByEmail(alice.email))?.roles).toEqual(['admin']);

    const applied = (await events()).filter((event) => event.details?.via === 'apply');
    expect(applied.map((event) => `${event.type} ${event.actor}`).sort()).toEqual(['api_added cli', 'client_added cli', 'client_added cli', 'connection_added cli', 'roles_changed cli']);
    expect(JSON.stringify(applied)).not.toContain(workerSecret);
  });

  it('a second apply changes nothing and says so', async () => {
    const before = (await events()).length;
    const text = succeeded(await gatehouse(['apply', file]));
    expect(text).toContain('no changes: the deployment is as the file says (5 unchanged)');
    expect(text).not.toMatch(/^ {2}[+~-] /m);
    expect((await events()).length).toBe(before);
  });

  it('the clients it made get tokens: client credentials with the secret from the environment, and a person\'s sign-in', async () => {
    const jwks = createRemoteJWKSet(new URL(`${server.url}/jwks`));
    const machine = await relyingParty(server, { clientId: 'orders-worker', clientSecret: workerSecret });
    const token = await client.clientCredentialsGrant(machine, { scope: 'orders:read orders:write', resource: api });
    const { payload } = await jwtVerify(token.access_token, jwks, { issuer: server.url, audience: api });
    expect(payload.scope).toBe('orders:read');
    expect(payload.exp! - payload.iat!).toBe(600);

    const web = await relyingParty(server, { clientId: 'web' });
    const { tokens } = await signIn(server, web, alice, { scope: 'openid email roles' });
    const idToken = await jwtVerify(tokens.id_token!, jwks, { issuer: server.url, audience: 'web' });
    const userinfo = await client.fetchUserInfo(web, tokens.access_token, idToken.payload.sub!);
    expect(userinfo.email).toBe(alice.email);
    expect(userinfo.roles).toEqual(['admin']);
  });

  it('an edited file is applied as an update, field by field; a new secret replaces the old', async () => {
    const edited = write(fileText({ workerName: 'Orders worker v2', extraRedirect: true, roles: 'admin, billing', ttl: 900, webMfa: true, googleShown: true }), 'edited.yaml');
    const newSecret = 'worker-secret-from-the-environment-0002';
    const editedEnv = { ...env, WORKER_SECRET: newSecret, GOOGLE_SECRET: 'google-secret-2' };
    const run = await cliFor(editedEnv)(['apply', edited, '--dry-run']);
    const plan = succeeded(run);
    expect(plan).toContain([
      '  ~ orders-worker  update',
      '      name: Orders worker → Orders worker v2',
      '      client_secret: (set) → ${ENV:WORKER_SECRET}',
    ].join('\n'));
    expect(plan).toContain(`      redirect_uris: [${redirectUri}] → [${redirectUri}, https://web.example.test/cb]`);
    expect(plan).toContain('      roles: [admin] → [admin, billing]');
    expect(plan).toContain('      access_token_ttl: 600 → 900');
    expect(plan).toContain('      require_mfa: false → true');
    expect(plan).toContain(['  ~ google  update', '      show_on_login_page: false → true', '      client_secret: (set) → ${ENV:GOOGLE_SECRET}'].join('\n'));
    expect(plan).toContain('0 to create, 5 to update, 0 to delete, 0 unchanged');
    expect((await libraries.clients.get('orders-worker')).metadata.client_name).toBe('Orders worker');

    const json = JSON.parse(succeeded(await cliFor(editedEnv)(['apply', edited, '--json'])));
    expect(json.counts).toEqual({ create: 0, update: 5, unchanged: 0, delete: 0, skip: 0 });
    expect(await libraries.connections.find('google')).toMatchObject({ showOnLoginPage: true });
    expect(await libraries.connections.clientSecret('google')).toBe('google-secret-2');
    expect((await libraries.apis.find(api))?.accessTokenTtl).toBe(900);
    expect((await libraries.clients.get('web')).metadata).toMatchObject({ require_mfa: true, redirect_uris: [redirectUri, 'https://web.example.test/cb'] });
    expect(json.actions.find((action: { key: string }) => action.key === 'orders-worker').changes).toEqual([
      { field: 'name', from: 'Orders worker', to: 'Orders worker v2' },
      { field: 'client_secret', from: '(set)', to: '${ENV:WORKER_SECRET}' },
    ]);
    const types = (await events()).slice(-6).map((event) => event.type);
    expect(types.sort()).toEqual(['api_updated', 'client_secret_rotated', 'client_updated', 'client_updated', 'connection_updated', 'roles_changed']);

    await eventually(async () => {
      const machine = await relyingParty(server, { clientId: 'orders-worker', clientSecret: newSecret });
      const token = await client.clientCredentialsGrant(machine, { scope: 'orders:read', resource: api });
      expect(decodeJwt(token.access_token).aud).toBe(api);
    });
    const old = await relyingParty(server, { clientId: 'orders-worker', clientSecret: workerSecret });
    await expect(client.clientCredentialsGrant(old, { scope: 'orders:read', resource: api })).rejects.toMatchObject({ status: 401 });
    // Back as the first file says, for the tests after this one.
    succeeded(await gatehouse(['apply', file]));
  });

  it('--prune deletes what the file does not list: not the management API, not a client that registered itself', async () => {
    succeeded(await gatehouse(['clients', 'add', '--name', 'Made by hand', '--redirect-uri', 'https://hand.example.test/cb']));
    succeeded(await gatehouse(['apis', 'add', '--identifier', 'https://old.example.test']));
    await libraries.clients.saveRegistered({ client_id: 'self-registered', redirect_uris: ['https://self.example.test/cb'] }, new Date());
    const byHand = (await libraries.clients.list()).find((record) => record.metadata.client_name === 'Made by hand')!.metadata.client_id;

    const without = succeeded(await gatehouse(['apply', file]));
    expect(without).toContain('no changes');
    expect(await libraries.clients.list()).toHaveLength(4);

    const dry = succeeded(await gatehouse(['apply', file, '--prune', '--dry-run']));
    expect(dry).toMatch(new RegExp(`^ {2}- ${byHand} +delete$`, 'm'));
    expect(dry).toMatch(/^ {2}- https:\/\/old\.example\.test +delete$/m);
    expect(dry).not.toContain('self-registered');
    expect(dry).not.toContain('/api/v1');
    expect(await libraries.apis.find('https://old.example.test')).toBeDefined();

    expect(succeeded(await gatehouse(['apply', file, '--prune']))).toContain('applied: 0 created, 0 updated, 2 deleted, 5 unchanged');
    expect((await libraries.clients.list()).map((record) => record.metadata.client_id).sort()).toEqual(['orders-worker', 'self-registered', 'web']);
    expect((await libraries.apis.list()).map((entry) => entry.identifier).sort()).toEqual([`${server.url}/api/v1`, api].sort());
    const removed = (await events()).filter((event) => event.type === 'client_removed' || event.type === 'api_removed').slice(-2);
    expect(removed.map((event) => [event.type, event.actor, event.details?.via])).toEqual([['client_removed', 'cli', 'apply'], ['api_removed', 'cli', 'apply']]);
  });

  it('a secret whose variable is not set is one readable line, exit 2, and nothing changes', async () => {
    const before = (await events()).length;
    const { GOOGLE_SECRET: _unset, ...without } = env;
    const run = await cliFor({ ...without, GOOGLE_SECRET: '' })(['apply', file]);
    configurationError(run, /gatehouse\.yaml: 1 problem: connections\[0\]\.client_secret: the environment variable GOOGLE_SECRET is not set$/m);
    expect((await events()).length).toBe(before);
  });

  it('a secret written in the file is refused (and not repeated), exit 2', async () => {
    const literal = write(fileText().replace('${ENV:WORKER_SECRET}', 'a-literal-secret-written-in-the-file-0001'), 'literal.yaml');
    const run = await gatehouse(['apply', literal]);
    configurationError(run, /clients\[0\]\.client_secret: a secret is never written in the file: give \$\{ENV:NAME\}/);
    expect(run.stderr).not.toContain('a-literal-secret-written-in-the-file');
  });

  it('a file that is not valid names each problem by its place; --json gives the error as JSON', async () => {
    const bad = write('clients:\n  - client_id: x\n    name: X\n    redirect_uris: [http://x.example.test/cb]\n    public: true\n    colour: blue\n', 'bad.yaml');
    configurationError(await gatehouse(['apply', bad]), /bad\.yaml: 1 problem: clients\[0\]\.colour: unknown field/);
    const fixed = write('clients:\n  - client_id: x\n    name: X\n    redirect_uris: [http://x.example.test/cb]\n    public: true\n', 'bad.yaml');
    configurationError(await gatehouse(['apply', fixed]), /clients\[0\]\.redirect_uris\[0\]: http:\/\/x\.example\.test\/cb must use https/);
    const json = await gatehouse(['apply', join(server.dir, 'missing.yaml'), '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toEqual({ error: 'invalid_config', message: expect.stringMatching(/^cannot read .*missing\.yaml \(ENOENT\)$/) });
  });

  it('is in the help', async () => {
    const help = succeeded(await gatehouse(['apply', '--help']));
    expect(help).toMatch(/^usage: gatehouse apply FILE \[--dry-run\] \[--prune\]/);
    expect(succeeded(await gatehouse(['--help']))).toMatch(/^ {2}apply FILE/m);
  });
});
