import { randomBytes } from 'node:crypto';

import { z } from 'zod';

import { systemClock } from '../clock.ts';
import { isLoopbackHost } from '../config/load-config.ts';
import { GatehouseError } from '../errors.ts';
import { open, seal } from '../keys/encryption.ts';
import { message } from '../messages/messages.ts';
import type { ClientMetadata, ClientRecord, Store } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { invalidInput } from './validation.ts';

export const grantTypes = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

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
  })
  .transform((input, ctx) => {
    const types = [...new Set(input.grantTypes ?? ['authorization_code', 'refresh_token'])];
    if (input.public && types.includes('client_credentials')) {
      ctx.addIssue({ code: 'custom', message: message('libraries.public_client_credentials') });
    }
    if (input.public && input.pkceExempt) {
      ctx.addIssue({ code: 'custom', message: message('libraries.public_client_pkce_exempt') });
    }
    if (types.includes('authorization_code') && input.redirectUris.length === 0) {
      ctx.addIssue({ code: 'custom', message: message('libraries.redirect_uri_required') });
    }
    if (types.includes('refresh_token') && !types.includes('authorization_code')) {
      ctx.addIssue({ code: 'custom', message: message('libraries.refresh_token_needs_code') });
    }
    return { ...input, grantTypes: types };
  });

export type NewClientInput = z.input<typeof newClientSchema>;

function secretContext(clientId: string): string {
  return `client-secret:${clientId}`;
}

/** Registers a client; a confidential one gets a generated secret, returned here and never again. */
export async function registerClient(
  store: Pick<Store, 'clients'>,
  encryptionKey: Buffer,
  input: NewClientInput,
  now = systemClock(),
): Promise<{ metadata: ClientMetadata; clientSecret?: string }> {
  const parsed = newClientSchema.safeParse(input);
  if (!parsed.success) throw invalidInput(parsed.error.issues);
  const client = parsed.data;
  // Hex, so an id never starts with '-' (which a command line would take for an option).
  const clientId = randomBytes(16).toString('hex');
  const usesAuthorizationEndpoint = client.grantTypes.includes('authorization_code');
  const metadata: ClientMetadata = {
    client_id: clientId,
    client_name: client.name,
    redirect_uris: client.redirectUris,
    ...(client.postLogoutRedirectUris.length ? { post_logout_redirect_uris: client.postLogoutRedirectUris } : {}),
    grant_types: client.grantTypes,
    response_types: usesAuthorizationEndpoint ? ['code'] : [],
    token_endpoint_auth_method: client.public ? 'none' : 'client_secret_basic',
    ...(client.scope ? { scope: client.scope } : {}),
    first_party: client.firstParty,
    pkce_exempt: client.pkceExempt,
    ...(client.requireMfa ? { require_mfa: true } : {}),
    ...(client.requirePhishingResistant ? { gatehouse_require_phishing_resistant: true } : {}),
  };
  const clientSecret = client.public ? undefined : randomBytes(32).toString('base64url');
  const record: ClientRecord = {
    metadata,
    ...(clientSecret ? { encryptedSecret: seal(clientSecret, encryptionKey, secretContext(clientId)) } : {}),
    createdAt: now,
  };
  await store.clients.create(record);
  return { metadata, ...(clientSecret ? { clientSecret } : {}) };
}

/** The metadata oidc-provider loads: the stored metadata with the secret unsealed. */
export function providerMetadata(record: ClientRecord, encryptionKey: Buffer): ClientMetadata {
  if (!record.encryptedSecret) return record.metadata;
  return { ...record.metadata, client_secret: open(record.encryptedSecret, encryptionKey, secretContext(record.metadata.client_id)) };
}

/** A client just registered: its metadata, when, and its generated secret (shown once, never stored in clear). */
export type RegisteredClient = { metadata: ClientMetadata; createdAt: Date; clientSecret?: string };

/** The applications that sign people in (OpenID Connect clients) or use APIs. */
export type ClientsLibrary = {
  /** Registers a client; audited as `client_added`. Throws InvalidInputError for bad metadata. */
  register(input: NewClientInput, source: AuditSource): Promise<RegisteredClient>;
  list(): Promise<ClientRecord[]>;
  /** A client by id; `not_found` when there is none. */
  get(clientId: string): Promise<ClientRecord>;
  /** Removes a client (`not_found` when there is none); audited as `client_removed`. */
  remove(clientId: string, source: AuditSource): Promise<void>;
  /** The metadata oidc-provider loads, with the secret unsealed. */
  providerMetadata(record: ClientRecord): ClientMetadata;
};

export function clientsLibrary(deps: Pick<LibraryDependencies, 'store' | 'clock' | 'keyEncryptionKey' | 'logger'>): ClientsLibrary {
  const { store, clock, keyEncryptionKey, logger } = deps;
  const audit = (type: string, source: AuditSource, event: { clientId: string; details?: Record<string, unknown> }) =>
    recordAudit(store.audit, auditEvent(type, source, event), logger, clock);
  const get = async (clientId: string) => {
    const record = await store.clients.find(clientId);
    if (!record) throw new GatehouseError('not_found', 'libraries.no_client', { clientId });
    return record;
  };
  return {
    async register(input, source) {
      const createdAt = clock();
      const { metadata, clientSecret } = await registerClient(store, keyEncryptionKey, input, createdAt);
      await audit('client_added', source, {
        clientId: metadata.client_id,
        details: { client_name: metadata.client_name, redirect_uris: metadata.redirect_uris, grant_types: metadata.grant_types, public: metadata.token_endpoint_auth_method === 'none' },
      });
      return { metadata, createdAt, ...(clientSecret ? { clientSecret } : {}) };
    },
    list: () => store.clients.list(),
    get,
    async remove(clientId, source) {
      if (!(await store.clients.remove(clientId))) throw new GatehouseError('not_found', 'libraries.no_client', { clientId });
      await audit('client_removed', source, { clientId });
    },
    providerMetadata: (record) => providerMetadata(record, keyEncryptionKey),
  };
}
