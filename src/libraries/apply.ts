import { randomUUID } from 'node:crypto';

import type { Clock } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import { GatehouseError, isGatehouseError } from '../errors.ts';
import { message } from '../messages/messages.ts';
import type { ClientRecord, Store } from '../store/types.ts';
import type { AccountsLibrary } from './accounts.ts';
import type { ApisLibrary } from './apis.ts';
import type { ApiSpec, ClientSpec, ConnectionSpec, DesiredState, SecretSpec } from './apply-file.ts';
import { digestOf, parseApplyFile, readApplyFile } from './apply-file.ts';
import type { AuditSource } from './audit.ts';
import type { ClientChange, ClientsLibrary, NewClientInput } from './clients.ts';
import type { Connection, ConnectionsLibrary, ConnectionUpdate } from './connections.ts';
import { presetIssuer } from './connections.ts';

/**
 * Configuration as code (docs/configuration-as-code.md): `gatehouse apply FILE` and
 * GATEHOUSE_SEED_FILE make the clients, APIs, connections and roles a file lists exist as written.
 *
 * Three steps. The file is read and checked whole (apply-file.ts). `plan` compares it with what is
 * stored, a pure function: what to create, update (field by field), leave alone, and with `prune`
 * delete. Then each change is made through the library an operator's command uses (clients, apis,
 * connections, accounts), so it leaves the audit event that command leaves, with the source saying
 * who: `{ actor: 'cli', via: 'apply' }` or `{ actor: 'system', via: 'seed' }`. A second run finds
 * nothing to change.
 *
 * Never pruned: clients that registered themselves (RFC 7591), the account page's own client (not a
 * stored client at all), accounts. Roles are set only for accounts that exist.
 */

export type ResourceKind = 'api' | 'client' | 'connection' | 'roles';

/** One field's change; secrets appear only as `${ENV:NAME}`, "(set)" or null, never their value. */
export type FieldChange = { field: string; from: unknown; to: unknown };

export type PlannedAction =
  | { action: 'create'; kind: ResourceKind; key: string; at: string }
  | { action: 'update'; kind: ResourceKind; key: string; at: string; changes: FieldChange[] }
  | { action: 'unchanged'; kind: ResourceKind; key: string; at: string }
  | { action: 'delete'; kind: ResourceKind; key: string }
  | { action: 'skip'; kind: 'roles'; key: string; at: string; reason: 'no_account' };

export type Plan = {
  actions: PlannedAction[];
  /** Why the file cannot be applied to this deployment (path first); nothing is changed while there are any. */
  problems: string[];
};

/** What is stored, in the file's terms (see currentState). */
export type CurrentState = {
  clients: Array<ClientSpec & { dynamic: boolean }>;
  apis: ApiSpec[];
  connections: ConnectionSpec[];
  /** For each email the file gives roles for: that account's roles, or null when there is no such account. */
  roles: Record<string, string[] | null>;
};

/** The desired state without its secrets' values: all the planner needs. */
export type DesiredSpecs = Omit<DesiredState, 'secrets'>;

// --- comparing -----------------------------------------------------------------------------------

/** A value for comparing: lists of text as sets (sorted, once each), mappings with sorted keys. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) {
    if (value.every((item) => typeof item === 'string')) return [...new Set(value as string[])].sort();
    return value.map(canonical);
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical((value as Record<string, unknown>)[key])]));
  }
  return value;
}

const same = (a: unknown, b: unknown) => JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));

/** A secret as a change shows it: the variable it comes from, "(set)" for a stored one, null for none. */
function secretShown(secret: SecretSpec | null): string | null {
  if (!secret) return null;
  return secret.env ? `\${ENV:${secret.env}}` : '(set)';
}

/** Field-by-field changes from `current` to `desired`; `skip` lists fields compared elsewhere. */
function fieldChanges<T extends object>(current: T, desired: T, skip: readonly string[]): FieldChange[] {
  const changes: FieldChange[] = [];
  for (const field of Object.keys(desired)) {
    if (skip.includes(field)) continue;
    const from = (current as Record<string, unknown>)[field];
    const to = (desired as Record<string, unknown>)[field];
    if (!same(from, to)) changes.push({ field, from, to });
  }
  return changes;
}

/**
 * A secret's change. A client's secret is compared only when the file gives one (a client without
 * one uses no secret: its auth_method says so, and the library drops a stored one); a connection
 * without one in the file has none.
 */
