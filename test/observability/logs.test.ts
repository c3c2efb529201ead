import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { createLogger, logFormatFrom } from '../../src/logger.ts';
import { runInRequest } from '../../src/request-context.ts';
import { startServer } from '../../src/server.ts';
import type { RunningServer } from '../../src/server.ts';
import { registerClient } from '../../src/libraries/clients.ts';
import { cheapPasswordHashing, redirectUri, relaxSourceLimits, testEnvironment } from '../helpers/gatehouse.ts';
import { asPage, UserAgent } from '../helpers/user-agent.ts';

/** One log format, and the request id in every line written for a request, its answer and its error page. */

const lines: string[] = [];
let server: RunningServer;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-logs-'));
  const logger = createLogger({ format: 'json', write: (line) => lines.push(line) });
  server = await startServer(relaxSourceLimits(cheapPasswordHashing(loadConfig(testEnvironment(dir)))), logger, { host: '127.0.0.1' });
});

afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A confidential client with the test redirect URI, registered in the server's store. */
async function registerTestClient(running: RunningServer): Promise<string> {
  const { metadata } = await registerClient(running.store, running.secrets.keyEncryptionKey, { name: 'Logs test', redirectUris: [redirectUri] });
  return metadata.client_id;
}

const logged = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('request ids', () => {
  it('every line logged while serving a request carries the id its answer names in X-Request-Id', async () => {
    const clientId = await registerTestClient(server);
    const ua = new UserAgent(server.url);
    const authorize = new URL('/auth', server.url);
    authorize.search = new URLSearchParams({ client_id: clientId, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' }).toString();
    const login = asPage(await ua.navigate(authorize.href));
    const before = lines.length;
    const refused = asPage(await ua.submit(login, '/login', { email: 'nobody@example.com', password: 'not the password' }));
    expect(refused.status).toBe(401);
    const requestId = refused.headers.get('x-request-id');
    expect(requestId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const written = logged().slice(before);
    const audit = written.find((line) => line.message === 'audit: login_failed');
    expect(audit).toBeDefined();
    expect(audit!.requestId).toBe(requestId);
    expect(audit!.level).toBe('info');
    expect(typeof audit!.time).toBe('string');
    // Each request has its own id.
    expect(login.headers.get('x-request-id')).not.toBe(requestId);
  });

  it('an error page shows the id, the same as the header', async () => {
    const response = await fetch(`${server.url}/no-such-page`);
    expect(response.status).toBe(404);
    const id = response.headers.get('x-request-id')!;
    const body = await response.text();
    expect(body).toContain(`Request id: <code>${id}</code>`);
  });

  it("the provider's own error page shows it too", async () => {
    const response = await fetch(`${server.url}/auth?client_id=no-such-client&response_type=code&scope=openid`);
    expect(response.status).toBe(400);
    const body = await response.text();
    expect(body).toContain('invalid_client');
    expect(body).toContain(`Request id: <code>${response.headers.get('x-request-id')}</code>`);
  });

  it("keeps a proxy's X-Request-Id when it is a short safe token, and replaces anything else", async () => {
    const kept = await fetch(`${server.url}/interaction/unknown`, { headers: { 'x-request-id': 'lb-7f3a.91:2' } });
    expect(kept.headers.get('x-request-id')).toBe('lb-7f3a.91:2');
    expect(await kept.text()).toContain('<code>lb-7f3a.91:2</code>');
    for (const unsafe of ['<script>alert(1)</script>', 'a'.repeat(65), 'two words', '-leading-dash']) {
      const replaced = await fetch(`${server.url}/no-such-page`, { headers: { 'x-request-id': unsafe } });
      const id = replaced.headers.get('x-request-id');
      expect(id).not.toBe(unsafe);
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(await replaced.text()).not.toContain(unsafe.slice(0, 8) === '<script>' ? '<script>alert' : unsafe);
    }
  });

  it('the published discovery document carries an id too', async () => {
    const response = await fetch(`${server.url}/.well-known/openid-configuration`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

describe('the format', () => {
  it('JSON lines in production (or LOG_FORMAT=json), readable lines otherwise', () => {
    expect(logFormatFrom({ NODE_ENV: 'production' })).toBe('json');
    expect(logFormatFrom({ NODE_ENV: 'development' })).toBe('text');
    expect(logFormatFrom({ NODE_ENV: 'test' })).toBe('text');
    expect(logFormatFrom({ NODE_ENV: 'production', LOG_FORMAT: 'text' })).toBe('text');
    expect(logFormatFrom({ NODE_ENV: 'development', LOG_FORMAT: 'json' })).toBe('json');
  });

  it('a JSON line has time, level, message, the request id inside a request, and the fields', () => {
    const out: string[] = [];
    const logger = createLogger({ format: 'json', write: (line) => out.push(line) });
    logger.info('outside');
    runInRequest({ requestId: 'req-1' }, () => logger.warn('inside', { count: 2, error: new Error('boom') }));
    const [outside, inside] = out.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(out.every((line) => line.endsWith('\n') && !line.slice(0, -1).includes('\n'))).toBe(true);
    expect(outside).not.toHaveProperty('requestId');
    expect(inside).toMatchObject({ level: 'warn', message: 'inside', requestId: 'req-1', count: 2, error: { name: 'Error', message: 'boom' } });
  });

  it('a readable line has the time, level, message, fields and the request id; a stack follows indented', () => {
    const out: string[] = [];
    const logger = createLogger({ format: 'text', write: (line) => out.push(line) });
    runInRequest({ requestId: 'req-2' }, () => logger.error('request failed', { path: '/x', error: new Error('boom') }));
    const [line] = out;
    expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} ERROR request failed path=\/x error=\{"name":"Error","message":"boom"\} \[req-2\]\n {4}Error: boom\n {5,}at /);
  });
});
