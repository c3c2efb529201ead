import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { testEnvironment } from '../helpers/gatehouse.ts';
import { freePort, sleep, startMain, withTimeout } from '../helpers/main-process.ts';
import { histogramCount, samples, scrape } from './scrape.ts';

/**
 * WORKERS=2 with METRICS_PORT, as `npm start` runs it: the primary's listener answers with both
 * workers' metrics aggregated (requests summed whichever worker served them; the store's gauges,
 * the same in each worker, not doubled).
 */

const dirs: string[] = [];
let main: ReturnType<typeof startMain> | undefined;

afterAll(async () => {
  if (main && main.child.exitCode === null) {
    main.child.kill('SIGKILL');
    await main.exited;
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** GET on a new connection each time, so that the primary hands connections to the workers in turn. */
function getFresh(url: string): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume().on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject).end();
  });
}

describe('metrics in a cluster', () => {
  it('METRICS_PORT on the primary aggregates every worker', async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-cluster-metrics-'));
    dirs.push(dir);
    main = startMain({ ...testEnvironment(dir, port), ISSUER: `http://127.0.0.1:${port}`, WORKERS: '2', METRICS: 'on', METRICS_PORT: String(metricsPort) });
    const running = main;
    let stdout = '';
    running.child.stdout.on('data', (chunk: string) => (stdout += chunk));
    await withTimeout((async () => {
      while (!stdout.includes('Gatehouse is running')) {
        if (running.child.exitCode !== null) throw new Error(`gatehouse exited early: ${stdout}`);
        await sleep(50);
      }
    })(), 60_000, 'two workers serving');

    const requests = 10;
    for (let index = 0; index < requests; index += 1) expect((await getFresh(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    // A worker records a request when its answer is flushed, which may be a moment after the client has it.
    const counted = async () => {
      const scraped = await scrape(`http://127.0.0.1:${metricsPort}/metrics`);
      return { scraped, count: histogramCount(scraped, 'gatehouse_http_request_duration_seconds', { route: '/healthz', status: '200' }) };
    };
    let { scraped: result, count } = await counted();
    for (let tries = 0; count < requests && tries < 40; tries += 1) {
      await sleep(50);
      ({ scraped: result, count } = await counted());
    }
    expect(count).toBe(requests);
    // Both workers contributed: each reports its own process metrics, and the aggregate counts two.
    // The store's gauges are taken at their maximum: the next rotation is not doubled.
    const interval = 90 * 86_400;
    const [next] = samples(result, 'gatehouse_signing_key_next_rotation_seconds', { alg: 'RS256' });
    expect(Number(next!.value)).toBeGreaterThan(interval - 600);
    expect(Number(next!.value)).toBeLessThanOrEqual(interval);
    // The main port has no /metrics when METRICS_PORT is set.
    expect((await getFresh(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);

    running.child.kill('SIGTERM');
    const exit = await withTimeout(running.exited, 20_000, 'the cluster stopping');
    expect(exit.code).toBe(0);
  }, 90_000);
});
