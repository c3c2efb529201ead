import { createHash } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestListener } from 'node:http';
import { Socket } from 'node:net';

/**
 * The discovery documents (OpenID's and RFC 8414's, which MCP clients read) and the JWKS are the
 * most requested answers and change only with the key ring (and the configuration). They are recorded once per provider, by asking the full middleware stack in-process, and
 * then answered from those bytes before Koa: the same status, headers (in the same order and
 * spelling) and body, plus a strong ETag so that verifiers polling them get a 304.
 */

/** The paths answered from recorded bytes: exactly these, with no query string. */
export const publishedPaths: readonly string[] = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/jwks'];

type Recorded = {
  /** Flat [name, value, name, value…] as `writeHead` takes it, the ETag last. */
  headers: string[];
  /** The same without Content-Type and Content-Length, for a 304. */
  notModified: string[];
  /** Where Access-Control-Allow-Origin sits in `headers` (the provider echoes a request's Origin). */
  allowOrigin: number;
  allowOriginNotModified: number;
  body: Buffer;
  /** The opaque part of the ETag (between the quotes). */
  tag: string;
};

export type PublishedDocuments = ReadonlyMap<string, Recorded>;

type Captured = { status: number; headers: [string, string][]; body: Buffer };

/** Runs one GET through `handler` without a socket and collects what it answers. */
function capture(handler: RequestListener, path: string, host: string): Promise<Captured> {
  const socket = new Socket();
  const req = new IncomingMessage(socket);
  req.method = 'GET';
  req.url = path;
  req.headers = { host };
  req.rawHeaders = ['Host', host];
  req.push(null);
  const res = new ServerResponse(req);
  const { promise, resolve, reject } = Promise.withResolvers<Captured>();
  // Headers given to writeHead are kept like those set one by one (Koa sets them one by one).
  res.writeHead = ((status: number, ...rest: unknown[]) => {
    res.statusCode = status;
    const given = rest.find((item) => typeof item === 'object' && item !== null);
    if (Array.isArray(given)) {
      const pairs = given.every(Array.isArray) ? (given as string[][]).flat() : (given as string[]);
      for (let i = 0; i < pairs.length; i += 2) res.appendHeader(pairs[i]!, pairs[i + 1]!);
    } else if (given) {
      for (const [name, value] of Object.entries(given)) if (value !== undefined) res.setHeader(name, value as string | string[]);
    }
    return res;
  }) as typeof res.writeHead;
  res.end = ((chunk?: unknown) => {
    // The names as spelled when set (on every OutgoingMessage, typed only on ClientRequest).
    const names = (res as unknown as { getRawHeaderNames(): string[] }).getRawHeaderNames();
    const headers = names.map((name): [string, string] => {
      const value = res.getHeader(name);
      return [name, Array.isArray(value) ? value.join(', ') : String(value)];
    });
    const body = chunk === undefined || typeof chunk === 'function' ? Buffer.alloc(0) : Buffer.from(chunk as string | Uint8Array);
    resolve({ status: res.statusCode, headers, body });
    return res;
  }) as typeof res.end;
  try {
    const handled: unknown = handler(req, res);
    if (handled instanceof Promise) handled.catch(reject);
  } catch (error) {
    reject(error as Error);
  }
  return promise.finally(() => socket.destroy());
}

function record({ headers, body }: Captured): Recorded {
  const tag = createHash('sha256').update(body).digest('base64url').slice(0, 32);
  const all = [...headers, ['ETag', `"${tag}"`] as [string, string]];
  const kept = all.filter(([name]) => !['content-type', 'content-length'].includes(name.toLowerCase()));
  const allowOrigin = (list: [string, string][]) => 2 * list.findIndex(([name]) => name.toLowerCase() === 'access-control-allow-origin') + 1;
  return { headers: all.flat(), notModified: kept.flat(), allowOrigin: allowOrigin(all), allowOriginNotModified: allowOrigin(kept), body, tag };
}

/**
 * Asks `handler` (the full stack) for each published path, as a request addressed to `host`.
 * A path that does not answer 200 is left out: the full stack keeps answering it.
 */
export async function recordPublishedDocuments(handler: RequestListener, host: string): Promise<PublishedDocuments> {
  const documents = new Map<string, Recorded>();
  for (const path of publishedPaths) {
    const captured = await capture(handler, path, host);
    if (captured.status === 200) documents.set(path, record(captured));
  }
  return documents;
}

/** RFC 9110 If-None-Match: `*`, or a list of entity tags compared weakly. */
function matches(ifNoneMatch: string, tag: string): boolean {
  if (ifNoneMatch.trim() === '*') return true;
  for (const candidate of ifNoneMatch.split(',')) {
    let value = candidate.trim();
    if (value.startsWith('W/')) value = value.slice(2);
    if (value === `"${tag}"`) return true;
  }
  return false;
}

/**
 * Answers a GET or HEAD of a published path from its recorded bytes; false (nothing written) for
 * anything else, which the full stack then handles.
 */
export function answerPublished(documents: PublishedDocuments | undefined, req: IncomingMessage, res: ServerResponse): boolean {
  const { method } = req;
  if (!documents || (method !== 'GET' && method !== 'HEAD')) return false;
  const document = documents.get(req.url!);
  if (!document) return false;
  const ifNoneMatch = req.headers['if-none-match'];
  const notModified = ifNoneMatch !== undefined && matches(ifNoneMatch, document.tag);
  let headers = notModified ? document.notModified : document.headers;
  const origin = req.headers.origin;
  if (origin) {
    // As the provider's CORS middleware does for these open endpoints: the Origin, echoed.
    const at = notModified ? document.allowOriginNotModified : document.allowOrigin;
    if (at > 0) {
      headers = headers.slice();
      headers[at] = origin;
    }
  }
  if (notModified) {
    res.writeHead(304, headers);
    res.end();
  } else {
    res.writeHead(200, headers);
    res.end(method === 'HEAD' ? undefined : document.body);
  }
  return true;
}
