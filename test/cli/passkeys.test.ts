import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AuditSource, Libraries } from '../../src/libraries/index.ts';
import type { PasskeySummary } from '../../src/libraries/passkeys.ts';
import type { AccountRecord, AuditEvent, Store } from '../../src/store/types.ts';
import { startGatehouse, testEnvironment } from '../helpers/gatehouse.ts';
import { refused, succeeded } from '../helpers/cli-assertions.ts';
import { openBesideCli } from '../helpers/cli-libraries.ts';
import { cliFor } from '../helpers/run-cli.ts';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.ts';

/**
 * `gatehouse users passkeys` and `gatehouse users remove-passkey`, run in this process on a real
 * database whose passkeys were registered through the library with a software authenticator, and
 * the client flag `--require-phishing-resistant`.
 */

let dir: string;
let gatehouse: ReturnType<typeof cliFor>;
let store: Store;
let libraries: Libraries;
const person: AuditSource = { actor: 'user', sourceAddress: '203.0.113.7' };

let counter = 0;
async function newAccount(name: string): Promise<AccountRecord> {
  counter += 1;
  return store.accounts.create({ id: `acct-${name}-${counter}`, email: `${name}${counter}@example.com`, passwordHash: null, emailVerified: true, profile: {}, roles: [], disabled: false });
}

async function addPasskey(account: AccountRecord, name?: string): Promise<PasskeySummary> {
  const device = new SoftwareAuthenticator({ origin: libraries.passkeys.relyingParty.origin });
  const options = await libraries.passkeys.registrationOptions(account);
  return libraries.passkeys.finishRegistration({ accountId: account.id, response: device.register(options), expectedChallenge: options.challenge, ...(name ? { name } : {}) }, person);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-passkeys-'));
  const env = { ...testEnvironment(dir), ISSUER: 'http://localhost:3000' };
  gatehouse = cliFor(env);
  // The CLI creates the database and the development secrets; the libraries then share both.
  succeeded(await gatehouse(['users', 'list']));
  ({ store, libraries } = await openBesideCli(env));
});

afterAll(async () => {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse users passkeys', () => {
  it("lists an account's passkeys: id, name, when added and last used, whether synced; --json for scripts", async () => {
    const account = await newAccount('lister');
    const laptop = await addPasskey(account, 'Laptop');
    const phone = await addPasskey(account, 'Phone «work»');
    await addPasskey(await newAccount('someone-else'));

    const text = succeeded(await gatehouse(['users', 'passkeys', '--email', account.email]));
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+NAME\s+CREATED\s+LAST USED\s+SYNCED$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(new RegExp(`^${laptop.id}\\s+Laptop\\s+${laptop.createdAt.toISOString()}\\s+-\\s+yes$`));
    expect(lines[2]).toContain(phone.id);
    expect(lines[2]).toContain('Phone «work»');

    const json = JSON.parse(succeeded(await gatehouse(['users', 'passkeys', '--email', account.email.toUpperCase(), '--json']))) as unknown[];
    expect(json).toEqual([
      { id: laptop.id, name: 'Laptop', created_at: laptop.createdAt.toISOString(), last_used_at: null, synced: true, device_type: 'multiDevice', transports: ['internal', 'hybrid'] },
      expect.objectContaining({ id: phone.id, name: 'Phone «work»' }),
    ]);
  });

  it('says so when there are none, and refuses an unknown or missing email in one line', async () => {
    const account = await newAccount('none');
    expect(succeeded(await gatehouse(['users', 'passkeys', '--email', account.email]))).toBe('(none)\n');
    expect(JSON.parse(succeeded(await gatehouse(['users', 'passkeys', '--email', account.email, '--json'])))).toEqual([]);
    refused(await gatehouse(['users', 'passkeys', '--email', 'nobody@example.com']), /no account nobody@example\.com/);
    refused(await gatehouse(['users', 'passkeys']), /--email is required/);
  });
});

