import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import type { Config } from '../../src/config/load-config.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import { methodChangeNotice, newDeviceNotice } from '../../src/libraries/security-notifications.ts';
import { createMailComposer } from '../../src/mail/compose.ts';
import type { ComposedMail, MailTemplate } from '../../src/mail/compose.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';
import { movableClock } from '../helpers/clock.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse, testEnvironment } from '../helpers/gatehouse.ts';
import type { MailSink } from '../helpers/mail-sink.ts';
import { startMailSink } from '../helpers/mail-sink.ts';
import { relyingParty, signIn } from '../helpers/relying-party.ts';
import { UserAgent } from '../helpers/user-agent.ts';

const person = { actor: 'user' as const, sourceAddress: '203.0.113.7' };
const compose = createMailComposer();

type Sent = { to: string; template: MailTemplate; mail: ComposedMail };

/** Libraries on a real SQLite store whose outbox renders each mail (the templates must exist) and keeps it. */
function build(env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-notifications-'));
  const clock = movableClock();
  const store: Store = openSqliteStore(join(dir, 'gatehouse.db'), () => clock().getTime());
  const config: Config = loadConfig({ ...testEnvironment(dir), ...env });
  const sent: Sent[] = [];
  const outbox = { async send(to: string, template: MailTemplate, data: Record<string, unknown>) { sent.push({ to, template, mail: compose(template, data) }); } };
  const libraries: Libraries = createLibraries({ store, config, clock, outbox, keyEncryptionKey: Buffer.alloc(32, 7) });
  return {
    store, libraries, sent,
    async account(email: string) {
      return (await store.accounts.create({ id: `acct-${email}`, email, passwordHash: null, emailVerified: true, profile: {}, roles: [], disabled: false })).id;
    },
    async close() {
      await libraries.securityNotifications.settled();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let current: ReturnType<typeof build> | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});

describe('newDeviceNotice (pure)', () => {
  it('tells only a sign-in with the setting on, a device, not known, when another device was known', () => {
    const cases: Array<[{ enabled: boolean; device: boolean; known: boolean; othersKnown: number }, boolean]> = [];
    for (const enabled of [true, false]) {
      for (const device of [true, false]) {
        for (const known of [true, false]) {
          for (const othersKnown of [0, 1, 5]) {
            cases.push([{ enabled, device, known, othersKnown }, enabled && device && !known && othersKnown > 0]);
          }
        }
      }
    }
    expect(cases).toHaveLength(24);
    for (const [input, expected] of cases) expect(newDeviceNotice(input), JSON.stringify(input)).toBe(expected);
    // Spelled out: the first sign-in of a fresh account is quiet; a second browser is told; a known one is not.
    expect(newDeviceNotice({ enabled: true, device: true, known: false, othersKnown: 0 })).toBe(false);
    expect(newDeviceNotice({ enabled: true, device: true, known: false, othersKnown: 1 })).toBe(true);
    expect(newDeviceNotice({ enabled: true, device: true, known: true, othersKnown: 1 })).toBe(false);
  });

  it('maps each event about sign-in methods to its words, per setting', () => {
    const all = { secondFactor: true, passkeys: true, newDevice: true };
    const none = { secondFactor: false, passkeys: false, newDevice: false };
    expect(methodChangeNotice({ type: 'mfa_enabled', details: {} }, all)).toMatch(/authenticator app was set up/);
    expect(methodChangeNotice({ type: 'mfa_removed', details: {} }, all)).toMatch(/turned off/);
    expect(methodChangeNotice({ type: 'passkey_added', details: { name: 'Blue key' } }, all)).toContain('“Blue key” was added');
    expect(methodChangeNotice({ type: 'passkey_removed', details: { name: 'Blue key' } }, all)).toContain('“Blue key” was removed');
    for (const type of ['mfa_enabled', 'mfa_removed', 'passkey_added', 'passkey_removed']) expect(methodChangeNotice({ type, details: {} }, none), type).toBeUndefined();
    expect(methodChangeNotice({ type: 'mfa_enabled', details: {} }, { ...none, secondFactor: true })).toBeDefined();
    expect(methodChangeNotice({ type: 'passkey_added', details: {} }, { ...none, secondFactor: true })).toBeUndefined();
    for (const type of ['login', 'password_changed', 'email_changed', 'profile_updated']) expect(methodChangeNotice({ type, details: {} }, all), type).toBeUndefined();
  });
});

describe('security notifications from the audit trail', () => {
  it('mails one notice per event about sign-in methods, to the account, through the outbox', async () => {
    current = build();
    const id = await current.account('grace@example.com');
    await current.libraries.audit.record('mfa_enabled', person, { accountId: id, details: { method: 'totp' } });
    await current.libraries.audit.record('mfa_removed', person, { accountId: id });
    await current.libraries.audit.record('passkey_added', person, { accountId: id, details: { name: 'Work laptop' } });
    await current.libraries.audit.record('passkey_removed', person, { accountId: id, details: { name: 'Work laptop' } });
    // Events of other kinds, or about no account, mail nothing here.
    await current.libraries.audit.record('profile_updated', person, { accountId: id, details: { changed: ['name'] } });
    await current.libraries.audit.record('mfa_enabled', person, {});
    await current.libraries.securityNotifications.settled();

    expect(current.sent.map((each) => [each.to, each.template])).toEqual([
      ['grace@example.com', 'sign-in-method-changed'], ['grace@example.com', 'sign-in-method-changed'],
      ['grace@example.com', 'sign-in-method-changed'], ['grace@example.com', 'sign-in-method-changed'],
    ]);
    const [enabled, , added] = current.sent;
    expect(enabled!.mail.subject).toBe('A change to how you sign in');
    expect(enabled!.mail.text).toContain('An authenticator app was set up');
    expect(enabled!.mail.text).toContain('203.0.113.7');
    expect(added!.mail.html).toContain('“Work laptop” was added');
  });

  it('tells a sign-in from a new device, never the first one, never a known one', async () => {
    current = build();
    const id = await current.account('hal@example.com');
    const device = (name: string) => current!.libraries.securityNotifications.deviceHash(name);
    const login = async (name?: string) => {
      await current!.libraries.signIns.succeeded(id, person, { amr: ['pwd'], ...(name ? { device: device(name) } : {}) });
      await current!.libraries.securityNotifications.settled();
      return current!.sent.length;
    };
    expect(await login('laptop')).toBe(0);
    expect(await login('laptop')).toBe(0);
    expect(await login()).toBe(0);
    expect(await login('phone')).toBe(1);
    expect(current.sent[0]).toMatchObject({ to: 'hal@example.com', template: 'new-sign-in' });
    expect(current.sent[0]!.mail.subject).toBe('A new sign-in to your account');
    expect(await login('phone')).toBe(1);
    expect(await login('laptop')).toBe(1);
    // Device ids are kept as keyed hashes only.
    const known = await current.store.knownDevices.list(id);
    expect(known.map((each) => each.deviceHash).sort()).toEqual([device('laptop'), device('phone')].sort());
    expect(known.some((each) => each.deviceHash.includes('laptop'))).toBe(false);
  });

  it('mails nothing with SECURITY_NOTIFICATIONS=none, and only the kinds listed otherwise', async () => {
    current = build({ SECURITY_NOTIFICATIONS: 'none' });
    const id = await current.account('ivy@example.com');
    await current.libraries.audit.record('mfa_enabled', person, { accountId: id });
    await current.libraries.audit.record('passkey_added', person, { accountId: id, details: { name: 'Key' } });
    await current.libraries.signIns.succeeded(id, person, { amr: ['pwd'], device: 'a' });
    await current.libraries.signIns.succeeded(id, person, { amr: ['pwd'], device: 'b' });
    await current.libraries.securityNotifications.settled();
    expect(current.sent).toEqual([]);
    await current.close();

    current = build({ SECURITY_NOTIFICATIONS: 'passkeys' });
    const other = await current.account('jay@example.com');
    await current.libraries.audit.record('mfa_enabled', person, { accountId: other });
    await current.libraries.audit.record('passkey_added', person, { accountId: other, details: { name: 'Key' } });
    await current.libraries.securityNotifications.settled();
    expect(current.sent.map((each) => each.mail.text.includes('passkey'))).toEqual([true]);
  });

  it('reads SECURITY_NOTIFICATIONS as all, none or a list, and refuses anything else', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-notifications-config-'));
    try {
      const read = (value: string) => loadConfig({ ...testEnvironment(dir), SECURITY_NOTIFICATIONS: value }).notifications;
      expect(loadConfig(testEnvironment(dir)).notifications).toEqual({ secondFactor: true, passkeys: true, newDevice: true });
      expect(read('none')).toEqual({ secondFactor: false, passkeys: false, newDevice: false });
      expect(read('all')).toEqual({ secondFactor: true, passkeys: true, newDevice: true });
      expect(read('second_factor, new_device')).toEqual({ secondFactor: true, passkeys: false, newDevice: true });
      expect(() => read('passkeys,sms')).toThrow(/SECURITY_NOTIFICATIONS/);
      expect(() => read('all,passkeys')).toThrow(/SECURITY_NOTIFICATIONS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing outbox costs the mail, not the action', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-notifications-'));
    const store = openSqliteStore(join(dir, 'gatehouse.db'), Date.now);
    try {
      const config = loadConfig(testEnvironment(dir));
      const outbox = { async send(): Promise<void> { throw new Error('no mail here'); } };
      const libraries = createLibraries({ store, config, clock: () => new Date(), outbox, keyEncryptionKey: Buffer.alloc(32, 7) });
      await store.accounts.create({ id: 'acct-k', email: 'kim@example.com', passwordHash: null, emailVerified: true, profile: {}, roles: [], disabled: false });
      await expect(libraries.audit.record('mfa_enabled', person, { accountId: 'acct-k' })).resolves.toBeUndefined();
      await libraries.securityNotifications.settled();
      expect((await store.audit.tail({ limit: 5, accountId: 'acct-k' })).map((event) => event.type)).toEqual(['mfa_enabled']);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a new device, end to end', () => {
  let sink: MailSink;
  let gatehouse: TestGatehouse;

  beforeAll(async () => {
    sink = await startMailSink();
    gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url } });
  });
  afterAll(async () => {
    await gatehouse?.stop();
    await sink?.close();
  });

  it('a second browser is told by mail; the first again is not; the cookie is long-lived, signed and httpOnly', async () => {
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Device test app' }));
    const credentials = { email: 'lena@example.com', password: 'correct horse battery staple' };
    const id = await gatehouse.addUser(credentials.email, credentials.password);
    const laptop = new UserAgent(gatehouse.url);
    await signIn(gatehouse, rp, credentials, {}, laptop);
    const cookies = await laptop.jar.getCookies(gatehouse.url);
    const device = cookies.find((cookie) => cookie.key === 'gatehouse.device');
    expect(device).toMatchObject({ httpOnly: true, path: '/' });
    expect(cookies.some((cookie) => cookie.key === 'gatehouse.device.sig')).toBe(true);
    expect(new Date(device!.expires as Date).getTime()).toBeGreaterThan(Date.now() + 399 * 86_400_000);

    await signIn(gatehouse, rp, credentials, {}, new UserAgent(gatehouse.url));
    const mail = await sink.waitFor((each) => each.to === credentials.email && each.subject === 'A new sign-in to your account');
    expect(mail.text).toContain('127.0.0.1');
    // The laptop again (a new sign-in with prompt=login): known, so no second mail.
    await signIn(gatehouse, rp, credentials, { prompt: 'login' }, laptop);
    await expect.poll(async () => (await gatehouse.store.knownDevices.list(id)).length).toBe(2);
    await expect.poll(async () => (await gatehouse.store.knownDevices.list(id))[0]!.lastSeenAt.getTime()).toBeGreaterThan((await gatehouse.store.knownDevices.list(id))[1]!.lastSeenAt.getTime());
    expect(sink.to(credentials.email).filter((each) => each.subject === 'A new sign-in to your account')).toHaveLength(1);
  });
});
