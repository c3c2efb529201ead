import { z } from 'zod';

import { isLoopbackHost } from '../config/load-config.ts';
import { GatehouseError } from '../errors.ts';
import { open, seal } from '../keys/encryption.ts';
import { message } from '../messages/messages.ts';
import type { ConnectionPatch, ConnectionRecord, ConnectionType } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import type { Issue } from './validation.ts';
import { invalidInput, InvalidInputError } from './validation.ts';

/**
 * Connections to upstream identity providers ("Sign in with …"): any OpenID Connect provider, and
 * presets for Google, Microsoft (Entra ID) and GitHub. What is decided here: what a connection may
 * be (validated at this edge), the presets' defaults, the client secret sealed at rest, and the
 * audit trail of every change. The protocol itself is src/libraries/upstream-sign-in.ts.
 *
 * Nothing is cached: the login page and the sign-in read the store each time, so a connection
 * added, changed or disabled by the CLI (or on another instance) takes effect at the next page.
 *
 * Presets:
 * - `google`: issuer https://accounts.google.com, scopes openid email profile.
 * - `microsoft`: issuer https://login.microsoftonline.com/<tenant>/v2.0; the tenant is a tenant ID
 *   (a GUID) or `common`, `organizations`, `consumers`. With `common` (and `organizations`,
 *   `consumers`) the ID tokens come from many issuers, one per tenant (the discovery document's
 *   issuer holds a `{tenantid}` placeholder): the sign-in checks the issuer against the token's `tid`.
 * - `github`: no issuer (GitHub is OAuth 2.0 without ID tokens); scopes read:user user:email;
 *   its endpoints are github.com's unless all three URLs are given (a stand-in, GitHub Enterprise Server).
 * An explicit issuer overrides the google and microsoft presets (tests point them at local stand-ins).
 */

export const connectionTypes = ['oidc', 'google', 'microsoft', 'github'] as const satisfies readonly ConnectionType[];

/** A connection as callers see it: never its secret, only whether it has one. */
export type Connection = Omit<ConnectionRecord, 'sealedSecret'> & { hasSecret: boolean };

export type ConnectionInput = {
  type: ConnectionType;
  name: string;
  /** A slug, [a-z0-9-]{1,40}; made from the name when not given. */
  id?: string;
  /** Required for oidc; overrides the google and microsoft presets; never for github. */
  issuer?: string;
  /** microsoft only, and required there: a tenant ID (GUID), common, organizations or consumers. */
  tenant?: string;
  clientId: string;
  /** 1-1024 characters; sealed at rest, never shown again. */
  clientSecret?: string;
  /** The preset's when not given; openid is always asked of an OpenID Connect provider. */
  scopes?: string[];
  /** Gatehouse profile claim -> upstream claim; replaces the preset's mapping when given. */
  claimMapping?: Record<string, string>;
  showOnLoginPage?: boolean;
  allowNewAccounts?: boolean;
  trustVerifiedEmails?: boolean;
  trustUpstreamMfa?: boolean;
  /** github only, all three or none (github.com): its endpoints elsewhere. */
  authorizationUrl?: string;
  tokenUrl?: string;
  apiUrl?: string;
};

/**
 * What `update` may change. Beyond ConnectionInput's fields: `clientSecret: null` removes the
 * secret; `issuer: null` (google, microsoft) goes back to the preset's issuer; the github URLs null
 * go back to github.com.
 */
export type ConnectionUpdate = Partial<Omit<ConnectionInput, 'type' | 'id' | 'clientSecret' | 'issuer' | 'authorizationUrl' | 'tokenUrl' | 'apiUrl'>> & {
  clientSecret?: string | null;
  issuer?: string | null;
  authorizationUrl?: string | null;
  tokenUrl?: string | null;
  apiUrl?: string | null;
};

