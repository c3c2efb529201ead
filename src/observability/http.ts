import { timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context as otelContext, propagation, trace } from '@opentelemetry/api';
import type Koa from 'koa';

import type { Metrics } from './metrics.ts';
import type { RequestContext } from '../request-context.ts';
import { currentRequest, requestIdFrom, runInRequest } from '../request-context.ts';
import { tracer, tracingEnabled } from './tracing.ts';

/** Methods kept as a label; anything else is `other` (a method is chosen by the client). */
const knownMethods = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * What the provider answers from its recorded bytes, before the Koa app (src/app.ts): named like
 * the provider names them when the full stack answers.
 */
const publishedRoutes = new Map([['/.well-known/openid-configuration', 'discovery'], ['/jwks', 'jwks']]);

function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const end = raw.search(/[?#]/);
  return end === -1 ? raw : raw.slice(0, end);
}

/** The route a request is counted under: what routing recorded, else a bounded fallback. */
function routeOf(request: RequestContext, req: IncomingMessage): string {
  return request.route ?? publishedRoutes.get(pathOf(req.url)) ?? 'unmatched';
}

export type RequestObservation = {
  metrics?: Metrics;
  /** Answers GET /metrics on this listener (the main port, when metrics are exposed there). */
  metricsEndpoint?: RequestListener;
};

/**
 * Wraps the server's request listener: gives every request its id (a safe incoming X-Request-Id,
 * or a new one; answered in the X-Request-Id header), runs it inside its request context (log
 * lines and error pages read the id from there), and when it ends records it in
 * gatehouse_http_request_duration_seconds and ends its server span (named `METHOD route`, a child
 * of an incoming W3C traceparent).
 */
export function observeRequests(handler: RequestListener, options: RequestObservation): RequestListener {
  const { metrics, metricsEndpoint } = options;
  // Neither metrics nor tracing: only the request id (no timing, no listeners on the response).
  if (!metrics && !metricsEndpoint && !tracingEnabled()) {
    return (req, res) => {
      const request: RequestContext = { requestId: requestIdFrom(req.headers['x-request-id']) };
      res.setHeader('x-request-id', request.requestId);
      runInRequest(request, () => handler(req, res));
    };
  }
  return (req, res) => {
    const started = process.hrtime.bigint();
    const request: RequestContext = { requestId: requestIdFrom(req.headers['x-request-id']) };
    res.setHeader('x-request-id', request.requestId);
    const method = knownMethods.has(req.method ?? '') ? req.method! : 'other';
    const tracing = tracingEnabled();
    const parent = tracing ? propagation.extract(ROOT_CONTEXT, req.headers) : ROOT_CONTEXT;
    const span = tracing
      ? tracer().startSpan(method, {
        kind: SpanKind.SERVER,
        attributes: { 'http.request.method': req.method ?? '', 'url.path': pathOf(req.url), 'gatehouse.request_id': request.requestId },
      }, parent)
      : undefined;
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const route = routeOf(request, req);
      const status = res.headersSent || res.writableEnded ? res.statusCode : 499;
      metrics?.httpRequestDuration.observe({ route, method, status: String(status) }, Number(process.hrtime.bigint() - started) / 1e9);
      if (span) {
        span.updateName(`${method} ${route}`);
        span.setAttributes({ 'http.route': route, 'http.response.status_code': status });
        if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
    };
    res.once('finish', record);
    res.once('close', record);
    const serve = () => {
      if (metricsEndpoint && pathOf(req.url) === '/metrics') {
        request.route = 'metrics';
        return metricsEndpoint(req, res);
      }
      return handler(req, res);
    };
    const run = () => runInRequest(request, serve);
    if (span) otelContext.with(trace.setSpan(parent, span), run);
    else run();
  };
}

/**
 * The first middleware of the Koa app: once the request is answered, the route it matched is
 * recorded on the request context: the provider's route name (`token`, `authorization`, …) or our
 * router's pattern (`/interaction/:uid/login`). Never the raw path: label values stay bounded
 * whatever paths are requested.
 */
export function recordRoute(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } finally {
      const request = currentRequest();
      if (request) {
        const oidcRoute = (ctx as { oidc?: { route?: unknown } }).oidc?.route;
        const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
        const route = typeof oidcRoute === 'string' ? oidcRoute : typeof matched === 'string' ? matched : undefined;
        if (route) request.route = route;
      }
    }
  };
}

export type MetricsEndpointOptions = {
  /** The text to answer with (a registry's metrics, or a cluster's aggregate). */
  collect: () => Promise<string>;
  contentType: string;
  /** A Bearer token the scraper must send; none: anyone who reaches the listener may scrape. */
  token?: string;
};

function tokenMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? '');
  if (!match) return false;
  const given = Buffer.from(match[1]!);
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** GET (or HEAD) /metrics: the Prometheus text, behind the token when there is one. */
export function metricsEndpoint(options: MetricsEndpointOptions): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('cache-control', 'no-store');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    if (options.token !== undefined && !tokenMatches(req.headers.authorization, options.token)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"', 'content-type': 'text/plain; charset=utf-8' }).end('a valid Bearer token is required\n');
      return;
    }
    options.collect().then(
      (text) => {
        res.writeHead(200, { 'content-type': options.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      () => {
        res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics are not available now\n');
      },
    );
  };
}

/**
 * A listener of its own for /metrics (METRICS_PORT), e.g. on a loopback or internal address that
 * only the scraper reaches; anything else there is a 404.
 */
export async function startMetricsListener(options: { port: number; host: string; endpoint: RequestListener }): Promise<Server> {
  const server = createServer((req, res) => {
    if (pathOf(req.url) === '/metrics') return options.endpoint(req, res);
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found; metrics are at /metrics\n');
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  return server;
}
