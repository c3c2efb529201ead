import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import type { AuditSource } from '../../src/libraries/audit.ts';
import { cliSource } from '../../src/libraries/audit.ts';
import type { ConnectionInput, ConnectionsLibrary } from '../../src/libraries/connections.ts';
import { slugOf } from '../../src/libraries/connections.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import { InvalidInputError } from '../../src/libraries/validation.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { AuditEvent, Store } from '../../src/store/types.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';

const operator: AuditSource = cliSource;
const key = Buffer.alloc(32, 7);
const tenantId = '9188040d-6c67-4c5b-b112-36a304b66dad';

let dir: string;
let store: Store;
let config: Config;
let now: Date;
let libraries: Libraries;
let connections: ConnectionsLibrary;

function build(env: Config['env'] = 'test'): ConnectionsLibrary {
  return createLibraries({ store, config: { ...config, env }, clock: () => now, outbox: { send: async () => undefined }, keyEncryptionKey: key }).connections;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-connections-'));
  store = openSqliteStore(join(dir, 'test.db'), () => now.getTime());
  config = loadConfig(testEnvironment(dir));
  now = new Date('2025-06-01T10:00:00.000Z');
  libraries = createLibraries({ store, config, clock: () => now, outbox: { send: async () => undefined }, keyEncryptionKey: key });
  connections = libraries.connections;
});

afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The next moment: connections added one after another are told apart by their creation time. */
function tick(): void {
  now = new Date(now.getTime() + 1000);
}

async function refusal(promise: Promise<unknown>): Promise<GatehouseError> {
  const error = await promise.then(() => new Error('expected a rejection, but it resolved'), (caught: unknown) => caught);
  expect(error).toBeInstanceOf(GatehouseError);
  return error as GatehouseError;
}

/** The field problems of a refused input, as [path, words]. */
async function problems(promise: Promise<unknown>): Promise<Array<[string, string]>> {
  const error = await refusal(promise);
  expect(error).toBeInstanceOf(InvalidInputError);
  expect(error.code).toBe('invalid_input');
  return (error as InvalidInputError).issues.map((issue) => [issue.path.join('.'), issue.message]);
}

const events = async (): Promise<AuditEvent[]> => store.audit.tail({ limit: 100 });

const acme: ConnectionInput = { type: 'oidc', name: 'Acme SSO', issuer: 'https://sso.acme.example', clientId: 'gatehouse', clientSecret: 'acme-secret-1' };

