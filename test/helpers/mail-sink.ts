import type { AddressInfo } from 'node:net';

import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** One message as the SMTP server received it, parsed. */
export type SunkMail = { to: string; subject: string; text: string; html: string; raw: string };

/**
 * A real SMTP server on 127.0.0.1 that keeps every message, for tests that read the mail a person
 * would (codes and links). `waitFor` resolves when a matching message has arrived.
 */
export type MailSink = {
  port: number;
  /** SMTP_URL pointing at this server. */
  url: string;
  messages: SunkMail[];
  waitFor(predicate: (mail: SunkMail) => boolean, timeoutMs?: number): Promise<SunkMail>;
  /** The messages to one address, oldest first. */
  to(address: string): SunkMail[];
  close(): Promise<void>;
};

type ConnectionInternals = {
  _server: unknown;
  _setListeners(callback: () => void): void;
  connectionReady(): void;
  send(code: number, message: string, end?: boolean): void;
  name: string;
};

/** The sinks' servers: only their connections are greeted at once. */
const sinkServers = new WeakSet<object>();

/**
 * smtp-server greets a client only 100 ms after it connects, to catch clients that talk before the
 * greeting; Gatehouse opens a connection per message, so each mail took 100 ms more to arrive. The
 * sinks greet at once (the next turn of the event loop), everything else as smtp-server does. If
 * smtp-server's internals are not as expected, nothing is changed.
 */
async function greetAtOnce(): Promise<void> {
  const specifier = 'smtp-server/lib/smtp-connection.js';
  const { SMTPConnection } = (await import(specifier)) as { SMTPConnection?: { prototype: ConnectionInternals & { init(): void; greetsAtOnce?: boolean } } };
  const proto = SMTPConnection?.prototype;
  if (!proto || proto.greetsAtOnce || typeof proto.init !== 'function' || typeof proto._setListeners !== 'function' || typeof proto.connectionReady !== 'function') return;
  const init = proto.init;
  proto.greetsAtOnce = true;
  proto.init = function (this: ConnectionInternals & { init(): void }) {
    if (!sinkServers.has(this._server as object)) return init.call(this);
    this._setListeners(() => {
      const server = this._server as { options: { maxClients?: number }; connections: Set<unknown> };
      if (server.options.maxClients && server.connections.size > server.options.maxClients) {
        return this.send(421, `${this.name} Too many connected clients, try again in a moment`, false);
      }
      setImmediate(() => this.connectionReady());
    });
  };
}

export async function startMailSink(port = 0): Promise<MailSink> {
  await greetAtOnce().catch(() => undefined);
  const messages: SunkMail[] = [];
  const waiters = new Set<() => void>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // No reverse DNS lookup of each connecting client (always 127.0.0.1 here): it cost ~100 ms a message.
    disableReverseLookup: true,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        simpleParser(raw).then((parsed) => {
          for (const rcpt of session.envelope.rcptTo) {
            messages.push({ to: rcpt.address.toLowerCase(), subject: parsed.subject ?? '', text: parsed.text ?? '', html: typeof parsed.html === 'string' ? parsed.html : '', raw });
          }
          for (const wake of waiters) wake();
          callback();
        }, (error: Error) => callback(error));
      });
    },
  });
  sinkServers.add(server);
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `smtp://127.0.0.1:${bound}`,
    messages,
    to: (address) => messages.filter((mail) => mail.to === address.toLowerCase()),
    waitFor(predicate, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = messages.find(predicate);
          if (!found) return false;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching mail within ${timeoutMs} ms (received: ${messages.map((mail) => `${mail.to} "${mail.subject}"`).join(', ') || 'none'})`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The six-digit code in a verification mail. */
export function codeIn(mail: SunkMail): string {
  const match = /\b(\d{6})\b/.exec(mail.text);
  if (!match) throw new Error(`no code in mail "${mail.subject}"`);
  return match[1]!;
}

/** The first link to `issuer` in a mail's text. */
export function linkIn(mail: SunkMail, issuer: string): URL {
  const match = new RegExp(`${issuer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\S+`).exec(mail.text);
  if (!match) throw new Error(`no link to ${issuer} in mail "${mail.subject}"`);
  return new URL(match[0]);
}
