import { readdirSync } from 'node:fs';
import { join } from 'node:path';

import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { viewsDir } from '../../src/config/paths.ts';
import { describeTime } from '../../src/libraries/password-reset.ts';
import type { MailTemplate } from '../../src/mail/compose.ts';
import { createMailComposer } from '../../src/mail/compose.ts';
import { escapeHtml } from '../../src/messages/marked-words.ts';
import type { Locale } from '../../src/messages/locales.ts';
import { directionOf, supportedLocales } from '../../src/messages/locales.ts';
import type { MessageId, MessageValues } from '../../src/messages/messages.ts';
import { message } from '../../src/messages/messages.ts';
import { runInRequest } from '../../src/request-context.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { codeIn, linkIn, startMailSink } from '../helpers/mail-sink.ts';
import type { MailSink, SunkMail } from '../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { asPage, UserAgent } from '../helpers/user-agent.ts';

/** A browser whose every request says which languages its person reads. */
class BrowserIn extends UserAgent {
  readonly acceptLanguage: string;

  constructor(acceptLanguage: string, ...origins: string[]) {
    super(...origins);
    this.acceptLanguage = acceptLanguage;
  }

  override request(url: string, init: Parameters<UserAgent['request']>[1] = {}): Promise<Response> {
    return super.request(url, { ...init, headers: { 'accept-language': this.acceptLanguage, ...init.headers } });
  }
}

const password = 'correct horse battery staple';
const newPassword = 'violet tugboat orchestra lantern';

/** Every sentence of `ids` in `locale`, as a mail's plain text has them (values filled in). */
function sentences(locale: Locale, ids: [MessageId, MessageValues?][]): string[] {
  return ids.map(([id, values]) => message(id, values, locale));
}

