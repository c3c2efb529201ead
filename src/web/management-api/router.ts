import type Koa from 'koa';
import type { z } from 'zod';

import type { Clock } from '../../clock.ts';
import type { Config } from '../../config/load-config.ts';
import { apiSource } from '../../libraries/audit.ts';
import type { Libraries } from '../../libraries/index.ts';
import type { AbuseLimits } from '../../limits/abuse-limits.ts';
import type { Logger } from '../../logger.ts';
import { apiRoutes } from './apis.ts';
import { auditRoutes } from './audit.ts';
import { createTokenCheck, missingScope } from './auth.ts';
import { clientRoutes } from './clients.ts';
import { connectionRoutes } from './connections.ts';
import { keyRoutes } from './keys.ts';
import { operationRoutes } from './operations.ts';
import type { Route, RouteContext, RouteInput } from './kit.ts';
import { etagOf, snakePath } from './kit.ts';
import { openApiDocument } from './openapi.ts';
import { registrationTokenRoutes } from './registration-tokens.ts';
import { answerError, ApiProblem } from './problems.ts';
import { managementApiIdentifier } from './scopes.ts';
import { userRoutes } from './users.ts';
import { webhookRoutes } from './webhooks.ts';

/** Where the management API lives. */
export const managementApiPrefix = '/api/v1';
/** The largest request body taken (413 beyond). */
export const maxBodyBytes = 64 * 1024;

export type ManagementApiDependencies = {
  libraries: Libraries;
  config: Pick<Config, 'issuer'>;
  limits: Pick<AbuseLimits, 'managementRequest'>;
  clock: Clock;
  logger: Logger;
  reloadKeys?: () => Promise<boolean>;
};

/** Every route of the management API (the router, the OpenAPI document and the tests read this one list). */
export function managementRoutes(context: RouteContext): Route[] {
  return [...clientRoutes(context), ...registrationTokenRoutes(context), ...apiRoutes(context), ...userRoutes(context), ...connectionRoutes(context), ...keyRoutes(context), ...auditRoutes(context),
    ...webhookRoutes(context), ...operationRoutes(context)];
}

type Compiled = { route: Route; pattern: RegExp; names: string[] };

function compile(route: Route): Compiled {
  const names: string[] = [];
  // Paths are letters, digits, '-' and '/' with {name} segments: nothing to escape.
  const source = route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    names.push(name);
    return '([^/]+)';
  });
  return { route, pattern: new RegExp(`^${source}$`), names };
}

/** A zod failure as an invalid_input problem naming each field. */
function invalid(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>, where: string): ApiProblem {
  const errors = issues.map((issue) => ({ path: issue.path.map(String).join('.') || where, message: issue.message }));
  return new ApiProblem('invalid_input', 'error.problems', { problems: errors.map((error) => `${error.path}: ${error.message}`).join('; ') }, { errors });
}

/** The body as JSON: at most `limit` bytes (maxBodyBytes unless the route says), application/json only; none is `undefined`. */
async function readJson(ctx: Koa.Context, limit: number): Promise<unknown> {
  const declared = ctx.get('content-length');
  const chunked = ctx.get('transfer-encoding') !== '';
  if (!chunked && (declared === '' || declared === '0')) return undefined;
  if (!ctx.is('application/json', '+json')) throw new ApiProblem('unsupported_media_type', 'api.body_not_json');
  const tooLarge = () => {
    ctx.set('connection', 'close');
    return new ApiProblem('payload_too_large', 'api.body_too_large', { max: limit });
  };
  if (Number(declared) > limit) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new ApiProblem('invalid_json', 'api.body_invalid_json');
  }
}

/**
 * The management API, mounted at /api/v1 ahead of the page routers and the provider (src/app.ts):
 * every request under the prefix is answered here, in JSON, and never reaches them. A request is
 * matched to its route, its Bearer token checked (auth.ts), its scope and the client's rate limit
 * checked, its path, query and body validated with the route's schemas, an update's If-Match
 * compared with the current ETag, and the route's library call made with the client as the actor
 * (audit actor `api`). Every refusal is a problem (problems.ts). GET /api/v1/openapi.json is public.
 */
