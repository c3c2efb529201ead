import { createHash, randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';

export type Response = { status: number; headers: IncomingHttpHeaders; body: string };

/** Keep-alive connections, as a browser or a relying party would hold them. */
export const keepAlive = new Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP/1.1 request on node:http (lighter for the load generator than fetch); reads the whole body. */
/**
 * A loopback source address of its own (127.x.y.z: Linux routes all of 127/8 to lo), as each
 * person signing in comes from their own address: Gatehouse's abuse limits count /auth requests
 * per source, and the bench's hundreds of sign-ins from one address would otherwise be limited.
 */
export function loopbackSource(): string {
  const [a = 1, b = 1, c = 2] = randomBytes(3);
  return `127.${a}.${b}.${Math.max(2, Math.min(254, c))}`;
}

export function send(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent; localAddress?: string } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.body !== undefined) {
      headers['content-type'] ??= 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(init.body));
    }
    const req = request(url, { method: init.method ?? 'GET', headers, agent: init.agent ?? keepAlive, ...(init.localAddress ? { localAddress: init.localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

export function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

/** Name → value; paths are ignored (every cookie goes everywhere on the one origin, which the provider tolerates). */
export class CookieJar {
  readonly cookies = new Map<string, string>();

  store(headers: IncomingHttpHeaders): void {
    for (const line of headers['set-cookie'] ?? []) {
      const [pair = '', ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      const expired = attributes.some((attribute) => /^\s*expires=thu, 01 jan 1970/i.test(attribute) || /^\s*max-age=0\b/i.test(attribute));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ') } : {};
  }
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export function randomState(): string {
  return randomBytes(16).toString('base64url');
}