export type ConnectionsLibrary = {
  /** Every connection, oldest first. */
  list(): Promise<Connection[]>;
  /** Enabled and shown on the login page, in creation order: read from the store each call (a change made by the CLI or another instance shows at the next page). */
  listForLoginPage(): Promise<Connection[]>;
  find(id: string): Promise<Connection | undefined>;
  /** The opened client secret, for the code exchange (undefined for a connection without one). `not_found` for an unknown id. */
  clientSecret(id: string): Promise<string | undefined>;
  /** Adds a connection; audited `connection_added`. InvalidInputError (with field paths) for bad input, `conflict` for an id taken. */
  add(input: ConnectionInput, source: AuditSource): Promise<Connection>;
  /** Changes the fields given; audited `connection_updated` (the secret only as changed or removed). `not_found` for an unknown id. */
  update(id: string, patch: ConnectionUpdate, source: AuditSource): Promise<Connection>;
  /** Disables (the button goes, sign-ins through it stop) or enables it; audited `connection_disabled` / `connection_enabled` when it changes. */
  setDisabled(id: string, disabled: boolean, source: AuditSource): Promise<Connection>;
  /** Removes the connection and unlinks every identity linked through it (how many: the answer); audited `connection_removed`. */
  remove(id: string, source: AuditSource): Promise<{ identitiesUnlinked: number }>;
};

/** The profile claims a connection may fill (src/store/types.ts ProfileClaims). */
export const profileClaims = ['name', 'given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'picture', 'website', 'locale', 'zoneinfo'] as const;

const oidcClaimMapping = { name: 'name', given_name: 'given_name', family_name: 'family_name', picture: 'picture' };

/** Each type's defaults. */
export const connectionPresets: Record<ConnectionType, { scopes: string[]; claimMapping: Record<string, string> }> = {
  oidc: { scopes: ['openid', 'email', 'profile'], claimMapping: oidcClaimMapping },
  google: { scopes: ['openid', 'email', 'profile'], claimMapping: oidcClaimMapping },
  microsoft: { scopes: ['openid', 'email', 'profile'], claimMapping: oidcClaimMapping },
  github: { scopes: ['read:user', 'user:email'], claimMapping: { name: 'name', picture: 'avatar_url', preferred_username: 'login' } },
};

/** github.com's endpoints, used while a github connection's URLs are null. */
export const githubDefaults = {
  authorizationUrl: 'https://github.com/login/oauth/authorize',
  tokenUrl: 'https://github.com/login/oauth/access_token',
  apiUrl: 'https://api.github.com',
} as const;

/** The issuer a preset gives, or null (oidc: the operator's; github: none). */
export function presetIssuer(type: ConnectionType, tenant: string | null): string | null {
  if (type === 'google') return 'https://accounts.google.com';
  if (type === 'microsoft' && tenant) return `https://login.microsoftonline.com/${tenant}/v2.0`;
  return null;
}

/** The sealing context: a sealed secret opens only for the connection it was sealed for. */
function secretContext(id: string): string {
  return `connection-secret:${id}`;
}

/** A connection's client secret, opened (the CLI's start-up check opens one with its key, src/cli/context.ts). */
export function openConnectionSecret(record: Pick<ConnectionRecord, 'id' | 'sealedSecret'>, keyEncryptionKey: Buffer): string | undefined {
  return record.sealedSecret === null ? undefined : open(record.sealedSecret, keyEncryptionKey, secretContext(record.id));
}

/** A slug from a name: "Acme SSO (Europe)" -> "acme-sso-europe"; empty when nothing is left. */
export function slugOf(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/ß/g, 'ss')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 40)
    .replace(/-+$/, '');
}

const controlCharacters = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;
const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;
const upstreamClaim = /^[\x21-\x7E]{1,128}$/;
const tenantGuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const tenantNames = new Set(['common', 'organizations', 'consumers']);
const maxScopes = 50;

const nameSchema = z.string().trim()
  .min(1, message('libraries.connection_name_required'))
  .max(60, message('libraries.at_most_characters', { max: 60 }))
  .refine((value) => !controlCharacters.test(value), message('libraries.no_control_characters'));