describe('gatehouse users remove-passkey', () => {
  it('removes one passkey, audited as the account page removes it (passkey_removed), the others kept', async () => {
    const bySupport = await newAccount('support');
    const byThemselves = await newAccount('self');
    const lost = await addPasskey(bySupport, 'Lost phone');
    const kept = await addPasskey(bySupport, 'Laptop');
    const theirs = await addPasskey(byThemselves, 'Lost phone');

    const text = succeeded(await gatehouse(['users', 'remove-passkey', '--email', bySupport.email, '--id', lost.id]));
    expect(text).toBe(`removed the passkey ${lost.id} (Lost phone) of ${bySupport.email}; it no longer signs them in\n`);
    expect((await libraries.passkeys.list(bySupport.id)).map((passkey) => passkey.id)).toEqual([kept.id]);
    await libraries.passkeys.remove(byThemselves.id, theirs.id, person);

    const last = async (account: AccountRecord): Promise<AuditEvent> => (await store.audit.tail({ limit: 1, accountId: account.id })).at(-1)!;
    const [cliEvent, pageEvent] = [await last(bySupport), await last(byThemselves)];
    expect(cliEvent).toMatchObject({ type: 'passkey_removed', actor: 'cli', accountId: bySupport.id, details: { passkey_id: lost.id, name: 'Lost phone' } });
    expect(cliEvent.sourceAddress).toBeUndefined();
    expect(pageEvent).toMatchObject({ type: 'passkey_removed', actor: 'user', accountId: byThemselves.id, sourceAddress: person.sourceAddress, details: { passkey_id: theirs.id, name: 'Lost phone' } });
    expect(Object.keys(cliEvent.details).sort()).toEqual(Object.keys(pageEvent.details).sort());

    const json = JSON.parse(succeeded(await gatehouse(['users', 'remove-passkey', '--email', bySupport.email, '--id', kept.id, '--json']))) as Record<string, unknown>;
    expect(json).toMatchObject({ id: kept.id, name: 'Laptop', account_id: bySupport.id, email: bySupport.email, removed: true });
    expect(await libraries.passkeys.list(bySupport.id)).toEqual([]);
  });

  it('refuses an unknown passkey, another account\'s, an unknown email or missing flags, in one line, exit 1', async () => {
    const owner = await newAccount('owner');
    const other = await newAccount('other');
    const passkey = await addPasskey(owner);
    refused(await gatehouse(['users', 'remove-passkey', '--email', owner.email, '--id', 'AAAA']), new RegExp(`${owner.email} has no passkey AAAA`));
    refused(await gatehouse(['users', 'remove-passkey', '--email', other.email, '--id', passkey.id]), new RegExp(`${other.email} has no passkey ${passkey.id}`));
    refused(await gatehouse(['users', 'remove-passkey', '--email', 'nobody@example.com', '--id', passkey.id]), /no account nobody@example\.com/);
    refused(await gatehouse(['users', 'remove-passkey', '--email', owner.email]), /--id is required/);
    refused(await gatehouse(['users', 'remove-passkey', '--id', passkey.id]), /--email is required/);
    const json = await gatehouse(['users', 'remove-passkey', '--email', owner.email, '--id', 'AAAA', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stderr)).toEqual({ error: 'not_found', message: `${owner.email} has no passkey AAAA` });
    // Nothing was removed, nothing audited as removed.
    expect(await libraries.passkeys.list(owner.id)).toHaveLength(1);
    expect((await store.audit.tail({ limit: 100, accountId: owner.id })).map((event) => event.type)).toEqual(['passkey_added']);
  });
});

describe('gatehouse clients add --require-phishing-resistant', () => {
  it('marks the client in its metadata (gatehouse_require_phishing_resistant), which the provider accepts', async () => {
    const add = (...flags: string[]) => gatehouse(['clients', 'add', '--name', 'Bank', '--redirect-uri', 'http://127.0.0.1:8080/callback', '--public', ...flags, '--json']);
    const strict = JSON.parse(succeeded(await add('--require-phishing-resistant'))) as Record<string, unknown>;
    expect(strict.gatehouse_require_phishing_resistant).toBe(true);
    const relaxed = JSON.parse(succeeded(await add())) as Record<string, unknown>;
    expect(relaxed).not.toHaveProperty('gatehouse_require_phishing_resistant');

    const shown = succeeded(await gatehouse(['clients', 'show', String(strict.client_id)]));
    expect(shown).toContain('sign-in:        phishing-resistant only (a passkey)');
    expect(succeeded(await gatehouse(['clients', 'show', String(relaxed.client_id)]))).not.toContain('phishing-resistant');
  });

  it('oidc-provider loads such a client (the property is declared, a boolean)', async () => {
    const server = await startGatehouse();
    try {
      const { clientId } = await server.addClient({ name: 'Bank', public: true, requirePhishingResistant: true });
      const client = await server.provider().Client.find(clientId);
      expect((client as unknown as Record<string, unknown> | undefined)?.gatehouse_require_phishing_resistant).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
