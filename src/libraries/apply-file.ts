import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

import { parseDocument } from 'yaml';
import { z } from 'zod';

import { GatehouseError } from '../errors.ts';
import { message } from '../messages/messages.ts';
import type { ConnectionType } from '../store/types.ts';
import { newApiSchema } from './apis.ts';
import type { AuthMethod } from './clients.ts';
import { newClientSchema } from './clients.ts';
import type { ConnectionInput } from './connections.ts';
import { checkConnectionInput } from './connections.ts';
import { emailSchema, roleSchema } from './schemas.ts';
import type { Issue } from './validation.ts';

/**
 * Configuration as code, the file (docs/configuration-as-code.md): `gatehouse apply FILE` and
 * GATEHOUSE_SEED_FILE read a YAML (or JSON) file of clients, APIs, connections and roles, check
 * all of it with the rules the libraries apply (before anything is changed), resolve its secrets
 * from the environment, and hand back the desired state in the file's own terms (snake_case
 * fields, every default filled in), which src/libraries/apply.ts compares with what is stored.
 *
 * Secrets are never written in the file: a secret field holds `${ENV:NAME}`, the environment
 * variable that holds it, and anything else there is refused.
 */

/** A secret, as far as comparing goes: where it came from (the variable; null for a stored one) and its SHA-256. */
export type SecretSpec = { env: string | null; digest: string };

export type ClientSpec = {
  client_id: string;
  name: string;
  redirect_uris: string[];
  post_logout_redirect_uris: string[];
  grant_types: string[];
  auth_method: AuthMethod;
  first_party: boolean;
  pkce_exempt: boolean;
  require_mfa: boolean;
  require_phishing_resistant: boolean;
  /** Gatehouse's own scopes (openid, email, …); with api_scopes, what the client may ask for (none: anything). */
  scopes: string[];
  /** Scopes of registered APIs. */
  api_scopes: string[];
  logo_uri: string | null;
  policy_uri: string | null;
  tos_uri: string | null;
  backchannel_logout_uri: string | null;
  backchannel_logout_session_required: boolean;
  jwks_uri: string | null;
  jwks: { keys: Array<Record<string, unknown>> } | null;
  client_secret: SecretSpec | null;
};

export type ApiSpec = { identifier: string; name: string | null; scopes: string[]; signing_alg: 'RS256' | 'ES256'; access_token_ttl: number };

export type ConnectionSpec = {
  id: string;
  type: ConnectionType;
  name: string;
  issuer: string | null;
  tenant: string | null;
  client_id: string;
  scopes: string[];
  claim_mapping: Record<string, string>;
  show_on_login_page: boolean;
  allow_new_accounts: boolean;
  trust_verified_emails: boolean;
  trust_upstream_mfa: boolean;
  authorization_url: string | null;
  token_url: string | null;
  api_url: string | null;
  disabled: boolean;
  client_secret: SecretSpec | null;
};

/** What a file asks for: each entry with where it is in the file (`at`: "clients[2]"), and the secrets it names. */
export type DesiredState = {
  clients: Array<ClientSpec & { at: string }>;
  apis: Array<ApiSpec & { at: string }>;
  connections: Array<ConnectionSpec & { at: string }>;
  /** Email -> the roles that account holds (as written). */
  roles: Record<string, string[]>;
  /** The secrets' values by variable name: for the changes only, never shown. */
  secrets: Map<string, string>;
};

/** The account page's own client (src/oidc/account-client.ts): never in a file. */
export const reservedClientIds: readonly string[] = ['gatehouse-account'];

