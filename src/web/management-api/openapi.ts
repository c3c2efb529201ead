import { z } from 'zod';

import type { Route } from './kit.ts';
import { problemBase } from './problems.ts';
import { managementScopeDescriptions } from './scopes.ts';

type JsonSchema = Record<string, unknown>;

const problemSchema: JsonSchema = {
  type: 'object',
  description: `RFC 9457 problem details. \`type\` is ${problemBase}<code>; programs branch on \`code\`.`,
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', format: 'uri' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
    scope: { type: 'string', description: 'insufficient_scope: the scope the token lacks.' },
  },
};

const statusWords: Record<number, string> = {
  400: 'The request is not valid (problem code invalid_input or invalid_json; `errors` names each field)',
  401: 'No access token, or one that is refused (WWW-Authenticate says why)',
  403: 'The token lacks the scope this needs (insufficient_scope, the scope named), or its client may not use the API',
  404: 'Not found',
  409: 'Conflict with the current state (an email or identifier in use, …)',
  412: 'If-Match does not match the current ETag: read the resource again',
  413: 'The body is larger than the limit',
  415: 'The body is not application/json',
  428: 'If-Match is required on this update',
  429: 'Too many requests from this client (Retry-After)',
  500: 'Internal error',
  501: 'Not available in this version',
};

/**
 * Zod schemas as OpenAPI 3.1 schema objects (JSON Schema 2020-12). Schemas with an id (`.meta({ id })`)
 * become components, referenced by `$ref`; one converted both ways that differs (defaults make a
 * field optional on input) gets an `Input` variant.
 */
function createConverter() {
  const components: Record<string, JsonSchema> = {};
  const convert = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
    const converted = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as JsonSchema;
    const defs = (converted.$defs ?? {}) as Record<string, JsonSchema>;
    const names = new Map<string, string>();
    for (const [id, definition] of Object.entries(defs)) {
      let name = id;
      const existing = components[name];
      if (existing && JSON.stringify(existing) !== JSON.stringify(definition)) name = `${id}${io === 'input' ? 'Input' : 'Output'}`;
      names.set(id, name);
    }
    const rewrite = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(rewrite);
      if (!value || typeof value !== 'object') return value;
      return Object.fromEntries(Object.entries(value).filter(([key]) => key !== '$schema' && key !== '$defs').map(([key, each]) => {
        if (key === '$ref' && typeof each === 'string' && each.startsWith('#/$defs/')) {
          const id = each.slice('#/$defs/'.length);
          return [key, `#/components/schemas/${names.get(id) ?? id}`];
        }
        return [key, rewrite(each)];
      }));
    };
    for (const [id, definition] of Object.entries(defs)) components[names.get(id)!] = rewrite(definition) as JsonSchema;
    return rewrite(converted) as JsonSchema;
  };
  return { convert, components };
}

/** The OpenAPI 3.1 document of the management API, generated from the routes' own schemas. */
export function openApiDocument(routes: readonly Route[], options: { issuer: string; identifier: string; maxBodyBytes: number }): JsonSchema {
  const { convert, components } = createConverter();
  const problem = (status: number) => ({ description: statusWords[status] ?? 'Problem', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const parameters: JsonSchema[] = [];
    const add = (schema: z.ZodObject | undefined, where: 'path' | 'query') => {
      if (!schema) return;
      const converted = convert(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, property] of Object.entries(converted.properties ?? {})) {
        const { description, ...rest } = property;
        parameters.push({ name, in: where, required: where === 'path' || (converted.required ?? []).includes(name), schema: rest, ...(description ? { description } : {}) });
      }
    };
    add(route.params, 'path');
    add(route.query, 'query');
    if (route.current) {
      parameters.push({ name: 'If-Match', in: 'header', required: true, schema: { type: 'string' }, description: 'The ETag of the resource as last read (428 without it, 412 when it changed since).' });
    }
    const responses: Record<string, unknown> = {};
    for (const [status, answer] of Object.entries(route.responses)) {
      const headers: Record<string, unknown> = {};
      if (answer.etag) headers.ETag = { description: 'The representation\'s ETag (send it as If-Match to change it)', schema: { type: 'string' } };
      if (answer.location) headers.Location = { description: 'The new resource', schema: { type: 'string' } };
      responses[status] = {
        description: answer.description,
        ...(Object.keys(headers).length ? { headers } : {}),
        ...(answer.schema ? { content: { 'application/json': { schema: convert(answer.schema, 'output') } } } : {}),
      };
    }
    const statuses = new Set([400, 401, 403, 429, 500, ...route.problems, ...(route.body ? [413, 415] : []), ...(route.current ? [412, 428] : [])]);
    for (const status of [...statuses].sort()) {
      responses[String(status)] = status === 429
        ? { ...problem(status), headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } } }
        : status === 401
          ? { ...problem(status), headers: { 'WWW-Authenticate': { description: 'Bearer, with error and error_description for a refused token (RFC 6750)', schema: { type: 'string' } } } }
          : problem(status);
    }
    paths[route.path] ??= {};
    paths[route.path]![route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      tags: [route.tag],
      security: [{ oauth2: [route.scope] }],
      description: `Needs the scope \`${route.scope}\`.${route.maxBodyBytes ? ` The body may be up to ${route.maxBodyBytes} bytes.` : ''}`,
      ...(parameters.length ? { parameters } : {}),
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: convert(route.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse management API',
      version: '1',
      description: [
        'Manage clients, APIs, users, connections, signing keys and webhooks; read the audit trail and the state of the mail and logout queues.',
        `Authorize with a Gatehouse access token obtained by client credentials for the resource ${options.identifier} (\`resource\` parameter) with the scopes you need;`,
        "the client must list those scopes (`gatehouse clients add --management-scope …`).",
        `Errors are RFC 9457 problem details. Lists are paged with \`limit\` and \`cursor\` (\`next_cursor\`). Updates need If-Match. Bodies are JSON, at most ${options.maxBodyBytes} bytes unless an operation says otherwise.`,
      ].join(' '),
    },
    servers: [{ url: options.identifier }],
    security: [{ oauth2: [] }],
    paths,
    components: {
      schemas: { ...components, Problem: problemSchema },
      securitySchemes: {
        oauth2: {
          type: 'oauth2',
          description: `Client credentials with resource=${options.identifier}.`,
          flows: { clientCredentials: { tokenUrl: `${options.issuer.replace(/\/+$/, '')}/token`, scopes: managementScopeDescriptions } },
        },
      },
    },
  };
}
