import { z } from 'zod';

import { authMethods, grantTypes } from '../../libraries/clients.ts';
import type { ClientChange, NewClientInput } from '../../libraries/clients.ts';
import type { ClientRecord } from '../../store/types.ts';
import type { Route, RouteContext } from './kit.ts';
import { pageByKey, pageOf, pageQuery } from './kit.ts';

/** A client as the API shows it: its RFC 7591 metadata (never a secret), how it came and when it was last used. */
export const clientSchema = z.looseObject({
  client_id: z.string(),
  client_name: z.string().optional(),
  redirect_uris: z.array(z.string()),
  post_logout_redirect_uris: z.array(z.string()).optional(),
  grant_types: z.array(z.string()),
  response_types: z.array(z.string()),
  token_endpoint_auth_method: z.string(),
  scope: z.string().optional(),
  first_party: z.boolean().optional(),
  pkce_exempt: z.boolean().optional(),
  client_id_issued_at: z.number().int(),
  dynamic: z.boolean().describe('Registered itself (RFC 7591) rather than by an operator.'),
  last_used_at: z.string().nullable(),
}).meta({ id: 'Client' });

export function clientJson(record: ClientRecord): z.output<typeof clientSchema> {
  return {
    ...record.metadata,
    client_id_issued_at: Math.floor(record.createdAt.getTime() / 1000),
    dynamic: record.dynamic,
    last_used_at: record.lastUsedAt?.toISOString() ?? null,
  };
}

const uris = z.array(z.string().max(2000)).max(100);
const link = z.string().max(2000);