/** `${ENV:NAME}`: the only thing a secret field may hold. */
const envReference = /^\$\{ENV:([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** The shortest client secret taken from the environment (a generated one has 43 characters). */
export const minClientSecretLength = 32;

/** Files larger than this are refused before parsing (a configuration this size is a mistake). */
const maxFileBytes = 1_048_576;

export const digestOf = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');

const kinds: Record<string, string> = { string: 'text', boolean: 'true or false', array: 'a list', object: 'a mapping', number: 'a number', int: 'a whole number' };

/** What is at `path` in `root` (undefined when nothing is). */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** A zod issue in the file's words (zod's own sentences name types, not what the reader wrote); `root`: what was parsed. */
function inWords(issue: z.core.$ZodIssue, root: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return valueAt(root, issue.path) === undefined ? message('apply.required') : message('apply.must_be', { what: kinds[issue.expected] ?? issue.expected });
    case 'unrecognized_keys':
      return message('apply.unknown_fields', { count: issue.keys.length, fields: issue.keys.join(', ') });
    case 'invalid_value':
      return message('apply.one_of', { values: issue.values.map(String).join(', ') });
    case 'too_small':
      return issue.origin === 'array' ? message('apply.at_least_items', { min: String(issue.minimum) }) : message('apply.at_least', { min: String(issue.minimum) });
    case 'too_big':
      return issue.origin === 'array' ? message('apply.at_most_items', { max: String(issue.maximum) }) : message('apply.at_most', { max: String(issue.maximum) });
    default:
      return issue.message;
  }
}

/** A path in the file as one reads it: clients[2].redirect_uris[0]. */
export function pathText(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(key))) text += text ? `.${String(key)}` : String(key);
    else text += `[${JSON.stringify(String(key))}]`;
  }
  return text;
}

const bool = z.boolean();
const text = z.string();
const list = z.array(z.string());

const clientEntry = z.strictObject({
  client_id: text.regex(/^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$/, message('apply.client_id_format')),
  name: text,
  redirect_uris: list.default([]),
  post_logout_redirect_uris: list.default([]),
  grant_types: list.optional(),
  auth_method: text.optional(),
  public: bool.optional(),
  first_party: bool.default(false),
  pkce_exempt: bool.default(false),
  require_mfa: bool.default(false),
  require_phishing_resistant: bool.default(false),
  scopes: list.default([]),
  api_scopes: list.default([]),
  logo_uri: text.optional(),
  policy_uri: text.optional(),
  tos_uri: text.optional(),
  backchannel_logout_uri: text.optional(),
  backchannel_logout_session_required: bool.default(true),
  jwks_uri: text.optional(),
  jwks: z.unknown().optional(),
  client_secret: text.optional(),
});

const apiEntry = z.strictObject({
  identifier: text,
  name: text.optional(),
  scopes: list.default([]),
  signing_alg: text.optional(),
  access_token_ttl: z.number().optional(),
});

const connectionEntry = z.strictObject({
  id: text,
  type: text,
  name: text,
  issuer: text.optional(),
  tenant: text.optional(),
  client_id: text,
  client_secret: text.optional(),
  scopes: list.optional(),
  claim_mapping: z.record(z.string(), z.string()).optional(),
  show_on_login_page: bool.default(true),
  allow_new_accounts: bool.default(false),
  trust_verified_emails: bool.default(false),
  trust_upstream_mfa: bool.default(false),
  authorization_url: text.optional(),
  token_url: text.optional(),
  api_url: text.optional(),
  disabled: bool.default(false),
});

const fileSchema = z.strictObject({
  version: z.literal(1).optional(),
  clients: z.array(clientEntry).default([]),
  apis: z.array(apiEntry).default([]),
  connections: z.array(connectionEntry).default([]),
  roles: z.record(z.string(), z.array(z.string())).default({}),
});

type FileClient = z.output<typeof clientEntry>;
type FileConnection = z.output<typeof connectionEntry>;

