import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { movableClock } from '../helpers/clock.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { freePort } from '../helpers/main-process.ts';
import { authorizationRequest, relyingParty, signIn } from '../helpers/relying-party.ts';
import { asPage, UserAgent } from '../helpers/user-agent.ts';
import { histogramCount, samples, scrape, total } from './scrape.ts';
import type { Scrape } from './scrape.ts';

/**
 * /metrics of a real server after real requests, a real sign-in (openid-client), refused sign-ins
 * and queued mail, parsed with a real Prometheus text-format parser.
 */

const token = randomBytes(24).toString('base64url');
const clock = movableClock();
let gatehouse: TestGatehouse;
let metricsUrl: string;
const email = 'metrics@example.com';
const password = 'correct horse battery staple';

beforeAll(async () => {
  // SMTP is down (nothing listens on port 1): queued mail stays pending, as in an outage.
  gatehouse = await startGatehouse({ env: { METRICS: 'on', METRICS_TOKEN: token, SMTP_URL: 'smtp://127.0.0.1:1' }, clock });
  metricsUrl = `${gatehouse.url}/metrics`;
});

afterAll(async () => {
  await gatehouse?.stop();
});

describe('/metrics on the main port', () => {
  it('is refused without the Bearer token (401) and with a wrong one, answered with it', async () => {
    const without = await fetch(metricsUrl);
    expect(without.status).toBe(401);
    expect(without.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await fetch(metricsUrl, { headers: { authorization: `Bearer ${token.slice(1)}x` } });
    expect(wrong.status).toBe(401);
    const right = await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('# TYPE gatehouse_http_request_duration_seconds histogram');
  });

  it('counts requests by route and status in a latency histogram', async () => {
    const before = await scrape(metricsUrl, token);
    for (let index = 0; index < 3; index += 1) expect((await fetch(`${gatehouse.url}/.well-known/openid-configuration`)).status).toBe(200);
    expect((await fetch(`${gatehouse.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${gatehouse.url}/no-such-page`)).status).toBe(404);
    const after = await scrape(metricsUrl, token);
    const count = (result: Scrape, labels: Record<string, string>) => histogramCount(result, 'gatehouse_http_request_duration_seconds', labels);
    expect(count(after, { route: 'discovery', method: 'GET', status: '200' }) - count(before, { route: 'discovery', method: 'GET', status: '200' })).toBe(3);
    expect(count(after, { route: '/healthz', method: 'GET', status: '200' }) - count(before, { route: '/healthz', method: 'GET', status: '200' })).toBe(1);
    expect(count(after, { route: 'unmatched', method: 'GET', status: '404' }) - count(before, { route: 'unmatched', method: 'GET', status: '404' })).toBe(1);
    // The buckets are cumulative and end with +Inf, which equals the count.
    const buckets = samples(after, 'gatehouse_http_request_duration_seconds_bucket', { route: 'discovery', method: 'GET', status: '200' });
    expect(buckets.length).toBeGreaterThan(5);
    const values = buckets.map((bucket) => Number(bucket.value));
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(Number(buckets.find((bucket) => bucket.labels!.le === '+Inf')!.value)).toBe(count(after, { route: 'discovery', method: 'GET', status: '200' }));
    expect(after.families.get('gatehouse_http_request_duration_seconds')?.type).toBe('HISTOGRAM');
    // A scrape is itself a request, counted under its own route.
    expect(count(after, { route: 'metrics', status: '200' })).toBeGreaterThanOrEqual(1);
  });

  it('labels routes by pattern: random paths do not add label values (no cardinality attack)', async () => {
    const routesNow = async () => new Set(samples(await scrape(metricsUrl, token), 'gatehouse_http_request_duration_seconds_count').map((sample) => sample.labels!.route));
    await fetch(`${gatehouse.url}/interaction/${randomBytes(8).toString('hex')}`);
    await fetch(`${gatehouse.url}/${randomBytes(8).toString('hex')}`);
    const before = await routesNow();
    for (let index = 0; index < 40; index += 1) {
      const random = randomBytes(8).toString('hex');
      await fetch(`${gatehouse.url}/${random}/${random}?q=${random}`);
      await fetch(`${gatehouse.url}/interaction/${random}`);
      await fetch(`${gatehouse.url}/interaction/${random}/login`, { method: 'POST' });
    }
    const after = await routesNow();
    expect([...after].filter((route) => !before.has(route))).toEqual(['/interaction/:uid/login']);
    expect(after.has('/interaction/:uid')).toBe(true);
    for (const route of after) expect(route).not.toMatch(/[0-9a-f]{16}/);
  });

  it('counts a sign-in by method and outcome, the token request under the provider route, and a refused login as a limit', async () => {
    const registered = await gatehouse.addClient();
    await gatehouse.addUser(email, password);
    const rp = await relyingParty(gatehouse, registered);
    const before = await scrape(metricsUrl, token);
    await signIn(gatehouse, rp, { email, password });

    // Wrong passwords for one address until its limit refuses (the first free failures are 401s).
    const request = await authorizationRequest(rp);
    const ua = new UserAgent(gatehouse.url);
    let page = asPage(await ua.navigate(request.url.href));
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 10 && !statuses.includes(429); attempt += 1) {
      page = asPage(await ua.submit(page, '/login', { email, password: 'wrong password' }));
      statuses.push(page.status);
    }
    expect(statuses).toContain(429);
    const failures = statuses.filter((status) => status === 401).length;
    const after = await scrape(metricsUrl, token);

    const delta = (name: string, labels: Record<string, string>) => total(after, name, labels) - total(before, name, labels);
    expect(delta('gatehouse_sign_ins_total', { method: 'password', outcome: 'success' })).toBe(1);
    expect(delta('gatehouse_sign_ins_total', { method: 'password', outcome: 'failure' })).toBe(failures);
    expect(delta('gatehouse_sign_ins_total', { method: 'password', outcome: 'limited' })).toBe(1);
    expect(delta('gatehouse_limit_refusals_total', { limit: 'password_attempt' })).toBe(1);
    expect(samples(after, 'gatehouse_limit_refusals_total', { limit: 'password_attempt' })[0]!.labels!.reason).toMatch(/^(slow_down|locked)$/);
    const tokenRequests = (result: Scrape) => histogramCount(result, 'gatehouse_http_request_duration_seconds', { route: 'token', method: 'POST', status: '200' });
    expect(tokenRequests(after) - tokenRequests(before)).toBe(1);
    const logins = (result: Scrape, status: string) => histogramCount(result, 'gatehouse_http_request_duration_seconds', { route: '/interaction/:uid/login', method: 'POST', status });
    expect(logins(after, '429') - logins(before, '429')).toBe(1);
  });

  it('times store calls by table and method', async () => {
    const result = await scrape(metricsUrl, token);
    expect(histogramCount(result, 'gatehouse_store_operation_duration_seconds', { table: 'accounts', method: 'findByEmail' })).toBeGreaterThan(0);
    expect(histogramCount(result, 'gatehouse_store_operation_duration_seconds', { table: 'signingKeys', method: 'read' })).toBeGreaterThan(0);
    expect(result.families.get('gatehouse_store_operation_errors_total')?.type).toBe('COUNTER');
  });

  it('shows the mail queue: depth after mail is queued while SMTP is down, and the failed send', async () => {
    const pending = async () => total(await scrape(metricsUrl, token), 'gatehouse_mail_queue_messages', { status: 'pending' });
    expect(await pending()).toBe(0);
    await gatehouse.outbox.send('queued@example.com', 'reset-password', { link: `${gatehouse.url}/reset/x`, minutes: 30 });
    await gatehouse.deliverMail();
    // A scrape reads the queue at most every 5 s (by the server's clock): the one just read is kept.
    expect(await pending()).toBe(0);
    clock.advance(5000);
    const result = await scrape(metricsUrl, token);
    expect(total(result, 'gatehouse_mail_queue_messages', { status: 'pending' })).toBe(1);
    // Queued by the server's clock, which has moved 5 s since.
    expect(total(result, 'gatehouse_mail_queue_oldest_pending_age_seconds', {})).toBeGreaterThanOrEqual(5);
    expect(total(result, 'gatehouse_mail_sends_total', { outcome: 'failed' })).toBeGreaterThanOrEqual(1);
  });

  it('shows the signing keys: their ages and the time to the next rotation', async () => {
    const result = await scrape(metricsUrl, token);
    const [age] = samples(result, 'gatehouse_signing_key_age_seconds', { alg: 'RS256', state: 'current' });
    expect(Number(age!.value)).toBeGreaterThanOrEqual(0);
    expect(Number(age!.value)).toBeLessThan(600);
    const [next] = samples(result, 'gatehouse_signing_key_next_rotation_seconds', { alg: 'RS256' });
    const interval = gatehouse.config.keys.rotationIntervalDays * 86_400;
    expect(Number(next!.value)).toBeGreaterThan(interval - 600);
    expect(Number(next!.value)).toBeLessThanOrEqual(interval);
  });

  it("has Node's process metrics and the event-loop lag", async () => {
    const result = await scrape(metricsUrl, token);
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
      expect(result.families.has(name), name).toBe(true);
    }
  });

  it('the Grafana dashboard queries only metrics that exist in a scrape', async () => {
    const dashboard = JSON.parse(readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    const result = await scrape(metricsUrl, token);
    const exprs = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
    expect(exprs.length).toBeGreaterThan(8);
    const names = new Set(exprs.flatMap((expr) => [...expr.matchAll(/\b((?:gatehouse|nodejs|process)_[a-z0-9_]+)/g)].map((match) => match[1]!)));
    for (const name of names) {
      const family = name.replace(/_(bucket|count|sum)$/, '');
      expect(result.families.has(name) || result.families.get(family)?.type === 'HISTOGRAM', `${name} is not in a scrape`).toBe(true);
    }
  });
});

