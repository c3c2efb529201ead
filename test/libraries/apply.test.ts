import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import type { ApiSpec, ClientSpec, ConnectionSpec } from '../../src/libraries/apply-file.ts';
import { ApplyFileError, digestOf, parseApplyFile, pathText } from '../../src/libraries/apply-file.ts';
import type { CurrentState, DesiredSpecs, PlannedAction } from '../../src/libraries/apply.ts';
import { clientSpecOf, countActions, plan } from '../../src/libraries/apply.ts';

// --- the planner: pure, every case ---------------------------------------------------------------

function client(overrides: Partial<ClientSpec> = {}): ClientSpec & { at: string } {
  return {
    at: 'clients[0]',
    client_id: 'web',
    name: 'Web',
    redirect_uris: ['https://web.example.test/cb'],
    post_logout_redirect_uris: [],
    grant_types: ['authorization_code', 'refresh_token'],
    auth_method: 'client_secret_basic',
    first_party: false,
    pkce_exempt: false,
    require_mfa: false,
    require_phishing_resistant: false,
    scopes: [],
    api_scopes: [],
    logo_uri: null,
    policy_uri: null,
    tos_uri: null,
    backchannel_logout_uri: null,
    backchannel_logout_session_required: true,
    jwks_uri: null,
    jwks: null,
    client_secret: { env: 'WEB_SECRET', digest: digestOf('s'.repeat(40)) },
    ...overrides,
  };
}

const stored = (spec: ClientSpec & { at?: string }, dynamic = false) => {
  const { at: _at, ...rest } = spec;
  return { ...rest, client_secret: rest.client_secret ? { env: null, digest: rest.client_secret.digest } : null, dynamic };
};

function api(overrides: Partial<ApiSpec> = {}): ApiSpec & { at: string } {
  return { at: 'apis[0]', identifier: 'https://api.example.test', name: 'Orders', scopes: ['orders:read', 'orders:write'], signing_alg: 'RS256', access_token_ttl: 3600, ...overrides };
}

function connection(overrides: Partial<ConnectionSpec> = {}): ConnectionSpec & { at: string } {
  return {
    at: 'connections[0]', id: 'google', type: 'google', name: 'Google', issuer: 'https://accounts.google.com', tenant: null, client_id: 'abc',
    scopes: ['openid', 'email', 'profile'], claim_mapping: { name: 'name' }, show_on_login_page: true, allow_new_accounts: false,
    trust_verified_emails: false, trust_upstream_mfa: false, authorization_url: null, token_url: null, api_url: null, disabled: false,
    client_secret: { env: 'GOOGLE_SECRET', digest: digestOf('g') }, ...overrides,
  };
}

const strip = <T extends { at: string }>({ at: _at, ...rest }: T) => rest;
const storedConnection = (spec: ConnectionSpec & { at: string }) => ({ ...strip(spec), client_secret: spec.client_secret ? { env: null, digest: spec.client_secret.digest } : null });

const nothing: CurrentState = { clients: [], apis: [], connections: [], roles: {} };
const none: DesiredSpecs = { clients: [], apis: [], connections: [], roles: {} };

const summary = (actions: PlannedAction[]) => actions.map((action) => `${action.action} ${action.kind} ${action.key}`);