// The libraries name their inputs' fields in camelCase; the file in snake_case.
const clientFields: Record<string, string> = {
  name: 'name', redirectUris: 'redirect_uris', postLogoutRedirectUris: 'post_logout_redirect_uris', public: 'public', firstParty: 'first_party',
  pkceExempt: 'pkce_exempt', requireMfa: 'require_mfa', requirePhishingResistant: 'require_phishing_resistant', grantTypes: 'grant_types',
  scope: 'scopes', authMethod: 'auth_method', jwksUri: 'jwks_uri', jwks: 'jwks', logoUri: 'logo_uri', policyUri: 'policy_uri', tosUri: 'tos_uri',
  backchannelLogoutUri: 'backchannel_logout_uri', backchannelLogoutSessionRequired: 'backchannel_logout_session_required',
};
const apiFields: Record<string, string> = { identifier: 'identifier', name: 'name', scopes: 'scopes', signingAlg: 'signing_alg', accessTokenTtl: 'access_token_ttl' };
const connectionFields: Record<string, string> = {
  type: 'type', name: 'name', id: 'id', issuer: 'issuer', tenant: 'tenant', clientId: 'client_id', clientSecret: 'client_secret', scopes: 'scopes',
  claimMapping: 'claim_mapping', showOnLoginPage: 'show_on_login_page', allowNewAccounts: 'allow_new_accounts', trustVerifiedEmails: 'trust_verified_emails',
  trustUpstreamMfa: 'trust_upstream_mfa', authorizationUrl: 'authorization_url', tokenUrl: 'token_url', apiUrl: 'api_url',
};

/** A library's issue about one entry, named in the file's terms: ["redirectUris", 0] of clients[2] is clients[2].redirect_uris[0]. */
function renamed(prefix: readonly PropertyKey[], issue: { path: readonly PropertyKey[]; message: string }, fields: Record<string, string>): Issue {
  const [field, ...rest] = issue.path;
  const named = typeof field === 'string' ? [fields[field] ?? field, ...rest] : issue.path;
  // The scope is given to the library as one string: its problems concern the list as a whole.
  const path = named[0] === 'scopes' && fields === clientFields ? ['scopes'] : named;
  return { path: [...prefix, ...path].map((key) => (typeof key === 'number' ? key : String(key))), message: issue.message };
}

/** An invalid file: every problem, a line each ("clients[2].redirect_uris[0]: …"), with the file named. */
export class ApplyFileError extends GatehouseError {
  readonly problems: readonly string[];

  constructor(file: string, problems: readonly string[]) {
    super('invalid_config', 'apply.file_invalid', { file, count: problems.length, problems: problems.join('\n  ') });
    this.name = 'ApplyFileError';
    this.problems = problems;
  }
}

/** A secret field's value: the variable it names, resolved; a problem when it is a literal or the variable is unset. */
function secretFrom(value: string, env: NodeJS.ProcessEnv, path: PropertyKey[], problems: Issue[]): { env: string; value: string } | undefined {
  const match = envReference.exec(value.trim());
  if (!match) {
    problems.push({ path: path.map(String), message: message('apply.literal_secret') });
    return undefined;
  }
  const name = match[1]!;
  const resolved = env[name];
  if (resolved === undefined || resolved === '') {
    problems.push({ path: path.map(String), message: message('apply.env_missing', { name }) });
    return undefined;
  }
  return { env: name, value: resolved };
}

const sortedUnique = (values: readonly string[]) => [...new Set(values)].sort();