const idSchema = z.string().regex(/^[a-z0-9-]{1,40}$/, message('libraries.connection_id_format'));
const clientIdSchema = z.string().trim()
  .min(1, message('libraries.connection_client_id_required'))
  .max(512, message('libraries.connection_client_id_format'))
  .refine((value) => !/[\s\p{Cc}]/u.test(value), message('libraries.connection_client_id_format'));
const secretSchema = z.string()
  .min(1, message('libraries.connection_secret_length'))
  .max(1024, message('libraries.connection_secret_length'));
const urlTextSchema = z.string().trim().max(2048, message('libraries.connection_url_too_long'));
const tenantSchema = z.string().trim().toLowerCase().refine((value) => tenantGuid.test(value) || tenantNames.has(value), message('libraries.connection_tenant_format'));
const scopesSchema = z.array(z.string().regex(scopeToken, message('libraries.scope_names')))
  .max(maxScopes, message('libraries.connection_scopes_too_many', { max: maxScopes }));
const claimMappingSchema = z.record(z.string(), z.string()).superRefine((mapping, ctx) => {
  for (const [claim, upstream] of Object.entries(mapping)) {
    if (!(profileClaims as readonly string[]).includes(claim)) {
      ctx.addIssue({ code: 'custom', path: [claim], message: message('libraries.connection_claim_unknown', { claim: JSON.stringify(claim), list: profileClaims.join(', ') }) });
    } else if (!upstreamClaim.test(upstream)) {
      ctx.addIssue({ code: 'custom', path: [claim], message: message('libraries.connection_claim_upstream_format') });
    }
  }
});

const inputSchema = z.object({
  type: z.enum(connectionTypes, { message: message('libraries.connection_type', { list: connectionTypes.join(', ') }) }),
  name: nameSchema,
  id: idSchema.optional(),
  issuer: urlTextSchema.optional(),
  tenant: tenantSchema.optional(),
  clientId: clientIdSchema,
  clientSecret: secretSchema.optional(),
  scopes: scopesSchema.optional(),
  claimMapping: claimMappingSchema.optional(),
  showOnLoginPage: z.boolean().optional(),
  allowNewAccounts: z.boolean().optional(),
  trustVerifiedEmails: z.boolean().optional(),
  trustUpstreamMfa: z.boolean().optional(),
  authorizationUrl: urlTextSchema.optional(),
  tokenUrl: urlTextSchema.optional(),
  apiUrl: urlTextSchema.optional(),
});

const updateSchema = z.object({
  name: nameSchema.optional(),
  issuer: urlTextSchema.nullable().optional(),
  tenant: tenantSchema.optional(),
  clientId: clientIdSchema.optional(),
  clientSecret: secretSchema.nullable().optional(),
  scopes: scopesSchema.optional(),
  claimMapping: claimMappingSchema.optional(),
  showOnLoginPage: z.boolean().optional(),
  allowNewAccounts: z.boolean().optional(),
  trustVerifiedEmails: z.boolean().optional(),
  trustUpstreamMfa: z.boolean().optional(),
  authorizationUrl: urlTextSchema.nullable().optional(),
  tokenUrl: urlTextSchema.nullable().optional(),
  apiUrl: urlTextSchema.nullable().optional(),
});

/**
 * Everything about a connection but its id and times, before its rules are checked: `issuer`
 * undefined means "the preset's".
 */
type Draft = {
  type: ConnectionType;
  name: string;
  issuer: string | undefined;
  tenant: string | null;
  clientId: string;
  scopes: string[];
  claimMapping: Record<string, string>;
  authorizationUrl: string | null;
  tokenUrl: string | null;
  apiUrl: string | null;
  showOnLoginPage: boolean;
  allowNewAccounts: boolean;
  trustVerifiedEmails: boolean;
  trustUpstreamMfa: boolean;
};

type Settled = Omit<Draft, 'issuer'> & { issuer: string | null };

/**
 * An upstream URL: absolute, without credentials, a query or a fragment; https, or (outside
 * production) http on the loopback interface. The text is kept as typed: issuers compare byte for byte.
 */
