import { request } from 'node:http';
import type { RequestListener } from 'node:http';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { keySchedule } from '../../src/config/load-config.ts';
import { rotateRing } from '../../src/keys/key-ring.ts';
import { answerPublished, recordPublishedDocuments } from '../../src/oidc/published-documents.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';

type Answer = { status: number; rawHeaders: [string, string][]; headers: Record<string, string | string[] | undefined>; body: string };

/** A request with node:http, to see the headers as sent (spelling and order). */
function send(base: string, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const { promise, resolve, reject } = Promise.withResolvers<Answer>();
  const url = new URL(base);
  const sent = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => {
      const rawHeaders: [string, string][] = [];
      for (let i = 0; i < res.rawHeaders.length; i += 2) rawHeaders.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
      resolve({ status: res.statusCode!, rawHeaders, headers: res.headers, body });
    });
  });
  sent.on('error', reject);
  sent.end();
  return promise;
}

/** What the connection and the clock add, and the ETag (which only the recorded answer has). */
const incidental = new Set(['date', 'connection', 'keep-alive', 'etag', 'x-request-id']);
const comparable = (answer: Answer) => answer.rawHeaders.filter(([name]) => !incidental.has(name.toLowerCase()));

const discovery = '/.well-known/openid-configuration';
/** A query string the provider ignores: the request takes the full middleware stack. */
const fullStack = (path: string) => `${path}?full-stack`;

const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'";

describe('discovery and JWKS from recorded bytes', () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse();
  });
  afterAll(async () => {
    await gatehouse?.stop();
  });

  it.each([discovery, '/.well-known/oauth-authorization-server', '/jwks'])('answers %s exactly as the full stack does, plus a strong ETag', async (path) => {
    for (const method of ['GET', 'HEAD']) {
      for (const headers of [{}, { origin: 'https://spa.example' }, { 'accept-encoding': 'gzip, br' }] as Record<string, string>[]) {
        const fast = await send(gatehouse.url, method, path, headers);
        const full = await send(gatehouse.url, method, fullStack(path), headers);
        expect(fast.status).toBe(200);
        expect(full.status).toBe(200);
        expect(comparable(fast)).toEqual(comparable(full));
        expect(fast.body).toBe(full.body);
        expect(fast.headers.etag).toMatch(/^"[\w-]{32}"$/);
        expect(full.headers.etag).toBeUndefined();
      }
    }
  });

  it('sends the headers it sent before: security headers, CORS, caching and type', async () => {
    const jwks = await send(gatehouse.url, 'GET', '/jwks');
    expect(jwks.headers).toMatchObject({
      'content-security-policy': contentSecurityPolicy, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY',
      vary: 'Origin', 'access-control-allow-origin': '*', 'content-type': 'application/jwk-set+json; charset=utf-8',
      'cache-control': `public, max-age=${keySchedule(gatehouse.config).jwksCacheSeconds}`, 'content-length': String(Buffer.byteLength(jwks.body)),
    });
    const document = await send(gatehouse.url, 'GET', discovery, { origin: 'https://spa.example' });
    expect(document.headers).toMatchObject({
      'content-security-policy': contentSecurityPolicy, 'x-frame-options': 'DENY', vary: 'Origin',
      'access-control-allow-origin': 'https://spa.example', 'content-type': 'application/json; charset=utf-8',
    });
    expect(document.headers['cache-control']).toBeUndefined();
    expect(JSON.parse(document.body)).toMatchObject({ issuer: gatehouse.url, jwks_uri: `${gatehouse.url}/jwks` });
  });

  it('answers 304 to a matching If-None-Match, with the caching headers and no body', async () => {
    const { headers } = await send(gatehouse.url, 'GET', '/jwks');
    const etag = headers.etag as string;
    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      for (const method of ['GET', 'HEAD']) {
        const answer = await send(gatehouse.url, method, '/jwks', { 'if-none-match': ifNoneMatch, origin: 'https://spa.example' });
        expect(answer.status).toBe(304);
        expect(answer.body).toBe('');
        expect(answer.headers).toMatchObject({
          etag, 'cache-control': headers['cache-control'], vary: 'Origin', 'access-control-allow-origin': 'https://spa.example', 'x-frame-options': 'DENY',
        });
        expect(answer.headers['content-type']).toBeUndefined();
      }
    }
    const stale = await send(gatehouse.url, 'GET', '/jwks', { 'if-none-match': '"stale"' });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBeGreaterThan(0);
  });

  it('leaves other methods, queries and spellings to the provider', async () => {
    const preflight = await send(gatehouse.url, 'OPTIONS', '/jwks', { origin: 'https://spa.example', 'access-control-request-method': 'GET' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-methods': 'GET', 'access-control-allow-origin': 'https://spa.example', 'x-frame-options': 'DENY' });
    expect(preflight.headers.etag).toBeUndefined();

    const post = await send(gatehouse.url, 'POST', '/jwks');
    expect(post.status).toBe(404);
    expect(post.headers['content-type']).toMatch(/^text\/html/);

    for (const path of ['/jwks?x=1', '/JWKS', `${discovery}/`]) {
      const answer = await send(gatehouse.url, 'GET', path);
      expect(answer.status).toBe(200);
      expect(answer.headers.etag).toBeUndefined();
    }
  });

  it('records the new JWKS when the key ring changes', async () => {
    const before = await send(gatehouse.url, 'GET', '/jwks');
    const kids = (body: string) => (JSON.parse(body) as { keys: { kid: string }[] }).keys.map((key) => key.kid).sort();
    await rotateRing(gatehouse.store.signingKeys, gatehouse.secrets.keyEncryptionKey, keySchedule(gatehouse.config), true);
    expect(await gatehouse.reloadKeys()).toBe(true);

    const after = await send(gatehouse.url, 'GET', '/jwks');
    const full = await send(gatehouse.url, 'GET', fullStack('/jwks'));
    expect(kids(after.body)).not.toEqual(kids(before.body));
    expect(after.body).toBe(full.body);
    expect(after.headers.etag).not.toBe(before.headers.etag);
    // A verifier holding the old ETag gets the new keys, not a 304.
    const revalidated = await send(gatehouse.url, 'GET', '/jwks', { 'if-none-match': before.headers.etag as string });
    expect(revalidated.status).toBe(200);
    expect(revalidated.body).toBe(after.body);
  });
});