function clientSpec(entry: FileClient, index: number, env: NodeJS.ProcessEnv, production: boolean, problems: Issue[], secrets: Map<string, string>): (ClientSpec & { at: string }) | undefined {
  const at: PropertyKey[] = ['clients', index];
  const before = problems.length;
  if (reservedClientIds.includes(entry.client_id)) problems.push({ path: [...at, 'client_id'].map(String), message: message('apply.client_id_reserved', { clientId: entry.client_id }) });
  const scope = [...entry.scopes, ...entry.api_scopes].join(' ');
  const input = {
    name: entry.name,
    redirectUris: entry.redirect_uris,
    postLogoutRedirectUris: entry.post_logout_redirect_uris,
    ...(entry.public !== undefined ? { public: entry.public } : {}),
    firstParty: entry.first_party,
    pkceExempt: entry.pkce_exempt,
    requireMfa: entry.require_mfa,
    requirePhishingResistant: entry.require_phishing_resistant,
    ...(entry.grant_types ? { grantTypes: entry.grant_types } : {}),
    ...(scope ? { scope } : {}),
    ...(entry.auth_method !== undefined ? { authMethod: entry.auth_method } : {}),
    ...(entry.jwks_uri !== undefined ? { jwksUri: entry.jwks_uri } : {}),
    ...(entry.jwks !== undefined ? { jwks: entry.jwks } : {}),
    ...(entry.logo_uri !== undefined ? { logoUri: entry.logo_uri } : {}),
    ...(entry.policy_uri !== undefined ? { policyUri: entry.policy_uri } : {}),
    ...(entry.tos_uri !== undefined ? { tosUri: entry.tos_uri } : {}),
    ...(entry.backchannel_logout_uri !== undefined ? { backchannelLogoutUri: entry.backchannel_logout_uri } : {}),
    backchannelLogoutSessionRequired: entry.backchannel_logout_session_required,
  };
  const parsed = newClientSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(renamed(at, { path: issue.path, message: inWords(issue, input) }, clientFields));
  }
  const client = parsed.data;
  if (production && client?.backchannelLogoutUri && !client.backchannelLogoutUri.startsWith('https:')) {
    problems.push({ path: [...at, 'backchannel_logout_uri'].map(String), message: message('libraries.backchannel_logout_uri_https', { value: client.backchannelLogoutUri }) });
  }
  // The secret is checked even when the rest is refused: a secret written in the file is worth saying at once.
  const authMethod = client?.authMethod ?? entry.auth_method ?? (entry.public ? 'none' : 'client_secret_basic');
  const withSecret = authMethod === 'client_secret_basic' || authMethod === 'client_secret_post';
  let secret: SecretSpec | null = null;
  if (withSecret && entry.client_secret === undefined) {
    problems.push({ path: [...at, 'client_secret'].map(String), message: message('apply.client_secret_required', { method: authMethod }) });
  } else if (!withSecret && entry.client_secret !== undefined) {
    problems.push({ path: [...at, 'client_secret'].map(String), message: message('apply.client_secret_unused', { method: authMethod }) });
  } else if (entry.client_secret !== undefined) {
    const resolved = secretFrom(entry.client_secret, env, [...at, 'client_secret'], problems);
    if (resolved && resolved.value.length < minClientSecretLength) {
      problems.push({ path: [...at, 'client_secret'].map(String), message: message('apply.client_secret_short', { name: resolved.env, min: minClientSecretLength }) });
    } else if (resolved) {
      secrets.set(resolved.env, resolved.value);
      secret = { env: resolved.env, digest: digestOf(resolved.value) };
    }
  }
  if (problems.length > before || !client) return undefined;
  const backchannel = client.backchannelLogoutUri ?? null;
  return {
    at: pathText(at),
    client_id: entry.client_id,
    name: client.name,
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.postLogoutRedirectUris,
    grant_types: client.grantTypes,
    auth_method: client.authMethod,
    first_party: client.firstParty,
    pkce_exempt: client.pkceExempt,
    require_mfa: client.requireMfa,
    require_phishing_resistant: client.requirePhishingResistant,
    scopes: [...new Set(entry.scopes)],
    api_scopes: [...new Set(entry.api_scopes)],
    logo_uri: client.logoUri ?? null,
    policy_uri: client.policyUri ?? null,
    tos_uri: client.tosUri ?? null,
    backchannel_logout_uri: backchannel,
    // Stored only with a receiver; without one it means nothing (and reads as the default).
    backchannel_logout_session_required: backchannel ? client.backchannelLogoutSessionRequired : true,
    jwks_uri: client.jwksUri ?? null,
    jwks: (client.jwks as ClientSpec['jwks'] | undefined) ?? null,
    client_secret: secret,
  };
}