describe('adding a connection', () => {
  it('an OpenID Connect provider: the defaults, an id made from the name, the secret sealed and never shown', async () => {
    const added = await connections.add(acme, operator);
    expect(added).toEqual({
      id: 'acme-sso', type: 'oidc', name: 'Acme SSO', issuer: 'https://sso.acme.example', tenant: null, clientId: 'gatehouse', hasSecret: true,
      authorizationUrl: null, tokenUrl: null, apiUrl: null,
      scopes: ['openid', 'email', 'profile'], claimMapping: { name: 'name', given_name: 'given_name', family_name: 'family_name', picture: 'picture' },
      showOnLoginPage: true, allowNewAccounts: false, trustVerifiedEmails: false, trustUpstreamMfa: false, disabled: false,
      createdAt: now, updatedAt: now,
    });
    expect(JSON.stringify(added)).not.toContain('acme-secret-1');
    expect(await connections.find('acme-sso')).toEqual(added);
    expect(await connections.list()).toEqual([added]);
    expect(await connections.clientSecret('acme-sso')).toBe('acme-secret-1');
    const stored = (await store.connections.find('acme-sso'))!;
    expect(stored.sealedSecret).toMatch(/^v1\./);
    expect(stored.sealedSecret).not.toContain('acme-secret-1');
  });

  it('records connection_added with what was set, never the secret', async () => {
    await connections.add({ ...acme, allowNewAccounts: true }, { actor: 'cli', via: 'a test' });
    const [event] = await events();
    expect(event).toMatchObject({
      type: 'connection_added', actor: 'cli', at: now,
      details: { connectionId: 'acme-sso', type: 'oidc', name: 'Acme SSO', issuer: 'https://sso.acme.example', clientId: 'gatehouse', hasSecret: true, allowNewAccounts: true, via: 'a test' },
    });
    expect(JSON.stringify(event)).not.toContain('acme-secret-1');
  });

  it('takes every setting given: an id, scopes (openid always asked), a claim mapping and the four flags', async () => {
    const added = await connections.add({
      ...acme, id: 'acme', scopes: ['email', 'groups', 'email'], claimMapping: { name: 'display_name', nickname: 'nick' },
      showOnLoginPage: false, allowNewAccounts: true, trustVerifiedEmails: true, trustUpstreamMfa: true,
    }, operator);
    expect(added).toMatchObject({
      id: 'acme', scopes: ['openid', 'email', 'groups'], claimMapping: { name: 'display_name', nickname: 'nick' },
      showOnLoginPage: false, allowNewAccounts: true, trustVerifiedEmails: true, trustUpstreamMfa: true,
    });
    // An empty mapping copies nothing.
    expect(await connections.add({ ...acme, id: 'plain', claimMapping: {} }, operator)).toMatchObject({ claimMapping: {} });
  });

  it('a connection without a secret (a public client at the provider, PKCE only)', async () => {
    const added = await connections.add({ ...acme, clientSecret: undefined }, operator);
    expect(added.hasSecret).toBe(false);
    expect(await connections.clientSecret(added.id)).toBeUndefined();
    expect((await store.connections.find(added.id))!.sealedSecret).toBeNull();
  });

  it('makes ids from names: lowercase letters, digits and dashes, at most 40; the type when nothing is left', () => {
    expect(slugOf('Acme SSO')).toBe('acme-sso');
    expect(slugOf('  Ünïcödé — Straße (EU) ')).toBe('unicode-strasse-eu');
    expect(slugOf('A'.repeat(39) + ' B')).toBe('a'.repeat(39));
    expect(slugOf('株式会社')).toBe('');
  });

  it('names a connection of other scripts by its type', async () => {
    expect((await connections.add({ ...acme, name: '株式会社' }, operator)).id).toBe('oidc');
  });

  it('refuses an id that is taken: conflict, the first left as it was', async () => {
    await connections.add(acme, operator);
    const error = await refusal(connections.add({ ...acme, issuer: 'https://evil.example', clientSecret: 'other' }, operator));
    expect(error.code).toBe('conflict');
    expect(error.message).toBe('a connection acme-sso already exists: give this one another id');
    expect((await connections.find('acme-sso'))!.issuer).toBe('https://sso.acme.example');
    expect(await connections.clientSecret('acme-sso')).toBe('acme-secret-1');
    expect((await events()).map((event) => event.type)).toEqual(['connection_added']);
  });

  it('refuses an id whose identities from an earlier connection are still stored (a removal stopped halfway)', async () => {
    await store.linkedIdentities.link({ connectionId: 'acme-sso', subject: 'left-over', accountId: 'acct-1', email: null, linkedAt: now, lastUsedAt: null });
    const error = await refusal(connections.add(acme, operator));
    expect(error.code).toBe('conflict');
    expect(error.message).toMatch(/remove connection acme-sso again/);
    // Removing it again clears them.
    await connections.remove('acme-sso', operator);
    expect((await connections.add(acme, operator)).id).toBe('acme-sso');
  });
});

