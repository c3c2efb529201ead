import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AuditSource, Libraries } from '../../src/libraries/index.ts';
import type { AuditEvent, Store } from '../../src/store/types.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';
import { describeRun, refused, succeeded } from '../helpers/cli-assertions.ts';
import type { CliRun } from '../helpers/run-cli.ts';
import { openBesideCli } from '../helpers/cli-libraries.ts';
import { cliFor } from '../helpers/run-cli.ts';

/**
 * `gatehouse connections …`, run in this process on a real database; what the commands did is read
 * back through the libraries and the audit trail.
 */

let dir: string;
let env: NodeJS.ProcessEnv;
let gatehouse: ReturnType<typeof cliFor>;
let store: Store;
let libraries: Libraries;
let issuer: string;
const person: AuditSource = { actor: 'user', sourceAddress: '203.0.113.7' };

const json = (run: CliRun) => JSON.parse(succeeded(run)) as Record<string, unknown>;

async function lastEvent(type?: string): Promise<AuditEvent> {
  return (await store.audit.tail({ limit: 1000 })).filter((event) => !type || event.type === type).at(-1)!;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-connections-'));
  env = testEnvironment(dir);
  gatehouse = cliFor(env);
  // The CLI creates the database and the development secrets; the libraries then share both.
  succeeded(await gatehouse(['connections', 'list']));
  const opened = await openBesideCli(env);
  ({ store, libraries } = opened);
  issuer = opened.config.issuer;
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse connections add', () => {
  it('adds an OpenID Connect provider with its secret from stdin; the secret is never printed, the action audited (actor cli)', async () => {
    const secret = 'upstream-secret-from-stdin-1';
    const text = succeeded(await gatehouse(['connections', 'add', '--type', 'oidc', '--name', 'Acme SSO', '--issuer', 'https://sso.acme.example',
      '--client-id', 'gatehouse-at-acme', '--client-secret-stdin'], `${secret}\n`));
    expect(text).not.toContain(secret);
    const lines = text.split('\n');
    // What the operator registers at the provider: Gatehouse's own callback for this connection.
    expect(lines[0]).toBe(`added connection acme-sso; register ${issuer}/connections/acme-sso/callback as the redirect URI of the client at the provider`);
    expect(text).toMatch(new RegExp(`^redirect URI: +${issuer}/connections/acme-sso/callback$`, 'm'));
    expect(text).toMatch(/^id: +acme-sso$/m);
    expect(text).toMatch(/^issuer: +https:\/\/sso\.acme\.example$/m);
    expect(text).toMatch(/^client secret: +set \(sealed; never shown\)$/m);
    expect(text).toMatch(/^scopes: +openid email profile$/m);
    expect(text).toMatch(/^claims: +name=name given_name=given_name family_name=family_name picture=picture$/m);
    expect(text).toMatch(/^login page: +shown$/m);
    expect(text).toMatch(/^new accounts: +no/m);
    expect(await libraries.connections.clientSecret('acme-sso')).toBe(secret);
    expect(await lastEvent()).toMatchObject({ type: 'connection_added', actor: 'cli', details: { connectionId: 'acme-sso', hasSecret: true } });
    expect(JSON.stringify(await lastEvent())).not.toContain(secret);

    const shown = json(await gatehouse(['connections', 'show', '--id', 'acme-sso', '--json']));
    expect(shown).toEqual({
      id: 'acme-sso', type: 'oidc', name: 'Acme SSO', issuer: 'https://sso.acme.example', tenant: null, client_id: 'gatehouse-at-acme', has_secret: true,
      redirect_uri: `${issuer}/connections/acme-sso/callback`, scopes: ['openid', 'email', 'profile'], claim_mapping: { name: 'name', given_name: 'given_name', family_name: 'family_name', picture: 'picture' },
      show_on_login_page: true, allow_new_accounts: false, trust_verified_emails: false, trust_upstream_mfa: false, disabled: false,
      created_at: expect.any(String), updated_at: expect.any(String),
    });
    expect(JSON.stringify(shown)).not.toContain(secret);
  });

  it('takes every setting as a flag', async () => {
    const added = json(await gatehouse(['connections', 'add', '--type', 'oidc', '--name', 'Partner', '--id', 'partner', '--issuer', 'http://127.0.0.1:4999/realms/x',
      '--client-id', 'cid', '--client-secret', 'inline-secret', '--scope', 'openid', '--scope', 'email groups', '--claim', 'name=display_name', '--claim', 'nickname=nick',
      '--hidden', '--allow-new-accounts', '--trust-verified-emails', '--trust-upstream-mfa', '--json']));
    expect(added).toMatchObject({
      id: 'partner', issuer: 'http://127.0.0.1:4999/realms/x', client_id: 'cid', has_secret: true, scopes: ['openid', 'email', 'groups'],
      claim_mapping: { name: 'display_name', nickname: 'nick' }, show_on_login_page: false, allow_new_accounts: true, trust_verified_emails: true, trust_upstream_mfa: true,
    });
    expect(JSON.stringify(added)).not.toContain('inline-secret');
    expect(json(await gatehouse(['connections', 'add', '--type', 'oidc', '--name', 'Bare', '--issuer', 'https://bare.example', '--client-id', 'c', '--no-claims', '--json'])))
      .toMatchObject({ id: 'bare', claim_mapping: {}, has_secret: false });
  });

  it('the presets: google, microsoft with its tenant, github with its stand-in URLs', async () => {
    expect(json(await gatehouse(['connections', 'add', '--type', 'google', '--name', 'Google', '--client-id', 'g.apps.googleusercontent.com', '--client-secret-stdin', '--json'], 'GOCSPX-1\n')))
      .toMatchObject({ id: 'google', issuer: 'https://accounts.google.com', scopes: ['openid', 'email', 'profile'], has_secret: true });
    expect(json(await gatehouse(['connections', 'add', '--type', 'microsoft', '--name', 'Microsoft', '--tenant', 'organizations', '--client-id', 'app', '--json'])))
      .toMatchObject({ id: 'microsoft', tenant: 'organizations', issuer: 'https://login.microsoftonline.com/organizations/v2.0' });
    const github = json(await gatehouse(['connections', 'add', '--type', 'github', '--name', 'GitHub', '--client-id', 'Iv1.x', '--client-secret-stdin', '--json'], 'gh\n'));
    expect(github).toMatchObject({ id: 'github', issuer: null, authorization_url: null, token_url: null, api_url: null, scopes: ['read:user', 'user:email'] });
    const text = succeeded(await gatehouse(['connections', 'show', '--id', 'github']));
    expect(text).toMatch(/^authorization: +https:\/\/github\.com\/login\/oauth\/authorize$/m);
    expect(text).toMatch(/^API: +https:\/\/api\.github\.com$/m);
    expect(text).not.toMatch(/^issuer:/m);
    expect(json(await gatehouse(['connections', 'add', '--type', 'github', '--name', 'GitHub stand-in', '--client-id', 'Iv1.x',
      '--authorization-url', 'http://127.0.0.1:4998/login/oauth/authorize', '--token-url', 'http://127.0.0.1:4998/login/oauth/access_token', '--api-url', 'http://127.0.0.1:4998/api', '--json'])))
      .toMatchObject({ id: 'github-stand-in', authorization_url: 'http://127.0.0.1:4998/login/oauth/authorize', api_url: 'http://127.0.0.1:4998/api' });
  });

  it('refuses bad input in one line that names the flags, exit 1, nothing added', async () => {
    const add = (...flags: string[]) => gatehouse(['connections', 'add', ...flags]);
    refused(await add('--name', 'X', '--client-id', 'c'), '--type is required: one of oidc, google, microsoft, github');
    refused(await add('--type', 'saml', '--name', 'X', '--client-id', 'c'), '--type: the type is one of oidc, google, microsoft, github');
    refused(await add('--type', 'oidc', '--name', 'Evil', '--issuer', 'http://evil.example', '--client-id', 'c'),
      '--issuer: http://evil.example must use https (http is allowed only for localhost, 127.0.0.1 and [::1], and not in production)');
    refused(await add('--type', 'oidc', '--name', 'X', '--issuer', 'https://x.example'), '--client-id: a client ID is required');
    refused(await add('--type', 'oidc', '--client-id', 'c', '--issuer', 'https://x.example'), '--name: a name is required');
    refused(await add('--type', 'oidc', '--name', 'X', '--client-id', 'c'), '--issuer: an OpenID Connect connection needs the issuer URL of its provider');
    refused(await add('--type', 'microsoft', '--name', 'X', '--client-id', 'c', '--tenant', 'contoso.com'), '--tenant: must be a tenant ID (a GUID), common, organizations or consumers');
    refused(await add('--type', 'oidc', '--name', 'X', '--id', 'Not A Slug', '--client-id', 'c', '--issuer', 'https://x.example'), '--id: must be 1-40 lowercase letters, digits or -');
    refused(await add('--type', 'github', '--name', 'X', '--client-id', 'c', '--token-url', 'https://ghe.example/t'), /^gatehouse: --authorization-url: give the authorization, token and API URLs together/);
    refused(await add('--type', 'oidc', '--name', 'X', '--client-id', 'c', '--issuer', 'https://x.example', '--claim', 'email=mail'), /^gatehouse: --claim email: "email" is not a profile claim Gatehouse keeps/);
    refused(await add('--type', 'oidc', '--name', 'X', '--client-id', 'c', '--issuer', 'https://x.example', '--claim', 'name'), '--claim takes CLAIM=UPSTREAM_CLAIM (e.g. name=display_name), not name');
    refused(await add('--type', 'oidc', '--name', 'X', '--client-id', 'c', '--issuer', 'https://x.example', '--claim', 'name=a', '--claim', 'name=b'), '--claim name is given twice');
    refused(await add('--type', 'oidc', '--name', 'X', '--client-id', 'c', '--issuer', 'https://x.example', '--client-secret', 's', '--client-secret-stdin'), '--client-secret and --client-secret-stdin cannot be given together');
    refused(await add('--type', 'oidc', '--name', 'X', '--client-id', 'c', '--issuer', 'https://x.example', '--client-secret-stdin'), 'no client secret on stdin (pipe it in, or run in a terminal to be asked)');
    refused(await add('--type', 'oidc', '--name', 'Acme SSO', '--client-id', 'c', '--issuer', 'https://x.example'), 'a connection acme-sso already exists: give this one another id');
    const asJson = await add('--type', 'oidc', '--name', 'X', '--client-id', 'c', '--json');
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stderr)).toEqual({ error: 'invalid_input', message: '--issuer: an OpenID Connect connection needs the issuer URL of its provider' });
    expect((await libraries.connections.list()).map((connection) => connection.id)).not.toContain('x');
  });

  it('a control character in a name is refused, and one stored anyway is shown escaped', async () => {
    refused(await gatehouse(['connections', 'add', '--type', 'google', '--name', 'Goo\u001b[2Jgle', '--id', 'g2', '--client-id', 'c']), '--name: Remove the hidden control characters (such as tabs).');
    const at = new Date();
    await store.connections.create({
      id: 'escaped', type: 'google', name: 'Goo\u001b[2Jgle', issuer: 'https://accounts.google.com', tenant: null, clientId: 'c', sealedSecret: null,
      authorizationUrl: null, tokenUrl: null, apiUrl: null, scopes: ['openid'], claimMapping: {}, showOnLoginPage: true, allowNewAccounts: false,
      trustVerifiedEmails: false, trustUpstreamMfa: false, disabled: false, createdAt: at, updatedAt: at,
    });
    expect(succeeded(await gatehouse(['connections', 'show', '--id', 'escaped']))).toMatch(/^name: +Goo\\u001b\[2Jgle$/m);
    expect(succeeded(await gatehouse(['connections', 'list']))).toContain('Goo\\u001b[2Jgle');
    await store.connections.remove('escaped');
  });
});

