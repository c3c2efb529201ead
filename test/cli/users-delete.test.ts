import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { AccountExport } from '../../src/libraries/account-deletion.ts';
import { cliSource } from '../../src/libraries/audit.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';
import { refused, succeeded } from '../helpers/cli-assertions.ts';
import { openBesideCli } from '../helpers/cli-libraries.ts';
import { cliFor } from '../helpers/run-cli.ts';

/** `gatehouse users delete` and `gatehouse users export`, run in this process on a real database. */

let dir: string;
let env: NodeJS.ProcessEnv;
let gatehouse: ReturnType<typeof cliFor>;
const json = async (args: string[], input?: string) => JSON.parse(succeeded(await gatehouse(['--json', ...args], input))) as Record<string, unknown>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-users-delete-'));
  env = { ...testEnvironment(dir), ISSUER: 'http://localhost:3000' };
  gatehouse = cliFor(env);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse users export', () => {
  it('prints everything about the person as JSON, without a hash, secret or code', async () => {
    const added = await json(['users', 'add', '--email', 'erin@example.com', '--name', 'Erin'], 'a long enough password\n');
    const { store, libraries } = await openBesideCli(env);
    try {
      const enrollment = await libraries.secondFactor.enrollment((await libraries.accounts.get('erin@example.com')));
      expect(enrollment.secret).toBeTruthy();
    } finally {
      await store.close();
    }

    const text = succeeded(await gatehouse(['users', 'export', '--email', 'ERIN@example.com']));
    const exported = JSON.parse(text) as AccountExport;
    expect(exported).toMatchObject({
      format: 'gatehouse-account-export',
      account: { id: added.id, email: 'erin@example.com', profile: { name: 'Erin' }, deleteAfter: null },
      factors: { password: { set: true }, authenticatorApp: null, passkeys: [] },
      linkedIdentities: [], sessions: [], grants: [],
    });
    expect(exported.auditEvents.map((event) => event.type)).toContain('account_created');
    expect(text).not.toMatch(/argon2|sealed|passwordHash|secret/i);
    // The same data with --json; each export is audited (account_data_exported, by the CLI).
    const again = await json(['users', 'export', '--email', 'erin@example.com']);
    expect({ ...again, auditEvents: [] }).toEqual({ ...exported, exportedAt: expect.any(String), auditEvents: [] });
    expect((again.auditEvents as Array<{ type: string; actor: string }>).filter((event) => event.type === 'account_data_exported').map((event) => event.actor)).toEqual(['cli', 'cli']);
  });

  it('refuses in one line: no --email, no such account', async () => {
    refused(await gatehouse(['users', 'export']), /--email is required/);
    refused(await gatehouse(['users', 'export', '--email', 'nobody@example.com']), /no account nobody@example.com/);
  });
});

describe('gatehouse users delete', () => {
  it('asks for --yes, then erases at once; the address can be registered again, the audit keeps a pseudonym', async () => {
    const added = await json(['users', 'add', '--email', 'dora@example.com'], 'a long enough password\n');
    refused(await gatehouse(['users', 'delete', '--email', 'dora@example.com']), /cannot be undone: add --yes/);
    expect(await json(['users', 'show', 'dora@example.com'])).toMatchObject({ id: added.id });

    const line = succeeded(await gatehouse(['users', 'delete', '--email', 'DORA@example.com', '--yes']));
    expect(line).toMatch(/^deleted dora@example\.com: account, factors, sessions, grants and tokens erased, 0 back-channel logouts queued; the audit trail keeps them as erased:\S+\n$/);
    refused(await gatehouse(['users', 'show', 'dora@example.com']), /no account dora@example.com/);
    refused(await gatehouse(['users', 'delete', '--email', 'dora@example.com', '--yes']), /no account dora@example.com/);

    const { store, libraries } = await openBesideCli(env);
    try {
      const pseudonym = libraries.accountDeletion.pseudonymFor(added.id as string);
      expect(line).toContain(pseudonym);
      expect(await libraries.audit.tail({ limit: 10, accountId: added.id as string })).toEqual([]);
      const kept = await libraries.audit.tail({ limit: 10, accountId: pseudonym });
      expect(kept.map((event) => event.type)).toEqual(['account_created', 'account_erasure_started', 'account_deleted']);
      expect(kept[0]!.details).toEqual({ erased: true });
      // The event the webhooks announced the deletion by, erased like the others; then the record.
      expect(kept[1]).toMatchObject({ type: 'account_erasure_started', details: { erased: true } });
      expect(kept[2]).toMatchObject({ actor: 'cli', details: { scheduled: false } });
      // The address is free again: a new account, a new id.
      const again = await libraries.accounts.create({ email: 'dora@example.com', password: 'another long password' }, cliSource);
      expect(again.id).not.toBe(added.id);
    } finally {
      await store.close();
    }
    const json2 = await json(['users', 'delete', '--email', 'dora@example.com', '--yes']);
    expect(json2).toMatchObject({ email: 'dora@example.com', deleted: true, audit_pseudonym: expect.stringMatching(/^erased:/), erased: { accounts: 1 } });
  });
});