describe('presets', () => {
  it('google: its issuer and scopes', async () => {
    expect(await connections.add({ type: 'google', name: 'Google', clientId: '1234.apps.googleusercontent.com', clientSecret: 'GOCSPX-x' }, operator)).toMatchObject({
      id: 'google', issuer: 'https://accounts.google.com', tenant: null, scopes: ['openid', 'email', 'profile'],
      claimMapping: { name: 'name', given_name: 'given_name', family_name: 'family_name', picture: 'picture' },
    });
  });

  it('microsoft: the issuer of its tenant (a GUID, lowercased, or common / organizations / consumers)', async () => {
    expect(await connections.add({ type: 'microsoft', name: 'Work account', tenant: tenantId.toUpperCase(), clientId: 'app-id' }, operator)).toMatchObject({
      id: 'work-account', tenant: tenantId, issuer: `https://login.microsoftonline.com/${tenantId}/v2.0`, scopes: ['openid', 'email', 'profile'],
    });
    for (const tenant of ['common', 'organizations', 'consumers']) {
      tick();
      expect(await connections.add({ type: 'microsoft', name: `Microsoft ${tenant}`, tenant, clientId: 'app-id' }, operator))
        .toMatchObject({ tenant, issuer: `https://login.microsoftonline.com/${tenant}/v2.0` });
    }
  });

  it('microsoft needs a tenant, and a well-formed one', async () => {
    expect(await problems(connections.add({ type: 'microsoft', name: 'Microsoft', clientId: 'app-id' }, operator)))
      .toEqual([['tenant', 'a microsoft connection needs a tenant: a tenant ID (a GUID), common, organizations or consumers']]);
    for (const tenant of ['contoso.onmicrosoft.com', 'common/v2.0', '', '9188040d-6c67-4c5b-b112']) {
      expect(await problems(connections.add({ type: 'microsoft', name: 'Microsoft', tenant, clientId: 'app-id' }, operator)))
        .toEqual([['tenant', 'must be a tenant ID (a GUID), common, organizations or consumers']]);
    }
  });

  it('github: no issuer, its scopes and claims, github.com unless all three URLs are given', async () => {
    expect(await connections.add({ type: 'github', name: 'GitHub', clientId: 'Iv1.abc', clientSecret: 'gh-secret' }, operator)).toMatchObject({
      id: 'github', issuer: null, scopes: ['read:user', 'user:email'], authorizationUrl: null, tokenUrl: null, apiUrl: null,
      claimMapping: { name: 'name', picture: 'avatar_url', preferred_username: 'login' },
    });
    const standIn = { authorizationUrl: 'http://127.0.0.1:4010/login/oauth/authorize', tokenUrl: 'http://127.0.0.1:4010/login/oauth/access_token', apiUrl: 'http://127.0.0.1:4010/api' };
    expect(await connections.add({ type: 'github', name: 'GitHub stand-in', clientId: 'Iv1.abc', ...standIn }, operator)).toMatchObject({ issuer: null, ...standIn });
    expect(await problems(connections.add({ type: 'github', name: 'Half', clientId: 'x', authorizationUrl: standIn.authorizationUrl }, operator))).toEqual([
      ['tokenUrl', 'give the authorization, token and API URLs together, or none (github.com itself)'],
      ['apiUrl', 'give the authorization, token and API URLs together, or none (github.com itself)'],
    ]);
    expect(await problems(connections.add({ type: 'github', name: 'GitHub', issuer: 'https://github.com', clientId: 'x' }, operator)))
      .toEqual([['issuer', expect.stringMatching(/^a github connection has no issuer/)]]);
  });

  it('an explicit issuer overrides the google and microsoft presets (local stand-ins)', async () => {
    expect(await connections.add({ type: 'google', name: 'Google', issuer: 'http://127.0.0.1:4011', clientId: 'x' }, operator)).toMatchObject({ issuer: 'http://127.0.0.1:4011' });
    expect(await connections.add({ type: 'microsoft', name: 'Microsoft', tenant: 'common', issuer: 'http://localhost:4012/common/v2.0', clientId: 'x' }, operator))
      .toMatchObject({ tenant: 'common', issuer: 'http://localhost:4012/common/v2.0' });
  });

  it('refuses settings of other types: a tenant outside microsoft, github URLs outside github, oidc without an issuer', async () => {
    expect(await problems(connections.add({ ...acme, tenant: 'common' }, operator))).toEqual([['tenant', 'only a microsoft connection has a tenant']]);
    expect(await problems(connections.add({ type: 'google', name: 'G', clientId: 'x', apiUrl: 'https://api.example' }, operator)))
      .toEqual([['apiUrl', 'only a github connection has authorization, token and API URLs']]);
    expect(await problems(connections.add({ type: 'oidc', name: 'No issuer', clientId: 'x' }, operator)))
      .toEqual([['issuer', 'an OpenID Connect connection needs the issuer URL of its provider']]);
    expect(await problems(connections.add({ type: 'saml' as 'oidc', name: 'X', clientId: 'x' }, operator)))
      .toEqual([['type', 'the type is one of oidc, google, microsoft, github']]);
  });
});

