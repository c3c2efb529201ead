import { randomBytes } from 'node:crypto';

import { z } from 'zod';

import { systemClock } from '../clock.ts';
import { isLoopbackHost } from '../config/load-config.ts';
import { GatehouseError } from '../errors.ts';
import { open, seal } from '../keys/encryption.ts';
import { message } from '../messages/messages.ts';
import { deleteInBatches } from '../store/batches.ts';
import type { ClientMetadata, ClientRecord, Store } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { invalidInput } from './validation.ts';

/** The device authorization grant (RFC 8628): CLIs, TVs and devices without a browser; no redirect URI. */
export const deviceCodeGrantType = 'urn:ietf:params:oauth:grant-type:device_code';

export const grantTypes = ['authorization_code', 'refresh_token', 'client_credentials', deviceCodeGrantType] as const;

/** Absolute, no fragment, https unless it points at this machine (RFC 8252 loopback redirects). */
export const redirectUriSchema = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: message('libraries.url_not_absolute', { value: JSON.stringify(value) }) });
    return;
  }
  if (url.hash || value.includes('#')) ctx.addIssue({ code: 'custom', message: message('libraries.url_has_fragment', { value }) });
  if (url.username || url.password) ctx.addIssue({ code: 'custom', message: message('libraries.url_has_credentials', { value }) });
  const loopback = url.protocol === 'http:' && isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !loopback) {
    ctx.addIssue({ code: 'custom', message: message('libraries.url_not_https', { value }) });
  }
});

const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** How a client authenticates at the token endpoint; each client must use exactly the one it is registered with. */
export const authMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;
export type AuthMethod = (typeof authMethods)[number];
/** The methods that authenticate with a client secret (the ones that get one). */
const secretMethods: readonly AuthMethod[] = ['client_secret_basic', 'client_secret_post'];

/** A link shown to people (logo, privacy policy, terms): absolute https, no credentials. */
export const httpsUrlSchema = z.string().superRefine((value, ctx) => {
  const url = URL.parse(value);
  if (!url || url.protocol !== 'https:' || url.username || url.password) {
    ctx.addIssue({ code: 'custom', message: message('libraries.url_not_https_link', { value: JSON.stringify(value) }) });
  }
});

/** Members only a private key has: a client's registered keys must be public ones. */
const privateKeyMembers = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

