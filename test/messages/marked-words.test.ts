import { IntlMessageFormat } from 'intl-messageformat';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createMailComposer } from '../../src/mail/compose.ts';
import type { MarkedValues, Translate } from '../../src/messages/marked-words.ts';
import { acceptableHref, code, escapeHtml, joined, link, markedSentence, span, strong, time } from '../../src/messages/marked-words.ts';
import type { Locale } from '../../src/messages/locales.ts';
import { supportedLocales } from '../../src/messages/locales.ts';
import type { MessageId, MessageValues } from '../../src/messages/messages.ts';
import { message } from '../../src/messages/messages.ts';
import { runInRequest } from '../../src/request-context.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { asPage, UserAgent } from '../helpers/user-agent.ts';

const inEnglish: Translate = (id, values) => message(id, values, 'en');
const hostile = '<script>alert(1)</script>&"\'';
const escapedHostile = '&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;';
// The characters a marked value stands in by while its sentence is worded (and the old pages' markers).
const markers = '\uE0000\uE001\u00010\u0002';

/** A translation of our own, to put the values in another order than English does. */
function translation(pattern: string): Translate {
  return (_id, values) => String(new IntlMessageFormat(pattern, 'de', undefined, { ignoreTag: true }).format(values));
}

describe('a sentence with marked-up values', () => {
  it('escapes the words and the plain values, and keeps the markup the constructors built', () => {
    expect(markedSentence(inEnglish, 'mail.password_changed_what', { email: strong('ada@example.com'), when: '1 May <2025>' }))
      .toBe('The password of your account <strong>ada@example.com</strong> was changed on 1 May &lt;2025&gt;.');
  });

  it('escapes every text and attribute a constructor is given', () => {
    const html = (value: MarkedValues[string]) => markedSentence(inEnglish, 'error_page.code', { code: value });
    expect(html(strong(hostile))).toBe(`Error code: <strong>${escapedHostile}</strong>`);
    expect(html(code(hostile))).toBe(`Error code: <code>${escapedHostile}</code>`);
    expect(html(span(`x" onclick="alert(1)`, hostile))).toBe(`Error code: <span class="x&quot; onclick=&quot;alert(1)">${escapedHostile}</span>`);
    expect(html(time('2025-05-01"><script>', hostile))).toBe(`Error code: <time datetime="2025-05-01&quot;&gt;&lt;script&gt;">${escapedHostile}</time>`);
    expect(html(link('/account?a=1&b="2"', hostile))).toBe(`Error code: <a href="/account?a=1&amp;b=&quot;2&quot;">${escapedHostile}</a>`);
    expect(html(joined(strong('App'), ' <&> ', span('client-host', 'app.example')))).toBe('Error code: <strong>App</strong> &lt;&amp;&gt; <span class="client-host">app.example</span>');
    expect(html(hostile)).toBe(`Error code: ${escapedHostile}`);
  });

  it('lets no value pose as markup: a look-alike object is text, marker characters in a plain value are dropped', () => {
    const lookAlike = { markup: '<b>bold</b>' } as unknown as ReturnType<typeof strong>;
    expect(markedSentence(inEnglish, 'error_page.code', { code: lookAlike })).toBe('Error code: [object Object]');
    expect(markedSentence(inEnglish, 'mail.password_changed_what', { email: strong('ada@example.com'), when: markers }))
      .toBe('The password of your account <strong>ada@example.com</strong> was changed on 0\u00010\u0002.');
    // In a marked value the same characters are only text.
    expect(markedSentence(inEnglish, 'error_page.code', { code: code(markers) })).toBe(`Error code: <code>${markers}</code>`);
  });

  it('puts each value where the translation puts it', () => {
    const reordered = translation('Am {when} wurde {newEmail} (vorher {email}) eingetragen.');
    expect(markedSentence(reordered, 'mail.email_changed_what', { email: strong('old@example.com'), newEmail: code('new@example.com'), when: '1. Mai' }))
      .toBe('Am 1. Mai wurde <code>new@example.com</code> (vorher <strong>old@example.com</strong>) eingetragen.');
    // A value the translation names twice is marked twice; one it leaves out is not shown.
    expect(markedSentence(translation('{a}, {a}!'), 'error_page.code', { a: strong('x'), b: strong('unused') })).toBe('<strong>x</strong>, <strong>x</strong>!');
  });

  it('keeps numbers as numbers, for plurals', () => {
    expect(markedSentence(translation('{n, plural, one {# Tag} other {# Tage}} für {who}'), 'error_page.code', { n: 2, who: strong('Ada') }))
      .toBe('2 Tage für <strong>Ada</strong>');
  });

  it('links only to our own paths and to http(s) addresses; anything else is the text alone', () => {
    for (const href of ['/account/apps', '/.well-known/openid-configuration', 'https://example.com/a?b=1', 'http://localhost:3000/']) {
      expect(acceptableHref(href), href).toBe(true);
    }
    for (const href of ['javascript:alert(1)', 'JavaScript:alert(1)', '//evil.example/', '/\\evil.example', 'data:text/html,x', 'mailto:a@example.com',
      '/\t/evil.example', ' https://example.com/', 'https://exa mple.com/', '', 'relative/path', 'vbscript:x']) {
      expect(acceptableHref(href), JSON.stringify(href)).toBe(false);
      expect(markedSentence(inEnglish, 'error_page.code', { code: link(href, 'here <now>') }), JSON.stringify(href)).toBe('Error code: here &lt;now&gt;');
    }
  });

  it('escapes as Eta does, so a page reads the same whichever way a value reached it', () => {
    expect(escapeHtml('<a href="x">&\'</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
  });
});

describe('in a mail', () => {
  const compose = createMailComposer({ cache: false });
  const composeIn = (locale: Locale, template: Parameters<typeof compose>[0], data: Record<string, unknown>) =>
    runInRequest({ requestId: `mail-${locale}`, locale }, () => compose(template, data));

  it('keeps the markup a sentence carries (an address in bold) but no markup a value smuggles in', () => {
    // The placeholder a bold value stands in by while the sentence is escaped, typed into another value.
    const mail = composeIn('en', 'password-changed', { email: 'ada@example.com', when: '\uE0000\uE001' });
    expect(mail.html).toContain('The password of your account <strong>ada@example.com</strong> was changed on 0.');
    expect(mail.html.match(/<strong>/g)).toHaveLength(1);
  });

  it('follows a catalog that reorders the values (Japanese: the date first)', () => {
    const data = { email: 'ada@example.com', connection: 'Acme', when: '2025年5月1日' };
    const mail = composeIn('ja', 'identity-linked', data);
    const sentence = message('mail.identity_linked_what', { ...data, connection: '\u0001', email: '\u0002' }, 'ja')
      .replaceAll('\u0001', '<strong>Acme</strong>').replace('\u0002', '<strong>ada@example.com</strong>');
    expect(sentence.indexOf(data.when)).toBeLessThan(sentence.indexOf('<strong>Acme</strong>'));
    expect(mail.html).toContain(sentence);
  });
});

describe('on a page', () => {
  let gatehouse: TestGatehouse;
  let registered: { clientId: string; clientSecret?: string };
  // An application's name is the operator's (or a self-registered client's) words: markup and marker characters in it stay text.
  const clientName = `${hostile} ${markers} App`;
  const password = 'correct horse battery staple';

  beforeAll(async () => {
    gatehouse = await startGatehouse();
    registered = await gatehouse.addClient({ name: clientName });
    await gatehouse.addUser('ada@example.com', password);
  });
  afterAll(async () => {
    await gatehouse?.stop();
  });

  async function loginPage(ua: UserAgent, params: Record<string, string> = {}): Promise<Page> {
    const request = await authorizationRequest(await relyingParty(gatehouse, registered), params);
    return asPage(await ua.navigate(request.url.href));
  }

  it.each(supportedLocales.map((locale) => [locale]))('shows a hostile name in bold, as text, in the sentence’s place (%s)', async (locale) => {
    const page = await loginPage(new UserAgent(gatehouse.url), { ui_locales: locale });
    const sentence = page.document.querySelector('p.muted')!;
    expect(sentence.querySelectorAll('strong').map((each) => each.text)).toEqual([clientName]);
    expect(sentence.querySelectorAll('script')).toHaveLength(0);
    expect(page.body).not.toContain('<script>alert');
    // The whole sentence is the catalog's, in the page's language, with the name where the translation puts it.
    expect(sentence.text).toBe(message('sign_in.to_continue', { client: clientName }, locale));
    expect(sentence.innerHTML).toBe(escapeHtml(message('sign_in.to_continue', { client: '\u0001' }, locale)).replace('\u0001', `<strong>${escapeHtml(clientName)}</strong>`));
  });

  it('keeps a link in a sentence whose other value, a name, is plain text with marker characters (the consent page)', async () => {
    const ua = new UserAgent(gatehouse.url);
    const consent = asPage(await ua.submit(await loginPage(ua), '/login', { email: 'ada@example.com', password }));
    const remembered = consent.document.querySelector('.remembered-consent')!;
    expect(remembered.querySelectorAll('a').map((each) => each.getAttribute('href'))).toEqual(['/account/apps']);
    expect(remembered.querySelectorAll('strong, script')).toHaveLength(0);
    // The plain name loses the characters a marked value stands in by; nothing else.
    expect(remembered.text).toBe(message('consent.remembered', { client: clientName.replace(/[\uE000\uE001]/g, ''), accountPage: message('consent.account_page', {}, 'en') }, 'en'));
    // The same name marked (in bold) keeps them.
    expect(consent.document.querySelector('h1 + p strong')?.text).toBe(clientName);
  });

  it('shows the error page’s code and request id as code, in every language', async () => {
    for (const locale of supportedLocales) {
      const ua = new UserAgent(gatehouse.url);
      ua.headers['accept-language'] = locale;
      const page = asPage(await ua.navigate(`${gatehouse.url}/interaction/${encodeURIComponent(hostile)}`));
      const requestId = page.headers.get('x-request-id')!;
      const codeIn = (id: MessageId, values: MessageValues, name: string) =>
        escapeHtml(message(id, { ...values, [name]: '\u0001' }, locale)).replace('\u0001', `<code>${escapeHtml(String(values[name]))}</code>`);
      expect(page.document.querySelectorAll('p.muted').map((each) => each.innerHTML), locale).toEqual([
        codeIn('error_page.code', { code: 'session_not_found' }, 'code'),
        codeIn('error_page.request_id', { id: requestId }, 'id'),
      ]);
    }
  });
});
