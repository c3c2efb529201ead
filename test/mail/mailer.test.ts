import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';

import { simpleParser } from 'mailparser';
import type { AddressObject } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import type { Logger } from '../../src/logger.ts';
import { createMailer, retryDelaySeconds } from '../../src/mail/mailer.ts';
import { createTransport } from '../../src/mail/transports.ts';
import type { Transport } from '../../src/mail/transports.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';
import { caught } from '../helpers/caught.ts';
import { testEnvironment } from '../helpers/gatehouse.ts';
import { runCli } from '../helpers/run-cli.ts';

const from = 'Gatehouse Tests <no-reply@gatehouse.test>';
const rejectedAddress = 'nobody@example.test';

type Received = { envelopeFrom: string; envelopeTo: string[]; raw: string };
type SmtpServer = { port: number; received: Received[]; close(): Promise<void> };

/** A real SMTP server on 127.0.0.1 that accepts everything except mail to `rejectedAddress` (550). */
async function startSmtp(port = 0): Promise<SmtpServer> {
  const received: Received[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onRcptTo(address, _session, callback) {
      if (address.address === rejectedAddress) {
        callback(Object.assign(new Error(`5.1.1 <${rejectedAddress}>: no such user`), { responseCode: 550 }));
        return;
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        received.push({ envelopeFrom, envelopeTo: session.envelope.rcptTo.map((rcpt) => rcpt.address), raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.server.address() as AddressInfo).port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function recordingLogger(): Logger & { lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> } {
  const lines: Array<{ level: string; message: string; fields?: Record<string, unknown> }> = [];
  const write = (level: string) => (message: string, fields?: Record<string, unknown>) => {
    lines.push({ level, message, ...(fields ? { fields } : {}) });
  };
  return { lines, info: write('info'), warn: write('warn'), error: write('error') };
}

function addressText(address: AddressObject | AddressObject[] | undefined): string {
  return [address ?? []].flat().flatMap((each) => each.value).map((each) => (each.name ? `${each.name} <${each.address}>` : each.address)).join(', ');
}

/** The stored row as another process sees it. */
function readRow(path: string, id?: string): { status: string; attempts: number; next_attempt_at: number; last_error: string | null } {
  const db = new DatabaseSync(path);
  try {
    const row = id ? db.prepare('SELECT * FROM mail_queue WHERE id = ?').get(id) : db.prepare('SELECT * FROM mail_queue').get();
    return row as { status: string; attempts: number; next_attempt_at: number; last_error: string | null };
  } finally {
    db.close();
  }
}

describe('mailer', () => {
  let dir: string;
  let dbPath: string;
  let store: Store;
  let now: Date;
  const clock = () => now;
  const toClose: Array<{ close(): unknown }> = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gatehouse-mail-'));
    dbPath = join(dir, 'gatehouse.db');
    store = openSqliteStore(dbPath);
    now = new Date('2024-09-01T08:00:00.000Z');
  });

  afterEach(async () => {
    for (const each of toClose.splice(0).reverse()) await each.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function smtpTransport(port: number): Transport {
    const transport = createTransport({ env: 'test', dataDir: dir, smtpUrl: `smtp://127.0.0.1:${port}` }, recordingLogger());
    toClose.push(transport);
    return transport;
  }

  async function smtp(port?: number): Promise<SmtpServer> {
    const server = await startSmtp(port);
    toClose.push(server);
    return server;
  }

  const advance = (seconds: number) => {
    now = new Date(now.getTime() + seconds * 1000);
  };

  it('delivers a queued message over SMTP with the right From, To, Subject and text', async () => {
    const server = await smtp();
    const mailer = createMailer({ store: store.mail, transport: smtpTransport(server.port), from, logger: recordingLogger(), clock });

    await mailer.send({ to: 'alice@example.test', subject: 'Verify your email', text: 'Open this link to verify: https://id.example.test/v/abc' });
    expect(server.received).toEqual([]); // send only queues

    expect(await mailer.deliverDue()).toEqual({ sent: 1, retried: 0, failed: 0 });

    expect(server.received).toHaveLength(1);
    const [mail] = server.received;
    expect(mail!.envelopeFrom).toBe('no-reply@gatehouse.test');
    expect(mail!.envelopeTo).toEqual(['alice@example.test']);
    const parsed = await simpleParser(mail!.raw);
    expect(addressText(parsed.from)).toBe('Gatehouse Tests <no-reply@gatehouse.test>');
    expect(addressText(parsed.to)).toBe('alice@example.test');
    expect(parsed.subject).toBe('Verify your email');
    expect(parsed.text?.trim()).toBe('Open this link to verify: https://id.example.test/v/abc');
    expect(await store.mail.status()).toMatchObject({ pending: 0, sent: 1, failed: 0 });
    // Sent once: nothing is left to deliver.
    advance(86_400);
    expect(await mailer.deliverDue()).toEqual({ sent: 0, retried: 0, failed: 0 });
    expect(server.received).toHaveLength(1);
  });

  it('keeps the message while SMTP is down and delivers it once SMTP is back and the retry is due', async () => {
    const port = await freePort();
    const mailer = createMailer({ store: store.mail, transport: smtpTransport(port), from, logger: recordingLogger(), clock });

    await expect(mailer.send({ to: 'bob@example.test', subject: 'Reset your password', text: 'Reset link inside' })).resolves.toBeUndefined();
    const failedAt = now.getTime();
    expect(await mailer.deliverDue()).toEqual({ sent: 0, retried: 1, failed: 0 });

    const row = readRow(dbPath);
    expect(row.status).toBe('pending');
    expect(row.attempts).toBe(1);
    expect(row.next_attempt_at).toBe(failedAt + 30_000);
    expect(row.last_error).toMatch(/ECONNREFUSED|connect/i);

    const server = await smtp(port);
    advance(29);
    expect(await mailer.deliverDue()).toEqual({ sent: 0, retried: 0, failed: 0 }); // not due yet
    expect(server.received).toHaveLength(0);

    advance(1);
    expect(await mailer.deliverDue()).toEqual({ sent: 1, retried: 0, failed: 0 });
    expect(server.received).toHaveLength(1);
    expect((await simpleParser(server.received[0]!.raw)).subject).toBe('Reset your password');
    expect(readRow(dbPath)).toMatchObject({ status: 'sent', attempts: 2 });
  });

  it('backs off exponentially from 30 s, capped at 1 h, and fails for good after 10 attempts', async () => {
    expect(Array.from({ length: 10 }, (_, index) => retryDelaySeconds(index + 1))).toEqual([30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);

    const port = await freePort();
    const mailer = createMailer({ store: store.mail, transport: smtpTransport(port), from, logger: recordingLogger(), clock });
    await mailer.send({ to: 'carol@example.test', subject: 'Hello', text: 'Hi' });

    for (let attempt = 1; attempt <= 9; attempt += 1) {
      expect(await mailer.deliverDue()).toEqual({ sent: 0, retried: 1, failed: 0 });
      expect(readRow(dbPath)).toMatchObject({ status: 'pending', attempts: attempt, next_attempt_at: now.getTime() + retryDelaySeconds(attempt) * 1000 });
      advance(retryDelaySeconds(attempt));
    }
    expect(await mailer.deliverDue()).toEqual({ sent: 0, retried: 0, failed: 1 });
    expect(readRow(dbPath)).toMatchObject({ status: 'failed', attempts: 10 });
    advance(86_400);
    expect(await mailer.deliverDue()).toEqual({ sent: 0, retried: 0, failed: 0 });
  });

  it('fails a message for good on a 550, shown by status() and `gatehouse mail status --json`', async () => {
    const server = await smtp();
    const logger = recordingLogger();
    const mailer = createMailer({ store: store.mail, transport: smtpTransport(server.port), from, logger, clock });
    await mailer.send({ to: rejectedAddress, subject: 'Welcome aboard', text: 'Welcome!' });
    await mailer.send({ to: 'dave@example.test', subject: 'Another', text: 'Fine' });

    expect(await mailer.deliverDue()).toEqual({ sent: 1, retried: 0, failed: 1 });

    const status = await store.mail.status();
    expect(status).toMatchObject({ pending: 0, sent: 1, failed: 1 });
    expect(status.recentFailures).toEqual([
      { id: expect.any(String), to: rejectedAddress, subject: 'Welcome aboard', attempts: 1, lastError: expect.stringContaining('550'), at: now },
    ]);
    expect(logger.lines).toContainEqual(expect.objectContaining({ level: 'error', message: 'mail failed permanently' }));
    advance(86_400);
    expect(await mailer.deliverDue()).toEqual({ sent: 0, retried: 0, failed: 0 }); // not retried

    const run = await runCli(['mail', 'status', '--json'], { env: testEnvironment(dir) });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      pending: 0, sent: 1, failed: 1, dropped: 0, oldest_pending_at: null,
      recent_failures: [{ id: status.recentFailures[0]!.id, to: rejectedAddress, subject: 'Welcome aboard', attempts: 1, last_error: expect.stringContaining('550'), at: '2024-09-01T08:00:00.000Z' }],
      recent_drops: [],
    });
    const textRun = await runCli(['mail', 'status'], { env: testEnvironment(dir) });
    expect(textRun.stdout).toContain('pending: 0  sent: 1  failed: 1');
    expect(textRun.stdout).toContain(rejectedAddress);
  });

  it('without SMTP_URL (development) writes each message as an .eml file and logs its path and subject', async () => {
    const logger = recordingLogger();
    const transport = createTransport({ env: 'development', dataDir: dir }, logger);
    toClose.push(transport);
    const mailer = createMailer({ store: store.mail, transport, from, logger, clock });

    await mailer.send({ to: 'erin@example.test', subject: 'Your sign-in code', text: 'Your code is 493817.' });
    expect(await mailer.deliverDue()).toEqual({ sent: 1, retried: 0, failed: 0 });

    const files = await readdir(join(dir, 'mail'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/\.eml$/);
    const path = join(dir, 'mail', files[0]!);
    const eml = await readFile(path, 'utf8');
    expect(eml).toContain('Subject: Your sign-in code');
    expect(eml).toContain('To: erin@example.test');
    expect(eml).toContain('Your code is 493817.');
    const parsed = await simpleParser(eml);
    expect(addressText(parsed.from)).toBe(from);
    expect(logger.lines).toEqual([{ level: 'info', message: `mail written to ${path}`, fields: { path, to: expect.any(String), subject: 'Your sign-in code', text: expect.stringContaining('Your code is 493817.') } }]);
  });

  it('refuses to build a file transport in production', () => {
    const error = caught(() => createTransport({ env: 'production', dataDir: dir }, recordingLogger()));
    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).message).toContain('SMTP_URL');
  });
});

describe('mail configuration', () => {
  const base = { NODE_ENV: 'test' };

  it('defaults MAIL_FROM and the queue settings, with no SMTP_URL', () => {
    const config = loadConfig(base);
    expect(config.mailFrom).toBe('Gatehouse <no-reply@localhost>');
    expect(config.smtpUrl).toBeUndefined();
    expect(config.mail).toEqual({ pollSeconds: 5, leaseSeconds: 60, firstRetrySeconds: 30 });
  });

  it('accepts smtp:// and smtps:// URLs with credentials and a named From address', () => {
    expect(loadConfig({ ...base, SMTP_URL: 'smtps://user:p%40ss@mail.example.com:465' }).smtpUrl).toBe('smtps://user:p%40ss@mail.example.com:465');
    expect(loadConfig({ ...base, SMTP_URL: 'smtp://mail.example.com:587' }).smtpUrl).toBe('smtp://mail.example.com:587');
    expect(loadConfig({ ...base, MAIL_FROM: 'Acme ID <id@acme.example>' }).mailFrom).toBe('Acme ID <id@acme.example>');
    expect(loadConfig({ ...base, MAIL_FROM: 'id@acme.example' }).mailFrom).toBe('id@acme.example');
  });

  it.each([
    ['SMTP_URL', 'http://mail.example.com'],
    ['SMTP_URL', 'mail.example.com:25'],
    ['MAIL_FROM', 'not an address'],
    ['MAIL_FROM', 'Acme <acme.example>'],
  ])('rejects %s=%s naming the variable', (name, value) => {
    const error = caught(() => loadConfig({ ...base, [name]: value }));
    expect(error).toBeInstanceOf(GatehouseError);
    expect((error as GatehouseError).code).toBe('invalid_config');
    expect((error as GatehouseError).message).toMatch(new RegExp(`^${name} `));
  });

  it('does not echo an invalid SMTP_URL, which may hold a password', () => {
    const error = caught(() => loadConfig({ ...base, SMTP_URL: 'http://user:hunter2@mail.example.com' }));
    expect((error as Error).message).not.toContain('hunter2');
  });
});