/** A client's public keys (RFC 7517 JWK Set) for private_key_jwt: RSA, EC or OKP keys, never private parts. */
export const clientJwksSchema = z
  .object({ keys: z.array(z.looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']) })).min(1) })
  .superRefine((jwks, ctx) => {
    if (jwks.keys.some((key) => privateKeyMembers.some((member) => member in key))) {
      ctx.addIssue({ code: 'custom', message: message('libraries.jwks_private_key') });
    }
  });

export const newClientSchema = z
  .object({
    name: z.string().trim().min(1, message('libraries.client_name_required')).max(200),
    redirectUris: z.array(redirectUriSchema).default([]),
    postLogoutRedirectUris: z.array(redirectUriSchema).default([]),
    public: z.boolean().default(false),
    firstParty: z.boolean().default(false),
    pkceExempt: z.boolean().default(false),
    /** Every sign-in to this client needs a second factor (people without one set it up first). */
    requireMfa: z.boolean().default(false),
    /** Every sign-in to this client needs a phishing-resistant method (a passkey): no password, no mailed code. */
    requirePhishingResistant: z.boolean().default(false),
    grantTypes: z.array(z.enum(grantTypes, { message: message('libraries.grant_types', { list: grantTypes.join(', ') }) })).optional(),
    scope: z
      .string()
      .trim()
      .refine((value) => value.split(/\s+/).every((token) => scopeToken.test(token)), message('libraries.scope_format'))
      .optional(),
    /** How it authenticates: client_secret_basic for a confidential client, none for a public one, unless said. */
    authMethod: z.enum(authMethods, { message: message('libraries.auth_methods', { list: authMethods.join(', ') }) }).optional(),
    /** private_key_jwt: where its public keys are published (fetched by the provider), or the keys themselves. */
    jwksUri: redirectUriSchema.optional(),
    jwks: clientJwksSchema.optional(),
    logoUri: httpsUrlSchema.optional(),
    policyUri: httpsUrlSchema.optional(),
    tosUri: httpsUrlSchema.optional(),
    /**
     * OpenID Connect Back-Channel Logout: where logout tokens are POSTed when a session the client
     * is in ends (https; http only to loopback, and outside production: see backchannelUriProblem).
     */
    backchannelLogoutUri: redirectUriSchema.optional(),
    /** Whether logout tokens carry the session's sid (and the client needs it): yes unless said. */
    backchannelLogoutSessionRequired: z.boolean().default(true),
  })
  .transform((input, ctx) => {
    const types = [...new Set(input.grantTypes ?? ['authorization_code', 'refresh_token'])];
    if (input.public && input.authMethod !== undefined && input.authMethod !== 'none') {
      ctx.addIssue({ code: 'custom', message: message('libraries.public_client_auth_method') });
    }
    const authMethod: AuthMethod = input.authMethod ?? (input.public ? 'none' : 'client_secret_basic');
    const isPublic = authMethod === 'none';
    if (authMethod === 'private_key_jwt' && (input.jwksUri === undefined) === (input.jwks === undefined)) {
      ctx.addIssue({ code: 'custom', message: message('libraries.private_key_jwt_keys') });
    }
    if (authMethod !== 'private_key_jwt' && (input.jwksUri !== undefined || input.jwks !== undefined)) {
      ctx.addIssue({ code: 'custom', message: message('libraries.keys_need_private_key_jwt') });
    }
    if (isPublic && types.includes('client_credentials')) {
      ctx.addIssue({ code: 'custom', message: message('libraries.public_client_credentials') });
    }
    if (isPublic && input.pkceExempt) {
      ctx.addIssue({ code: 'custom', message: message('libraries.public_client_pkce_exempt') });
    }
    if (types.includes('authorization_code') && input.redirectUris.length === 0) {
      ctx.addIssue({ code: 'custom', message: message('libraries.redirect_uri_required') });
    }
    if (types.includes('refresh_token') && !types.includes('authorization_code') && !types.includes(deviceCodeGrantType)) {
      ctx.addIssue({ code: 'custom', message: message('libraries.refresh_token_needs_code') });
    }
    return { ...input, public: isPublic, authMethod, grantTypes: types };
  });

export type NewClientInput = z.input<typeof newClientSchema>;

function secretContext(clientId: string): string {
  return `client-secret:${clientId}`;
}

/** Registers a client; a confidential one gets a generated secret, returned here and never again. */
type ParsedClient = z.output<typeof newClientSchema>;

/** The stored metadata of a validated client (`clientId` its id). */
function metadataOf(clientId: string, client: ParsedClient): ClientMetadata {
  const usesAuthorizationEndpoint = client.grantTypes.includes('authorization_code');
  return {
    client_id: clientId,
    client_name: client.name,
    redirect_uris: client.redirectUris,
    ...(client.postLogoutRedirectUris.length ? { post_logout_redirect_uris: client.postLogoutRedirectUris } : {}),
    grant_types: client.grantTypes,
    response_types: usesAuthorizationEndpoint ? ['code'] : [],
    token_endpoint_auth_method: client.authMethod,
    ...(client.jwksUri ? { jwks_uri: client.jwksUri } : {}),
    ...(client.jwks ? { jwks: client.jwks } : {}),
    ...(client.logoUri ? { logo_uri: client.logoUri } : {}),
    ...(client.policyUri ? { policy_uri: client.policyUri } : {}),
    ...(client.tosUri ? { tos_uri: client.tosUri } : {}),
    ...(client.backchannelLogoutUri ? { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: client.backchannelLogoutSessionRequired } : {}),
    ...(client.scope ? { scope: client.scope } : {}),
    first_party: client.firstParty,
    pkce_exempt: client.pkceExempt,
    ...(client.requireMfa ? { require_mfa: true } : {}),
    ...(client.requirePhishingResistant ? { gatehouse_require_phishing_resistant: true } : {}),
  };
}

/** The input that registers a client like this one (what `update` changes and validates again). */
function inputOf(metadata: ClientMetadata): NewClientInput {
  const string = (key: string) => (typeof metadata[key] === 'string' ? metadata[key] as string : undefined);
  const jwks = metadata.jwks as { keys: Array<{ kty: 'RSA' | 'EC' | 'OKP' }> } | undefined;
  const optional = {
    jwksUri: string('jwks_uri'), jwks, logoUri: string('logo_uri'), policyUri: string('policy_uri'), tosUri: string('tos_uri'), scope: metadata.scope,
    backchannelLogoutUri: string('backchannel_logout_uri'),
    backchannelLogoutSessionRequired: typeof metadata.backchannel_logout_session_required === 'boolean' ? metadata.backchannel_logout_session_required : undefined,
  };
  return {
    name: metadata.client_name ?? '',
    redirectUris: metadata.redirect_uris,
    postLogoutRedirectUris: metadata.post_logout_redirect_uris ?? [],
    firstParty: metadata.first_party === true,
    pkceExempt: metadata.pkce_exempt === true,
    requireMfa: metadata.require_mfa === true,
    requirePhishingResistant: metadata.gatehouse_require_phishing_resistant === true,
    grantTypes: metadata.grant_types as NewClientInput['grantTypes'],
    authMethod: metadata.token_endpoint_auth_method as AuthMethod,
    ...Object.fromEntries(Object.entries(optional).filter(([, value]) => value !== undefined)),
  };
}

const newSecret = () => randomBytes(32).toString('base64url');

/**
 * What configuration as code (src/libraries/apply.ts) gives a client it creates: the id written in
 * its file, and the secret from its environment; both generated otherwise.
 */
export type GivenClientIdentity = { clientId?: string; clientSecret?: string };

/** Registers a client; one that authenticates with a secret gets a generated one, returned here and never again. */
export async function registerClient(
  store: Pick<Store, 'clients'>,
  encryptionKey: Buffer,
  input: NewClientInput,
  now = systemClock(),
  given: GivenClientIdentity = {},
): Promise<{ metadata: ClientMetadata; clientSecret?: string }> {
  const parsed = newClientSchema.safeParse(input);
  if (!parsed.success) throw invalidInput(parsed.error.issues);
  const client = parsed.data;
  // Hex, so an id never starts with '-' (which a command line would take for an option).
  const clientId = given.clientId ?? randomBytes(16).toString('hex');
  const metadata = metadataOf(clientId, client);
  const clientSecret = secretMethods.includes(client.authMethod) ? given.clientSecret ?? newSecret() : undefined;
  const record: ClientRecord = {
    metadata,
    ...(clientSecret ? { encryptedSecret: seal(clientSecret, encryptionKey, secretContext(clientId)) } : {}),
    createdAt: now,
    dynamic: false,
    lastUsedAt: null,
  };
  await store.clients.create(record);
  return { metadata, ...(clientSecret ? { clientSecret } : {}) };
}

/** What `clients update` may change; an absent field stays as it is, `null` removes an optional link. */
export type ClientChange = {
  name?: string;
  redirectUris?: string[];
  postLogoutRedirectUris?: string[];
  grantTypes?: NewClientInput['grantTypes'];
  authMethod?: AuthMethod;
  jwksUri?: string | null;
  jwks?: NewClientInput['jwks'] | null;
  logoUri?: string | null;
  policyUri?: string | null;
  tosUri?: string | null;
  /** `null` removes it (the client is no longer told of logouts). */
  backchannelLogoutUri?: string | null;
  backchannelLogoutSessionRequired?: boolean;
  /** The scopes it may ask for (its own and APIs'), space-separated; `null`: any. */
  scope?: string | null;
  firstParty?: boolean;
  pkceExempt?: boolean;
  requireMfa?: boolean;
  requirePhishingResistant?: boolean;
};

/**
 * A back-channel logout receiver must be https in production (Gatehouse's outgoing requests never
 * reach loopback there); elsewhere an http loopback receiver is allowed, for development and tests.
 */
function backchannelUriProblem(env: string, uri: string | null | undefined): void {
  if (env === 'production' && typeof uri === 'string' && !uri.startsWith('https:')) {
    throw invalidInput([{ path: ['backchannelLogoutUri'], message: message('libraries.backchannel_logout_uri_https', { value: uri }) }]);
  }
}

/**
 * The secret before the last rotation, opened, while its overlap lasts (`now` before its expiry);
 * undefined otherwise.
 */
export function previousSecret(record: ClientRecord, encryptionKey: Buffer, now: Date): string | undefined {
  if (!record.previousEncryptedSecret || !record.previousSecretExpiresAt) return undefined;
  if (now.getTime() >= record.previousSecretExpiresAt.getTime()) return undefined;
  return open(record.previousEncryptedSecret, encryptionKey, secretContext(record.metadata.client_id));
}

/** The metadata oidc-provider loads: the stored metadata with the secret unsealed. */
export function providerMetadata(record: ClientRecord, encryptionKey: Buffer): ClientMetadata {
  if (!record.encryptedSecret) return record.metadata;
  return { ...record.metadata, client_secret: open(record.encryptedSecret, encryptionKey, secretContext(record.metadata.client_id)) };
}

/**
 * What oidc-provider's adapter hands over when it saves a client that registered itself (RFC 7591)
 * or changed itself (RFC 7592): its metadata, validated by the provider, with the secret in clear.
 */
const registeredPayloadSchema = z.looseObject({
  client_id: z.string().min(1).max(2048),
  client_secret: z.string().min(1).optional(),
});

/** Gatehouse's own flags that only an operator may set: a client that registered itself never gets them. */
const operatorOnlyFlags = { first_party: false, pkce_exempt: false } as const;

/** How often a client's use is written at most, per client and process (`touch`). */
const touchIntervalMs = 3_600_000;
/** Clients remembered by `touch`; past this, the entries older than the interval are dropped. */
const touchMemoLimit = 10_000;
/** Dynamic clients deleted per statement by `expireUnused`. */
const expiryBatchSize = 500;

/** A client just registered: its metadata, when, and its generated secret (shown once, never stored in clear). */
export type RegisteredClient = { metadata: ClientMetadata; createdAt: Date; clientSecret?: string };

/** The applications that sign people in (OpenID Connect clients) or use APIs. */
export type ClientsLibrary = {
  /** Registers a client; audited as `client_added`. Throws InvalidInputError for bad metadata. */
  register(input: NewClientInput, source: AuditSource, given?: GivenClientIdentity): Promise<RegisteredClient>;
  list(): Promise<ClientRecord[]>;
  /** A client by id; `not_found` when there is none. */
  get(clientId: string): Promise<ClientRecord>;
  /**
   * Changes an operator's client (`not_found` when there is none, `conflict` for a client that
   * registered itself: it changes itself, RFC 7592). The result is validated as a new client is.
   * A change to a method with a secret from one without gives it a new secret (returned, shown
   * once); a change to one without drops its secrets. Audited as `client_updated` (what changed).
   */
  update(clientId: string, change: ClientChange, source: AuditSource): Promise<{ metadata: ClientMetadata; clientSecret?: string }>;
  /**
   * Gives a client that authenticates with a secret a new one (returned, shown once). With
   * `overlapDays` > 0 the old one keeps working that long as well; with 0 it stops at once (and an
   * older overlap ends too). `conflict` for a client without a secret. Audited as `client_secret_rotated`.
   * `givenSecret`: the new secret, as configuration as code takes it from its environment.
   */
  rotateSecret(clientId: string, overlapDays: number, source: AuditSource, givenSecret?: string): Promise<{ clientSecret: string; previousSecretExpiresAt?: Date }>;
  /** Removes a client (`not_found` when there is none); audited as `client_removed`. */
  remove(clientId: string, source: AuditSource): Promise<void>;
  /** The metadata oidc-provider loads, with the secret unsealed. */
  providerMetadata(record: ClientRecord): ClientMetadata;
  /**
   * Saves a client that registered itself (RFC 7591) or changed itself (RFC 7592), as the provider's
   * adapter receives it (`payload`: the client's metadata, `client_secret` in clear if any). The
   * secret is sealed as an operator's client's is (providerMetadata opens it again); the client is
   * marked dynamic; `first_party` and `pkce_exempt` are forced off. Replacing an existing dynamic
   * client keeps its creation time and last use (`createdAt` is for a new one). `conflict` when an
   * operator's client has this id; `invalid_input` without a client_id. Not audited: the provider's
   * registration events are.
   */
  saveRegistered(payload: Record<string, unknown>, createdAt: Date): Promise<void>;
  /** Deletes a dynamic client (RFC 7592 delete; the adapter's destroy). None: nothing to do; an operator's: `conflict`. */
  removeRegistered(clientId: string): Promise<void>;
  /**
   * Records that a client is in use (lastUsedAt), at most once an hour per client in this process,
   * so a busy client does not write on every request. Never throws: a failed write is logged.
   */
  touch(clientId: string): Promise<void>;
  /**
   * Deletes the dynamic clients neither used nor created in the last
   * `config.dynamicClients.unusedExpiryDays` days, in batches; audits `client_expired` once per
   * client (its id, the days, its last use). With `limit`, one batch of at most that many (the
   * sweeper's). Returns how many.
   */
  expireUnused(source: AuditSource, limit?: number): Promise<number>;
};

export function clientsLibrary(deps: Pick<LibraryDependencies, 'store' | 'clock' | 'keyEncryptionKey' | 'logger' | 'config'>): ClientsLibrary {
  const { store, clock, keyEncryptionKey, logger, config } = deps;
  /** When each client's use was last written by this process (ms since the epoch). */
  const touched = new Map<string, number>();
  const audit = (type: string, source: AuditSource, event: { clientId: string; details?: Record<string, unknown> }) =>
    recordAudit(store.audit, auditEvent(type, source, event), logger, clock);
  const get = async (clientId: string) => {
    const record = await store.clients.find(clientId);
    if (!record) throw new GatehouseError('not_found', 'libraries.no_client', { clientId });
    return record;
  };
  return {
    async register(input, source, given) {
      backchannelUriProblem(config.env, input.backchannelLogoutUri);
      const createdAt = clock();
      const { metadata, clientSecret } = await registerClient(store, keyEncryptionKey, input, createdAt, given);
      await audit('client_added', source, {
        clientId: metadata.client_id,
        details: {
          client_name: metadata.client_name, redirect_uris: metadata.redirect_uris, grant_types: metadata.grant_types,
          public: metadata.token_endpoint_auth_method === 'none', token_endpoint_auth_method: metadata.token_endpoint_auth_method,
        },
      });
      return { metadata, createdAt, ...(clientSecret ? { clientSecret } : {}) };
    },
    list: () => store.clients.list(),
    get,
    async update(clientId, change, source) {
      const existing = await get(clientId);
      if (existing.dynamic) throw new GatehouseError('conflict', 'libraries.client_dynamic_not_updatable', { clientId });
      const before = inputOf(existing.metadata);
      backchannelUriProblem(config.env, change.backchannelLogoutUri);
      const links = {
        jwksUri: change.jwksUri, jwks: change.jwks, logoUri: change.logoUri, policyUri: change.policyUri, tosUri: change.tosUri, backchannelLogoutUri: change.backchannelLogoutUri,
        scope: change.scope,
      };
      const merged: Record<string, unknown> = {
        ...before,
        ...Object.fromEntries(Object.entries({
          name: change.name, redirectUris: change.redirectUris, postLogoutRedirectUris: change.postLogoutRedirectUris, grantTypes: change.grantTypes, authMethod: change.authMethod,
          backchannelLogoutSessionRequired: change.backchannelLogoutSessionRequired,
          firstParty: change.firstParty, pkceExempt: change.pkceExempt, requireMfa: change.requireMfa, requirePhishingResistant: change.requirePhishingResistant,
        }).filter(([, value]) => value !== undefined)),
      };
      for (const [key, value] of Object.entries(links)) {
        if (value === null) delete merged[key];
        else if (value !== undefined) merged[key] = value;
      }
      // Moving away from private_key_jwt drops its keys unless new ones are given (which then refuses).
      if (change.authMethod && change.authMethod !== 'private_key_jwt' && change.jwksUri === undefined && change.jwks === undefined) {
        delete merged.jwksUri;
        delete merged.jwks;
      }
      // New keys replace the old ones of the other kind.
      if (change.jwksUri) delete merged.jwks;
      if (change.jwks) delete merged.jwksUri;
      const parsed = newClientSchema.safeParse(merged);
      if (!parsed.success) throw invalidInput(parsed.error.issues);
      const metadata = { ...metadataOf(clientId, parsed.data) };
      const withSecret = secretMethods.includes(parsed.data.authMethod);
      const clientSecret = withSecret && !existing.encryptedSecret ? newSecret() : undefined;
      const encryptedSecret = withSecret ? (clientSecret ? seal(clientSecret, keyEncryptionKey, secretContext(clientId)) : existing.encryptedSecret) : undefined;
      const keepPrevious = withSecret && !clientSecret && existing.previousEncryptedSecret && existing.previousSecretExpiresAt;
      if (!(await store.clients.replace(clientId, {
        metadata,
        ...(encryptedSecret ? { encryptedSecret } : {}),
        ...(keepPrevious ? { previousEncryptedSecret: existing.previousEncryptedSecret!, previousSecretExpiresAt: existing.previousSecretExpiresAt! } : {}),
      }))) {
        throw new GatehouseError('not_found', 'libraries.no_client', { clientId });
      }
      const changed = [...new Set([...Object.keys(metadata), ...Object.keys(existing.metadata)])]
        .filter((key) => JSON.stringify(metadata[key]) !== JSON.stringify(existing.metadata[key]))
        .sort();
      await audit('client_updated', source, { clientId, details: { changed, ...(clientSecret ? { secret_issued: true } : {}) } });
      return { metadata, ...(clientSecret ? { clientSecret } : {}) };
    },
    async rotateSecret(clientId, overlapDays, source, givenSecret) {
      if (!Number.isInteger(overlapDays) || overlapDays < 0 || overlapDays > 90) {
        throw new GatehouseError('invalid_input', 'libraries.overlap_days', { max: '90' });
      }
      const existing = await get(clientId);
      if (existing.dynamic) throw new GatehouseError('conflict', 'libraries.client_dynamic_not_updatable', { clientId });
      if (!existing.encryptedSecret) throw new GatehouseError('conflict', 'libraries.client_has_no_secret', { clientId });
      const clientSecret = givenSecret ?? newSecret();
      const previousSecretExpiresAt = overlapDays > 0 ? new Date(clock().getTime() + overlapDays * 86_400_000) : undefined;
      if (!(await store.clients.replace(clientId, {
        metadata: existing.metadata,
        encryptedSecret: seal(clientSecret, keyEncryptionKey, secretContext(clientId)),
        ...(previousSecretExpiresAt ? { previousEncryptedSecret: existing.encryptedSecret, previousSecretExpiresAt } : {}),
      }))) {
        throw new GatehouseError('not_found', 'libraries.no_client', { clientId });
      }
      await audit('client_secret_rotated', source, {
        clientId, details: { overlap_days: overlapDays, ...(previousSecretExpiresAt ? { previous_secret_expires_at: previousSecretExpiresAt.toISOString() } : {}) },
      });
      return { clientSecret, ...(previousSecretExpiresAt ? { previousSecretExpiresAt } : {}) };
    },
    async remove(clientId, source) {
      if (!(await store.clients.remove(clientId))) throw new GatehouseError('not_found', 'libraries.no_client', { clientId });
      await audit('client_removed', source, { clientId });
    },
    providerMetadata: (record) => providerMetadata(record, keyEncryptionKey),
    async saveRegistered(payload, createdAt) {
      const parsed = registeredPayloadSchema.safeParse(payload);
      if (!parsed.success) throw invalidInput(parsed.error.issues);
      const { client_secret: clientSecret, ...rest } = parsed.data;
      const metadata = { ...rest, ...operatorOnlyFlags } as ClientMetadata;
      const clientId = metadata.client_id;
      const existing = await store.clients.find(clientId);
      if (existing && !existing.dynamic) throw new GatehouseError('conflict', 'store.client_exists', { clientId });
      await store.clients.save({
        metadata,
        ...(clientSecret ? { encryptedSecret: seal(clientSecret, keyEncryptionKey, secretContext(clientId)) } : {}),
        createdAt: existing?.createdAt ?? createdAt,
        dynamic: true,
        lastUsedAt: existing?.lastUsedAt ?? null,
      });
    },
    async removeRegistered(clientId) {
      const existing = await store.clients.find(clientId);
      if (!existing) return;
      if (!existing.dynamic) throw new GatehouseError('conflict', 'libraries.client_not_dynamic', { clientId });
      await store.clients.remove(clientId);
      touched.delete(clientId);
    },
    async touch(clientId) {
      const now = clock().getTime();
      const last = touched.get(clientId);
      if (last !== undefined && now - last < touchIntervalMs) return;
      if (touched.size >= touchMemoLimit) {
        for (const [id, at] of touched) if (now - at >= touchIntervalMs) touched.delete(id);
        // Still full (more than the limit in use within the hour): start over rather than grow.
        if (touched.size >= touchMemoLimit) touched.clear();
      }
      // Remembered before the write, so requests arriving meanwhile do not write too.
      touched.set(clientId, now);
      try {
        await store.clients.touch(clientId, new Date(now));
      } catch (error) {
        touched.delete(clientId);
        logger?.warn('recording a client\'s use failed', { clientId, error });
      }
    },
    async expireUnused(source, limit) {
      const days = config.dynamicClients.unusedExpiryDays;
      const before = new Date(clock().getTime() - days * 86_400_000);
      const batch = async (size: number) => {
        const removed = await store.clients.removeUnusedDynamic(before, size);
        for (const clientId of removed) {
          touched.delete(clientId);
          await audit('client_expired', source, { clientId, details: { unused_days: days, unused_since: before.toISOString() } });
        }
        return removed.length;
      };
      if (limit !== undefined) return batch(limit);
      return deleteInBatches(batch, expiryBatchSize);
    },
  };
}