describe('gatehouse connections list, update, disable, enable', () => {
  it('lists the connections oldest first; --json for scripts', async () => {
    await libraries.connections.add({ type: 'oidc', name: 'Listed', id: 'listed', issuer: 'https://listed.example', clientId: 'c', showOnLoginPage: false, allowNewAccounts: true }, person);
    const text = succeeded(await gatehouse(['connections', 'list']));
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+TYPE\s+NAME\s+LOGIN PAGE\s+NEW ACCOUNTS\s+STATUS$/);
    expect(lines.find((line) => line.startsWith('listed '))).toMatch(/^listed\s+oidc\s+Listed\s+hidden\s+allowed\s+enabled$/);
    const listed = JSON.parse(succeeded(await gatehouse(['connections', 'list', '--json']))) as Array<Record<string, unknown>>;
    expect(listed.map((connection) => connection.id)).toEqual((await libraries.connections.list()).map((connection) => connection.id));
    expect(JSON.stringify(listed)).not.toMatch(/secret-/);
  });

  it('changes the settings given, each flag and its opposite; records what changed', async () => {
    await libraries.connections.add({ type: 'oidc', name: 'Changing', id: 'changing', issuer: 'https://changing.example', clientId: 'c', clientSecret: 'first-secret' }, person);
    const update = (...flags: string[]) => gatehouse(['connections', 'update', '--id', 'changing', ...flags, '--json']);
    expect(json(await update('--hidden', '--allow-new-accounts', '--trust-verified-emails', '--trust-upstream-mfa', '--name', 'Changed', '--scope', 'openid email')))
      .toMatchObject({ name: 'Changed', show_on_login_page: false, allow_new_accounts: true, trust_verified_emails: true, trust_upstream_mfa: true, scopes: ['openid', 'email'] });
    expect(await lastEvent()).toMatchObject({ type: 'connection_updated', actor: 'cli', details: { connectionId: 'changing', changed: { name: 'Changed', showOnLoginPage: false } } });
    expect(json(await update('--shown', '--no-new-accounts', '--no-trust-verified-emails', '--no-trust-upstream-mfa')))
      .toMatchObject({ show_on_login_page: true, allow_new_accounts: false, trust_verified_emails: false, trust_upstream_mfa: false });
    expect(json(await gatehouse(['connections', 'update', '--id', 'changing', '--client-secret-stdin', '--json'], 'second-secret\n'))).toMatchObject({ has_secret: true });
    expect(await libraries.connections.clientSecret('changing')).toBe('second-secret');
    expect(await lastEvent()).toMatchObject({ details: { changed: { clientSecret: 'changed' } } });
    expect(json(await update('--no-client-secret'))).toMatchObject({ has_secret: false });
    expect(json(await update('--issuer', 'https://changing.example/v2', '--client-id', 'c2', '--claim', 'picture=avatar')))
      .toMatchObject({ issuer: 'https://changing.example/v2', client_id: 'c2', claim_mapping: { picture: 'avatar' } });
    expect(json(await update('--no-claims'))).toMatchObject({ claim_mapping: {} });
  });

  it('sets the presets back: --preset-issuer, --github-com', async () => {
    await libraries.connections.add({ type: 'google', name: 'Google stand-in', id: 'google-standin', issuer: 'http://127.0.0.1:4997', clientId: 'c' }, person);
    expect(json(await gatehouse(['connections', 'update', '--id', 'google-standin', '--preset-issuer', '--json']))).toMatchObject({ issuer: 'https://accounts.google.com' });
    await libraries.connections.add({
      type: 'github', name: 'GHE', id: 'ghe', clientId: 'c', authorizationUrl: 'https://ghe.example/a', tokenUrl: 'https://ghe.example/t', apiUrl: 'https://ghe.example/api',
    }, person);
    expect(json(await gatehouse(['connections', 'update', '--id', 'ghe', '--github-com', '--json']))).toMatchObject({ authorization_url: null, token_url: null, api_url: null });
  });

  it('refuses contradictions, nothing to change, bad values and unknown ids in one line', async () => {
    await libraries.connections.add({ type: 'oidc', name: 'Strict', id: 'strict', issuer: 'https://strict.example', clientId: 'c' }, person);
    const update = (...flags: string[]) => gatehouse(['connections', 'update', ...flags]);
    refused(await update('--id', 'strict', '--shown', '--hidden'), '--shown and --hidden cannot be given together');
    refused(await update('--id', 'strict', '--allow-new-accounts', '--no-new-accounts'), '--allow-new-accounts and --no-new-accounts cannot be given together');
    refused(await update('--id', 'strict', '--client-secret', 'x', '--no-client-secret'), '--client-secret and --no-client-secret cannot be given together');
    refused(await update('--id', 'strict', '--issuer', 'https://a.example', '--preset-issuer'), '--issuer and --preset-issuer cannot be given together');
    refused(await update('--id', 'strict', '--claim', 'name=x', '--no-claims'), '--claim and --no-claims cannot be given together');
    refused(await update('--id', 'strict'), 'nothing to change: give at least one setting to update');
    refused(await update('--id', 'strict', '--issuer', 'https://strict.example#x'), '--issuer: https://strict.example#x must not contain a fragment');
    refused(await update('--id', 'strict', '--preset-issuer'), '--issuer: an OpenID Connect connection needs the issuer URL of its provider');
    refused(await update('--id', 'strict', '--tenant', 'common'), '--tenant: only a microsoft connection has a tenant');
    refused(await update('--id', 'nope', '--hidden'), 'no connection nope');
    refused(await update('--hidden'), '--id is required (the connection id that gatehouse connections list shows)');
    refused(await gatehouse(['connections', 'show', '--id', 'nope']), 'no connection nope');
    refused(await gatehouse(['connections', 'show']), '--id is required (the connection id that gatehouse connections list shows)');
    expect(await libraries.connections.find('strict')).toMatchObject({ issuer: 'https://strict.example', showOnLoginPage: true });
  });

  it('disables and enables a connection: the login page follows at once', async () => {
    await libraries.connections.add({ type: 'oidc', name: 'Toggled', id: 'toggled', issuer: 'https://toggled.example', clientId: 'c' }, person);
    expect(succeeded(await gatehouse(['connections', 'disable', '--id', 'toggled']))).toBe('disabled connection toggled: its button is gone from the login page and sign-ins through it stop\n');
    expect((await libraries.connections.listForLoginPage()).map((connection) => connection.id)).not.toContain('toggled');
    expect(await lastEvent()).toMatchObject({ type: 'connection_disabled', actor: 'cli', details: { connectionId: 'toggled' } });
    expect(succeeded(await gatehouse(['connections', 'list']))).toMatch(/^toggled\s+oidc\s+Toggled\s+shown\s+no\s+disabled$/m);
    expect(json(await gatehouse(['connections', 'enable', '--id', 'toggled', '--json']))).toMatchObject({ id: 'toggled', disabled: false });
    expect((await libraries.connections.listForLoginPage()).map((connection) => connection.id)).toContain('toggled');
    expect(await lastEvent()).toMatchObject({ type: 'connection_enabled', actor: 'cli' });
    refused(await gatehouse(['connections', 'disable', '--id', 'nope']), 'no connection nope');
  });
});