export function createManagementApi(deps: ManagementApiDependencies): { middleware: Koa.Middleware; routes: Route[]; document: Record<string, unknown> } {
  const { libraries, config, limits, clock, logger } = deps;
  const identifier = managementApiIdentifier(config.issuer);
  const routes = managementRoutes({ libraries, identifier, ...(deps.reloadKeys ? { reloadKeys: deps.reloadKeys } : {}) });
  const compiled = routes.map(compile);
  const document = openApiDocument(routes, { issuer: config.issuer, identifier, maxBodyBytes });
  const documentJson = JSON.stringify(document);
  const checkToken = createTokenCheck({ libraries, issuer: config.issuer, audience: identifier, clock });

  const serve = async (ctx: Koa.Context, path: string, matched: { route?: Route }): Promise<void> => {
    if (path === '/openapi.json' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
      (ctx as { _matchedRoute?: string })._matchedRoute = `${managementApiPrefix}/openapi.json`;
      ctx.type = 'application/json';
      ctx.body = documentJson;
      return;
    }
    const matching = compiled.map((each) => ({ each, match: each.pattern.exec(path) })).filter(({ match }) => match !== null);
    // HEAD is a GET without its body (Koa leaves the body out).
    const method = ctx.method === 'HEAD' ? 'get' : ctx.method.toLowerCase();
    const found = matching.find(({ each }) => each.route.method === method);
    if (!found) {
      if (matching.length) {
        const allowed = matching.map(({ each }) => each.route.method.toUpperCase()).join(', ');
        throw new ApiProblem('method_not_allowed', 'api.method_not_allowed', { path: `${managementApiPrefix}${path}`, method: ctx.method, allowed }, { headers: { allow: allowed } });
      }
      throw new ApiProblem('not_found', 'api.no_such_route', { method: ctx.method, path: `${managementApiPrefix}${path}` });
    }
    const { route, names } = found.each;
    matched.route = route;
    // The request's metrics and span are labelled with the route's pattern (bounded), as a router's are.
    (ctx as { _matchedRoute?: string })._matchedRoute = `${managementApiPrefix}${route.path}`;
    const caller = await checkToken(ctx);
    if (!caller.scopes.has(route.scope)) throw missingScope(route.scope);
    const verdict = await limits.managementRequest(caller.clientId);
    if (!verdict.ok) throw new ApiProblem('rate_limited', 'api.rate_limited', { seconds: verdict.retryAfterSeconds }, { headers: { 'retry-after': String(verdict.retryAfterSeconds) } });

    const raw: Record<string, string> = {};
    for (const [index, name] of names.entries()) {
      try {
        raw[name] = decodeURIComponent(found.match![index + 1]!);
      } catch {
        throw invalid([{ path: [name], message: 'is not percent-encoded correctly' }], name);
      }
    }
    const params = route.params ? route.params.safeParse(raw) : { success: true as const, data: raw };
    if (!params.success) throw invalid(params.error.issues, 'path');
    const given: Record<string, string> = {};
    for (const [name, value] of new URLSearchParams(ctx.querystring)) {
      if (name in given) throw invalid([{ path: [name], message: 'is given twice' }], name);
      given[name] = value;
    }
    const query = route.query ? route.query.safeParse(given) : { success: true as const, data: {} };
    if (!query.success) throw invalid(query.error.issues, 'query');
    let body: unknown;
    if (route.body) {
      const parsed = (route.body as z.ZodType).safeParse((await readJson(ctx, route.maxBodyBytes ?? maxBodyBytes)) ?? {});
      if (!parsed.success) throw invalid(parsed.error.issues, 'body');
      body = parsed.data;
    }
    const input: RouteInput = {
      params: params.data as Record<string, string>, query: query.data as Record<string, unknown>, body,
      source: apiSource(caller.clientId, ctx.ip), url: new URL(ctx.href),
    };
    if (route.current) {
      const expected = ctx.get('if-match');
      if (!expected) throw new ApiProblem('precondition_required', 'api.if_match_required');
      const etag = etagOf(await route.current(input));
      const listed = expected.split(',').map((each) => each.trim().replace(/^W\//, ''));
      if (!listed.includes('*') && !listed.includes(etag)) throw new ApiProblem('precondition_failed', 'api.if_match_failed', { etag }, { headers: { etag } });
    }
    const answer = await route.handle(input);
    ctx.status = answer.status;
    if (answer.body !== undefined) {
      ctx.body = answer.body;
      ctx.type = 'application/json';
    }
    if (answer.etag && answer.body && typeof answer.body === 'object') {
      // The ETag is the resource's: a secret shown once with it is not part of the representation.
      const { client_secret: _secret, secret: _webhookSecret, ...representation } = answer.body as Record<string, unknown>;
      ctx.set('etag', etagOf(representation));
    }
    if (answer.location) ctx.set('location', `${managementApiPrefix}${answer.location}`);
  };

  const middleware: Koa.Middleware = async (ctx, next) => {
    if (ctx.path !== managementApiPrefix && !ctx.path.startsWith(`${managementApiPrefix}/`)) return next();
    ctx.set('cache-control', 'no-store');
    const matched: { route?: Route } = {};
    try {
      await serve(ctx, ctx.path.slice(managementApiPrefix.length) || '/', matched);
    } catch (error) {
      answerError(ctx, error, logger, matched.route?.fieldName ?? snakePath);
    }
  };
  return { middleware, routes, document };
}