function secretChange(current: SecretSpec | null, desired: SecretSpec | null, kind: 'client' | 'connection'): FieldChange | undefined {
  if (!desired) return kind === 'connection' && current ? { field: 'client_secret', from: secretShown(current), to: null } : undefined;
  if (current && current.digest === desired.digest) return undefined;
  return { field: 'client_secret', from: secretShown(current), to: secretShown(desired) };
}

const withoutAt = <T extends { at: string }>({ at: _at, ...rest }: T) => rest;

/**
 * What applying `desired` to `current` does, in order: APIs (clients name their scopes), clients,
 * connections, roles; then, with `prune`, the deletions (clients, connections, APIs). Pure.
 */
export function plan(current: CurrentState, desired: DesiredSpecs, options: { prune: boolean; keepApis?: readonly string[] }): Plan {
  const actions: PlannedAction[] = [];
  const problems: string[] = [];

  // APIs.
  const currentApis = new Map(current.apis.map((api) => [api.identifier, api]));
  for (const api of desired.apis) {
    const existing = currentApis.get(api.identifier);
    if (!existing) {
      actions.push({ action: 'create', kind: 'api', key: api.identifier, at: api.at });
      continue;
    }
    const changes = fieldChanges(existing, withoutAt(api), ['identifier']);
    actions.push(changes.length ? { action: 'update', kind: 'api', key: api.identifier, at: api.at, changes } : { action: 'unchanged', kind: 'api', key: api.identifier, at: api.at });
  }

  // The scopes of the APIs there will be: those of the file, and (unless pruned) those stored.
  const desiredApiIds = new Set(desired.apis.map((api) => api.identifier));
  const keptApis = new Set(options.keepApis ?? []);
  const remainingApis = [...desired.apis, ...current.apis.filter((api) => (!options.prune || keptApis.has(api.identifier)) && !desiredApiIds.has(api.identifier))];
  const apiScopes = new Set(remainingApis.flatMap((api) => api.scopes));
  const knownApiScopes = new Set([...desired.apis, ...current.apis].flatMap((api) => api.scopes));

  // Clients.
  const currentClients = new Map(current.clients.map((client) => [client.client_id, client]));
  for (const client of desired.clients) {
    const unknown = client.api_scopes.filter((scope) => !apiScopes.has(scope));
    if (unknown.length) problems.push(`${client.at}.api_scopes: ${message('apply.api_scopes_unknown', { count: unknown.length, scopes: unknown.join(', ') })}`);
    const misplaced = client.scopes.filter((scope) => knownApiScopes.has(scope));
    if (misplaced.length) problems.push(`${client.at}.scopes: ${message('apply.scopes_of_apis', { count: misplaced.length, scopes: misplaced.join(', ') })}`);
    const existing = currentClients.get(client.client_id);
    if (!existing) {
      actions.push({ action: 'create', kind: 'client', key: client.client_id, at: client.at });
      continue;
    }
    if (existing.dynamic) {
      problems.push(`${client.at}.client_id: ${message('apply.client_dynamic', { clientId: client.client_id })}`);
      continue;
    }
    const { dynamic: _dynamic, ...stored } = existing;
    const changes = fieldChanges(stored, withoutAt(client), ['client_id', 'client_secret']);
    const secret = secretChange(existing.client_secret, client.client_secret, 'client');
    if (secret) changes.push(secret);
    actions.push(changes.length ? { action: 'update', kind: 'client', key: client.client_id, at: client.at, changes } : { action: 'unchanged', kind: 'client', key: client.client_id, at: client.at });
  }

  // Connections.
  const currentConnections = new Map(current.connections.map((connection) => [connection.id, connection]));
  for (const connection of desired.connections) {
    const existing = currentConnections.get(connection.id);
    if (!existing) {
      actions.push({ action: 'create', kind: 'connection', key: connection.id, at: connection.at });
      continue;
    }
    if (existing.type !== connection.type) {
      problems.push(`${connection.at}.type: ${message('apply.connection_type_changed', { id: connection.id, from: existing.type, to: connection.type })}`);
      continue;
    }
    const changes = fieldChanges(existing, withoutAt(connection), ['id', 'client_secret']);
    const secret = secretChange(existing.client_secret, connection.client_secret, 'connection');
    if (secret) changes.push(secret);
    actions.push(changes.length ? { action: 'update', kind: 'connection', key: connection.id, at: connection.at, changes } : { action: 'unchanged', kind: 'connection', key: connection.id, at: connection.at });
  }

  // Roles.
  for (const [email, roles] of Object.entries(desired.roles)) {
    const at = `roles[${JSON.stringify(email)}]`;
    const held = current.roles[email];
    if (held === null || held === undefined) {
      actions.push({ action: 'skip', kind: 'roles', key: email, at, reason: 'no_account' });
    } else if (same(held, roles)) {
      actions.push({ action: 'unchanged', kind: 'roles', key: email, at });
    } else {
      actions.push({ action: 'update', kind: 'roles', key: email, at, changes: [{ field: 'roles', from: [...held].sort(), to: roles }] });
    }
  }

  if (options.prune) {
    const listedClients = new Set(desired.clients.map((client) => client.client_id));
    for (const client of current.clients) {
      if (!client.dynamic && !listedClients.has(client.client_id)) actions.push({ action: 'delete', kind: 'client', key: client.client_id });
    }
    const listedConnections = new Set(desired.connections.map((connection) => connection.id));
    for (const connection of current.connections) {
      if (!listedConnections.has(connection.id)) actions.push({ action: 'delete', kind: 'connection', key: connection.id });
    }
    const kept = new Set(options.keepApis ?? []);
    for (const api of current.apis) {
      if (!desiredApiIds.has(api.identifier) && !kept.has(api.identifier)) actions.push({ action: 'delete', kind: 'api', key: api.identifier });
    }
  }
  return { actions, problems };
}

