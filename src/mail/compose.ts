import { join } from 'node:path';

import { viewsDir } from '../config/paths.ts';
import type { MessageId, MessageValues } from '../messages/messages.ts';
import { currentLocale, message } from '../messages/messages.ts';
import type { Locale } from '../messages/locales.ts';
import { currentRequest } from '../request-context.ts';
import { directionOf } from '../messages/locales.ts';
import { layeredEta } from '../theme/template-files.ts';
import type { MarkedValues } from '../messages/marked-words.ts';
import { mark, markedSentence, strong } from '../messages/marked-words.ts';

/** The messages Gatehouse sends; each has `views/mail/<name>.text.eta` and `.html.eta`. */
export type MailTemplate = 'verify-email' | 'registration-attempt' | 'reset-password' | 'password-changed' | 'sign-in-code' | 'identity-linked'
  // The account centre: an email change (src/libraries/email-change.ts) and the security notifications (security-notifications.ts).
  | 'confirm-email-change' | 'email-change-attempt' | 'email-changed' | 'sign-in-method-changed' | 'new-sign-in';

const subjects: Record<MailTemplate, MessageId> = {
  'verify-email': 'mail.subject_verify_email',
  'registration-attempt': 'mail.subject_registration_attempt',
  'reset-password': 'mail.subject_reset_password',
  'password-changed': 'mail.subject_password_changed',
  'sign-in-code': 'mail.subject_sign_in_code',
  'identity-linked': 'mail.subject_identity_linked',
  'confirm-email-change': 'mail.subject_confirm_email_change',
  'email-change-attempt': 'mail.subject_email_change_attempt',
  'email-changed': 'mail.subject_email_changed',
  'sign-in-method-changed': 'mail.subject_sign_in_method_changed',
  'new-sign-in': 'mail.subject_new_sign_in',
};

export type ComposedMail = { subject: string; text: string; html: string };

export type MailComposer = (template: MailTemplate, data: Record<string, unknown>) => ComposedMail;

/**
 * The operator's links (BRAND_SUPPORT_URL, BRAND_PRIVACY_URL; src/web/branding.ts MailBrand) under a
 * plain-text body, as the HTML layout shows them under its own.
 */
function withTextFooter(body: string, brand: unknown, t: (id: MessageId, values?: MessageValues) => string): string {
  const links = brand as { supportUrl?: string; privacyUrl?: string } | undefined;
  const lines = [
    ...(links?.supportUrl ? [t('branding.mail_support', { url: links.supportUrl })] : []),
    ...(links?.privacyUrl ? [t('branding.mail_privacy', { url: links.privacyUrl })] : []),
  ];
  return lines.length ? `${body.replace(/\s*$/, '')}\n\n-- \n${lines.join('\n')}\n` : body;
}

/**
 * Renders a message's plain-text and HTML bodies. The HTML templates escape what they insert; the
 * text ones must not (a link with `&` would break), so they run on their own engine.
 */
export function createMailComposer(options: { dir?: string; overrideDir?: string | undefined; cache?: boolean; brand?: unknown; defaultLocale?: Locale } = {}): MailComposer {
  // The operator's mail templates (THEME_DIR/mail/) replace the project's of the same name.
  const roots = [options.overrideDir ? join(options.overrideDir, 'mail') : '', join(options.dir ?? viewsDir, 'mail')];
  const cache = options.cache ?? true;
  const html = layeredEta({ roots, autoEscape: true, cache });
  const text = layeredEta({ roots, autoEscape: false, autoTrim: false, cache });
  return (template, data) => {
    // The language of the request being served when the mail is queued (the person's, on our pages);
    // outside a request (nothing sends mail there today) the operator's DEFAULT_LANGUAGE.
    const locale = currentRequest()?.locale ? currentLocale() : options.defaultLocale ?? 'en';
    const t = (id: MessageId, values?: MessageValues) => message(id, values, locale);
    // HTML bodies: `<%~ it.tHtml(id, { email: it.strong(it.email) }) %>`, the sentence escaped, its markup kept (as on pages).
    const tHtml = (id: MessageId, values?: MarkedValues) => markedSentence(t, id, values);
    const subject = t(subjects[template]);
    const shared = { subject, t, tHtml, strong, mark, locale, dir: directionOf(locale), brand: options.brand };
    return {
      subject,
      text: withTextFooter(text.render(`${template}.text.eta`, { ...shared, ...data }), options.brand, t),
      html: html.render(`${template}.html.eta`, { ...shared, ...data }),
    };
  };
}
