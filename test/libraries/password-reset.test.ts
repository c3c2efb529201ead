import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { createAccount, defaultPasswordSettings } from '../../src/libraries/accounts.ts';
import { createCodeHasher } from '../../src/libraries/one-time-codes.ts';
import { changePassword } from '../../src/libraries/password-change.ts';
import type { PasswordResetDependencies } from '../../src/libraries/password-reset.ts';
import { inspectResetLink, newPasswordProblem, requestPasswordReset, resetPassword } from '../../src/libraries/password-reset.ts';
import { checkPassword } from '../../src/libraries/passwords.ts';
import { createLogger } from '../../src/logger.ts';
import { createMailComposer } from '../../src/mail/compose.ts';
import { createMailer } from '../../src/mail/mailer.ts';
import { createOutbox } from '../../src/mail/outbox.ts';
import { createFileTransport } from '../../src/mail/transports.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { QueuedMail, Store } from '../../src/store/types.ts';

const issuer = 'https://login.example.test';
const oldPassword = 'correct horse battery staple';
const newPassword = 'violet tugboat orchestra lantern';

let dir: string;
let store: Store;
let now: Date;
let deps: PasswordResetDependencies;
let counter = 0;

/** A fresh address per test: codes and cooldowns are per address. */
function address(name: string): string {
  counter += 1;
  return `${name}${counter}@example.test`;
}

async function addAccount(email: string, extra: { name?: string } = {}): Promise<string> {
  return (await createAccount(store, { email, password: oldPassword, emailVerified: false, ...extra })).id;
}

/** Every mail queued so far (the outbox only queues; nothing here delivers). */
const queued: QueuedMail[] = [];
async function mailTo(email: string): Promise<QueuedMail[]> {
  queued.push(...(await store.mail.claimDue(new Date(Date.now() + 86_400_000), 3600, 1000)));
  return queued.filter((mail) => mail.to === email);
}

function tokenIn(mail: QueuedMail): string {
  const match = new RegExp(`${issuer}/reset-password/([A-Za-z0-9_-]+)`).exec(mail.text);
  if (!match) throw new Error(`no reset link in "${mail.subject}"`);
  return match[1]!;
}

async function requestLink(email: string): Promise<string> {
  await requestPasswordReset(deps, { email });
  const mails = await mailTo(email);
  return tokenIn(mails.at(-1)!);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-reset-'));
  store = openSqliteStore(join(dir, 'reset.db'));
  const logger = createLogger({ silent: true });
  const mailer = createMailer({ store: store.mail, transport: createFileTransport(join(dir, 'mail'), logger), from: 'Gatehouse <no-reply@example.test>', logger, leaseSeconds: 60 });
  deps = {
    store,
    outbox: createOutbox(mailer, createMailComposer()),
    passwords: defaultPasswordSettings,
    issuer,
    logger,
    codes: {
      codes: store.codes,
      hash: createCodeHasher(Buffer.alloc(32, 7)),
      rules: { ttlSeconds: 1800, maxAttempts: 5, resendCooldownSeconds: 60 },
      clock: () => now,
    },
  };
});

beforeEach(() => {
  now = new Date();
});

afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('asking for a reset', () => {
  it('mails an existing account a single link to the issuer, stored only as a hash', async () => {
    const email = address('alice');
    await addAccount(email);

    expect(await requestPasswordReset(deps, { email: `  ${email.toUpperCase()} ` })).toBe(true);

    const [mail, ...more] = await mailTo(email);
    expect(more).toEqual([]);
    expect(mail!.subject).toBe('Reset your password');
    expect(mail!.text).toContain('expires in 30 minutes');
    const token = tokenIn(mail!);
    const stored = await store.codes.latest(email, 'reset_password');
    expect(stored).toMatchObject({ purpose: 'reset_password', codeHash: null, consumedAt: null });
    expect(stored!.linkHash).not.toContain(token);
    expect(stored!.expiresAt.getTime() - stored!.createdAt.getTime()).toBe(1800 * 1000);
  });

  it('answers alike for an unknown address and a disabled account, mailing neither', async () => {
    const unknown = address('nobody');
    const disabled = address('disabled');
    const id = await addAccount(disabled);
    await store.accounts.update(id, { disabled: true });

    expect(await requestPasswordReset(deps, { email: unknown })).toBe(true);
    expect(await requestPasswordReset(deps, { email: disabled })).toBe(true);

    expect(await mailTo(unknown)).toEqual([]);
    expect(await mailTo(disabled)).toEqual([]);
    // A decoy is written for both, so the two paths do the same work.
    expect(await store.codes.latest(unknown, 'reset_password')).toMatchObject({ accountId: null });
    expect(await store.codes.latest(disabled, 'reset_password')).toMatchObject({ accountId: null });
  });

  it('refuses only input that is not an email address', async () => {
    for (const email of [undefined, '', 'not an address', ['a@example.test', 'b@example.test'], `${'a'.repeat(300)}@example.test`]) {
      expect(await requestPasswordReset(deps, { email })).toBe(false);
    }
  });

  it('sends nothing more within the cooldown, then a new link that replaces the old one', async () => {
    const email = address('carol');
    await addAccount(email);
    const first = await requestLink(email);

    now = new Date(now.getTime() + 30_000);
    await requestPasswordReset(deps, { email });
    expect(await mailTo(email)).toHaveLength(1);

    now = new Date(now.getTime() + 31_000);
    const second = await requestLink(email);
    expect(await mailTo(email)).toHaveLength(2);
    expect(second).not.toBe(first);
    expect((await inspectResetLink(deps, first)).ok).toBe(false);
    expect((await inspectResetLink(deps, second)).ok).toBe(true);
  });
});

