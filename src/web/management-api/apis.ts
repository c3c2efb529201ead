import { z } from 'zod';

import { GatehouseError } from '../../errors.ts';
import type { ApiRecord } from '../../store/types.ts';
import type { Route, RouteContext } from './kit.ts';
import { pageByKey, pageOf, pageQuery } from './kit.ts';
import { ApiProblem } from './problems.ts';

export const apiSchema = z.object({
  identifier: z.string().describe('The resource indicator (RFC 8707): the audience of its tokens.'),
  name: z.string().optional(),
  scopes: z.array(z.string()),
  signing_alg: z.string(),
  access_token_ttl: z.number().int(),
  created_at: z.string(),
}).meta({ id: 'Api' });

export function apiJson(api: ApiRecord): z.output<typeof apiSchema> {
  return {
    identifier: api.identifier,
    ...(api.name ? { name: api.name } : {}),
    scopes: api.scopes,
    signing_alg: api.signingAlg,
    access_token_ttl: api.accessTokenTtl,
    created_at: api.createdAt.toISOString(),
  };
}

const newApiBody = z.strictObject({
  identifier: z.string().max(2000),
  name: z.string().max(200).optional(),
  scopes: z.array(z.string().max(100)).max(100).optional(),
  signing_alg: z.enum(['RS256', 'ES256']).optional(),
  access_token_ttl: z.number().int().optional().describe('Seconds, 60-86400 (3600 by default).'),
}).meta({ id: 'NewApi' });

const identifierParams = z.object({ identifier: z.string().max(2000).describe('The identifier, percent-encoded as one path segment.') });

export function apiRoutes({ libraries, identifier: own }: RouteContext): Route[] {
  const find = async (identifier: string) => {
    const api = await libraries.apis.find(identifier);
    if (!api) throw new GatehouseError('not_found', 'api.no_api', { identifier });
    return api;
  };
  return [
    {
      method: 'get', path: '/apis', operationId: 'listApis', summary: 'List APIs', tag: 'APIs', scope: 'apis:read',
      query: pageQuery, problems: [],
      responses: { 200: { description: 'A page of APIs, by identifier', schema: pageOf(apiSchema) } },
      async handle({ query }) {
        return { status: 200, body: pageByKey((await libraries.apis.list()).map(apiJson), (api) => api.identifier, query as z.output<typeof pageQuery>) };
      },
    },
    {
      method: 'post', path: '/apis', operationId: 'createApi', summary: 'Register an API', tag: 'APIs', scope: 'apis:write',
      body: newApiBody, problems: [409],
      responses: { 201: { description: 'Registered', schema: apiSchema, etag: true, location: true } },
      async handle({ body, source }) {
        const input = body as z.output<typeof newApiBody>;
        const api = await libraries.apis.register({
          identifier: input.identifier, ...(input.name !== undefined ? { name: input.name } : {}), ...(input.scopes ? { scopes: input.scopes } : {}),
          ...(input.signing_alg ? { signingAlg: input.signing_alg } : {}), ...(input.access_token_ttl !== undefined ? { accessTokenTtl: input.access_token_ttl } : {}),
        }, source);
        return { status: 201, body: apiJson(api), etag: true, location: `/apis/${encodeURIComponent(api.identifier)}` };
      },
    },
    {
      method: 'get', path: '/apis/{identifier}', operationId: 'getApi', summary: 'Read an API', tag: 'APIs', scope: 'apis:read',
      params: identifierParams, problems: [404],
      responses: { 200: { description: 'The API', schema: apiSchema, etag: true } },
      async handle({ params }) {
        return { status: 200, body: apiJson(await find(params.identifier!)), etag: true };
      },
    },
    {
      method: 'delete', path: '/apis/{identifier}', operationId: 'deleteApi', summary: 'Remove an API', tag: 'APIs', scope: 'apis:write',
      params: identifierParams, problems: [404, 409],
      responses: { 204: { description: 'Removed' } },
      async handle({ params, source }) {
        if (params.identifier === own) throw new ApiProblem('conflict', 'api.management_api_kept', { identifier: own });
        await libraries.apis.remove(params.identifier!, source);
        return { status: 204 };
      },
    },
  ];
}
