import { randomBytes } from 'node:crypto';

import { z } from 'zod';

import { isLoopbackHost } from '../config/load-config.ts';
import { describeIssues, GatehouseError } from '../errors.ts';
import { open, seal } from '../keys/encryption.ts';
import type { ClientMetadata, ClientRecord, Store } from '../store/types.ts';

export const grantTypes = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

/** Absolute, no fragment, https unless it points at this machine (RFC 8252 loopback redirects). */
export const redirectUriSchema = z.string().superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} is not an absolute URL` });
    return;
  }
  if (url.hash || value.includes('#')) ctx.addIssue({ code: 'custom', message: `${value} must not contain a fragment` });
  if (url.username || url.password) ctx.addIssue({ code: 'custom', message: `${value} must not contain credentials` });
  const loopback = url.protocol === 'http:' && isLoopbackHost(url.hostname);
  if (url.protocol !== 'https:' && !loopback) {
    ctx.addIssue({ code: 'custom', message: `${value} must use https (http is allowed only for localhost, 127.0.0.1 and [::1])` });
  }
});

const scopeToken = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export const newClientSchema = z
  .object({
    name: z.string().trim().min(1, 'a name is required').max(200),
    redirectUris: z.array(redirectUriSchema).default([]),
    postLogoutRedirectUris: z.array(redirectUriSchema).default([]),
    public: z.boolean().default(false),
    firstParty: z.boolean().default(false),
    pkceExempt: z.boolean().default(false),
    /** Every sign-in to this client needs a second factor (people without one set it up first). */
    requireMfa: z.boolean().default(false),
    grantTypes: z.array(z.enum(grantTypes, { message: `grant types are ${grantTypes.join(', ')}` })).optional(),
    scope: z
      .string()
      .trim()
      .refine((value) => value.split(/\s+/).every((token) => scopeToken.test(token)), 'scope must be space-separated scope names')
      .optional(),
  })
  .transform((input, ctx) => {
    const types = [...new Set(input.grantTypes ?? ['authorization_code', 'refresh_token'])];
    if (input.public && types.includes('client_credentials')) {
      ctx.addIssue({ code: 'custom', message: 'a public client cannot use client_credentials (it has no secret)' });
    }
    if (input.public && input.pkceExempt) {
      ctx.addIssue({ code: 'custom', message: 'only a confidential client may be exempt from PKCE' });
    }
    if (types.includes('authorization_code') && input.redirectUris.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'at least one redirect URI is required for the authorization_code grant' });
    }
    if (types.includes('refresh_token') && !types.includes('authorization_code')) {
      ctx.addIssue({ code: 'custom', message: 'refresh_token needs authorization_code' });
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
  now = new Date(),
): Promise<{ metadata: ClientMetadata; clientSecret?: string }> {
  const parsed = newClientSchema.safeParse(input);
  if (!parsed.success) throw new GatehouseError('invalid_input', describeIssues(parsed.error.issues));
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