describe('METRICS_PORT: a listener of its own', () => {
  let separate: TestGatehouse;
  beforeAll(async () => {
    separate = await startGatehouse({ env: { METRICS: 'on', METRICS_PORT: String(await freePort()) } });
  });
  afterAll(async () => {
    await separate?.stop();
  });

  it('answers /metrics there (no token set: an internal listener), not on the main port', async () => {
    expect(separate.metricsPort).toBeDefined();
    const base = `http://127.0.0.1:${separate.metricsPort}`;
    await fetch(`${separate.url}/healthz`);
    const result = await scrape(`${base}/metrics`);
    expect(histogramCount(result, 'gatehouse_http_request_duration_seconds', { route: '/healthz' })).toBe(1);
    expect((await fetch(`${base}/other`)).status).toBe(404);
    expect((await fetch(`${separate.url}/metrics`)).status).toBe(404);
  });
});

describe('settings', () => {
  const production = {
    NODE_ENV: 'production', ISSUER: 'https://id.example.com', COOKIE_KEYS: 'k'.repeat(32), KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    SMTP_URL: 'smtp://mail.example.com', DATABASE_URL: 'sqlite:/tmp/never-opened.db',
  };

  it('off by default; METRICS=on on the main port in production needs METRICS_TOKEN', () => {
    expect(loadConfig({ NODE_ENV: 'test' }).metrics.enabled).toBe(false);
    expect(() => loadConfig({ ...production, METRICS: 'on' })).toThrow(/METRICS_TOKEN must be set in production/);
    expect(loadConfig({ ...production, METRICS: 'on', METRICS_TOKEN: 't'.repeat(32) }).metricsToken).toBe('t'.repeat(32));
    expect(loadConfig({ ...production, METRICS: 'on', METRICS_PORT: '9464' }).metrics).toEqual({ enabled: true, port: 9464, host: '127.0.0.1' });
  });

  it('refuses bad values with a line naming the variable', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', METRICS: 'yes' })).toThrow(/METRICS must be one of on, off, got "yes"/);
    expect(() => loadConfig({ NODE_ENV: 'test', METRICS_PORT: '70000' })).toThrow(/METRICS_PORT must be a whole number from 1 to 65535/);
    expect(() => loadConfig({ NODE_ENV: 'test', METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN must be at least 16/);
    expect(() => loadConfig({ NODE_ENV: 'test', LOG_FORMAT: 'xml' })).toThrow(/LOG_FORMAT must be one of json, text/);
  });
});
