import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MovableClock } from '../../helpers/clock.ts';
import { movableClock } from '../../helpers/clock.ts';
import { addManagementClient, managementApiUrl, managementCaller, managementToken } from './management-client.ts';

let gatehouse: TestGatehouse;
let clock: MovableClock;

beforeAll(async () => {
  clock = movableClock();
  gatehouse = await startGatehouse({ clock, adjust: (config) => ({ ...config, limits: { ...config.limits, managementApi: { count: 5, seconds: 60 } } }) });
});
afterAll(() => gatehouse?.stop());

describe('limits', () => {
  it('a concurrent burst from one client gets exactly its budget; the rest are 429 with Retry-After; another client has its own', async () => {
    const busy = await addManagementClient(gatehouse, ['keys:read'], 'Busy');
    const calm = await addManagementClient(gatehouse, ['keys:read'], 'Calm');
    const api = await managementCaller(gatehouse, await managementToken(gatehouse, busy));
    const answers = await Promise.all(Array.from({ length: 12 }, () => api.call('GET', '/keys')));
    const statuses = answers.map((answer) => answer.status).sort();
    expect(statuses).toEqual([...Array(5).fill(200), ...Array(7).fill(429)]);
    for (const refused of answers.filter((answer) => answer.status === 429)) {
      expect(refused.body.code).toBe('rate_limited');
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    const other = await managementCaller(gatehouse, await managementToken(gatehouse, calm), api.documents);
    expect((await other.call('GET', '/keys')).status).toBe(200);

    clock.advance(61_000);
    try {
      expect((await api.call('GET', '/keys')).status).toBe(200);
    } finally {
      clock.rewind();
    }
  });

  it('refuses a body over 64 KiB with 413 before reading it all, whether its length is declared or not', async () => {
    const writer = await addManagementClient(gatehouse, ['apis:write'], 'Writer');
    const token = await managementToken(gatehouse, writer);
    const big = JSON.stringify({ identifier: 'https://big.example', name: 'x'.repeat(70 * 1024) });
    const declared = await fetch(`${managementApiUrl(gatehouse)}/apis`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: big });
    expect(declared.status).toBe(413);
    expect(await declared.json()).toMatchObject({ code: 'payload_too_large' });
    // Streamed (chunked, no Content-Length): counted as it arrives.
    const stream = new ReadableStream({
      start(controller) {
        for (let index = 0; index < 80; index += 1) controller.enqueue(new TextEncoder().encode('x'.repeat(1024)));
        controller.close();
      },
    });
    const streamed = await fetch(`${managementApiUrl(gatehouse)}/apis`, {
      method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: stream, duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
  });
});