describe('using the link', () => {
  it('applies the policy with the email and name as context, keeping the link usable', async () => {
    const email = address('dorothy');
    await addAccount(email, { name: 'Dorothy Gale' });
    const token = await requestLink(email);

    const cases: Array<[unknown, RegExp]> = [
      ['short', /at least 8 characters/],
      ['password123', /too common/],
      [`${email.split('@')[0]}!!2024`, /name, your email address or Gatehouse/],
      ['dorothygale#1', /name, your email address or Gatehouse/],
      ['x'.repeat(2000), /at most 1024 bytes/],
      [undefined, /Choose a new password/],
      [['a', 'b'], /Choose a new password/],
    ];
    for (const [password, reason] of cases) {
      const outcome = await resetPassword(deps, { token, password });
      expect(outcome, String(password).slice(0, 20)).toMatchObject({ ok: false, reason: 'policy', message: expect.stringMatching(reason), email });
    }
    expect((await inspectResetLink(deps, token)).ok).toBe(true);
  });

  it('sets the password once: verified email, sessions and tokens revoked, a notice mailed, an audit event', async () => {
    const email = address('erin');
    const id = await addAccount(email);
    await store.oidc.model('Session').upsert('sess-erin', { uid: 'uid-erin', accountId: id }, 3600);
    await store.oidc.model('RefreshToken').upsert('rt-erin', { accountId: id, grantId: 'grant-erin' });
    const token = await requestLink(email);

    const outcome = await resetPassword(deps, { token, password: newPassword, sourceAddress: '192.0.2.7' });

    expect(outcome).toMatchObject({ ok: true, revoked: 2 });
    const account = (await store.accounts.findById(id))!;
    expect(account.emailVerified).toBe(true);
    expect((await checkPassword(account.passwordHash, newPassword)).valid).toBe(true);
    expect((await checkPassword(account.passwordHash, oldPassword)).valid).toBe(false);
    expect(await store.oidc.model('Session').find('sess-erin')).toBeUndefined();
    expect(await store.oidc.model('RefreshToken').find('rt-erin')).toBeUndefined();
    expect((await mailTo(email)).map((mail) => mail.subject)).toEqual(['Reset your password', 'Your password was changed']);
    const [event] = (await store.audit.tail({ limit: 10, accountId: id })).filter((entry) => entry.type === 'password_reset');
    expect(event).toMatchObject({ actor: 'user', sourceAddress: '192.0.2.7', details: { revoked: 2 } });
    expect(JSON.stringify(event)).not.toContain(newPassword);

    expect(await resetPassword(deps, { token, password: 'another fine passphrase here' })).toEqual({ ok: false, reason: 'invalid_link' });
    expect((await inspectResetLink(deps, token)).ok).toBe(false);
  });

  it('lets exactly one of two concurrent uses through', async () => {
    const email = address('frank');
    await addAccount(email);
    const token = await requestLink(email);

    const outcomes = await Promise.all([
      resetPassword(deps, { token, password: newPassword }),
      resetPassword(deps, { token, password: 'a second strong passphrase' }),
    ]);
    expect(outcomes.filter((outcome) => outcome.ok)).toHaveLength(1);
  });

  it('refuses expired, unknown, malformed and decoy links, and links of a disabled account', async () => {
    const email = address('grace');
    const id = await addAccount(email);
    const token = await requestLink(email);
    now = new Date(now.getTime() + 1800 * 1000);
    expect(await resetPassword(deps, { token, password: newPassword })).toEqual({ ok: false, reason: 'invalid_link' });

    for (const bad of ['A'.repeat(43), 'short', '../../etc', 'x'.repeat(5000), undefined, ['a', 'b']]) {
      expect((await inspectResetLink(deps, bad)).ok).toBe(false);
    }

    now = new Date(now.getTime() + 120_000);
    const fresh = await requestLink(email);
    await store.accounts.update(id, { disabled: true });
    expect((await inspectResetLink(deps, fresh)).ok).toBe(false);
    expect(await resetPassword(deps, { token: fresh, password: newPassword })).toEqual({ ok: false, reason: 'invalid_link' });
    // The password did not change.
    expect((await checkPassword((await store.accounts.findById(id))!.passwordHash, oldPassword)).valid).toBe(true);
  });
});

