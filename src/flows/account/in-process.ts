import { createServer, request } from 'node:http';
import type { IncomingHttpHeaders, RequestListener } from 'node:http';
import { duplexPair } from 'node:stream';

import { GatehouseError } from '../../errors.ts';

/**
 * HTTP requests to a request handler of this process, without a network: each request gets a
 * connected pair of in-memory streams, one end handed to a private (never listening) HTTP server
 * as its connection, the other used by an ordinary `http.request`. Both sides are Node's real HTTP
 * implementation, so the handler sees a normal request. Used by the account page to redeem its
 * authorization code at the provider's token endpoint: no dependence on the issuer URL being
 * reachable from inside the deployment (proxies, split DNS), no port, no TLS.
 */

export type InProcessRequest = { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: string };
export type InProcessResponse = { status: number; headers: IncomingHttpHeaders; body: string };

/** Largest response body read; the token endpoint answers with a few kilobytes. */
const maxResponseBytes = 256 * 1024;
const timeoutMs = 10_000;

export function createInProcessClient(handler: () => RequestListener): (input: InProcessRequest) => Promise<InProcessResponse> {
  const server = createServer((req, res) => handler()(req, res));
  return (input) => new Promise<InProcessResponse>((resolve, reject) => {
    const [clientSide, serverSide] = duplexPair();
    // In-memory streams have no socket timeouts: a timer stands in for one.
    const timer = setTimeout(() => outgoing.destroy(new GatehouseError('internal', 'account.in_process_timeout', { seconds: timeoutMs / 1000 })), timeoutMs);
    const close = () => {
      clearTimeout(timer);
      clientSide.destroy();
      serverSide.destroy();
    };
    // Documented: any Duplex may be injected as a connection.
    server.emit('connection', serverSide);
    const body = input.body ?? '';
    const outgoing = request({
      method: input.method,
      path: input.path,
      headers: { ...input.headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' },
      createConnection: () => clientSide,
    }, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxResponseBytes) {
          response.destroy(new GatehouseError('internal', 'account.in_process_too_large', { kilobytes: maxResponseBytes / 1024 }));
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => {
        close();
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      response.on('error', (error) => {
        close();
        reject(error);
      });
    });
    outgoing.on('error', (error) => {
      close();
      reject(error);
    });
    outgoing.end(body);
  });
}