/** How many actions of each sort a plan has. */
export function countActions(actions: readonly PlannedAction[]): Record<PlannedAction['action'], number> {
  const counts = { create: 0, update: 0, unchanged: 0, delete: 0, skip: 0 };
  for (const action of actions) counts[action.action] += 1;
  return counts;
}

// --- what is stored, in the file's terms --------------------------------------------------------

const sortedUnique = (values: readonly string[]) => [...new Set(values)].sort();

/** A stored client as a file would list it; its scope split into API scopes (those of `apiScopes`) and the rest. */
export function clientSpecOf(record: ClientRecord, secret: SecretSpec | null, apiScopes: ReadonlySet<string>): ClientSpec & { dynamic: boolean } {
  const metadata = record.metadata;
  const string = (key: string) => (typeof metadata[key] === 'string' ? metadata[key] as string : null);
  const tokens = typeof metadata.scope === 'string' ? metadata.scope.split(' ').filter(Boolean) : [];
  const backchannel = string('backchannel_logout_uri');
  return {
    client_id: metadata.client_id,
    name: metadata.client_name ?? '',
    redirect_uris: metadata.redirect_uris ?? [],
    post_logout_redirect_uris: metadata.post_logout_redirect_uris ?? [],
    grant_types: metadata.grant_types ?? [],
    auth_method: (metadata.token_endpoint_auth_method ?? 'client_secret_basic') as ClientSpec['auth_method'],
    first_party: metadata.first_party === true,
    pkce_exempt: metadata.pkce_exempt === true,
    require_mfa: metadata.require_mfa === true,
    require_phishing_resistant: metadata.gatehouse_require_phishing_resistant === true,
    scopes: [...new Set(tokens.filter((token) => !apiScopes.has(token)))],
    api_scopes: [...new Set(tokens.filter((token) => apiScopes.has(token)))],
    logo_uri: string('logo_uri'),
    policy_uri: string('policy_uri'),
    tos_uri: string('tos_uri'),
    backchannel_logout_uri: backchannel,
    backchannel_logout_session_required: backchannel ? metadata.backchannel_logout_session_required !== false : true,
    jwks_uri: string('jwks_uri'),
    jwks: (metadata.jwks as ClientSpec['jwks'] | undefined) ?? null,
    client_secret: secret,
    dynamic: record.dynamic,
  };
}

/** A stored connection as a file would list it. */
export function connectionSpecOf(connection: Connection, secret: SecretSpec | null): ConnectionSpec {
  return {
    id: connection.id,
    type: connection.type,
    name: connection.name,
    issuer: connection.issuer,
    tenant: connection.tenant,
    client_id: connection.clientId,
    scopes: connection.scopes,
    claim_mapping: connection.claimMapping,
    show_on_login_page: connection.showOnLoginPage,
    allow_new_accounts: connection.allowNewAccounts,
    trust_verified_emails: connection.trustVerifiedEmails,
    trust_upstream_mfa: connection.trustUpstreamMfa,
    authorization_url: connection.authorizationUrl,
    token_url: connection.tokenUrl,
    api_url: connection.apiUrl,
    disabled: connection.disabled,
    client_secret: secret,
  };
}