describe('validation', () => {
  it('names: 1-60 characters without control characters, trimmed', async () => {
    expect((await connections.add({ ...acme, name: '  Acme  ' }, operator)).name).toBe('Acme');
    expect(await problems(connections.add({ ...acme, name: '   ' }, operator))).toEqual([['name', 'a name is required']]);
    expect(await problems(connections.add({ ...acme, name: 'x'.repeat(61) }, operator))).toEqual([['name', 'Use at most 60 characters.']]);
    expect(await problems(connections.add({ ...acme, name: 'Acme\u001b[2J' }, operator))).toEqual([['name', 'Remove the hidden control characters (such as tabs).']]);
    expect(await problems(connections.add({ ...acme, name: 'Acme\u202Eevil' }, operator))).toEqual([['name', 'Remove the hidden control characters (such as tabs).']]);
  });

  it('ids: 1-40 lowercase letters, digits or dashes', async () => {
    for (const id of ['Acme', 'acme_sso', 'a'.repeat(41), '', 'acme/../x', 'ac me']) {
      expect(await problems(connections.add({ ...acme, id }, operator))).toEqual([['id', 'must be 1-40 lowercase letters, digits or -']]);
    }
    expect((await connections.add({ ...acme, id: 'a'.repeat(40) }, operator)).id).toBe('a'.repeat(40));
  });

  it('client IDs and secrets', async () => {
    expect(await problems(connections.add({ ...acme, clientId: ' ' }, operator))).toEqual([['clientId', 'a client ID is required']]);
    expect(await problems(connections.add({ ...acme, clientId: 'a b' }, operator))).toEqual([['clientId', 'must be at most 512 characters, without spaces or control characters']]);
    expect(await problems(connections.add({ ...acme, clientSecret: '' }, operator))).toEqual([['clientSecret', 'must be 1-1024 characters']]);
    expect(await problems(connections.add({ ...acme, clientSecret: 's'.repeat(1025) }, operator))).toEqual([['clientSecret', 'must be 1-1024 characters']]);
    expect((await connections.add({ ...acme, clientSecret: 's'.repeat(1024) }, operator)).hasSecret).toBe(true);
    expect(await connections.clientSecret('acme-sso')).toBe('s'.repeat(1024));
  });

  it('scopes and claims', async () => {
    expect(await problems(connections.add({ ...acme, scopes: ['email profile'] }, operator))).toEqual([['scopes.0', 'scopes are names without spaces or quotes']]);
    expect(await problems(connections.add({ type: 'github', name: 'GitHub', clientId: 'x', scopes: [] }, operator))).toEqual([['scopes', 'at least one scope is required']]);
    expect(await problems(connections.add({ ...acme, claimMapping: { email: 'mail' } }, operator)))
      .toEqual([['claimMapping.email', expect.stringMatching(/^"email" is not a profile claim Gatehouse keeps \(name, given_name, /)]]);
    expect(await problems(connections.add({ ...acme, claimMapping: { name: 'display name' } }, operator)))
      .toEqual([['claimMapping.name', 'upstream claim names are 1-128 characters, without spaces or control characters']]);
    // Upstream claim names are the provider's: URIs and dotted names too.
    expect((await connections.add({ ...acme, claimMapping: { name: 'http://schemas.example/claims/name', nickname: 'user.nick' } }, operator)).claimMapping)
      .toEqual({ name: 'http://schemas.example/claims/name', nickname: 'user.nick' });
  });

  it('issuer URLs: absolute, no credentials, query or fragment, https or (outside production) loopback http; kept as typed', async () => {
    const issuerProblems = async (issuer: string) => (await problems(connections.add({ ...acme, issuer }, operator))).map(([path, words]) => `${path}: ${words}`);
    expect(await issuerProblems('sso.acme.example')).toEqual(['issuer: "sso.acme.example" is not an absolute URL']);
    expect(await issuerProblems('https://sso.acme.example/a b')).toEqual(['issuer: "https://sso.acme.example/a b" is not an absolute URL']);
    expect(await issuerProblems('https://user:pass@sso.acme.example')).toEqual(['issuer: https://…@sso.acme.example must not contain credentials']);
    expect(await issuerProblems('https://sso.acme.example/#x')).toEqual(['issuer: https://sso.acme.example/#x must not contain a fragment']);
    expect(await issuerProblems('https://sso.acme.example/?tenant=1')).toEqual(['issuer: https://sso.acme.example/?tenant=1 must not contain a query']);
    expect(await issuerProblems('http://sso.acme.example')).toEqual([
      'issuer: http://sso.acme.example must use https (http is allowed only for localhost, 127.0.0.1 and [::1], and not in production)',
    ]);
    expect(await issuerProblems('http://10.0.0.1:8080')).toHaveLength(1);
    expect(await issuerProblems('ftp://127.0.0.1')).toHaveLength(1);
    expect(await issuerProblems(`https://sso.acme.example/${'x'.repeat(2048)}`)).toEqual(['issuer: must be at most 2048 characters']);
    // Issuers are compared byte for byte: no slash is added or removed.
    let id = 0;
    for (const issuer of ['https://sso.acme.example/', 'https://sso.acme.example/realms/main', 'http://127.0.0.1:4000', 'http://localhost:4000/x', 'http://[::1]:4000']) {
      tick();
      expect((await connections.add({ ...acme, id: `ok-${(id += 1)}`, issuer }, operator)).issuer).toBe(issuer);
    }
  });

  it('in production every upstream URL is https, loopback included', async () => {
    const production = build('production');
    expect(await problems(production.add({ ...acme, issuer: 'http://127.0.0.1:4000' }, operator))).toEqual([['issuer', 'http://127.0.0.1:4000 must use https']]);
    expect(await problems(production.add({ type: 'google', name: 'Google', issuer: 'http://localhost:4011', clientId: 'x' }, operator))).toEqual([['issuer', 'http://localhost:4011 must use https']]);
    expect((await problems(production.add({
      type: 'github', name: 'GitHub', clientId: 'x', authorizationUrl: 'http://127.0.0.1:1/a', tokenUrl: 'https://ghe.example/t', apiUrl: 'http://[::1]:1/api',
    }, operator))).map(([path]) => path)).toEqual(['authorizationUrl', 'apiUrl']);
    expect((await production.add(acme, operator)).issuer).toBe('https://sso.acme.example');
    expect((await production.add({ type: 'google', name: 'Google', clientId: 'x' }, operator)).issuer).toBe('https://accounts.google.com');
  });

  it('reports every problem at once, each with its field', async () => {
    expect((await problems(connections.add({ type: 'oidc', name: '', clientId: '', clientSecret: '', scopes: ['a b'] }, operator))).map(([path]) => path))
      .toEqual(['name', 'clientId', 'clientSecret', 'scopes.0']);
  });
});

describe('the secret at rest', () => {
  it('is sealed: never in the database file in clear, and opens only for its own connection', async () => {
    const secret = 'a-very-recognisable-upstream-secret-4711';
    await connections.add({ ...acme, clientSecret: secret }, operator);
    await connections.update('acme-sso', { name: 'Acme, renamed' }, operator);
    const sealed = (await store.connections.find('acme-sso'))!.sealedSecret!;
    await store.close();
    for (const file of ['test.db', 'test.db-wal']) {
      if (!existsSync(join(dir, file))) continue;
      const bytes = readFileSync(join(dir, file));
      expect(bytes.includes(secret)).toBe(false);
      expect(bytes.includes(Buffer.from(secret, 'utf16le'))).toBe(false);
    }
    store = openSqliteStore(join(dir, 'test.db'), () => now.getTime());
    connections = build();
    expect(await connections.clientSecret('acme-sso')).toBe(secret);
    // Moved to another connection's record, it does not open.
    await connections.add({ ...acme, id: 'other', clientSecret: 'x' }, operator);
    await store.connections.update('other', { sealedSecret: sealed });
    await expect(connections.clientSecret('other')).rejects.toMatchObject({ code: 'internal' });
  });
});

describe('the login page', () => {
  it('lists the enabled connections shown on it, in creation order, as the store has them now', async () => {
    await connections.add({ ...acme, name: 'Zeta' }, operator);
    tick();
    await connections.add({ type: 'google', name: 'Google', clientId: 'x' }, operator);
    tick();
    await connections.add({ ...acme, name: 'Hidden', showOnLoginPage: false }, operator);
    tick();
    await connections.add({ type: 'github', name: 'GitHub', clientId: 'x' }, operator);
    expect((await connections.listForLoginPage()).map((connection) => connection.id)).toEqual(['zeta', 'google', 'github']);
    // Another instance (or the CLI) changes the store: the next page shows it.
    const elsewhere = build();
    await elsewhere.setDisabled('google', true, operator);
    await elsewhere.update('hidden', { showOnLoginPage: true }, operator);
    expect((await connections.listForLoginPage()).map((connection) => connection.id)).toEqual(['zeta', 'hidden', 'github']);
    expect((await connections.list()).map((connection) => connection.id)).toEqual(['zeta', 'google', 'hidden', 'github']);
  });
});

describe('updating', () => {
  it('changes the fields given, keeps the others, and records what changed (the secret only as changed)', async () => {
    await connections.add(acme, operator);
    tick();
    const updated = await connections.update('acme-sso', {
      name: 'Acme Corp', clientSecret: 'acme-secret-2', scopes: ['openid', 'email'], allowNewAccounts: true, trustVerifiedEmails: true,
    }, operator);
    expect(updated).toMatchObject({
      id: 'acme-sso', name: 'Acme Corp', issuer: 'https://sso.acme.example', clientId: 'gatehouse', hasSecret: true, scopes: ['openid', 'email'],
      allowNewAccounts: true, trustVerifiedEmails: true, trustUpstreamMfa: false, showOnLoginPage: true, updatedAt: now,
    });
    expect(updated.createdAt).toEqual(new Date(now.getTime() - 1000));
    expect(await connections.clientSecret('acme-sso')).toBe('acme-secret-2');
    const event = (await events()).at(-1)!;
    expect(event).toMatchObject({
      type: 'connection_updated', actor: 'cli',
      details: { connectionId: 'acme-sso', changed: { name: 'Acme Corp', clientSecret: 'changed', scopes: ['openid', 'email'], allowNewAccounts: true, trustVerifiedEmails: true } },
    });
    expect(JSON.stringify(event)).not.toContain('acme-secret');
  });

  it('removes the secret with null', async () => {
    await connections.add(acme, operator);
    expect((await connections.update('acme-sso', { clientSecret: null }, operator)).hasSecret).toBe(false);
    expect(await connections.clientSecret('acme-sso')).toBeUndefined();
    expect((await events()).at(-1)!.details).toEqual({ connectionId: 'acme-sso', changed: { clientSecret: 'removed' } });
  });

  it('records nothing when nothing changes', async () => {
    await connections.add(acme, operator);
    tick();
    const same = await connections.update('acme-sso', { name: 'Acme SSO', showOnLoginPage: true }, operator);
    expect(same.updatedAt).toEqual(new Date(now.getTime() - 1000));
    expect((await events()).map((event) => event.type)).toEqual(['connection_added']);
  });

  it('checks the result as a whole, with the same rules as adding', async () => {
    await connections.add(acme, operator);
    await connections.add({ type: 'github', name: 'GitHub', clientId: 'x' }, operator);
    expect(await problems(connections.update('acme-sso', { issuer: 'http://evil.example' }, operator))).toHaveLength(1);
    expect(await problems(connections.update('acme-sso', { issuer: null }, operator))).toEqual([['issuer', 'an OpenID Connect connection needs the issuer URL of its provider']]);
    expect(await problems(connections.update('acme-sso', { tenant: 'common' }, operator))).toEqual([['tenant', 'only a microsoft connection has a tenant']]);
    expect(await problems(connections.update('github', { tokenUrl: 'https://ghe.example/t' }, operator))).toHaveLength(2);
    expect(await problems(connections.update('github', { issuer: 'https://github.com' }, operator))).toHaveLength(1);
    expect(await problems(connections.update('acme-sso', { name: '' }, operator))).toEqual([['name', 'a name is required']]);
    expect((await connections.find('acme-sso'))!.issuer).toBe('https://sso.acme.example');
    // Production's rule holds for updates too.
    expect(await problems(build('production').update('acme-sso', { issuer: 'http://127.0.0.1:4000' }, operator))).toEqual([['issuer', 'http://127.0.0.1:4000 must use https']]);
  });

  it("microsoft: the preset's issuer follows the tenant; an explicit issuer stays until set back with null", async () => {
    await connections.add({ type: 'microsoft', name: 'Microsoft', tenant: 'common', clientId: 'x' }, operator);
    expect(await connections.update('microsoft', { tenant: tenantId }, operator)).toMatchObject({ tenant: tenantId, issuer: `https://login.microsoftonline.com/${tenantId}/v2.0` });
    expect(await connections.update('microsoft', { issuer: 'http://127.0.0.1:4012/x/v2.0' }, operator)).toMatchObject({ issuer: 'http://127.0.0.1:4012/x/v2.0' });
    expect(await connections.update('microsoft', { tenant: 'organizations' }, operator)).toMatchObject({ tenant: 'organizations', issuer: 'http://127.0.0.1:4012/x/v2.0' });
    expect(await connections.update('microsoft', { issuer: null }, operator)).toMatchObject({ issuer: 'https://login.microsoftonline.com/organizations/v2.0' });
  });

  it('github: the URLs set together, and back to github.com with null', async () => {
    await connections.add({ type: 'github', name: 'GitHub', clientId: 'x' }, operator);
    const urls = { authorizationUrl: 'https://ghe.example/login/oauth/authorize', tokenUrl: 'https://ghe.example/login/oauth/access_token', apiUrl: 'https://ghe.example/api/v3' };
    expect(await connections.update('github', urls, operator)).toMatchObject(urls);
    expect(await connections.update('github', { authorizationUrl: null, tokenUrl: null, apiUrl: null }, operator)).toMatchObject({ authorizationUrl: null, tokenUrl: null, apiUrl: null });
  });

  it('an unknown id is not_found', async () => {
    for (const attempt of [connections.update('nope', { name: 'x' }, operator), connections.setDisabled('nope', true, operator), connections.remove('nope', operator), connections.clientSecret('nope')]) {
      const error = await refusal(attempt);
      expect(error.code).toBe('not_found');
      expect(error.status).toBe(404);
      expect(error.message).toBe('no connection nope');
    }
    expect(await connections.find('nope')).toBeUndefined();
    expect(await events()).toEqual([]);
  });
});

describe('disabling, enabling and removing', () => {
  it('disables and enables, recording each change once', async () => {
    await connections.add(acme, operator);
    expect((await connections.setDisabled('acme-sso', true, operator)).disabled).toBe(true);
    expect((await connections.setDisabled('acme-sso', true, operator)).disabled).toBe(true);
    expect(await connections.listForLoginPage()).toEqual([]);
    expect((await connections.setDisabled('acme-sso', false, operator)).disabled).toBe(false);
    expect((await events()).map((event) => [event.type, event.details.connectionId])).toEqual([
      ['connection_added', 'acme-sso'], ['connection_disabled', 'acme-sso'], ['connection_enabled', 'acme-sso'],
    ]);
  });

  it('removes a connection and unlinks every identity linked through it', async () => {
    await connections.add(acme, operator);
    await connections.add({ ...acme, id: 'other' }, operator);
    const account = await store.accounts.create({ id: 'acct-1', email: 'ada@example.com', passwordHash: 'x', emailVerified: true, profile: {}, roles: [], disabled: false });
    await libraries.identities.link({ accountId: account.id, connectionId: 'acme-sso', subject: 's-1', email: null, how: 'created' }, operator);
    await libraries.identities.link({ accountId: account.id, connectionId: 'other', subject: 's-1', email: null, how: 'created' }, operator);
    await connections.remove('acme-sso', operator);
    expect(await connections.find('acme-sso')).toBeUndefined();
    expect(await libraries.identities.find('acme-sso', 's-1')).toBeUndefined();
    expect(await libraries.identities.find('other', 's-1')).toBeDefined();
    expect((await events()).at(-1)).toMatchObject({ type: 'connection_removed', details: { connectionId: 'acme-sso', type: 'oidc', name: 'Acme SSO', identitiesUnlinked: 1 } });
    expect((await refusal(connections.remove('acme-sso', operator))).code).toBe('not_found');
  });
});
