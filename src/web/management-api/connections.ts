import { z } from 'zod';

import { GatehouseError } from '../../errors.ts';
import { connectionTypes } from '../../libraries/connections.ts';
import type { Connection, ConnectionInput, ConnectionUpdate } from '../../libraries/connections.ts';
import type { Route, RouteContext } from './kit.ts';
import { pageByKey, pageOf, pageQuery } from './kit.ts';

/** A connection to another provider as the API shows it: never its client secret (has_secret says whether it has one). */
export const connectionSchema = z.object({
  id: z.string(),
  type: z.enum(connectionTypes),
  name: z.string(),
  issuer: z.string().nullable(),
  tenant: z.string().nullable(),
  client_id: z.string(),
  has_secret: z.boolean(),
  authorization_url: z.string().nullable(),
  token_url: z.string().nullable(),
  api_url: z.string().nullable(),
  scopes: z.array(z.string()),
  claim_mapping: z.record(z.string(), z.string()),
  show_on_login_page: z.boolean(),
  allow_new_accounts: z.boolean(),
  trust_verified_emails: z.boolean(),
  trust_upstream_mfa: z.boolean(),
  disabled: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
}).meta({ id: 'Connection' });

export function connectionJson(connection: Connection): z.output<typeof connectionSchema> {
  return {
    id: connection.id, type: connection.type, name: connection.name, issuer: connection.issuer, tenant: connection.tenant, client_id: connection.clientId,
    has_secret: connection.hasSecret, authorization_url: connection.authorizationUrl, token_url: connection.tokenUrl, api_url: connection.apiUrl,
    scopes: connection.scopes, claim_mapping: connection.claimMapping, show_on_login_page: connection.showOnLoginPage,
    allow_new_accounts: connection.allowNewAccounts, trust_verified_emails: connection.trustVerifiedEmails, trust_upstream_mfa: connection.trustUpstreamMfa,
    disabled: connection.disabled, created_at: connection.createdAt.toISOString(), updated_at: connection.updatedAt.toISOString(),
  };
}

const text = (max: number) => z.string().max(max);
const common = {
  name: text(200),
  client_id: text(1024),
  scopes: z.array(text(200)).max(50),
  claim_mapping: z.record(text(64), text(200)),
  show_on_login_page: z.boolean(),
  allow_new_accounts: z.boolean(),
  trust_verified_emails: z.boolean(),
  trust_upstream_mfa: z.boolean(),
};

const newConnectionBody = z.strictObject({
  type: z.enum(connectionTypes),
  id: text(40).optional().describe('A slug, [a-z0-9-]{1,40}; made from the name when absent.'),
  issuer: text(2000).optional(),
  tenant: text(100).optional(),
  client_secret: text(1024).optional().describe('Sealed at rest; never shown again.'),
  authorization_url: text(2000).optional(),
  token_url: text(2000).optional(),
  api_url: text(2000).optional(),
  ...common,
  scopes: common.scopes.optional(),
  claim_mapping: common.claim_mapping.optional(),
  show_on_login_page: z.boolean().optional(),
  allow_new_accounts: z.boolean().optional(),
  trust_verified_emails: z.boolean().optional(),
  trust_upstream_mfa: z.boolean().optional(),
}).meta({ id: 'NewConnection' });

const connectionChangeBody = z.strictObject({
  name: common.name.optional(),
  client_id: common.client_id.optional(),
  client_secret: text(1024).nullable().optional().describe('null removes it.'),
  issuer: text(2000).nullable().optional().describe('null: back to the preset (google, microsoft).'),
  tenant: text(100).optional(),
  authorization_url: text(2000).nullable().optional(),
  token_url: text(2000).nullable().optional(),
  api_url: text(2000).nullable().optional(),
  scopes: common.scopes.optional(),
  claim_mapping: common.claim_mapping.optional(),
  show_on_login_page: z.boolean().optional(),
  allow_new_accounts: z.boolean().optional(),
  trust_verified_emails: z.boolean().optional(),
  trust_upstream_mfa: z.boolean().optional(),
}).meta({ id: 'ConnectionChange', description: 'Absent fields stay as they are.' });

