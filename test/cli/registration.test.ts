import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Libraries } from '../../src/libraries/index.ts';
import { initialAccessTokenModel } from '../../src/libraries/registration-tokens.ts';
import type { Store } from '../../src/store/types.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';
import { refused, succeeded } from '../helpers/cli-assertions.ts';
import type { CliRun } from '../helpers/run-cli.ts';
import { openBesideCli } from '../helpers/cli-libraries.ts';
import { cliFor } from '../helpers/run-cli.ts';

/**
 * `gatehouse registration tokens …` and what `clients list/show` say of dynamic clients, run in
 * this process on a real database; what the commands did is read back through the store.
 */

let dir: string;
let env: NodeJS.ProcessEnv;
let gatehouse: ReturnType<typeof cliFor>;
let store: Store;
let libraries: Libraries;

const json = (run: CliRun) => JSON.parse(succeeded(run)) as unknown;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-registration-'));
  env = { ...testEnvironment(dir), CLIENT_REGISTRATION: 'token' };
  gatehouse = cliFor(env);
  succeeded(await gatehouse(['registration', 'tokens', 'list']));
  ({ store, libraries } = await openBesideCli(env));
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse registration tokens', () => {
  it('create prints the token once with its id and expiry; list shows the id only; revoke removes it; each audited (actor cli)', async () => {
    const text = succeeded(await gatehouse(['registration', 'tokens', 'create', '--days', '3', '--note', 'agents team']));
    const token = /^token: +(\S+)$/m.exec(text)![1]!;
    expect(text).toMatch(new RegExp(`^id: +${token.slice(0, 6)}$`, 'm'));
    expect(text).toMatch(/^note: +agents team$/m);
    expect(text).toContain('shown only this once');
    expect(text).not.toContain('CLIENT_REGISTRATION is');
    expect(await store.oidc.model(initialAccessTokenModel).find(token)).toMatchObject({ jti: token, kind: 'InitialAccessToken' });

    const listed = succeeded(await gatehouse(['registration', 'tokens', 'list']));
    expect(listed).toMatch(/^ID +CREATED +EXPIRES +NOTE$/m);
    expect(listed).toContain(token.slice(0, 6));
    expect(listed).not.toContain(token);

    expect(succeeded(await gatehouse(['registration', 'tokens', 'revoke', '--id', token.slice(0, 6)]))).toBe(`revoked registration token ${token.slice(0, 6)}\n`);
    expect(await store.oidc.model(initialAccessTokenModel).find(token)).toBeUndefined();
    const types = (await store.audit.tail({ limit: 100 })).filter((event) => event.type.startsWith('registration_token_')).map((event) => [event.type, event.actor]);
    expect(types).toEqual([['registration_token_created', 'cli'], ['registration_token_revoked', 'cli']]);
    expect(JSON.stringify(await store.audit.tail({ limit: 100 }))).not.toContain(token);
  });

  it('--json: create gives the token and its expiry, list the ids', async () => {
    const created = json(await gatehouse(['registration', 'tokens', 'create', '--json'])) as Record<string, string>;
    expect(created).toEqual({ token: expect.stringMatching(/^[\w-]{43}$/), id: created.token!.slice(0, 6), created_at: expect.any(String), expires_at: expect.any(String) });
    expect(Date.parse(created.expires_at!) - Date.parse(created.created_at!)).toBe(7 * 86_400_000);

    const listed = json(await gatehouse(['registration', 'tokens', 'list', '--json'])) as Array<Record<string, string>>;
    expect(listed).toContainEqual({ id: created.id, created_at: created.created_at, expires_at: created.expires_at });
    expect(JSON.stringify(listed)).not.toContain(created.token);
    expect(json(await gatehouse(['registration', 'tokens', 'revoke', '--id', created.token!, '--json']))).toMatchObject({ id: created.id, revoked: true });
  });

  it('refuses bad days, a missing, short or unknown id, each in one line', async () => {
    refused(await gatehouse(['registration', 'tokens', 'create', '--days', 'soon']), /--days must be a positive number/);
    refused(await gatehouse(['registration', 'tokens', 'create', '--days', '400']), /at most 365 days/);
    refused(await gatehouse(['registration', 'tokens', 'revoke']), /--id is required/);
    refused(await gatehouse(['registration', 'tokens', 'revoke', '--id', 'abc']), /at least its first 6 characters/);
    refused(await gatehouse(['registration', 'tokens', 'revoke', '--id', 'zzzzzzzz']), /no registration token starts with zzzzzz/);
  });

  it('create warns when CLIENT_REGISTRATION does not take tokens; the group alone prints its usage', async () => {
    const text = succeeded(await cliFor({ ...env, CLIENT_REGISTRATION: 'off' })(['registration', 'tokens', 'create']));
    expect(text).toContain('CLIENT_REGISTRATION is off');

    const usage = await gatehouse(['registration', 'tokens']);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('registration tokens create');
    expect(usage.stderr).not.toContain('clients add');
  });
});

describe('gatehouse clients list/show with dynamic clients', () => {
  it('shows whether a client registered itself and when it was last used', async () => {
    await libraries.clients.saveRegistered({
      client_id: 'agent-cli-1', client_name: 'Agent\u001b[31m', redirect_uris: ['http://127.0.0.1/cb'], grant_types: ['authorization_code'],
      response_types: ['code'], token_endpoint_auth_method: 'none',
    }, new Date());
    await libraries.clients.touch('agent-cli-1');

    const rows = succeeded(await gatehouse(['clients', 'list']));
    expect(rows).toMatch(/^CLIENT_ID +NAME +TYPE +GRANT TYPES +DYNAMIC +LAST USED$/m);
    expect(rows).toMatch(/^agent-cli-1 +Agent\\u001b\[31m +public +authorization_code +yes +\d{4}-\d\d-\d\dT/m);

    const shown = succeeded(await gatehouse(['clients', 'show', 'agent-cli-1']));
    expect(shown).toMatch(/^registered: +by itself \(dynamic client registration; not reviewed\)$/m);
    expect(shown).toMatch(/^last used: +\d{4}-/m);
    expect(json(await gatehouse(['clients', 'show', 'agent-cli-1', '--json']))).toMatchObject({ client_id: 'agent-cli-1', dynamic: true, last_used_at: expect.any(String) });
  });
});