describe('gatehouse connections remove', () => {
  it('removes a connection and unlinks its identities, saying how many', async () => {
    await libraries.connections.add({ type: 'oidc', name: 'Leaving', id: 'leaving', issuer: 'https://leaving.example', clientId: 'c' }, person);
    const account = await store.accounts.create({ id: 'acct-leaving', email: 'leaving@example.com', passwordHash: 'x', emailVerified: true, profile: {}, roles: [], disabled: false });
    await libraries.identities.link({ accountId: account.id, connectionId: 'leaving', subject: 'sub-1', email: null, how: 'created' }, person);
    expect(succeeded(await gatehouse(['connections', 'remove', '--id', 'leaving']))).toBe('removed connection leaving; 1 linked identity unlinked\n');
    expect(await libraries.connections.find('leaving')).toBeUndefined();
    expect(await libraries.identities.listForAccount(account.id)).toEqual([]);
    expect(await lastEvent()).toMatchObject({ type: 'connection_removed', actor: 'cli', details: { connectionId: 'leaving', identitiesUnlinked: 1 } });

    await libraries.connections.add({ type: 'oidc', name: 'Leaving', id: 'leaving', issuer: 'https://leaving.example', clientId: 'c' }, person);
    expect(json(await gatehouse(['connections', 'remove', '--id', 'leaving', '--json']))).toEqual({ id: 'leaving', removed: true, identities_unlinked: 0 });
    refused(await gatehouse(['connections', 'remove', '--id', 'leaving']), 'no connection leaving');
    const asJson = await gatehouse(['connections', 'remove', '--id', 'leaving', '--json']);
    expect(JSON.parse(asJson.stderr)).toEqual({ error: 'not_found', message: 'no connection leaving' });
  });
});

describe('the connections group', () => {
  it('`gatehouse connections` lists its commands (exit 2)', async () => {
    const run = await gatehouse(['connections']);
    expect(run.code).toBe(2);
    for (const command of ['add', 'list', 'show', 'update', 'disable', 'enable', 'remove']) expect(run.stderr).toContain(`  connections ${command}`);
  });

  it("refuses to run with another KEY_ENCRYPTION_KEY than the one a connection's secret was sealed with", async () => {
    const other = mkdtempSync(join(tmpdir(), 'gatehouse-cli-connections-key-'));
    try {
      const keyed = (key: number) => cliFor({ ...testEnvironment(other), KEY_ENCRYPTION_KEY: Buffer.alloc(32, key).toString('base64') });
      succeeded(await keyed(1)(['connections', 'add', '--type', 'google', '--name', 'Google', '--client-id', 'c', '--client-secret-stdin'], 'sealed-with-key-1\n'));
      const run = await keyed(2)(['connections', 'list']);
      expect(run.code, describeRun(run)).toBe(2);
      expect(run.stderr).toMatch(/^gatehouse: KEY_ENCRYPTION_KEY is not the key this store was sealed with/);
      succeeded(await keyed(1)(['connections', 'list']));
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