// --- the library ---------------------------------------------------------------------------------

export type ApplyOptions = { dryRun?: boolean; prune?: boolean };

export type ApplyReport = {
  dryRun: boolean;
  prune: boolean;
  actions: PlannedAction[];
  counts: Record<PlannedAction['action'], number>;
  /** Whether anything was (or, in a dry run, would be) changed. */
  changes: boolean;
};

export type ApplyLibrary = {
  /** Reads and checks a file (see apply-file.ts); secrets from `env`. ApplyFileError (`invalid_config`) names every problem. */
  read(file: string, env: NodeJS.ProcessEnv): Promise<DesiredState>;
  /** The same for a file's text. */
  parse(source: string, file: string, env: NodeJS.ProcessEnv): DesiredState;
  /** What is stored of what a file could list, in the file's terms. */
  current(desired: DesiredSpecs): Promise<CurrentState>;
  /**
   * Plans and (unless `dryRun`) makes the changes, one deployment-wide run at a time (a lease in
   * the store). `invalid_config` when the plan has problems (nothing is changed then). A change
   * that fails stops the run: the error says which and how many were made before it.
   */
  run(desired: DesiredState, options: ApplyOptions, source: AuditSource): Promise<ApplyReport>;
};

type ApplyDependencies = {
  store: Pick<Store, 'leases'>;
  config: Pick<Config, 'env' | 'issuer'>;
  clock: Clock;
  clients: ClientsLibrary;
  apis: ApisLibrary;
  connections: ConnectionsLibrary;
  accounts: Pick<AccountsLibrary, 'findByEmail' | 'setRoles'>;
};

/** The lease that keeps applying (the CLI's, each instance's seed) to one at a time. */
export const applyLeaseName = 'apply';
const leaseMs = 120_000;
/** How long a run waits for another to finish before it gives up (wall time). */
const leaseWaitMs = 60_000;

