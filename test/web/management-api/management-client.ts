import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import * as client from 'openid-client';
import { expect } from 'vitest';

import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { relyingParty } from '../../helpers/relying-party.ts';
import { cliFor } from '../../helpers/run-cli.ts';

/**
 * A machine client of the management API, made as an operator makes one (`gatehouse clients add
 * --management-scope …`, in this process), whose tokens come from the token endpoint by client
 * credentials (openid-client), and a caller that checks every answer against the OpenAPI document
 * the server publishes.
 */

/**
 * A JSON body as tests read it: any member at any depth. Its shape is checked at run time, against
 * the OpenAPI document (documentChecker), which is the point of these tests.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked against the document at run time
export type Json = any;

export type Answer = { status: number; headers: Headers; body: Json };

export type ManagementClient = { clientId: string; clientSecret: string; scopes: string[] };

export async function addManagementClient(gatehouse: TestGatehouse, scopes: string[], name = 'Robot'): Promise<ManagementClient> {
  const run = await cliFor(gatehouse.env)(['clients', 'add', '--name', name, ...(scopes.length ? ['--management-scope', scopes.join(' ')] : ['--grant-type', 'client_credentials']), '--json']);
  expect(run.code, run.stderr).toBe(0);
  const created = JSON.parse(run.stdout) as { client_id: string; client_secret: string };
  return { clientId: created.client_id, clientSecret: created.client_secret, scopes };
}

export function managementApiUrl(gatehouse: TestGatehouse): string {
  return `${gatehouse.url}/api/v1`;
}

/** An access token for the management API by client credentials: `scope` asked for (default: every scope the client lists). */
export async function managementToken(gatehouse: TestGatehouse, registered: { clientId: string; clientSecret: string; scopes?: string[] }, scope?: string): Promise<string> {
  const rp = await relyingParty(gatehouse, registered);
  const asked = scope ?? registered.scopes?.join(' ');
  const tokens = await client.clientCredentialsGrant(rp, { resource: managementApiUrl(gatehouse), ...(asked ? { scope: asked } : {}) });
  return tokens.access_token;
}

export type Operation = { security: Array<{ oauth2: string[] }>; responses: Record<string, { content?: Record<string, { schema: unknown }>; headers?: Record<string, unknown> }> };

/** Validates answers against the published OpenAPI document with Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1). */
export async function documentChecker(gatehouse: TestGatehouse) {
  const document = await (await fetch(`${managementApiUrl(gatehouse)}/openapi.json`)).json() as { paths: Record<string, Record<string, Operation>> };
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  const base = 'https://management-api.test/openapi.json';
  ajv.addSchema({ ...document, $id: base });
  const pointer = (...parts: string[]) => parts.map((part) => part.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
  const checked = new Set<string>();
  return {
    document,
    /** Every (method, path, status) answered so far. */
    checked,
    check(method: string, template: string, answer: Answer) {
      const operation = document.paths[template]?.[method.toLowerCase()];
      expect(operation, `${method} ${template} is in the document`).toBeDefined();
      const response = operation!.responses[String(answer.status)];
      expect(response, `${method} ${template} documents the status ${answer.status} (${JSON.stringify(answer.body)})`).toBeDefined();
      checked.add(`${method.toUpperCase()} ${template} ${answer.status}`);
      const type = (answer.headers.get('content-type') ?? '').split(';')[0]!;
      const contents = response!.content ?? {};
      if (answer.status === 204 || !Object.keys(contents).length) {
        expect(answer.body, `${method} ${template} ${answer.status} has no body`).toBeUndefined();
        return;
      }
      expect(Object.keys(contents), `${method} ${template} ${answer.status} content type`).toContain(type);
      const id = `${base}#/${pointer('paths', template, method.toLowerCase(), 'responses', String(answer.status), 'content', type, 'schema')}`;
      const validate = ajv.getSchema(id);
      expect(validate, id).toBeDefined();
      const valid = validate!(answer.body);
      expect(valid, `${method} ${template} ${answer.status}: ${JSON.stringify(validate!.errors)} in ${JSON.stringify(answer.body)}`).toBe(true);
      for (const header of Object.keys(response!.headers ?? {})) {
        if (['ETag', 'Location', 'Retry-After', 'WWW-Authenticate'].includes(header)) {
          expect(answer.headers.get(header), `${method} ${template} ${answer.status} sends ${header}`).not.toBeNull();
        }
      }
    },
  };
}

export type Caller = Awaited<ReturnType<typeof managementCaller>>;

/**
 * Calls the API as `token`: `template` is the document's path ('/clients/{clientId}'), `params` fill
 * it in (percent-encoded); every answer is checked against the document before it is returned.
 */
export async function managementCaller(gatehouse: TestGatehouse, token: string, checker?: Awaited<ReturnType<typeof documentChecker>>) {
  const documents = checker ?? await documentChecker(gatehouse);
  const call = async (method: string, template: string, options: { params?: Record<string, string>; query?: Record<string, string>; body?: unknown; headers?: Record<string, string>; token?: string | null } = {}): Promise<Answer> => {
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(options.params?.[name] ?? ''));
    const url = new URL(`${managementApiUrl(gatehouse)}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
    const bearer = options.token === undefined ? token : options.token;
    const response = await fetch(url, {
      method,
      headers: {
        ...(bearer !== null ? { authorization: `Bearer ${bearer}` } : {}),
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...options.headers,
      },
      ...(options.body !== undefined ? { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) } : {}),
    });
    const text = await response.text();
    const answer: Answer = { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
    expect(answer.status, `${method} ${path}: ${text}`).toBeLessThan(500);
    documents.check(method, template, answer);
    return answer;
  };
  return { call, documents };
}