function urlProblems(value: string, production: boolean): string[] {
  // Said without any credentials in it: the line may be logged.
  const shown = value.replace(/\/\/[^/?#]*@/, '//…@');
  let url: URL;
  try {
    // Spaces and control characters would be encoded by the parser, not kept as typed.
    if (/[\s\p{Cc}]/u.test(value)) throw new TypeError('not a URL as typed');
    url = new URL(value);
  } catch {
    return [message('libraries.url_not_absolute', { value: JSON.stringify(shown) })];
  }
  const problems: string[] = [];
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(value)?.[1] ?? '';
  if (url.username || url.password || authority.includes('@')) problems.push(message('libraries.url_has_credentials', { value: shown }));
  if (url.hash || value.includes('#')) problems.push(message('libraries.url_has_fragment', { value: shown }));
  if (url.search || value.includes('?')) problems.push(message('libraries.url_has_query', { value: shown }));
  const loopback = url.protocol === 'http:' && isLoopbackHost(url.hostname) && !production;
  if (url.protocol !== 'https:' && !loopback) {
    problems.push(message(production ? 'libraries.connection_url_not_https' : 'libraries.connection_url_not_https_or_loopback', { value: shown }));
  }
  return problems;
}

/** The rules across fields, with the presets filled in; the problems name the input's fields. */
function settle(draft: Draft, production: boolean): { settled: Settled; issues: Issue[] } {
  const issues: Issue[] = [];
  const problem = (field: string, words: string) => issues.push({ path: [field], message: words });
  const { type } = draft;

  if (type === 'microsoft' && !draft.tenant) problem('tenant', message('libraries.connection_tenant_required'));
  if (type !== 'microsoft' && draft.tenant) problem('tenant', message('libraries.connection_tenant_microsoft_only'));
  const tenant = type === 'microsoft' ? draft.tenant : null;

  let issuer: string | null = draft.issuer ?? presetIssuer(type, tenant);
  if (type === 'github' && draft.issuer !== undefined) problem('issuer', message('libraries.connection_github_no_issuer'));
  if (type === 'github') issuer = null;
  if (type === 'oidc' && issuer === null) problem('issuer', message('libraries.connection_issuer_required'));
  if (issuer !== null) for (const words of urlProblems(issuer, production)) problem('issuer', words);

  const urls = { authorizationUrl: draft.authorizationUrl, tokenUrl: draft.tokenUrl, apiUrl: draft.apiUrl };
  const given = Object.entries(urls).filter(([, value]) => value !== null) as Array<[string, string]>;
  if (type !== 'github') {
    for (const [field] of given) problem(field, message('libraries.connection_github_urls_only'));
  } else {
    if (given.length > 0 && given.length < 3) {
      for (const field of Object.keys(urls)) if (urls[field as keyof typeof urls] === null) problem(field, message('libraries.connection_github_urls_together'));
    }
    for (const [field, value] of given) for (const words of urlProblems(value, production)) problem(field, words);
  }

  // An OpenID Connect provider is always asked for openid (without it there is no ID token).
  let scopes = [...new Set(draft.scopes)];
  if (type !== 'github' && !scopes.includes('openid')) scopes = ['openid', ...scopes];
  if (scopes.length === 0) problem('scopes', message('libraries.connection_scopes_required'));
  if (scopes.length > maxScopes) problem('scopes', message('libraries.connection_scopes_too_many', { max: maxScopes }));

  const github = type === 'github';
  return {
    settled: {
      ...draft, issuer, tenant, scopes,
      authorizationUrl: github ? draft.authorizationUrl : null, tokenUrl: github ? draft.tokenUrl : null, apiUrl: github ? draft.apiUrl : null,
    },
    issues,
  };
}

function summary(record: ConnectionRecord): Connection {
  const { sealedSecret, ...rest } = record;
  return { ...rest, hasSecret: sealedSecret !== null };
}

/** What an audit event says of a connection: everything but the secret. */
function described(record: ConnectionRecord): Record<string, unknown> {
  return {
    connectionId: record.id, type: record.type, name: record.name, issuer: record.issuer, tenant: record.tenant, clientId: record.clientId,
    hasSecret: record.sealedSecret !== null, scopes: record.scopes, claimMapping: record.claimMapping,
    ...(record.type === 'github' ? { authorizationUrl: record.authorizationUrl, tokenUrl: record.tokenUrl, apiUrl: record.apiUrl } : {}),
    showOnLoginPage: record.showOnLoginPage, allowNewAccounts: record.allowNewAccounts,
    trustVerifiedEmails: record.trustVerifiedEmails, trustUpstreamMfa: record.trustUpstreamMfa, disabled: record.disabled,
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** A new connection's draft: its input with the preset's defaults. */
function newDraft(fields: z.output<typeof inputSchema>): Draft {
  const preset = connectionPresets[fields.type];
  return {
    type: fields.type,
    name: fields.name,
    issuer: fields.issuer,
    tenant: fields.tenant ?? null,
    clientId: fields.clientId,
    scopes: fields.scopes ?? preset.scopes,
    claimMapping: fields.claimMapping ?? preset.claimMapping,
    authorizationUrl: fields.authorizationUrl ?? null,
    tokenUrl: fields.tokenUrl ?? null,
    apiUrl: fields.apiUrl ?? null,
    showOnLoginPage: fields.showOnLoginPage ?? true,
    allowNewAccounts: fields.allowNewAccounts ?? false,
    trustVerifiedEmails: fields.trustVerifiedEmails ?? false,
    trustUpstreamMfa: fields.trustUpstreamMfa ?? false,
  };
}

/** A connection's settings as `add` would store them (the presets filled in), its id, secret and state aside. */
export type SettledConnection = Settled;

/**
 * What `add` would refuse in this input (field problems, the rules across fields), without adding
 * anything: no issues when it would be accepted (an id in use aside), and then the settings it
 * would store. Configuration as code checks a whole file before it changes anything and compares
 * what is stored with what would be (src/libraries/apply.ts).
 */
export function checkConnectionInput(input: ConnectionInput, production: boolean): { issues: Issue[]; settled?: SettledConnection } {
  const parsed = inputSchema.safeParse(input);
  if (!parsed.success) return { issues: [...invalidInput(parsed.error.issues).issues] };
  const { settled, issues } = settle(newDraft(parsed.data), production);
  return issues.length ? { issues } : { issues, settled };
}

export function connectionsLibrary(deps: Pick<LibraryDependencies, 'store' | 'config' | 'clock' | 'keyEncryptionKey' | 'logger'>): ConnectionsLibrary {
  const { store, config, clock, keyEncryptionKey, logger } = deps;
  const production = config.env === 'production';
  const audit = (type: string, source: AuditSource, details: Record<string, unknown>) =>
    recordAudit(store.audit, auditEvent(type, source, { details }), logger, clock);

  async function get(id: string): Promise<ConnectionRecord> {
    const record = await store.connections.find(id);
    if (!record) throw new GatehouseError('not_found', 'libraries.no_connection', { id });
    return record;
  }

  return {
    async list() {
      return (await store.connections.list()).map(summary);
    },

    async listForLoginPage() {
      return (await store.connections.list()).filter((record) => !record.disabled && record.showOnLoginPage).map(summary);
    },

    async find(id) {
      const record = await store.connections.find(id);
      return record ? summary(record) : undefined;
    },

    async clientSecret(id) {
      return openConnectionSecret(await get(id), keyEncryptionKey);
    },

    async add(input, source) {
      const parsed = inputSchema.safeParse(input);
      if (!parsed.success) throw invalidInput(parsed.error.issues);
      const fields = parsed.data;
      const { settled, issues } = settle(newDraft(fields), production);
      if (issues.length) throw new InvalidInputError(issues);
      // A name of only symbols or other scripts makes no slug: the type is the id then.
      const id = fields.id ?? (slugOf(settled.name) || fields.type);
      // Identities left over from an earlier connection with this id (its removal stopped halfway)
      // must never sign anyone in through a new one.
      if ((await store.linkedIdentities.countForConnection(id)) > 0) throw new GatehouseError('conflict', 'libraries.connection_identities_left', { id });
      const now = clock();
      const record: ConnectionRecord = {
        id,
        ...settled,
        sealedSecret: fields.clientSecret === undefined ? null : seal(fields.clientSecret, keyEncryptionKey, secretContext(id)),
        disabled: false,
        createdAt: now,
        updatedAt: now,
      };
      await store.connections.create(record);
      await audit('connection_added', source, described(record));
      return summary(record);
    },

    async update(id, patch, source) {
      const current = await get(id);
      const parsed = updateSchema.safeParse(patch);
      if (!parsed.success) throw invalidInput(parsed.error.issues);
      const fields = parsed.data;
      // The preset's issuer follows the tenant; an issuer given explicitly stays until changed.
      const followsPreset = current.issuer === presetIssuer(current.type, current.tenant);
      const { settled, issues } = settle({
        type: current.type,
        name: fields.name ?? current.name,
        issuer: fields.issuer === null ? undefined : fields.issuer ?? (followsPreset ? undefined : current.issuer ?? undefined),
        tenant: fields.tenant ?? current.tenant,
        clientId: fields.clientId ?? current.clientId,
        scopes: fields.scopes ?? current.scopes,
        claimMapping: fields.claimMapping ?? current.claimMapping,
        authorizationUrl: fields.authorizationUrl === undefined ? current.authorizationUrl : fields.authorizationUrl,
        tokenUrl: fields.tokenUrl === undefined ? current.tokenUrl : fields.tokenUrl,
        apiUrl: fields.apiUrl === undefined ? current.apiUrl : fields.apiUrl,
        showOnLoginPage: fields.showOnLoginPage ?? current.showOnLoginPage,
        allowNewAccounts: fields.allowNewAccounts ?? current.allowNewAccounts,
        trustVerifiedEmails: fields.trustVerifiedEmails ?? current.trustVerifiedEmails,
        trustUpstreamMfa: fields.trustUpstreamMfa ?? current.trustUpstreamMfa,
      }, production);
      if (issues.length) throw new InvalidInputError(issues);

      const changes: ConnectionPatch = {};
      const changed: Record<string, unknown> = {};
      for (const [field, value] of Object.entries(settled) as Array<[keyof Settled, unknown]>) {
        if (field === 'type' || same(value, current[field])) continue;
        (changes as Record<string, unknown>)[field] = value;
        changed[field] = value;
      }
      if (fields.clientSecret !== undefined) {
        changes.sealedSecret = fields.clientSecret === null ? null : seal(fields.clientSecret, keyEncryptionKey, secretContext(id));
        if (fields.clientSecret !== null || current.sealedSecret !== null) changed.clientSecret = fields.clientSecret === null ? 'removed' : 'changed';
      }
      if (Object.keys(changed).length === 0) return summary(current);
      const updated = await store.connections.update(id, { ...changes, updatedAt: clock() });
      if (!updated) throw new GatehouseError('not_found', 'libraries.no_connection', { id });
      await audit('connection_updated', source, { connectionId: id, changed });
      return summary(updated);
    },

    async setDisabled(id, disabled, source) {
      const current = await get(id);
      if (current.disabled === disabled) return summary(current);
      const updated = await store.connections.update(id, { disabled, updatedAt: clock() });
      if (!updated) throw new GatehouseError('not_found', 'libraries.no_connection', { id });
      await audit(disabled ? 'connection_disabled' : 'connection_enabled', source, { connectionId: id, name: updated.name });
      return summary(updated);
    },

    async remove(id, source) {
      const current = await store.connections.find(id);
      // The connection first, so no sign-in starts through it; then its identities. A removal that
      // stopped halfway is finished by removing it again.
      const removed = await store.connections.remove(id);
      const unlinked = await store.linkedIdentities.removeForConnection(id);
      if (!removed && unlinked === 0) throw new GatehouseError('not_found', 'libraries.no_connection', { id });
      await audit('connection_removed', source, { connectionId: id, ...(current ? { type: current.type, name: current.name } : {}), identitiesUnlinked: unlinked });
      return { identitiesUnlinked: unlinked };
    },
  };
}
