import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { redirectUri, startGatehouse } from '../helpers/gatehouse.ts';

let gatehouse: TestGatehouse;
let clientId: string;
let clientSecret: string;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  ({ clientId, clientSecret } = (await gatehouse.addClient({ name: 'Outage app', grantTypes: ['authorization_code', 'client_credentials'] })) as { clientId: string; clientSecret: string });
});

afterAll(async () => {
  await gatehouse?.stop();
});

describe('health endpoints and store outages', () => {
  it('reports alive and ready', async () => {
    const alive = await fetch(`${gatehouse.url}/healthz`);
    expect(alive.status).toBe(200);
    expect(await alive.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${gatehouse.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', store: 'sqlite' });
  });

  it('answers 503, never a stack trace, while the store is gone', async () => {
    // The store going away under a running server (what a lost database connection looks like).
    await gatehouse.store.close();

    expect((await fetch(`${gatehouse.url}/healthz`)).status).toBe(200); // the process is alive

    // A protocol endpoint: JSON.
    const token = await fetch(`${gatehouse.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${clientSecret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(token.status).toBe(503);
    expect(token.headers.get('retry-after')).toBe('5');
    expect(await token.json()).toMatchObject({ error: 'temporarily_unavailable' });

    // A page: our error page.
    const page = await fetch(`${gatehouse.url}/auth?client_id=${clientId}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(redirectUri)}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256`, { headers: { accept: 'text/html' }, redirect: 'manual' });
    expect(page.status).toBe(503);
    const html = await page.text();
    expect(html).toContain('cannot reach its database');
    expect(html).not.toMatch(/\n\s+at .+:\d+:\d+/);

    // /readyz probes at most every few seconds, but the failed requests above probed at once.
    const ready = await fetch(`${gatehouse.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(await ready.json()).toEqual({ status: 'unavailable', store: 'sqlite', reason: 'unreachable' });
  });
});
