import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync } from 'node:crypto';

/**
 * What belongs to the request being served, wherever the code runs for it: its id (every log line
 * written meanwhile carries it, error pages show it) and the route it matched (for the request's
 * metrics and span; set by the web layer once routing is done).
 */
export type RequestContext = {
  requestId: string;
  /** A bounded name: a route pattern (`/interaction/:uid/login`) or the provider's route (`token`). */
  route?: string;
  /** The language the answer speaks (src/web/language.ts, refined by a sign-in's ui_locales); pages and mail sent meanwhile use it. */
  locale?: string;
  /** The operator's product name (BRAND_PRODUCT_NAME): `{product}` in any sentence says it. */
  product?: string;
  /** The operator's own words by language and id (THEME_DIR/messages/), over the shipped catalogs. */
  words?: Partial<Record<string, Record<string, string>>>;
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

/**
 * 16 bytes, base64url (22 characters): short enough to quote on the phone, unique enough to grep
 * for. 10 random bytes drawn once per process, then a 6-byte counter: an id is a log correlation
 * key, not a secret, and drawing 16 random bytes per request cost about 20 µs of CPU (a sixth of a
 * userinfo request; bench/run.ts --cpu-prof).
 */
const nextId = Buffer.alloc(16);
randomFillSync(nextId, 0, 10);
let counter = 0;

export function newRequestId(): string {
  counter = (counter + 1) % 2 ** 48;
  nextId.writeUIntBE(counter, 10, 6);
  return nextId.toString('base64url');
}