/** The mail's text and HTML hold no entity: the text body is not escaped (a link with & would break). */
function expectPlainText(mail: { text: string }) {
  expect(mail.text).not.toMatch(/&(?:amp|lt|gt|quot|#39|#x27);/);
}

function hrefOn(page: Page, suffix: string): string {
  const href = page.document.querySelector(`a[href$="${suffix}"]`)?.getAttribute('href');
  if (!href) throw new Error(`no link to …${suffix} on ${page.url}:\n${page.body}`);
  return new URL(href, page.url).href;
}

describe('the language of the mail sent while serving a page', () => {
  let sink: MailSink;
  let gatehouse: TestGatehouse;
  let rp: client.Configuration;

  beforeAll(async () => {
    sink = await startMailSink();
    gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url } });
    rp = await relyingParty(gatehouse, await gatehouse.addClient({ firstParty: true }));
  });
  afterAll(async () => {
    await gatehouse?.stop();
    await sink?.close();
  });

  async function register(ua: UserAgent, email: string, params: Record<string, string> = {}): Promise<SunkMail> {
    const login = await ua.page((await authorizationRequest(rp, params)).url.href);
    const form = await ua.page(hrefOn(login, '/register'));
    const page = asPage(await ua.submit(form, '/register', { email, password }));
    expect(page.status).toBe(200);
    return sink.waitFor((mail) => mail.to === email);
  }

  async function askForReset(ua: UserAgent, email: string): Promise<SunkMail> {
    const login = await ua.page((await authorizationRequest(rp)).url.href);
    const forgot = await ua.page(hrefOn(login, '/forgot-password'));
    const sent = asPage(await ua.submit(forgot, '/forgot-password', { email }));
    expect(sent.status).toBe(200);
    return sink.waitFor((mail) => mail.to === email && mail.text.includes('/reset-password/'));
  }

  function expectVerificationIn(locale: Locale, mail: SunkMail) {
    const minutes = Math.round(gatehouse.config.accounts.codeTtlSeconds / 60);
    expect(mail.html).toContain(`<html lang="${locale}" dir="${directionOf(locale)}">`);
    expect(mail.subject).toBe(message('mail.subject_verify_email', {}, locale));
    for (const sentence of sentences(locale, [['mail.your_code'], ['mail.confirm_link_text'], ['mail.code_and_link_expiry', { minutes }], ['mail.verify_email_ignore']])) {
      expect(mail.text).toContain(sentence);
    }
    expect(mail.text.startsWith(`${message('mail.subject_verify_email', {}, locale)}\n`)).toBe(true);
    expect(mail.html).toContain(`>${message('mail.confirm_link', {}, locale)}</a>`);
    expect(mail.text).toContain(codeIn(mail));
    expectPlainText(mail);
  }

  it('mails a registration done in German (Accept-Language) in German', async () => {
    // The German catalog has the mail's words (translators write src/messages/de.ts): not English.
    expect(message('mail.subject_verify_email', {}, 'de')).not.toBe(message('mail.subject_verify_email', {}, 'en'));
    expect(message('mail.verify_email_ignore', {}, 'de')).not.toBe(message('mail.verify_email_ignore', {}, 'en'));

    const mail = await register(new BrowserIn('de-DE,de;q=0.9,en;q=0.5', gatehouse.url), 'deutsch@example.com');
    expectVerificationIn('de', mail);
  });

  it('mails a registration whose application asked for German (ui_locales) in German', async () => {
    const mail = await register(new UserAgent(gatehouse.url), 'ui.locales@example.com', { ui_locales: 'de' });
    expectVerificationIn('de', mail);
  });

  it('mails a reset asked for on a Japanese page in Japanese, and the notice of the change with a Japanese date', async () => {
    expect(message('mail.subject_reset_password', {}, 'ja')).not.toBe(message('mail.subject_reset_password', {}, 'en'));
    await gatehouse.addUser('nihongo@example.com', password);
    const ua = new BrowserIn('ja', gatehouse.url);
    const mail = await askForReset(ua, 'nihongo@example.com');
    const minutes = Math.round(gatehouse.config.accounts.resetTokenTtlSeconds / 60);

    expect(mail.subject).toBe(message('mail.subject_reset_password', {}, 'ja'));
    expect(mail.html).toContain('<html lang="ja" dir="ltr">');
    for (const sentence of sentences('ja', [['mail.reset_password_link_text'], ['mail.reset_password_expiry', { minutes }], ['mail.reset_password_ignore']])) {
      expect(mail.text).toContain(sentence);
    }
    expect(mail.html).toContain(`>${message('mail.reset_password_link', {}, 'ja')}</a>`);
    expectPlainText(mail);

    // The link's page (no sign-in under way) speaks Japanese too, and so does the mail it causes.
    const form = await ua.page(linkIn(mail, gatehouse.url).href);
    const done = asPage(await ua.submit(form, '/reset-password/', { password: newPassword, confirm: newPassword }));
    expect(done.status).toBe(200);
    const changed = await sink.waitFor((each) => each.to === 'nihongo@example.com' && each.subject === message('mail.subject_password_changed', {}, 'ja'));
    expect(changed.html).toContain('<html lang="ja" dir="ltr">');
    // The date is written the Japanese way: 2025年5月1日 10:00 UTC.
    expect(changed.text).toMatch(/\d{4}年\d{1,2}月\d{1,2}日/);
    expect(changed.text).toContain(message('mail.password_changed_if_not', {}, 'ja'));
    expectPlainText(changed);
  });

  it('mails an Arabic reader right to left', async () => {
    await gatehouse.addUser('arabic@example.com', password);
    const mail = await askForReset(new BrowserIn('ar', gatehouse.url), 'arabic@example.com');
    expect(mail.subject).toBe(message('mail.subject_reset_password', {}, 'ar'));
    expect(mail.html).toContain('<html lang="ar" dir="rtl">');
    expect(mail.html).toContain('<div lang="ar" dir="rtl"');
  });

  it('mails in English when the browser asks for no language Gatehouse speaks, or for none', async () => {
    await gatehouse.addUser('english@example.com', password);
    await gatehouse.addUser('klingon@example.com', password);
    const plain = await askForReset(new UserAgent(gatehouse.url), 'english@example.com');
    const unknown = await askForReset(new BrowserIn('tlh, x-klingon;q=0.5', gatehouse.url), 'klingon@example.com');
    for (const mail of [plain, unknown]) {
      expect(mail.subject).toBe('Reset your password');
      expect(mail.html).toContain('<html lang="en" dir="ltr">');
      expect(mail.text).toContain('Open this link to choose a new password:');
      expect(mail.text).toMatch(/The link works once and expires in \d+ minutes\./);
      expectPlainText(mail);
    }
  });
});

