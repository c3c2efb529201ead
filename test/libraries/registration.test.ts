import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';
import { cheapPasswordHashing, testEnvironment } from '../helpers/gatehouse.ts';

const person = { actor: 'user' as const, sourceAddress: '203.0.113.5' };

describe('registering for a passkey', () => {
  let dir: string;
  let store: Store;
  let libraries: Libraries;
  let sent: Array<{ to: string; template: string }>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-registration-'));
    store = openSqliteStore(join(dir, 'gatehouse.db'));
    sent = [];
    const config = cheapPasswordHashing(loadConfig(testEnvironment(dir)));
    libraries = createLibraries({ store, config, clock: () => new Date(), outbox: { send: async (to: string, template: string) => { sent.push({ to, template }); } }, keyEncryptionKey: Buffer.alloc(32, 7) });
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates an unverified account without a password, mails its code, and says so in the audit trail', async () => {
    const { subject, account } = await libraries.registration.registerForPasskey({ email: 'Pat@Example.com', name: 'Pat' }, person);
    expect(account).toMatchObject({ email: 'Pat@Example.com', passwordHash: null, emailVerified: false, profile: { name: 'Pat' } });
    expect(subject).toMatchObject({ email: 'pat@example.com', accountId: account!.id });
    expect(sent.map((mail) => mail.template)).toEqual(['verify-email']);
    const events = await store.audit.tail({ limit: 10, accountId: account!.id });
    expect(events.find((event) => event.type === 'account_registered')).toMatchObject({ details: { credential: 'passkey' } });
  });

  it('answers a taken address as register does: a decoy code, a notice to the owner, nothing added to the account', async () => {
    const { account: owner } = await libraries.registration.register({ email: 'taken@example.com', password: 'a long enough passphrase here', name: undefined }, person);
    const again = await libraries.registration.registerForPasskey({ email: 'TAKEN@example.com', name: undefined }, person);
    expect(again.account).toBeUndefined();
    expect(again.subject.accountId).toBeNull();
    expect(sent.at(-1)).toEqual({ to: 'taken@example.com', template: 'registration-attempt' });
    expect((await store.accounts.findById(owner!.id))?.passwordHash).toBe(owner!.passwordHash);
  });

  it('refuses a bad address or a repeated field with words, not a TypeError', async () => {
    const bad = await libraries.registration.registerForPasskey({ email: 'not an address', name: undefined }, person).catch((error: unknown) => error);
    expect(bad).toBeInstanceOf(GatehouseError);
    expect((bad as GatehouseError).code).toBe('invalid_input');
    const repeated = await libraries.registration.registerForPasskey({ email: ['a@example.com', 'b@example.com'], name: undefined }, person).catch((error: unknown) => error);
    expect((repeated as GatehouseError).code).toBe('invalid_input');
    expect(await store.accounts.list()).toEqual([]);
  });
});
