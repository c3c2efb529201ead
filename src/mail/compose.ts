import { join } from 'node:path';

import { Eta } from 'eta';

import { viewsDir } from '../interactions/views.ts';

/** The messages Gatehouse sends; each has `views/mail/<name>.text.eta` and `.html.eta`. */
export type MailTemplate = 'verify-email' | 'registration-attempt' | 'reset-password' | 'password-changed' | 'sign-in-code';

const subjects: Record<MailTemplate, string> = {
  'verify-email': 'Confirm your email address',
  'registration-attempt': 'Someone tried to create an account with your email address',
  'reset-password': 'Reset your password',
  'password-changed': 'Your password was changed',
  'sign-in-code': 'Your sign-in code',
};

export type ComposedMail = { subject: string; text: string; html: string };

export type MailComposer = (template: MailTemplate, data: Record<string, unknown>) => ComposedMail;

/**
 * Renders a message's plain-text and HTML bodies. The HTML templates escape what they insert; the
 * text ones must not (a link with `&` would break), so they run on their own engine.
 */
export function createMailComposer(options: { dir?: string; cache?: boolean } = {}): MailComposer {
  const views = join(options.dir ?? viewsDir, 'mail');
  const cache = options.cache ?? true;
  const html = new Eta({ views, autoEscape: true, cache, defaultExtension: '.eta' });
  const text = new Eta({ views, autoEscape: false, autoTrim: false, cache, defaultExtension: '.eta' });
  return (template, data) => {
    const subject = subjects[template];
    return {
      subject,
      text: text.render(`${template}.text.eta`, { subject, ...data }),
      html: html.render(`${template}.html.eta`, { subject, ...data }),
    };
  };
}