describe('protocol endpoints past the page routers', () => {
  let gatehouse: TestGatehouse;
  beforeAll(async () => {
    gatehouse = await startGatehouse();
  });
  afterAll(async () => {
    await gatehouse?.stop();
  });

  it('still answers the pages, in any spelling the routers accept', async () => {
    for (const path of ['/healthz', '/HealthZ', '/healthz/', '/', '/assets/gatehouse.css']) {
      expect((await send(gatehouse.url, 'GET', path)).status, path).toBe(200);
    }
    expect((await send(gatehouse.url, 'GET', '/favicon.ico')).status).toBe(204);
    const interaction = await send(gatehouse.url, 'GET', '/interaction/unknown');
    expect(interaction.status).toBe(400);
    expect(interaction.headers['content-type']).toMatch(/^text\/html/);
  });

  it('gives the provider’s endpoints the same security headers and JSON errors', async () => {
    const token = await send(gatehouse.url, 'POST', '/token', { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${btoa('nobody:wrong')}` });
    expect(token.status).toBe(401);
    expect(JSON.parse(token.body)).toMatchObject({ error: 'invalid_client' });
    expect(token.headers).toMatchObject({ 'content-security-policy': contentSecurityPolicy, 'x-frame-options': 'DENY' });
    const userinfo = await send(gatehouse.url, 'GET', '/me');
    expect(userinfo.status).toBe(401);
    expect(userinfo.headers['x-content-type-options']).toBe('nosniff');
    const notFound = await send(gatehouse.url, 'GET', '/token');
    expect(notFound.status).toBe(404);
    expect(notFound.headers['content-type']).toMatch(/^text\/html/);
  });
});

describe('discovery behind a proxy', () => {
  it('keeps https URLs of an https issuer, from the recorded bytes', async () => {
    const gatehouse = await startGatehouse({ env: { ISSUER: 'https://id.example.test' } });
    try {
      const fast = await send(gatehouse.url.replace('https://id.example.test', `http://127.0.0.1:${gatehouse.port}`), 'GET', discovery);
      expect(fast.headers.etag).toBeDefined();
      expect(JSON.parse(fast.body)).toMatchObject({ issuer: 'https://id.example.test', jwks_uri: 'https://id.example.test/jwks' });
    } finally {
      await gatehouse.stop();
    }
  });

  it('lets a trusted X-Forwarded-Proto decide the URLs of an http issuer, as before', async () => {
    const gatehouse = await startGatehouse({ env: { TRUST_PROXY: 'true' } });
    try {
      const forwarded = await send(gatehouse.url, 'GET', discovery, { 'x-forwarded-proto': 'https' });
      expect(forwarded.headers.etag).toBeUndefined();
      expect((JSON.parse(forwarded.body) as { jwks_uri: string }).jwks_uri).toBe(`${gatehouse.url.replace('http:', 'https:')}/jwks`);
      const direct = await send(gatehouse.url, 'GET', discovery);
      expect(direct.headers.etag).toBeDefined();
      expect((JSON.parse(direct.body) as { jwks_uri: string }).jwks_uri).toBe(`${gatehouse.url}/jwks`);
    } finally {
      await gatehouse.stop();
    }
  });
});

describe('recordPublishedDocuments', () => {
  it('leaves out a path that does not answer 200, so the full stack keeps answering it', async () => {
    const handler: RequestListener = (req, res) => {
      if (req.url === '/jwks') res.writeHead(500).end('no');
      else res.writeHead(200, ['Content-Type', 'application/json', 'X-Seen-Host', req.headers.host!]).end('{}');
    };
    const documents = await recordPublishedDocuments(handler, 'id.example.test');
    expect([...documents.keys()]).toEqual([discovery, '/.well-known/oauth-authorization-server']);
    const written: unknown[] = [];
    const res = { writeHead: (...args: unknown[]) => written.push(args), end: () => undefined } as never;
    expect(answerPublished(documents, { method: 'GET', url: '/jwks', headers: {} } as never, res)).toBe(false);
    expect(answerPublished(documents, { method: 'GET', url: discovery, headers: {} } as never, res)).toBe(true);
    expect(written).toEqual([[200, ['Content-Type', 'application/json', 'X-Seen-Host', 'id.example.test', 'ETag', expect.stringMatching(/^"[\w-]{32}"$/)]]]);
  });
});
