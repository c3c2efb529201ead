import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { systemClock } from '../../src/clock.ts';
import { authenticate } from '../../src/libraries/accounts.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import { demoEmail, provisionDemo } from '../../examples/demo.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';

let gatehouse: TestGatehouse;
let libraries: Libraries;

beforeAll(async () => {
  gatehouse = await startGatehouse();
  const { store, config, outbox, secrets } = gatehouse;
  libraries = createLibraries({ store, config, clock: systemClock, outbox, keyEncryptionKey: secrets.keyEncryptionKey });
});

afterAll(async () => {
  await gatehouse?.stop();
});

describe('npm run demo', () => {
  it('registers the clients, the API and a verified user on the first run, and reuses them after', async () => {
    const { store, dir } = gatehouse;
    const first = await provisionDemo(libraries, dir);
    expect(first.created).toEqual(['client "Demo web app"', 'client "Demo single-page app"', 'API http://localhost:8082', `user ${demoEmail}`]);
    expect(first.user.password).toBeTruthy();

    const webApp = (await store.clients.find(first.webApp.clientId))!.metadata;
    expect(webApp).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', redirect_uris: ['http://localhost:8080/callback'], post_logout_redirect_uris: ['http://localhost:8080/'] });
    const spa = (await store.clients.find(first.spa.clientId))!.metadata;
    expect(spa).toMatchObject({ token_endpoint_auth_method: 'none', redirect_uris: ['http://localhost:8081/'], grant_types: ['authorization_code', 'refresh_token'] });
    expect(await store.apis.find('http://localhost:8082')).toMatchObject({ scopes: ['notes:read', 'notes:write'] });
    const account = await authenticate(store, demoEmail, first.user.password!);
    expect(account.emailVerified).toBe(true);
    expect(statSync(join(dir, 'demo.json')).mode & 0o777).toBe(0o600);

    const second = await provisionDemo(libraries, dir);
    expect(second.created).toEqual([]);
    expect(second).toEqual({ ...first, created: [] }); // same ids, the same secret read back, same password
    expect(await store.clients.list()).toHaveLength(2);
    const audited = (await store.audit.tail({ limit: 100 })).filter((event) => event.details.via === 'npm run demo');
    expect(audited.map((event) => event.type)).toEqual(['client_added', 'client_added', 'api_added', 'account_created']);
  });

  it('says so when the password of an existing demo user is no longer known', async () => {
    const { dir } = gatehouse;
    const saved = readFileSync(join(dir, 'demo.json'), 'utf8');
    expect(saved).toContain(demoEmail);
    const setup = await provisionDemo(libraries, join(dir, 'elsewhere'));
    expect(setup.user).toEqual({ email: demoEmail });
  });
});