function apiSpec(entry: z.output<typeof apiEntry>, index: number, problems: Issue[]): (ApiSpec & { at: string }) | undefined {
  const at: PropertyKey[] = ['apis', index];
  const input = {
    identifier: entry.identifier,
    ...(entry.name !== undefined ? { name: entry.name } : {}),
    scopes: entry.scopes,
    ...(entry.signing_alg !== undefined ? { signingAlg: entry.signing_alg } : {}),
    ...(entry.access_token_ttl !== undefined ? { accessTokenTtl: entry.access_token_ttl } : {}),
  };
  const parsed = newApiSchema.safeParse(input);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(renamed(at, { path: issue.path, message: inWords(issue, input) }, apiFields));
    return undefined;
  }
  const api = parsed.data;
  return { at: pathText(at), identifier: api.identifier, name: api.name ?? null, scopes: sortedUnique(api.scopes), signing_alg: api.signingAlg, access_token_ttl: api.accessTokenTtl };
}

function connectionSpec(entry: FileConnection, index: number, env: NodeJS.ProcessEnv, production: boolean, problems: Issue[], secrets: Map<string, string>): (ConnectionSpec & { at: string }) | undefined {
  const at: PropertyKey[] = ['connections', index];
  const before = problems.length;
  const input: ConnectionInput = {
    type: entry.type as ConnectionType,
    name: entry.name,
    id: entry.id,
    clientId: entry.client_id,
    ...(entry.issuer !== undefined ? { issuer: entry.issuer } : {}),
    ...(entry.tenant !== undefined ? { tenant: entry.tenant } : {}),
    ...(entry.scopes !== undefined ? { scopes: entry.scopes } : {}),
    ...(entry.claim_mapping !== undefined ? { claimMapping: entry.claim_mapping } : {}),
    showOnLoginPage: entry.show_on_login_page,
    allowNewAccounts: entry.allow_new_accounts,
    trustVerifiedEmails: entry.trust_verified_emails,
    trustUpstreamMfa: entry.trust_upstream_mfa,
    ...(entry.authorization_url !== undefined ? { authorizationUrl: entry.authorization_url } : {}),
    ...(entry.token_url !== undefined ? { tokenUrl: entry.token_url } : {}),
    ...(entry.api_url !== undefined ? { apiUrl: entry.api_url } : {}),
  };
  const { issues, settled } = checkConnectionInput(input, production);
  for (const issue of issues) problems.push(renamed(at, issue, connectionFields));
  let secret: SecretSpec | null = null;
  if (entry.client_secret !== undefined) {
    const resolved = secretFrom(entry.client_secret, env, [...at, 'client_secret'], problems);
    if (resolved && resolved.value.length > 1024) {
      problems.push({ path: [...at, 'client_secret'].map(String), message: message('libraries.connection_secret_length') });
    } else if (resolved) {
      secrets.set(resolved.env, resolved.value);
      secret = { env: resolved.env, digest: digestOf(resolved.value) };
    }
  }
  if (problems.length > before || !settled) return undefined;
  return {
    at: pathText(at),
    id: entry.id,
    type: settled.type,
    name: settled.name,
    issuer: settled.issuer,
    tenant: settled.tenant,
    client_id: settled.clientId,
    scopes: settled.scopes,
    claim_mapping: settled.claimMapping,
    show_on_login_page: settled.showOnLoginPage,
    allow_new_accounts: settled.allowNewAccounts,
    trust_verified_emails: settled.trustVerifiedEmails,
    trust_upstream_mfa: settled.trustUpstreamMfa,
    authorization_url: settled.authorizationUrl,
    token_url: settled.tokenUrl,
    api_url: settled.apiUrl,
    disabled: entry.disabled,
    client_secret: secret,
  };
}

/** The second and later entries with a key already listed: "clients[3].client_id: web is listed twice (also clients[0])". */
function duplicates<T>(entries: readonly T[], section: string, field: string, key: (entry: T) => string, problems: Issue[]): void {
  const first = new Map<string, number>();
  entries.forEach((entry, index) => {
    const value = key(entry);
    const seen = first.get(value);
    if (seen === undefined) first.set(value, index);
    else problems.push({ path: [section, String(index), field], message: message('apply.listed_twice', { value, first: `${section}[${seen}]` }) });
  });
}