export const newClientBody = z.strictObject({
  client_name: z.string().max(200),
  redirect_uris: uris.optional(),
  post_logout_redirect_uris: uris.optional(),
  public: z.boolean().optional().describe('No secret (token_endpoint_auth_method none).'),
  first_party: z.boolean().optional(),
  pkce_exempt: z.boolean().optional(),
  require_mfa: z.boolean().optional(),
  require_phishing_resistant: z.boolean().optional(),
  grant_types: z.array(z.enum(grantTypes)).max(4).optional(),
  scope: z.string().max(2000).optional().describe("Space-separated: OpenID scopes and registered APIs' scopes (management scopes make a management client)."),
  token_endpoint_auth_method: z.enum(authMethods).optional(),
  jwks_uri: link.optional(),
  jwks: z.object({ keys: z.array(z.looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']) })) }).optional(),
  logo_uri: link.optional(),
  policy_uri: link.optional(),
  tos_uri: link.optional(),
  backchannel_logout_uri: link.optional(),
  backchannel_logout_session_required: z.boolean().optional(),
}).meta({ id: 'NewClient' });

export const clientChangeBody = z.strictObject({
  client_name: z.string().max(200).optional(),
  redirect_uris: uris.optional(),
  post_logout_redirect_uris: uris.optional(),
  grant_types: z.array(z.enum(grantTypes)).max(4).optional(),
  token_endpoint_auth_method: z.enum(authMethods).optional(),
  jwks_uri: link.nullable().optional(),
  jwks: z.object({ keys: z.array(z.looseObject({ kty: z.enum(['RSA', 'EC', 'OKP']) })) }).nullable().optional(),
  logo_uri: link.nullable().optional(),
  policy_uri: link.nullable().optional(),
  tos_uri: link.nullable().optional(),
  backchannel_logout_uri: link.nullable().optional(),
  backchannel_logout_session_required: z.boolean().optional(),
}).meta({ id: 'ClientChange', description: 'Absent fields stay as they are; a list replaces the old one; null removes an optional link.' });

const createdClientSchema = clientSchema.extend({
  client_secret: z.string().optional().describe('Shown this once; absent for a client without a secret.'),
}).meta({ id: 'CreatedClient' });

const secretSchema = z.object({
  client_secret: z.string().describe('Shown this once.'),
  previous_secret_expires_at: z.string().nullable().describe('When the old secret stops working (null: it already has).'),
}).meta({ id: 'RotatedSecret' });

const idParams = z.object({ clientId: z.string().max(200) });

/** The library's names for the body's fields (the rest are the same words in snake_case). */
const libraryNames: Record<string, string> = { client_name: 'name', token_endpoint_auth_method: 'authMethod', require_phishing_resistant: 'requirePhishingResistant' };
const camel = (name: string) => libraryNames[name] ?? name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
const toLibrary = (body: Record<string, unknown>) => Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined).map(([name, value]) => [camel(name), value]));

/** The body's name of a library field ("redirectUris.0" → "redirect_uris.0"). */
export function clientFieldName(path: string): string {
  const [first = '', ...rest] = path.split('.');
  const apiName = Object.entries(libraryNames).find(([, library]) => library === first)?.[0] ?? first.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
  return [apiName, ...rest].join('.');
}

const rotateSecretBody = z.strictObject({ overlap_days: z.number().int().min(0).max(365).default(0).describe('The old secret keeps working this many days (0: stops now).') }).meta({ id: 'RotateSecret' });

export function clientRoutes({ libraries }: RouteContext): Route[] {
  const read = async (clientId: string) => clientJson(await libraries.clients.get(clientId));
  return [
    {
      method: 'get', path: '/clients', operationId: 'listClients', summary: 'List clients', tag: 'Clients', scope: 'clients:read',
      query: pageQuery, problems: [],
      responses: { 200: { description: 'A page of clients, by client_id', schema: pageOf(clientSchema) } },
      async handle({ query }) {
        return { status: 200, body: pageByKey((await libraries.clients.list()).map(clientJson), (client) => client.client_id, query as z.output<typeof pageQuery>) };
      },
    },
    {
      method: 'post', path: '/clients', operationId: 'createClient', summary: 'Create a client (its secret is in this answer only)', tag: 'Clients', scope: 'clients:write',
      body: newClientBody, problems: [409], fieldName: clientFieldName,
      responses: { 201: { description: 'Created', schema: createdClientSchema, etag: true, location: true } },
      async handle({ body, source }) {
        const { metadata, clientSecret } = await libraries.clients.register(toLibrary(body as Record<string, unknown>) as NewClientInput, source);
        const created = await read(metadata.client_id);
        return { status: 201, body: { ...created, ...(clientSecret ? { client_secret: clientSecret } : {}) }, etag: true, location: `/clients/${encodeURIComponent(metadata.client_id)}` };
      },
    },
    {
      method: 'get', path: '/clients/{clientId}', operationId: 'getClient', summary: 'Read a client', tag: 'Clients', scope: 'clients:read',
      params: idParams, problems: [404],
      responses: { 200: { description: 'The client', schema: clientSchema, etag: true } },
      async handle({ params }) {
        return { status: 200, body: await read(params.clientId!), etag: true };
      },
    },
    {
      method: 'patch', path: '/clients/{clientId}', operationId: 'updateClient', summary: 'Change a client (If-Match required)', tag: 'Clients', scope: 'clients:write',
      params: idParams, body: clientChangeBody, problems: [404, 409, 412, 428], fieldName: clientFieldName,
      current: ({ params }) => read(params.clientId!),
      responses: { 200: { description: 'The client as changed (client_secret only when the change gave it one)', schema: createdClientSchema, etag: true } },
      async handle({ params, body, source }) {
        const { clientSecret } = await libraries.clients.update(params.clientId!, toLibrary(body as Record<string, unknown>) as ClientChange, source);
        return { status: 200, body: { ...await read(params.clientId!), ...(clientSecret ? { client_secret: clientSecret } : {}) }, etag: true };
      },
    },
    {
      method: 'delete', path: '/clients/{clientId}', operationId: 'deleteClient', summary: 'Delete a client', tag: 'Clients', scope: 'clients:write',
      params: idParams, problems: [404],
      responses: { 204: { description: 'Deleted' } },
      async handle({ params, source }) {
        await libraries.clients.remove(params.clientId!, source);
        return { status: 204 };
      },
    },
    {
      method: 'post', path: '/clients/{clientId}/rotate-secret', operationId: 'rotateClientSecret', summary: 'Give a client a new secret', tag: 'Clients', scope: 'clients:write',
      params: idParams, body: rotateSecretBody,
      problems: [404, 409],
      responses: { 200: { description: 'The new secret', schema: secretSchema } },
      async handle({ params, body, source }) {
        const { clientSecret, previousSecretExpiresAt } = await libraries.clients.rotateSecret(params.clientId!, (body as { overlap_days: number }).overlap_days, source);
        return { status: 200, body: { client_secret: clientSecret, previous_secret_expires_at: previousSecretExpiresAt?.toISOString() ?? null } };
      },
    },
  ];
}
