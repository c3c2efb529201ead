import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { testEnvironment } from '../helpers/gatehouse.ts';
import { refused, succeeded } from '../helpers/cli-assertions.ts';
import { cliFor } from '../helpers/run-cli.ts';

/** `gatehouse users update` (the profile claims) and what `users show` says of them, run in this process on a real database. */

let dir: string;
let gatehouse: ReturnType<typeof cliFor>;
const json = async (args: string[], input?: string) => JSON.parse(succeeded(await gatehouse(['--json', ...args], input))) as Record<string, unknown>;

type AuditJson = Array<{ type: string; account_id?: string; actor: string; details: Record<string, unknown> }>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-users-update-'));
  gatehouse = cliFor({ ...testEnvironment(dir), ISSUER: 'http://localhost:3000' });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('gatehouse users update', () => {
  it('sets every profile claim, shows them (text and --json), and audits profile_updated with the names, never the values', async () => {
    const added = await json(['users', 'add', '--email', 'alice@example.com', '--name', 'Alice', '--given-name', 'Alice'], 'a long enough password\n');
    expect(added).toMatchObject({ email: 'alice@example.com', name: 'Alice', given_name: 'Alice' });

    const updated = await json([
      'users', 'update', '--email', 'ALICE@example.com', '--name', 'Alice Liddell', '--family-name', 'Liddell', '--middle-name', 'Pleasance',
      '--nickname', 'Al', '--preferred-username', 'alice', '--profile-url', 'https://alice.example/', '--picture', 'https://alice.example/me.png',
      '--website', 'https://alice.example/blog', '--gender', 'female', '--birthdate', '0000-05-04', '--zoneinfo', 'Europe/London', '--locale', 'en-GB',
      '--phone-number', '+44 1865 270000', '--phone-number-verified', 'yes', '--address-street', '1 Rabbit Hole', '--address-locality', 'Oxford',
      '--address-region', 'Oxfordshire', '--address-postal-code', 'OX1 1DP', '--address-country', 'UK', '--address-formatted', '1 Rabbit Hole\nOxford OX1 1DP',
    ]);
    const profile = {
      name: 'Alice Liddell', given_name: 'Alice', family_name: 'Liddell', middle_name: 'Pleasance', nickname: 'Al', preferred_username: 'alice',
      profile: 'https://alice.example/', picture: 'https://alice.example/me.png', website: 'https://alice.example/blog', gender: 'female',
      birthdate: '0000-05-04', zoneinfo: 'Europe/London', locale: 'en-GB', phone_number: '+441865270000', phone_number_verified: true,
      address: { street_address: '1 Rabbit Hole', locality: 'Oxford', region: 'Oxfordshire', postal_code: 'OX1 1DP', country: 'UK', formatted: '1 Rabbit Hole\nOxford OX1 1DP' },
    };
    expect(updated).toMatchObject({ id: added.id, email: 'alice@example.com', ...profile });
    expect(updated.changed).toEqual([
      'address.country', 'address.formatted', 'address.locality', 'address.postal_code', 'address.region', 'address.street_address', 'birthdate',
      'family_name', 'gender', 'locale', 'middle_name', 'name', 'nickname', 'phone_number', 'phone_number_verified', 'picture',
      'preferred_username', 'profile', 'website', 'zoneinfo',
    ]);
    expect(Date.parse(updated.profile_updated_at as string)).toBeGreaterThanOrEqual(Date.parse(added.profile_updated_at as string));

    const shown = await json(['users', 'show', 'alice@example.com']);
    expect(shown).toMatchObject(profile);
    expect(shown.profile_updated_at).toBe(updated.profile_updated_at);
    const text = succeeded(await gatehouse(['users', 'show', 'alice@example.com']));
    expect(text).toContain('name:      Alice Liddell');
    expect(text).toContain(`profile:   last changed ${updated.profile_updated_at as string}`);
    expect(text).toMatch(/^ {2}phone_number_verified: +yes$/m);
    expect(text).toMatch(/^ {2}address\.locality: +Oxford$/m);
    // A line break in the address is shown escaped: it cannot forge a line on the terminal.
    expect(text).toMatch(/^ {2}address\.formatted: +1 Rabbit Hole\\u000aOxford OX1 1DP$/m);

    const events = JSON.parse(succeeded(await gatehouse(['--json', 'audit', 'tail', '--account', 'alice@example.com']))) as AuditJson;
    const event = events.find((each) => each.type === 'profile_updated');
    expect(event).toMatchObject({ account_id: added.id, actor: 'cli', details: { changed: updated.changed } });
    expect(JSON.stringify(event)).not.toContain('Rabbit');
    expect(JSON.stringify(event)).not.toContain('+441865270000');
  });

  it('removes a detail given empty, keeps the others, and says when nothing changed', async () => {
    await json(['users', 'add', '--email', 'bob@example.com', '--name', 'Bob'], 'a long enough password\n');
    await json(['users', 'update', '--email', 'bob@example.com', '--nickname', 'Bobby', '--phone-number', '+14155550123', '--address-locality', 'Paris', '--address-country', 'FR']);
    const removed = await json(['users', 'update', '--email', 'bob@example.com', '--nickname', '', '--phone-number', '', '--address-locality', '']);
    expect(removed).toMatchObject({ name: 'Bob', address: { country: 'FR' } });
    expect(removed).not.toHaveProperty('nickname');
    expect(removed).not.toHaveProperty('phone_number');
    // A new number was unverified; removing it removes that too.
    expect(removed).not.toHaveProperty('phone_number_verified');
    expect(removed.changed).toEqual(['address.locality', 'nickname', 'phone_number', 'phone_number_verified']);

    expect(succeeded(await gatehouse(['users', 'update', '--email', 'bob@example.com', '--name', 'Bob']))).toBe('bob@example.com already has these details; nothing changed\n');
    expect(succeeded(await gatehouse(['users', 'update', '--email', 'bob@example.com', '--name', 'Robert']))).toBe('updated bob@example.com: name\n');
    const events = JSON.parse(succeeded(await gatehouse(['--json', 'audit', 'tail', '--account', 'bob@example.com']))) as AuditJson;
    expect(events.filter((each) => each.type === 'profile_updated')).toHaveLength(3);
  });

  it('refuses bad details in the words of their flags, and changes nothing', async () => {
    await json(['users', 'add', '--email', 'carol@example.com'], 'a long enough password\n');
    const carol = ['users', 'update', '--email', 'carol@example.com'];
    refused(await gatehouse([...carol, '--phone-number', '01865 270000']), /--phone-number: Enter the phone number in international format/);
    refused(await gatehouse([...carol, '--birthdate', '1999-02-29']), /--birthdate: Enter a date as YYYY-MM-DD/);
    refused(await gatehouse([...carol, '--zoneinfo', '+01:00']), /--zoneinfo: Enter a time zone name/);
    refused(await gatehouse([...carol, '--locale', 'english']), /--locale: Enter a language tag/);
    refused(await gatehouse([...carol, '--website', 'javascript:alert(1)']), /--website: Enter a web address starting with http:\/\/ or https:\/\//);
    refused(await gatehouse([...carol, '--profile-url', 'ftp://carol.example/']), /--profile-url: Enter a web address starting with http:\/\/ or https:\/\//);
    refused(await gatehouse([...carol, '--name', 'Carol\u202Egnp.exe']), /--name: Remove the hidden control characters/);
    refused(await gatehouse([...carol, '--address-postal-code', '1'.repeat(30)]), /--address-postal-code: Use at most 20 characters\./);
    refused(await gatehouse([...carol, '--phone-number-verified', 'yes']), /--phone-number-verified: Enter a phone number before marking it as verified\./);
    refused(await gatehouse([...carol, '--phone-number', '+14155550123', '--phone-number-verified', 'maybe']), /--phone-number-verified takes yes or no/);
    refused(await gatehouse(carol), /at least one detail/);
    refused(await gatehouse(['users', 'update', '--name', 'X']), /--email is required/);
    refused(await gatehouse(['users', 'update', '--email', 'nobody@example.com', '--name', 'X']), /no account nobody@example\.com/);

    const shown = await json(['users', 'show', 'carol@example.com']);
    expect(Object.keys(shown).sort()).toEqual(['created_at', 'disabled', 'email', 'email_verified', 'id', 'profile_updated_at', 'roles', 'updated_at']);
  });
});
