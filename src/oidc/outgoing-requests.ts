import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Socket } from 'node:net';

import { SpanKind, inSpan } from '../observability/tracing.ts';
import { judgeAddress } from '../network/outgoing-addresses.ts';

/**
 * The provider's `fetch` (oidc-provider calls it for every request it makes itself: Client ID
 * Metadata Documents, `jwks_uri`s, sector identifiers, logout receivers). It replaces the
 * library's own request and its dispatcher:
 *
 * - every address is judged after DNS resolution (src/network/outgoing-addresses.ts): a name that resolves to
 *   any refused address is refused, an IP literal is judged as it is, and the socket's remote
 *   address is judged again once connected (nothing reaches a private address through a race);
 *   loopback only outside production;
 * - redirects are never followed (a 3xx is answered as it is: the provider refuses anything but
 *   200), so no redirect can lead to a private address;
 * - the whole exchange is bounded in time (`timeoutMs`, which replaces the library's 2.5 s) and
 *   the body in size (`maxResponseBytes`; the provider then applies its limit per purpose);
 * - an answer to a request for JSON (`Accept: application/json`) must say it is JSON
 *   (`application/json` or `application/…+json`).
 */

export type OutgoingRequestPolicy = {
  allowLoopback: boolean;
  timeoutMs: number;
  maxResponseBytes: number;
  /** DNS, for tests; node:dns lookup by default. */
  lookup?: typeof dnsLookup;
};

export class OutgoingRequestRefused extends Error {
  override name = 'OutgoingRequestRefused';
}

type FetchOptions = RequestInit & { dispatcher?: unknown };

function headerObject(headers: ConstructorParameters<typeof Headers>[0]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of new Headers(headers)) if (value !== '') out[name] = value;
  return out;
}

function bodyBytes(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new TypeError('unsupported request body for an outgoing request');
}

/** True for application/json and application/<something>+json. */
export function isJsonMediaType(contentType: string | null | undefined): boolean {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  return type === 'application/json' || (type !== undefined && /^application\/[a-z0-9.!#$&^_-]+\+json$/u.test(type));
}

/** A DNS lookup that refuses a name when any address it resolves to is refused. */
function guardedLookup(policy: OutgoingRequestPolicy) {
  const resolve = policy.lookup ?? dnsLookup;
  return (hostname: string, options: { all?: boolean; family?: number | string } | number, callback: (...args: unknown[]) => void) => {
    const wantsAll = typeof options === 'object' && options.all === true;
    const family = typeof options === 'object' ? options.family : options;
    resolve(hostname, { all: true, ...(family ? { family: family as 0 | 4 | 6 } : {}) }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error);
      if (!addresses.length) return callback(new OutgoingRequestRefused(`${hostname} has no address`));
      for (const { address } of addresses) {
        const verdict = judgeAddress(address, policy);
        if (!verdict.ok) return callback(new OutgoingRequestRefused(`${hostname} resolves to a refused address: ${verdict.reason}`));
      }
      if (wantsAll) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

export function createOutgoingFetch(policy: OutgoingRequestPolicy): (url: string | URL, options?: FetchOptions) => Promise<Response> {
  const fetchGuarded = guardedFetch(policy);
  // When tracing is on, each request is a client span (src/observability/tracing.ts); the query is left out of it.
  return async (input, options = {}) => {
    const url = new URL(String(input));
    const method = options.method ?? 'GET';
    return inSpan(method, { kind: SpanKind.CLIENT, attributes: { 'http.request.method': method, 'url.full': `${url.origin}${url.pathname}`, 'server.address': url.hostname } }, async (span) => {
      const response = await fetchGuarded(input, options);
      span?.setAttribute('http.response.status_code', response.status);
      return response;
    });
  };
}

function guardedFetch(policy: OutgoingRequestPolicy): (url: string | URL, options?: FetchOptions) => Promise<Response> {
  const lookup = guardedLookup(policy);
  return async (input, options = {}) => {
    const url = new URL(String(input));
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OutgoingRequestRefused(`${url.protocol} URLs are not fetched`);
    if (url.username || url.password) throw new OutgoingRequestRefused('URLs with credentials are not fetched');
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (isIP(hostname)) {
      const verdict = judgeAddress(hostname, policy);
      if (!verdict.ok) throw new OutgoingRequestRefused(verdict.reason);
    }
    const headers = headerObject(options.headers);
    const wantsJson = (headers.accept ?? '').toLowerCase().includes('application/json');
    const body = bodyBytes(options.body);
    if (body) headers['content-length'] = String(body.length);
    const signal = AbortSignal.timeout(policy.timeoutMs);
    const requestOptions: RequestOptions = {
      method: options.method ?? 'GET',
      headers: { 'user-agent': 'Gatehouse', ...headers },
      signal,
      // A fresh connection per request: the remote address below is this request's own.
      agent: false,
      lookup: lookup as RequestOptions['lookup'],
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const settled = Promise.withResolvers<Response>();
    let done = false;
    const resolve = (response: Response) => {
      if (!done) settled.resolve(response);
      done = true;
    };
    const reject = (error: Error) => {
      if (!done) settled.reject(error);
      done = true;
    };
    const fail = (error: Error) => {
      reject(error);
      request.destroy(error);
    };
    const request = send(url, requestOptions, (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      const declared = Number(response.headers['content-length'] ?? Number.NaN);
      if (Number.isFinite(declared) && declared > policy.maxResponseBytes) {
        fail(new OutgoingRequestRefused(`the answer is larger than ${policy.maxResponseBytes} bytes`));
        return;
      }
      if (status === 200 && wantsJson && !isJsonMediaType(response.headers['content-type'])) {
        fail(new OutgoingRequestRefused(`the answer is ${response.headers['content-type'] ?? 'of no type'}, not JSON`));
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > policy.maxResponseBytes) {
          fail(new OutgoingRequestRefused(`the answer is larger than ${policy.maxResponseBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', reject);
      response.on('end', () => {
        const responseHeaders = new Headers();
        for (let i = 0; i < response.rawHeaders.length; i += 2) {
          try {
            responseHeaders.append(response.rawHeaders[i]!, response.rawHeaders[i + 1]!);
          } catch {
            // A header the Fetch API does not accept is dropped.
          }
        }
        const nullBody = status === 204 || status === 205 || status === 304 || status < 200;
        try {
          resolve(new Response(nullBody ? null : Buffer.concat(chunks), { status: status < 200 ? 502 : status, headers: responseHeaders }));
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    request.on('socket', (socket: Socket) => {
      const check = () => {
        const remote = socket.remoteAddress;
        const verdict = remote ? judgeAddress(remote, policy) : { ok: false as const, reason: 'no remote address' };
        if (!verdict.ok) fail(new OutgoingRequestRefused(`connected to a refused address: ${verdict.reason}`));
      };
      if (socket.remoteAddress) check();
      else socket.once('connect', check);
    });
    request.on('error', reject);
    request.end(body);
    return settled.promise;
  };
}