describe('every mail template in every language', () => {
  const compose = createMailComposer({ cache: false });
  const templates = readdirSync(join(viewsDir, 'mail'))
    .filter((name) => name.endsWith('.text.eta'))
    .map((name) => name.slice(0, -'.text.eta'.length) as MailTemplate);
  const at = new Date('2025-05-01T10:00:00Z');

  /** What the libraries send with each mail, with `value` in every place a person's words can reach. */
  function dataFor(locale: Locale, value: string): Record<string, unknown> {
    return {
      code: '012345', link: 'https://id.example.com/x?a=1&b=2', minutes: 15, days: 1, email: `${value}@example.com`,
      newEmail: `new${value}@example.com`, when: describeTime(at, locale), connection: `Acme ${value}`,
      accountUrl: 'https://id.example.com/account?x=1&y=2', address: '203.0.113.7',
      what: message('mail.notice_passkey_added', { name: `Key ${value}` }, locale),
    };
  }

  function composeIn(locale: Locale, template: MailTemplate, data: Record<string, unknown>) {
    return runInRequest({ requestId: `mail-${locale}`, locale }, () => compose(template, data));
  }

  it('finds the templates', () => {
    expect(templates.length).toBe(11);
  });

  it('outside a request, writes in the operator’s DEFAULT_LANGUAGE', () => {
    const french = createMailComposer({ cache: false, defaultLocale: 'fr' })('reset-password', dataFor('fr', 'ada'));
    expect(french.subject).toBe(message('mail.subject_reset_password', undefined, 'fr'));
    expect(french.html).toContain('<html lang="fr" dir="ltr">');
    expect(compose('reset-password', dataFor('en', 'ada')).subject).toBe(message('mail.subject_reset_password', undefined, 'en'));
  });

  it.each(supportedLocales.map((locale) => [locale]))('renders each in %s, with no id or placeholder left', (locale) => {
    for (const template of templates) {
      const mail = composeIn(locale, template, dataFor(locale, 'ada'));
      for (const [part, body] of Object.entries(mail)) {
        expect(body, `${template} ${part}`).not.toMatch(/\bmail\.[a-z_]+/);
        expect(body, `${template} ${part}`).not.toMatch(/[{}]|<%|%>|undefined|\[object/);
      }
      expect(mail.html, template).toContain(`<html lang="${locale}" dir="${directionOf(locale)}">`);
      expect(mail.html, template).toContain(`<title>${escapeHtml(mail.subject)}</title>`);
      expect(mail.text.split('\n')[0], template).toBe(mail.subject);
    }
  });

  it('writes the time of an event in the mail’s language, in UTC', () => {
    expect(describeTime(at, 'en')).toBe('May 1, 2025 at 10:00 AM UTC');
    expect(describeTime(at, 'de')).toBe('1. Mai 2025 um 10:00 UTC');
    expect(describeTime(at, 'ja')).toContain('2025年5月1日');
    const german = composeIn('de', 'password-changed', dataFor('de', 'ada'));
    expect(german.text).toContain('1. Mai 2025 um 10:00 UTC');
    // Without a request (nothing to speak for), English.
    expect(describeTime(at)).toBe('May 1, 2025 at 10:00 AM UTC');
  });

  it.each(supportedLocales.map((locale) => [locale]))('escapes a person’s words in the HTML body only (%s)', (locale) => {
    const hostile = '<b>x</b>&"\'';
    for (const template of templates) {
      const mail = composeIn(locale, template, dataFor(locale, hostile));
      expect(mail.html, template).not.toContain('<b>');
      expectPlainText({ text: mail.text });
      if (mail.text.includes('@example.com')) {
        expect(mail.html, template).toContain('&lt;b&gt;x&lt;/b&gt;&amp;&quot;&#39;');
        expect(mail.text, template).toContain(hostile);
      }
      // Links keep their & in text and have it escaped in HTML attributes.
      if (mail.text.includes('https://id.example.com/')) expect(mail.text, template).toMatch(/https:\/\/id\.example\.com\/\S+&/);
      expect(mail.html, template).not.toMatch(/https:\/\/id\.example\.com\/[^"]*&(?!amp;)/);
    }
  });
});
