import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

// nodemailer: the de-facto SMTP client for Node (no dependencies of its own); it handles SMTP and
// SMTPS with AUTH, MIME encoding of the message and the RFC 822 text of the development transport.
import nodemailer from 'nodemailer';

import type { Config } from '../config/load-config.ts';
import { GatehouseError } from '../errors.ts';
import type { Logger } from '../logger.ts';

/** A From with a display name: nodemailer quotes and encodes the name (RFC 2047) itself. */
export type MailSender = { name: string; address: string };

export type OutgoingMail = { id: string; from: string | MailSender; to: string; subject: string; text: string; html?: string };

/**
 * Hands one message over for delivery. Rejects when it could not be; an SMTP error carries the
 * server's `responseCode` (5xx is permanent).
 */
export type Transport = {
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
};

function toNodemailer(mail: OutgoingMail) {
  return { from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, ...(mail.html !== undefined ? { html: mail.html } : {}) };
}

/**
 * How long one SMTP step may take before the attempt fails (and is retried later). nodemailer's
 * own defaults are 2 minutes to connect and 10 minutes of silence; these are shorter so a stalled
 * server holds a message for minutes at most. A delivery in progress keeps its lease however long
 * it takes (the mailer renews it), so these need not be shorter than mail.leaseSeconds. Options in
 * the SMTP_URL's query (e.g. `?socketTimeout=120000`) take precedence.
 */
export const smtpTimeouts = { connectionTimeout: 30_000, greetingTimeout: 30_000, socketTimeout: 60_000 } as const;

/** Delivers through the SMTP server at an smtp:// or smtps:// URL (credentials in the URL). */
export function createSmtpTransport(url: string): Transport {
  const transporter = nodemailer.createTransport({ ...smtpTimeouts, url });
  return {
    async send(mail) {
      await transporter.sendMail(toNodemailer(mail));
    },
    close() {
      transporter.close();
    },
  };
}

/** Development: writes each message as an .eml file under `directory` and logs it with its text. */
export function createFileTransport(directory: string, logger: Logger): Transport {
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    async send(mail) {
      const info = await transporter.sendMail(toNodemailer(mail));
      await mkdir(directory, { recursive: true });
      // The file's name is when it was written, by the wall clock (not the injected one).
      const path = join(directory, `${new Date().toISOString().replace(/[:.]/g, '-')}-${mail.id}.eml`);
      await writeFile(path, info.message as Buffer);
      // Development only (production requires SMTP_URL): the text is logged so a newcomer can follow the link.
      logger.info(`mail written to ${path}`, { path, to: mail.to, subject: mail.subject, text: mail.text });
    },
    close() {
      transporter.close();
    },
  };
}

/**
 * The transport the configuration asks for: SMTP at SMTP_URL, or, without it outside production,
 * .eml files under DATA_DIR/mail/.
 */
export function createTransport(config: Pick<Config, 'env' | 'dataDir' | 'smtpUrl'>, logger: Logger): Transport {
  if (config.smtpUrl) return createSmtpTransport(config.smtpUrl);
  if (config.env === 'production') throw new GatehouseError('invalid_config', 'mail.smtp_url_must_be_set');
  return createFileTransport(join(config.dataDir, 'mail'), logger);
}
