import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { runCli } from '../../src/cli/main.ts';
import { systemClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { resolveSecrets } from '../../src/config/secrets.ts';
import type { AuditSource, Libraries } from '../../src/libraries/index.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import type { Outbox } from '../../src/mail/outbox.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { AccountRecord, AuditEvent, Store } from '../../src/store/types.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';
import { totp } from '../helpers/totp.ts';

/**
 * Libraries own their audit events: the same action leaves the same event whoever does it. Each
 * action here is done twice on one database, once by an operator through the CLI (in this process,
 * as `gatehouse …` runs it) and once through the library as a page calls it (a person, from an
 * address), and the two events must be the same but for who did it and whom it concerns.
 */

let dir: string;
let env: NodeJS.ProcessEnv;
let store: Store;
let libraries: Libraries;

/** What the account page passes: the person at their browser. */
const person: AuditSource = { actor: 'user', sourceAddress: '203.0.113.7' };
const password = 'parity passphrase for tests';

async function cli(args: string[], secret = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    env, stdout: (text) => (stdout += text), stderr: (text) => (stderr += text), readSecret: async () => secret,
  });
  return { code, stdout, stderr };
}

async function cliSucceeds(args: string[], secret?: string): Promise<string> {
  const run = await cli(args, secret);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout;
}

let counter = 0;
async function newAccount(name: string): Promise<AccountRecord> {
  counter += 1;
  return libraries.accounts.create({ email: `${name}${counter}@example.com`, password, emailVerified: true }, { actor: 'system' });
}

/** The event the last action left, as compared: its type and details, with the values of `subject` named rather than given. */
async function lastEvent(subject: Record<string, string>, accountId?: string): Promise<AuditEvent & { comparable: unknown }> {
  const events = await store.audit.tail({ limit: 1, ...(accountId ? { accountId } : {}) });
  const event = events.at(-1)!;
  expect(event).toBeDefined();
  const names = new Map(Object.entries(subject).map(([name, value]) => [value, `<${name}>`]));
  const comparable = JSON.parse(JSON.stringify({ type: event.type, accountId: event.accountId && '<account>', clientId: event.clientId && '<client>', details: event.details }), (_key, value: unknown) => (typeof value === 'string' ? (names.get(value) ?? value) : value));
  return { ...event, comparable };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-parity-'));
  env = testEnvironment(dir);
  // The CLI creates the database and the development secrets; the libraries then share both.
  await cliSucceeds(['users', 'list']);
  const config = loadConfig(env);
  store = await openStore(config.databaseUrl, { env: config.env });
  const outbox: Outbox = { send: async () => undefined };
  libraries = createLibraries({ store, config, clock: systemClock, outbox, keyEncryptionKey: resolveSecrets(config).keyEncryptionKey });
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the same action leaves the same audit event, from the CLI or from a page', () => {
  it('removing the authenticator app: `gatehouse users reset-mfa` and the account page', async () => {
    const enrolled = async () => {
      const account = await newAccount('factor');
      const { secret } = await libraries.secondFactor.enrollment(account);
      expect(await libraries.secondFactor.activate(account.id, totp(secret), person)).toMatchObject({ ok: true });
      return account;
    };
    const [bySupport, byThemselves] = [await enrolled(), await enrolled()];

    await cliSucceeds(['users', 'reset-mfa', '--email', bySupport.email]);
    // As the account page's "turn off" does, after checking a fresh sign-in and a current code.
    expect(await libraries.secondFactor.remove(byThemselves.id, person)).toBe(true);

    const cliEvent = await lastEvent({ email: bySupport.email }, bySupport.id);
    const pageEvent = await lastEvent({ email: byThemselves.email }, byThemselves.id);
    expect(cliEvent.comparable).toEqual(pageEvent.comparable);
    expect(cliEvent.comparable).toEqual({ type: 'mfa_removed', accountId: '<account>', details: {} });
    expect([cliEvent.actor, pageEvent.actor]).toEqual(['cli', 'user']);
    expect([cliEvent.sourceAddress, pageEvent.sourceAddress]).toEqual([undefined, person.sourceAddress]);
    // Neither has a factor left, whoever removed it.
    expect(await libraries.secondFactor.status(bySupport.id)).toEqual({ active: false });
    expect(await libraries.secondFactor.status(byThemselves.id)).toEqual({ active: false });
  });

  it('creating, disabling and enabling an account', async () => {
    const email = (name: string) => `${name}${(counter += 1)}@example.com`;
    const [viaCli, viaLibrary] = [email('created'), email('created')];
    await cliSucceeds(['users', 'add', '--email', viaCli, '--role', 'staff', '--verified'], password);
    const created = await libraries.accounts.create({ email: viaLibrary, password, roles: ['staff'], emailVerified: true }, person);
    const cliAccount = await libraries.accounts.get(viaCli);
    const cliCreated = await lastEvent({ email: viaCli }, cliAccount.id);
    expect(cliCreated.comparable).toEqual((await lastEvent({ email: viaLibrary }, created.id)).comparable);
    expect(cliCreated.comparable).toMatchObject({ type: 'account_created', details: { email: '<email>', roles: ['staff'], email_verified: true } });

    for (const [command, action] of [['disable', 'account_disabled'], ['enable', 'account_enabled']] as const) {
      await cliSucceeds(['users', command, viaCli]);
      await libraries.accounts[command](created.id, person);
      const cliEvent = await lastEvent({ email: viaCli }, cliAccount.id);
      expect(cliEvent.comparable).toEqual((await lastEvent({ email: viaLibrary }, created.id)).comparable);
      expect(cliEvent.comparable).toMatchObject({ type: action, details: { email: '<email>' } });
    }
  });

  it('adding and removing a client and an API', async () => {
    const added = JSON.parse(await cliSucceeds(['clients', 'add', '--json', '--name', 'Parity app', '--redirect-uri', 'https://app.example.com/cb'])) as { client_id: string };
    const cliAdded = await lastEvent({ clientId: added.client_id });
    const registered = await libraries.clients.register({ name: 'Parity app', redirectUris: ['https://app.example.com/cb'] }, person);
    expect(cliAdded.comparable).toEqual((await lastEvent({ clientId: registered.metadata.client_id })).comparable);
    expect(cliAdded.comparable).toMatchObject({ type: 'client_added', clientId: '<client>', details: { client_name: 'Parity app', public: false } });

    await cliSucceeds(['clients', 'remove', added.client_id]);
    const cliRemoved = await lastEvent({});
    await libraries.clients.remove(registered.metadata.client_id, person);
    expect(cliRemoved.comparable).toEqual((await lastEvent({})).comparable);

    const [cliApi, libraryApi] = ['https://api.example.com/cli', 'https://api.example.com/library'];
    await cliSucceeds(['apis', 'add', '--identifier', cliApi, '--scope', 'read']);
    const cliApiAdded = await lastEvent({ identifier: cliApi });
    await libraries.apis.register({ identifier: libraryApi, scopes: ['read'] }, person);
    expect(cliApiAdded.comparable).toEqual((await lastEvent({ identifier: libraryApi })).comparable);
    expect(cliApiAdded.comparable).toMatchObject({ type: 'api_added', details: { identifier: '<identifier>', scopes: ['read'] } });

    await cliSucceeds(['apis', 'remove', cliApi]);
    const cliApiRemoved = await lastEvent({ identifier: cliApi });
    await libraries.apis.remove(libraryApi, person);
    expect(cliApiRemoved.comparable).toEqual((await lastEvent({ identifier: libraryApi })).comparable);
  });
});
