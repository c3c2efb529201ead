import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

/**
 * What belongs to the request being served, wherever the code runs for it: its id (every log line
 * written meanwhile carries it, error pages show it) and the route it matched (for the request's
 * metrics and span; set by the web layer once routing is done).
 */
export type RequestContext = {
  requestId: string;
  /** A bounded name: a route pattern (`/interaction/:uid/login`) or the provider's route (`token`). */
  route?: string;
};

const storage = new AsyncLocalStorage<RequestContext>();

/** The request being served, when the caller runs for one. */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `serve` (and everything it starts) as the request `context`. */
export function runInRequest<T>(context: RequestContext, serve: () => T): T {
  return storage.run(context, serve);
}

/**
 * An incoming `X-Request-Id` (from a proxy or load balancer in front) is kept only when it is a
 * short token of safe characters: it goes into logs and pages, so nothing else may ride in on it.
 */
const safeRequestId = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export function requestIdFrom(header: string | string[] | undefined): string {
  if (typeof header === 'string' && safeRequestId.test(header)) return header;
  return newRequestId();
}

/** 16 random bytes, base64url: short enough to quote on the phone, unique enough to grep for. */
export function newRequestId(): string {
  return randomBytes(16).toString('base64url');
}
