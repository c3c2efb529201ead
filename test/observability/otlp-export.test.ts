import { mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { testEnvironment } from '../helpers/gatehouse.ts';
import { freePort, sleep, startMain, withTimeout } from '../helpers/main-process.ts';

/**
 * `npm start` with the standard OTEL_* variables: spans go to an OTLP/HTTP collector (here a real
 * HTTP server on loopback that keeps what it is sent), and the last ones are flushed at SIGTERM.
 */

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('OTLP export', () => {
  it('sends the spans of requests to OTEL_EXPORTER_OTLP_ENDPOINT, named by OTEL_SERVICE_NAME', async () => {
    const received: Array<{ path: string; type: string; body: Buffer }> = [];
    const collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk)).on('end', () => {
        received.push({ path: req.url ?? '', type: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    collector.listen(0, '127.0.0.1');
    await once(collector, 'listening');
    const collectorPort = (collector.address() as AddressInfo).port;
    try {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'gatehouse-otlp-'));
      dirs.push(dir);
      const main = startMain({
        ...testEnvironment(dir, port), ISSUER: `http://127.0.0.1:${port}`,
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${collectorPort}`, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_SERVICE_NAME: 'gatehouse-under-test',
      });
      let stdout = '';
      main.child.stdout.on('data', (chunk: string) => (stdout += chunk));
      await withTimeout((async () => {
        while (!stdout.includes('Gatehouse is running')) {
          if (main.child.exitCode !== null) throw new Error(`gatehouse exited early: ${stdout}`);
          await sleep(50);
        }
      })(), 30_000, 'the server starting');
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      main.child.kill('SIGTERM');
      const exit = await withTimeout(main.exited, 20_000, 'the server stopping');
      expect(exit.code).toBe(0);

      const traces = received.filter((request) => request.path === '/v1/traces');
      expect(traces.length).toBeGreaterThanOrEqual(1);
      const sent = traces.map((request) => request.body.toString('utf8')).join('\n');
      expect(sent).toContain('gatehouse-under-test');
      expect(sent).toContain('GET /healthz');
    } finally {
      collector.close();
    }
  }, 60_000);
});