const camel = (name: string) => name.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
const toLibrary = (body: Record<string, unknown>) => Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined).map(([name, value]) => [camel(name), value]));
const idParams = z.object({ connectionId: z.string().max(100) });

const connectionRemovedSchema = z.object({ identities_unlinked: z.number().int() }).meta({ id: 'ConnectionRemoved' });

export function connectionRoutes({ libraries }: RouteContext): Route[] {
  const find = async (id: string) => {
    const found = await libraries.connections.find(id);
    if (!found) throw new GatehouseError('not_found', 'api.no_connection', { id });
    return found;
  };
  const read = async (id: string) => connectionJson(await find(id));
  const toggle = (disabled: boolean): Route => ({
    method: 'post', path: `/connections/{connectionId}/${disabled ? 'disable' : 'enable'}`, operationId: disabled ? 'disableConnection' : 'enableConnection',
    summary: disabled ? 'Disable a connection (its button goes; its sign-ins stop)' : 'Enable a connection', tag: 'Connections', scope: 'connections:write',
    params: idParams, problems: [404],
    responses: { 200: { description: 'The connection', schema: connectionSchema, etag: true } },
    async handle({ params, source }) {
      await find(params.connectionId!);
      return { status: 200, body: connectionJson(await libraries.connections.setDisabled(params.connectionId!, disabled, source)), etag: true };
    },
  });
  return [
    {
      method: 'get', path: '/connections', operationId: 'listConnections', summary: 'List connections', tag: 'Connections', scope: 'connections:read',
      query: pageQuery, problems: [],
      responses: { 200: { description: 'A page of connections, by id', schema: pageOf(connectionSchema) } },
      async handle({ query }) {
        return { status: 200, body: pageByKey((await libraries.connections.list()).map(connectionJson), (each) => each.id, query as z.output<typeof pageQuery>) };
      },
    },
    {
      method: 'post', path: '/connections', operationId: 'createConnection', summary: 'Add a connection', tag: 'Connections', scope: 'connections:write',
      body: newConnectionBody, problems: [409],
      responses: { 201: { description: 'Added', schema: connectionSchema, etag: true, location: true } },
      async handle({ body, source }) {
        const added = await libraries.connections.add(toLibrary(body as Record<string, unknown>) as ConnectionInput, source);
        return { status: 201, body: connectionJson(added), etag: true, location: `/connections/${added.id}` };
      },
    },
    {
      method: 'get', path: '/connections/{connectionId}', operationId: 'getConnection', summary: 'Read a connection', tag: 'Connections', scope: 'connections:read',
      params: idParams, problems: [404],
      responses: { 200: { description: 'The connection', schema: connectionSchema, etag: true } },
      async handle({ params }) {
        return { status: 200, body: await read(params.connectionId!), etag: true };
      },
    },
    {
      method: 'patch', path: '/connections/{connectionId}', operationId: 'updateConnection', summary: 'Change a connection (If-Match required)', tag: 'Connections', scope: 'connections:write',
      params: idParams, body: connectionChangeBody, problems: [404, 412, 428], current: ({ params }) => read(params.connectionId!),
      responses: { 200: { description: 'The connection as changed', schema: connectionSchema, etag: true } },
      async handle({ params, body, source }) {
        return { status: 200, body: connectionJson(await libraries.connections.update(params.connectionId!, toLibrary(body as Record<string, unknown>) as ConnectionUpdate, source)), etag: true };
      },
    },
    toggle(true),
    toggle(false),
    {
      method: 'delete', path: '/connections/{connectionId}', operationId: 'deleteConnection', summary: 'Remove a connection (unlinks its identities)', tag: 'Connections', scope: 'connections:write',
      params: idParams, problems: [404],
      responses: { 200: { description: 'Removed', schema: connectionRemovedSchema } },
      async handle({ params, source }) {
        const { identitiesUnlinked } = await libraries.connections.remove(params.connectionId!, source);
        return { status: 200, body: { identities_unlinked: identitiesUnlinked } };
      },
    },
  ];
}
