/**
 * A tiny static server for the single-page app: its files, its configuration, and oauth4webapi's
 * browser build (an ES module without dependencies) straight from node_modules. Everything that
 * touches tokens runs in the browser (public/app.js); this server never sees one.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';

export type SpaOptions = {
  /** Gatehouse's issuer URL. */
  issuer: string;
  /** The public client registered for this app (`gatehouse clients add --public`). */
  clientId: string;
  /** The example API: where it listens, and its identifier (the `resource` tokens are asked for). */
  api: { url: string; resource: string };
  scope?: string;
  port?: number;
  host?: string;
  /** Where browsers reach this app (default http://host:port); the redirect URI is `${baseUrl}/`. */
  baseUrl?: string;
};

export type RunningSpa = { url: string; close(): Promise<void> };

const publicDir = new URL('./public/', import.meta.url);

export async function startSpa(options: SpaOptions): Promise<RunningSpa> {
  const read = (name: string) => readFileSync(new URL(name, publicDir));
  const index = read('index.html');
  // The import map is the page's only inline script: the policy allows it by its hash.
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(index.toString())?.[1] ?? '';
  const importMapHash = createHash('sha256').update(importMap).digest('base64');

  const server = createServer();
  server.listen(options.port ?? 0, options.host ?? 'localhost');
  await once(server, 'listening');
  const baseUrl = options.baseUrl ?? `http://${options.host ?? 'localhost'}:${(server.address() as AddressInfo).port}`;

  const config = {
    issuer: options.issuer,
    clientId: options.clientId,
    redirectUri: `${baseUrl}/`,
    scope: options.scope ?? 'openid profile email offline_access notes:read notes:write',
    api: options.api,
  };
  const contentSecurityPolicy = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${importMapHash}'`,
    "style-src 'self'",
    // fetch() goes to this server, to Gatehouse (token, revocation) and to the API, nowhere else.
    `connect-src 'self' ${new URL(options.issuer).origin} ${new URL(options.api.url).origin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');

  const files: Record<string, { type: string; body: () => Buffer | string }> = {
    '/': { type: 'text/html; charset=utf-8', body: () => index },
    '/index.html': { type: 'text/html; charset=utf-8', body: () => index },
    '/app.js': { type: 'text/javascript; charset=utf-8', body: () => read('app.js') },
    '/style.css': { type: 'text/css; charset=utf-8', body: () => read('style.css') },
    '/config.json': { type: 'application/json', body: () => JSON.stringify(config) },
    '/vendor/oauth4webapi.js': { type: 'text/javascript; charset=utf-8', body: () => readFileSync(fileURLToPath(import.meta.resolve('oauth4webapi'))) },
  };

  server.on('request', (req, res) => {
    const file = files[new URL(req.url ?? '/', baseUrl).pathname];
    if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': file.type,
      'cache-control': 'no-cache',
      'content-security-policy': contentSecurityPolicy,
      // The page is loaded with ?code=… on return from Gatehouse: never leak it in a Referer.
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    }).end(req.method === 'HEAD' ? undefined : file.body());
  });

  return {
    url: baseUrl,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