/** Runs `work` holding the apply lease, waiting for a run elsewhere (another instance's seed) to finish first. */
async function holdingLease<T>(deps: ApplyDependencies, work: () => Promise<T>): Promise<T> {
  const holder = randomUUID();
  const giveUpAt = Date.now() + leaseWaitMs;
  for (;;) {
    const now = deps.clock();
    if (await deps.store.leases.acquire(applyLeaseName, holder, now, new Date(now.getTime() + leaseMs))) break;
    if (Date.now() >= giveUpAt) throw new GatehouseError('conflict', 'apply.busy');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  try {
    return await work();
  } finally {
    await deps.store.leases.release(applyLeaseName, holder);
  }
}

const clientScope = (spec: ClientSpec) => [...spec.scopes, ...spec.api_scopes].join(' ');

function newClientInput(spec: ClientSpec): NewClientInput {
  const scope = clientScope(spec);
  return {
    name: spec.name,
    redirectUris: spec.redirect_uris,
    postLogoutRedirectUris: spec.post_logout_redirect_uris,
    firstParty: spec.first_party,
    pkceExempt: spec.pkce_exempt,
    requireMfa: spec.require_mfa,
    requirePhishingResistant: spec.require_phishing_resistant,
    grantTypes: spec.grant_types as NewClientInput['grantTypes'],
    authMethod: spec.auth_method,
    ...(scope ? { scope } : {}),
    ...(spec.jwks_uri ? { jwksUri: spec.jwks_uri } : {}),
    ...(spec.jwks ? { jwks: spec.jwks as NewClientInput['jwks'] } : {}),
    ...(spec.logo_uri ? { logoUri: spec.logo_uri } : {}),
    ...(spec.policy_uri ? { policyUri: spec.policy_uri } : {}),
    ...(spec.tos_uri ? { tosUri: spec.tos_uri } : {}),
    ...(spec.backchannel_logout_uri ? { backchannelLogoutUri: spec.backchannel_logout_uri } : {}),
    backchannelLogoutSessionRequired: spec.backchannel_logout_session_required,
  };
}

/** The whole client as the file says: every field given, an absent link removed. */
function clientChangeOf(spec: ClientSpec): ClientChange {
  return {
    name: spec.name,
    redirectUris: spec.redirect_uris,
    postLogoutRedirectUris: spec.post_logout_redirect_uris,
    grantTypes: spec.grant_types as NewClientInput['grantTypes'],
    authMethod: spec.auth_method,
    jwksUri: spec.jwks_uri,
    jwks: spec.jwks as ClientChange['jwks'],
    logoUri: spec.logo_uri,
    policyUri: spec.policy_uri,
    tosUri: spec.tos_uri,
    backchannelLogoutUri: spec.backchannel_logout_uri,
    backchannelLogoutSessionRequired: spec.backchannel_logout_session_required,
    scope: clientScope(spec) || null,
    firstParty: spec.first_party,
    pkceExempt: spec.pkce_exempt,
    requireMfa: spec.require_mfa,
    requirePhishingResistant: spec.require_phishing_resistant,
  };
}

const apiInput = (spec: ApiSpec) => ({
  ...(spec.name ? { name: spec.name } : {}), scopes: spec.scopes, signingAlg: spec.signing_alg, accessTokenTtl: spec.access_token_ttl,
});

/** A connection field's name in the library's ConnectionUpdate. */
const connectionUpdateFields: Record<string, keyof ConnectionUpdate> = {
  name: 'name', tenant: 'tenant', client_id: 'clientId', scopes: 'scopes', claim_mapping: 'claimMapping', show_on_login_page: 'showOnLoginPage',
  allow_new_accounts: 'allowNewAccounts', trust_verified_emails: 'trustVerifiedEmails', trust_upstream_mfa: 'trustUpstreamMfa',
  authorization_url: 'authorizationUrl', token_url: 'tokenUrl', api_url: 'apiUrl',
};

/** The issuer a connection update gives: null to follow the preset (google, microsoft) when the file's is the preset's. */
function issuerUpdate(spec: ConnectionSpec): string | null {
  const preset = presetIssuer(spec.type, spec.tenant);
  return spec.type !== 'oidc' && (spec.issuer === null || spec.issuer === preset) ? null : spec.issuer;
}

export function applyLibrary(deps: ApplyDependencies): ApplyLibrary {
  const production = deps.config.env === 'production';
  /**
   * The management API's own registration (src/web/management-api/scopes.ts registers it at every
   * start-up, as <issuer>/api/v1) is never pruned: its machine clients' tokens are for it. Known by
   * its identifier, or by its name where the CLI's ISSUER differs from the server's.
   */
  const isManagementApi = (api: ApiSpec) => api.identifier === `${deps.config.issuer.replace(/\/+$/, '')}/api/v1` || api.name === 'Gatehouse management API';
  const secretOf = (desired: DesiredState, spec: SecretSpec | null) => (spec?.env ? desired.secrets.get(spec.env) : undefined);

  async function current(desired: DesiredSpecs): Promise<CurrentState> {
    const [records, apis, connections] = await Promise.all([deps.clients.list(), deps.apis.list(), deps.connections.list()]);
    const apiSpecs: ApiSpec[] = apis.map((api) => ({
      identifier: api.identifier, name: api.name ?? null, scopes: sortedUnique(api.scopes), signing_alg: api.signingAlg, access_token_ttl: api.accessTokenTtl,
    }));
    const apiScopes = new Set([...apiSpecs, ...desired.apis].flatMap((api) => api.scopes));
    const clients = records.map((record) => {
      // Only an operator's client's secret is opened, to compare it with the file's (as a digest).
      const secret = !record.dynamic && record.encryptedSecret ? deps.clients.providerMetadata(record).client_secret : undefined;
      return clientSpecOf(record, typeof secret === 'string' ? { env: null, digest: digestOf(secret) } : null, apiScopes);
    });
    const connectionSpecs = await Promise.all(connections.map(async (connection) => {
      const secret = connection.hasSecret ? await deps.connections.clientSecret(connection.id) : undefined;
      return connectionSpecOf(connection, secret === undefined ? null : { env: null, digest: digestOf(secret) });
    }));
    const roles: Record<string, string[] | null> = {};
    for (const email of Object.keys(desired.roles)) roles[email] = (await deps.accounts.findByEmail(email))?.roles ?? null;
    return { clients, apis: apiSpecs, connections: connectionSpecs, roles };
  }

  async function perform(action: PlannedAction, desired: DesiredState, stored: CurrentState, source: AuditSource): Promise<void> {
    const { kind, key } = action;
    if (action.action === 'delete') {
      if (kind === 'client') await deps.clients.remove(key, source);
      else if (kind === 'connection') await deps.connections.remove(key, source);
      else if (kind === 'api') await deps.apis.remove(key, source);
      return;
    }
    if (action.action !== 'create' && action.action !== 'update') return;
    const changed = new Set(action.action === 'update' ? action.changes.map((change) => change.field) : []);
    if (kind === 'api') {
      const spec = desired.apis.find((api) => api.identifier === key)!;
      if (action.action === 'create') await deps.apis.register({ identifier: spec.identifier, ...apiInput(spec) }, source);
      else await deps.apis.update(key, apiInput(spec), source);
    } else if (kind === 'client') {
      const spec = desired.clients.find((client) => client.client_id === key)!;
      const secret = secretOf(desired, spec.client_secret);
      if (action.action === 'create') {
        await deps.clients.register(newClientInput(spec), source, { clientId: spec.client_id, ...(secret !== undefined ? { clientSecret: secret } : {}) });
        return;
      }
      let issued = false;
      if ([...changed].some((field) => field !== 'client_secret')) {
        // A switch to a method with a secret issues a generated one: replaced by the file's below.
        issued = (await deps.clients.update(key, clientChangeOf(spec), source)).clientSecret !== undefined;
      }
      if (secret !== undefined && (issued || changed.has('client_secret'))) await deps.clients.rotateSecret(key, 0, source, secret);
    } else if (kind === 'connection') {
      const spec = desired.connections.find((connection) => connection.id === key)!;
      const secret = secretOf(desired, spec.client_secret);
      if (action.action === 'create') {
        await deps.connections.add({
          type: spec.type, id: spec.id, name: spec.name, clientId: spec.client_id,
          ...(issuerUpdate(spec) !== null ? { issuer: spec.issuer! } : {}),
          ...(spec.tenant !== null ? { tenant: spec.tenant } : {}),
          scopes: spec.scopes, claimMapping: spec.claim_mapping,
          showOnLoginPage: spec.show_on_login_page, allowNewAccounts: spec.allow_new_accounts,
          trustVerifiedEmails: spec.trust_verified_emails, trustUpstreamMfa: spec.trust_upstream_mfa,
          ...(spec.authorization_url !== null ? { authorizationUrl: spec.authorization_url } : {}),
          ...(spec.token_url !== null ? { tokenUrl: spec.token_url } : {}),
          ...(spec.api_url !== null ? { apiUrl: spec.api_url } : {}),
          ...(secret !== undefined ? { clientSecret: secret } : {}),
        }, source);
        if (spec.disabled) await deps.connections.setDisabled(key, true, source);
        return;
      }
      const patch: ConnectionUpdate = {};
      for (const field of changed) {
        const name = connectionUpdateFields[field];
        if (name) (patch as Record<string, unknown>)[name] = spec[field as keyof ConnectionSpec];
      }
      if (changed.has('issuer') || changed.has('tenant')) patch.issuer = issuerUpdate(spec);
      if (changed.has('client_secret')) patch.clientSecret = secret ?? null;
      if (Object.keys(patch).length) await deps.connections.update(key, patch, source);
      if (changed.has('disabled')) await deps.connections.setDisabled(key, spec.disabled, source);
    } else if (kind === 'roles') {
      if (stored.roles[key] !== null) await deps.accounts.setRoles(key, desired.roles[key]!, source);
    }
  }

  return {
    read: (file, env) => readApplyFile(file, env, { production }),
    parse: (source, file, env) => parseApplyFile(source, file, env, { production }),
    current,
    async run(desired, options, source) {
      const prune = options.prune === true;
      const dryRun = options.dryRun === true;
      const planAndApply = async () => {
        const stored = await current(desired);
        const planned = plan(stored, desired, { prune, keepApis: stored.apis.filter(isManagementApi).map((api) => api.identifier) });
        if (planned.problems.length) {
          throw new GatehouseError('invalid_config', 'apply.plan_refused', { count: planned.problems.length, problems: planned.problems.join('\n  ') });
        }
        const counts = countActions(planned.actions);
        const report: ApplyReport = { dryRun, prune, actions: planned.actions, counts, changes: counts.create + counts.update + counts.delete > 0 };
        if (dryRun || !report.changes) return report;
        const changing = planned.actions.filter((action) => action.action === 'create' || action.action === 'update' || action.action === 'delete');
        let done = 0;
        for (const action of changing) {
          try {
            await perform(action, desired, stored, source);
          } catch (error) {
            const problem = isGatehouseError(error) ? error.message : (error as Error).message;
            throw new GatehouseError(isGatehouseError(error) ? error.code : 'internal', 'apply.change_failed', {
              action: action.action, kind: action.kind, key: action.key, problem, done, total: changing.length,
            });
          }
          done += 1;
        }
        return report;
      };
      return dryRun ? planAndApply() : holdingLease(deps, planAndApply);
    },
  };
}