describe('plan: what applying a file does', () => {
  it('creates everything into an empty deployment, APIs before the clients that use their scopes', () => {
    const result = plan(nothing, { ...none, clients: [client({ api_scopes: ['orders:read'] })], apis: [api()], connections: [connection()] }, { prune: false });
    expect(result.problems).toEqual([]);
    expect(summary(result.actions)).toEqual(['create api https://api.example.test', 'create client web', 'create connection google']);
  });

  it('changes nothing when the stored state is as written', () => {
    const desired = { ...none, clients: [client()], apis: [api()], connections: [connection()] };
    const current: CurrentState = { clients: [stored(client())], apis: [strip(api())], connections: [storedConnection(connection())], roles: {} };
    const result = plan(current, desired, { prune: true });
    expect(summary(result.actions)).toEqual(['unchanged api https://api.example.test', 'unchanged client web', 'unchanged connection google']);
    expect(countActions(result.actions)).toEqual({ create: 0, update: 0, unchanged: 3, delete: 0, skip: 0 });
  });

  it('lists each changed field of an update, from and to', () => {
    const current: CurrentState = { ...nothing, clients: [stored(client())] };
    const desired = { ...none, clients: [client({ name: 'Web 2', redirect_uris: ['https://web.example.test/cb', 'https://web.example.test/cb2'], require_mfa: true })] };
    const [action] = plan(current, desired, { prune: false }).actions;
    expect(action).toEqual({
      action: 'update', kind: 'client', key: 'web', at: 'clients[0]', changes: [
        { field: 'name', from: 'Web', to: 'Web 2' },
        { field: 'redirect_uris', from: ['https://web.example.test/cb'], to: ['https://web.example.test/cb', 'https://web.example.test/cb2'] },
        { field: 'require_mfa', from: false, to: true },
      ],
    });
  });

  it('compares lists as sets: a reordered list is no change', () => {
    const current: CurrentState = { ...nothing, clients: [stored(client({ grant_types: ['refresh_token', 'authorization_code'], redirect_uris: ['https://b.test/cb', 'https://a.test/cb'] }))] };
    const desired = { ...none, clients: [client({ redirect_uris: ['https://a.test/cb', 'https://b.test/cb'] })] };
    expect(summary(plan(current, desired, { prune: false }).actions)).toEqual(['unchanged client web']);
  });

  it('compares a client secret by digest and shows only the variable, never a value', () => {
    const current: CurrentState = { ...nothing, clients: [stored(client())] };
    const desired = { ...none, clients: [client({ client_secret: { env: 'WEB_SECRET', digest: digestOf('t'.repeat(40)) } })] };
    const [action] = plan(current, desired, { prune: false }).actions;
    expect(action).toMatchObject({ action: 'update', changes: [{ field: 'client_secret', from: '(set)', to: '${ENV:WEB_SECRET}' }] });
    expect(JSON.stringify(action)).not.toContain(digestOf('t'.repeat(40)));
  });

  it('gives a secret to a client that had none (a switch from public)', () => {
    const current: CurrentState = { ...nothing, clients: [stored(client({ auth_method: 'none', client_secret: null }))] };
    const [action] = plan(current, { ...none, clients: [client()] }, { prune: false }).actions;
    expect(action).toMatchObject({
      action: 'update',
      changes: [{ field: 'auth_method', from: 'none', to: 'client_secret_basic' }, { field: 'client_secret', from: null, to: '${ENV:WEB_SECRET}' }],
    });
  });

  it('does not list a client secret the file leaves out (the auth method change drops it)', () => {
    const current: CurrentState = { ...nothing, clients: [stored(client())] };
    const [action] = plan(current, { ...none, clients: [client({ auth_method: 'none', client_secret: null })] }, { prune: false }).actions;
    expect(action).toMatchObject({ action: 'update', changes: [{ field: 'auth_method', from: 'client_secret_basic', to: 'none' }] });
  });

  it('removes a connection secret the file no longer gives, and changes one that differs', () => {
    const current: CurrentState = { ...nothing, connections: [storedConnection(connection())] };
    const removed = plan(current, { ...none, connections: [connection({ client_secret: null })] }, { prune: false }).actions[0];
    expect(removed).toMatchObject({ action: 'update', changes: [{ field: 'client_secret', from: '(set)', to: null }] });
    const changed = plan(current, { ...none, connections: [connection({ client_secret: { env: 'G2', digest: digestOf('other') } })] }, { prune: false }).actions[0];
    expect(changed).toMatchObject({ action: 'update', changes: [{ field: 'client_secret', from: '(set)', to: '${ENV:G2}' }] });
  });

  it('updates an API and a connection field by field (a claim mapping compared whatever its order)', () => {
    const current: CurrentState = { ...nothing, apis: [strip(api())], connections: [storedConnection(connection({ claim_mapping: { name: 'name', picture: 'picture' } }))] };
    const desired = { ...none, apis: [api({ access_token_ttl: 600 })], connections: [connection({ claim_mapping: { picture: 'picture', name: 'name' }, disabled: true })] };
    const actions = plan(current, desired, { prune: false }).actions;
    expect(actions).toEqual([
      { action: 'update', kind: 'api', key: 'https://api.example.test', at: 'apis[0]', changes: [{ field: 'access_token_ttl', from: 3600, to: 600 }] },
      { action: 'update', kind: 'connection', key: 'google', at: 'connections[0]', changes: [{ field: 'disabled', from: false, to: true }] },
    ]);
  });

  it('leaves what the file does not mention alone without --prune', () => {
    const current: CurrentState = { clients: [stored(client({ client_id: 'other' }))], apis: [strip(api())], connections: [storedConnection(connection())], roles: {} };
    expect(plan(current, none, { prune: false }).actions).toEqual([]);
  });

  it('with --prune deletes unmentioned clients, connections and APIs (after the rest), never a dynamic client', () => {
    const current: CurrentState = {
      clients: [stored(client({ client_id: 'old' })), stored(client({ client_id: 'self-registered' }), true), stored(client())],
      apis: [strip(api({ identifier: 'https://old.example.test' }))],
      connections: [storedConnection(connection({ id: 'old-idp' }))],
      roles: {},
    };
    const result = plan(current, { ...none, clients: [client()] }, { prune: true });
    expect(summary(result.actions)).toEqual(['unchanged client web', 'delete client old', 'delete connection old-idp', 'delete api https://old.example.test']);
  });

  it('never prunes an API it is told to keep (the management API)', () => {
    const current: CurrentState = { ...nothing, apis: [strip(api({ identifier: 'https://id.example.test/api/v1', scopes: ['clients:read'] }))] };
    expect(plan(current, none, { prune: true, keepApis: ['https://id.example.test/api/v1'] }).actions).toEqual([]);
    // Its scopes stay grantable to a client in the file.
    const desired = { ...none, clients: [client({ auth_method: 'client_secret_basic', grant_types: ['client_credentials'], redirect_uris: [], api_scopes: ['clients:read'] })] };
    expect(plan(current, desired, { prune: true, keepApis: ['https://id.example.test/api/v1'] }).problems).toEqual([]);
  });

  it('refuses a client_id taken by a client that registered itself', () => {
    const current: CurrentState = { ...nothing, clients: [stored(client(), true)] };
    const result = plan(current, { ...none, clients: [client()] }, { prune: false });
    expect(result.problems).toEqual(['clients[0].client_id: web is a client that registered itself (dynamic registration); choose another client_id']);
    expect(result.actions).toEqual([]);
  });

  it('refuses a change of a connection\'s type', () => {
    const current: CurrentState = { ...nothing, connections: [storedConnection(connection())] };
    const result = plan(current, { ...none, connections: [connection({ type: 'oidc', issuer: 'https://idp.example.test' })] }, { prune: false });
    expect(result.problems).toEqual(['connections[0].type: connection google is of type google; its type cannot change to oidc (give the new one another id)']);
  });

  it('refuses API scopes no API has, and API scopes listed as the client\'s own scopes', () => {
    const unknown = plan(nothing, { ...none, clients: [client({ api_scopes: ['orders:delete', 'x'] })], apis: [api()] }, { prune: false });
    expect(unknown.problems).toEqual(['clients[0].api_scopes: orders:delete, x are not scopes of any API (in the file, or registered and not pruned)']);
    const misplaced = plan(nothing, { ...none, clients: [client({ scopes: ['openid', 'orders:read'] })], apis: [api()] }, { prune: false });
    expect(misplaced.problems).toEqual(['clients[0].scopes: orders:read is a scope of an API: list it under api_scopes']);
  });

  it('accepts API scopes of a registered API, but not of one --prune deletes', () => {
    const current: CurrentState = { ...nothing, apis: [strip(api())] };
    const desired = { ...none, clients: [client({ api_scopes: ['orders:read'] })] };
    expect(plan(current, desired, { prune: false }).problems).toEqual([]);
    expect(plan(current, desired, { prune: true }).problems).toHaveLength(1);
  });

  it('sets roles of existing accounts, compares them as sets, and skips an email without an account', () => {
    const current: CurrentState = { ...nothing, roles: { 'a@example.test': ['admin'], 'b@example.test': ['ops', 'admin'], 'c@example.test': null } };
    const desired = { ...none, roles: { 'a@example.test': ['admin', 'billing'], 'b@example.test': ['admin', 'ops'], 'c@example.test': ['admin'] } };
    expect(plan(current, desired, { prune: true }).actions).toEqual([
      { action: 'update', kind: 'roles', key: 'a@example.test', at: 'roles["a@example.test"]', changes: [{ field: 'roles', from: ['admin'], to: ['admin', 'billing'] }] },
      { action: 'unchanged', kind: 'roles', key: 'b@example.test', at: 'roles["b@example.test"]' },
      { action: 'skip', kind: 'roles', key: 'c@example.test', at: 'roles["c@example.test"]', reason: 'no_account' },
    ]);
  });

  it('reads a stored client\'s scope into its own scopes and API scopes', () => {
    const record = {
      metadata: { client_id: 'web', client_name: 'Web', redirect_uris: [], grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid orders:read email' },
      createdAt: new Date(), dynamic: false, lastUsedAt: null,
    };
    const spec = clientSpecOf(record as never, null, new Set(['orders:read']));
    expect(spec.scopes).toEqual(['openid', 'email']);
    expect(spec.api_scopes).toEqual(['orders:read']);
    expect(spec.backchannel_logout_session_required).toBe(true);
  });
});

// --- the file: checked whole, problems named by their place -----------------------------------

const env = { WEB_SECRET: 'w'.repeat(40), GOOGLE_SECRET: 'google-secret' };
const parse = (source: string, given: NodeJS.ProcessEnv = env) => parseApplyFile(source, 'gatehouse.yaml', given, { production: false });

function problemsOf(source: string, given: NodeJS.ProcessEnv = env): readonly string[] {
  try {
    parse(source, given);
  } catch (error) {
    expect(error).toBeInstanceOf(ApplyFileError);
    return (error as ApplyFileError).problems;
  }
  throw new Error('the file was accepted');
}

describe('the file', () => {
  it('reads clients, APIs, connections and roles with every default filled in, and the secrets from the environment', () => {
    const desired = parse(`
apis:
  - identifier: https://api.example.test
    scopes: [orders:read]
clients:
  - client_id: web
    name: " Web "
    redirect_uris: [https://web.example.test/cb]
    client_secret: \${ENV:WEB_SECRET}
    api_scopes: [orders:read]
  - client_id: spa
    name: SPA
    public: true
    redirect_uris: [http://127.0.0.1:5173/cb]
connections:
  - id: google
    type: google
    name: Google
    client_id: abc
    client_secret: \${ENV:GOOGLE_SECRET}
roles:
  alice@example.test: [admin, admin]
`);
    expect(desired.apis).toEqual([{ at: 'apis[0]', identifier: 'https://api.example.test', name: null, scopes: ['orders:read'], signing_alg: 'RS256', access_token_ttl: 3600 }]);
    expect(desired.clients[0]).toMatchObject({ at: 'clients[0]', client_id: 'web', name: 'Web', auth_method: 'client_secret_basic', grant_types: ['authorization_code', 'refresh_token'], client_secret: { env: 'WEB_SECRET', digest: digestOf(env.WEB_SECRET) } });
    expect(desired.clients[1]).toMatchObject({ client_id: 'spa', auth_method: 'none', client_secret: null });
    expect(desired.connections[0]).toMatchObject({ id: 'google', issuer: 'https://accounts.google.com', scopes: ['openid', 'email', 'profile'], show_on_login_page: true, disabled: false });
    expect(desired.roles).toEqual({ 'alice@example.test': ['admin'] });
    expect(desired.secrets).toEqual(new Map([['WEB_SECRET', env.WEB_SECRET], ['GOOGLE_SECRET', env.GOOGLE_SECRET]]));
  });

  it('reads JSON too, and an empty file as nothing', () => {
    expect(parse('{"apis": [{"identifier": "https://api.example.test"}]}').apis).toHaveLength(1);
    expect(parse('').clients).toEqual([]);
  });

  it('refuses a secret written in the file, and names a variable that is not set', () => {
    expect(problemsOf('clients:\n  - client_id: web\n    name: Web\n    redirect_uris: [https://web.example.test/cb]\n    client_secret: hunter2-hunter2-hunter2-hunter2-hunter2\n')).toEqual([
      'clients[0].client_secret: a secret is never written in the file: give ${ENV:NAME}, the environment variable that holds it',
    ]);
    expect(problemsOf('connections:\n  - {id: g, type: google, name: G, client_id: a, client_secret: "${ENV:NOPE}"}\n')).toEqual([
      'connections[0].client_secret: the environment variable NOPE is not set',
    ]);
  });

  it('asks a confidential client for a secret, refuses one to a public client, and a short one', () => {
    expect(problemsOf('clients:\n  - {client_id: web, name: Web, redirect_uris: ["https://w.test/cb"]}\n')).toEqual([
      'clients[0].client_secret: is required with auth_method client_secret_basic: ${ENV:NAME}, the environment variable that holds it',
    ]);
    expect(problemsOf('clients:\n  - {client_id: spa, name: S, public: true, redirect_uris: ["https://w.test/cb"], client_secret: "${ENV:WEB_SECRET}"}\n')).toEqual([
      'clients[0].client_secret: a client with auth_method none has no secret',
    ]);
    expect(problemsOf('clients:\n  - {client_id: web, name: W, redirect_uris: ["https://w.test/cb"], client_secret: "${ENV:SHORT}"}\n', { SHORT: 'short' })).toEqual([
      'clients[0].client_secret: the secret in SHORT must be at least 32 characters (e.g. openssl rand -base64 32)',
    ]);
  });

  it('names every problem by its place in the file, in the library\'s words', () => {
    const problems = problemsOf(`
clients:
  - client_id: web
    name: Web
    redirect_uris: [https://ok.example.test/cb]
    client_secret: \${ENV:WEB_SECRET}
  - client_id: -bad
    name: Bad
    redirect_uris: [https://ok.example.test/cb]
    client_secret: \${ENV:WEB_SECRET}
  - client_id: shop
    name: Shop
    redirect_uris: [http://shop.example.test/cb]
    client_secret: \${ENV:WEB_SECRET}
apis:
  - identifier: not a url
connections:
  - {id: Google, type: google, name: G, client_id: a}
roles:
  not-an-email: [admin]
  bob@example.test: [bad role]
`);
    expect(problems).toEqual([
      'clients[1].client_id: must be 1 to 128 letters, digits, dots, dashes, underscores or tildes, beginning with a letter or digit',
    ]);
    const later = problemsOf(`
clients:
  - client_id: shop
    name: Shop
    redirect_uris: [http://shop.example.test/cb]
    client_secret: \${ENV:WEB_SECRET}
apis:
  - identifier: not a url
connections:
  - {id: Google, type: google, name: G, client_id: a}
roles:
  not-an-email: [admin]
  bob@example.test: [bad role]
`);
    expect(later).toHaveLength(5);
    expect(later[0]).toMatch(/^clients\[0\]\.redirect_uris\[0\]: http:\/\/shop\.example\.test\/cb must use https/);
    expect(later[1]).toMatch(/^apis\[0\]\.identifier: /);
    expect(later[2]).toMatch(/^connections\[0\]\.id: /);
    expect(later[3]).toMatch(/^roles\["not-an-email"\]: /);
    expect(later[4]).toMatch(/^roles\["bob@example\.test"\]\[0\]: /);
  });

  it('refuses unknown fields, wrong types, duplicates and the account page\'s client id', () => {
    expect(problemsOf('clients:\n  - {client_id: web, name: W, redirect_uri: x}\n')).toEqual(['clients[0].redirect_uri: unknown field (a typo? see docs/configuration-as-code.md)']);
    expect(problemsOf('apis:\n  - {identifier: https://a.test, access_token_ttl: soon}\n')).toEqual(['apis[0].access_token_ttl: must be a number']);
    expect(problemsOf('apis:\n  - {identifier: https://a.test}\n  - {identifier: https://a.test}\n')).toEqual(['apis[1].identifier: https://a.test is listed twice (also at apis[0])']);
    expect(problemsOf('clients:\n  - {client_id: gatehouse-account, name: A, public: true, redirect_uris: ["https://a.test/cb"]}\n')).toEqual([
      'clients[0].client_id: gatehouse-account is the account page\'s own client; choose another client_id',
    ]);
    expect(problemsOf('version: 2\n')).toEqual(['version: must be one of 1']);
    expect(problemsOf('tenants: []\n')).toEqual(['tenants: unknown field (a typo? see docs/configuration-as-code.md)']);
  });

  it('reports YAML syntax with its line, and a key given twice', () => {
    expect(problemsOf('clients: [\n')[0]).toMatch(/^line 2, column 1: /);
    expect(problemsOf('apis: []\napis: []\n')).toEqual(['line 2, column 1: Map keys must be unique']);
  });

  it('reads the example file of the docs (examples/gatehouse.yaml)', () => {
    const exampleEnv = { SHOP_CLIENT_SECRET: 'a'.repeat(44), REPORTS_CLIENT_SECRET: 'b'.repeat(44), GOOGLE_CLIENT_SECRET: 'g', ACME_CLIENT_SECRET: 'a' };
    const desired = parse(readFileSync(new URL('../../examples/gatehouse.yaml', import.meta.url), 'utf8'), exampleEnv);
    expect(desired.clients.map((entry) => entry.client_id)).toEqual(['shop-web', 'shop-spa', 'reports-job', 'staff-portal']);
    expect(desired.connections.map((entry) => entry.id)).toEqual(['google', 'acme-sso']);
    expect(plan(nothing, desired, { prune: false }).problems).toEqual([]);
  });

  it('writes paths as one reads them', () => {
    expect(pathText(['clients', 2, 'redirect_uris', 0])).toBe('clients[2].redirect_uris[0]');
    expect(pathText(['roles', 'a@b.test', 1])).toBe('roles["a@b.test"][1]');
  });
});