describe('newPasswordProblem', () => {
  it('accepts a good passphrase and explains a refusal', async () => {
    const account = { email: 'henry@example.test', profile: { name: 'Henry Jekyll' } };
    expect(await newPasswordProblem(newPassword, account, defaultPasswordSettings)).toBeUndefined();
    expect(await newPasswordProblem('jekyll#hyde99', account, defaultPasswordSettings)).toMatch(/your name/);
  });
});

describe('changing the password while signed in', () => {
  it('needs the current password; a wrong or missing one changes nothing', async () => {
    const email = address('ida');
    const id = await addAccount(email);
    for (const currentPassword of ['wrong password here', '', undefined, ['a', 'b'], 'x'.repeat(5000)]) {
      const outcome = await changePassword(deps, { accountId: id, currentPassword, newPassword });
      expect(outcome).toMatchObject({ ok: false, reason: 'wrong_password' });
    }
    expect((await checkPassword((await store.accounts.findById(id))!.passwordHash, oldPassword)).valid).toBe(true);
    expect(await mailTo(email)).toEqual([]);
  });

  it('applies the policy to the new password', async () => {
    const email = address('jack');
    const id = await addAccount(email);
    expect(await changePassword(deps, { accountId: id, currentPassword: oldPassword, newPassword: 'qwertyuiop' })).toMatchObject({ ok: false, reason: 'policy' });
  });

  it('changes it, optionally signing out everywhere else, and mails a notice', async () => {
    const email = address('kim');
    const id = await addAccount(email);
    const sessions = store.oidc.model('Session');
    await sessions.upsert('sess-here', { uid: 'uid-here', accountId: id }, 3600);
    await sessions.upsert('sess-there', { uid: 'uid-there', accountId: id }, 3600);
    await store.oidc.model('Grant').upsert('grant-here', { accountId: id, clientId: 'account' }, 3600);

    const kept = await changePassword(deps, { accountId: id, currentPassword: oldPassword, newPassword });
    expect(kept).toMatchObject({ ok: true, revoked: 0 });
    expect(await sessions.find('sess-there')).toBeDefined();

    const outcome = await changePassword(deps, { accountId: id, currentPassword: newPassword, newPassword: oldPassword, signOutOthers: { sessionId: 'sess-here', grantIds: ['grant-here'] }, sourceAddress: '192.0.2.8' });
    expect(outcome).toMatchObject({ ok: true, revoked: 1 });
    expect(await sessions.find('sess-here')).toBeDefined();
    expect(await store.oidc.model('Grant').find('grant-here')).toBeDefined();
    expect(await sessions.find('sess-there')).toBeUndefined();
    expect((await mailTo(email)).map((mail) => mail.subject)).toEqual(['Your password was changed', 'Your password was changed']);
    const events = (await store.audit.tail({ limit: 10, accountId: id })).filter((entry) => entry.type === 'password_changed');
    expect(events.map((event) => event.details)).toEqual([{ signedOutOtherSessions: false, revoked: 0 }, { signedOutOtherSessions: true, revoked: 1 }]);
  });

  it('refuses a disabled or unknown account', async () => {
    const email = address('lee');
    const id = await addAccount(email);
    await store.accounts.update(id, { disabled: true });
    expect(await changePassword(deps, { accountId: id, currentPassword: oldPassword, newPassword })).toMatchObject({ ok: false, reason: 'no_account' });
    expect(await changePassword(deps, { accountId: 'no-such-account', currentPassword: oldPassword, newPassword })).toMatchObject({ ok: false, reason: 'no_account' });
  });
});