/**
 * The desired state a file's text asks for. Throws ApplyFileError naming every problem (YAML syntax
 * with its line, unknown or wrong fields, what the libraries would refuse, secrets written in the
 * file or missing from `env`) before anything is changed.
 */
export function parseApplyFile(source: string, file: string, env: NodeJS.ProcessEnv, options: { production: boolean }): DesiredState {
  const document = parseDocument(source, { uniqueKeys: true });
  if (document.errors.length) {
    throw new ApplyFileError(file, document.errors.map((error) => {
      const where = error.linePos?.[0];
      const what = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      return where ? message('apply.yaml_error', { line: where.line, column: where.col, problem: what }) : what;
    }));
  }
  const raw: unknown = document.toJS({ maxAliasCount: 100 }) ?? {};
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ApplyFileError(file, parsed.error.issues.flatMap((issue) => {
      // An unknown field is named where it is: clients[0].redirect_uri: unknown field.
      if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => `${pathText([...issue.path, key])}: ${message('apply.unknown_field')}`);
      const path = pathText(issue.path);
      return [path ? `${path}: ${inWords(issue, raw)}` : inWords(issue, raw)];
    }));
  }
  const content = parsed.data;
  const problems: Issue[] = [];
  const secrets = new Map<string, string>();
  duplicates(content.clients, 'clients', 'client_id', (entry) => entry.client_id, problems);
  duplicates(content.apis, 'apis', 'identifier', (entry) => entry.identifier, problems);
  duplicates(content.connections, 'connections', 'id', (entry) => entry.id, problems);
  const clients = content.clients.map((entry, index) => clientSpec(entry, index, env, options.production, problems, secrets));
  const apis = content.apis.map((entry, index) => apiSpec(entry, index, problems));
  const connections = content.connections.map((entry, index) => connectionSpec(entry, index, env, options.production, problems, secrets));
  const roles: Record<string, string[]> = {};
  const emails = new Map<string, string>();
  for (const [email, held] of Object.entries(content.roles)) {
    const checked = emailSchema.safeParse(email);
    if (!checked.success) problems.push({ path: ['roles', email], message: message('libraries.invalid_email') });
    const normalized = checked.success ? checked.data.toLowerCase() : email;
    const twice = emails.get(normalized);
    if (twice !== undefined) problems.push({ path: ['roles', email], message: message('apply.listed_twice', { value: email, first: pathText(['roles', twice]) }) });
    emails.set(normalized, email);
    held.forEach((role, index) => {
      const valid = roleSchema.safeParse(role);
      if (!valid.success) problems.push({ path: ['roles', email, String(index)], message: valid.error.issues[0]!.message });
    });
    if (held.length > 100) problems.push({ path: ['roles', email], message: message('apply.at_most_items', { max: '100' }) });
    roles[email] = sortedUnique(held);
  }
  if (problems.length) {
    // In the file's order: numbers compare as numbers ("clients[10]" after "clients[9]").
    const lines = problems.map((issue) => `${pathText(issue.path.map((key) => (/^\d+$/.test(String(key)) ? Number(key) : key)))}: ${issue.message}`);
    throw new ApplyFileError(file, lines);
  }
  return {
    clients: clients as Array<ClientSpec & { at: string }>,
    apis: apis as Array<ApiSpec & { at: string }>,
    connections: connections as Array<ConnectionSpec & { at: string }>,
    roles,
    secrets,
  };
}

/** Reads and parses a file (see parseApplyFile); a file that cannot be read is one line too. */
export async function readApplyFile(file: string, env: NodeJS.ProcessEnv, options: { production: boolean }): Promise<DesiredState> {
  let source: string;
  try {
    if ((await stat(file)).size > maxFileBytes) throw new ApplyFileError(file, [message('apply.file_too_large', { max: maxFileBytes })]);
    source = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof ApplyFileError) throw error;
    throw new GatehouseError('invalid_config', 'apply.file_unreadable', { file, cause: (error as NodeJS.ErrnoException).code ?? (error as Error).message });
  }
  return parseApplyFile(source, file, env, options);
}
