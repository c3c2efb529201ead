import type * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { Config } from '../../../src/config/load-config.ts';
import { message } from '../../../src/messages/messages.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MailSink } from '../../helpers/mail-sink.ts';
import { codeIn, startMailSink } from '../../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty } from '../../helpers/relying-party.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { asPage, UserAgent } from '../../helpers/user-agent.ts';
import { fieldProblem, formProblem } from '../../helpers/field-problems.ts';

/**
 * The sign-in pages speak the request's language (every word through it.t, the catalog's) and
 * show what failed where it failed: a field's problem next to it (aria-invalid, aria-describedby,
 * the focus), the form's in an alert, and the title saying so. Real server, real forms.
 */

const password = 'correct horse battery staple';
const owner = { email: 'locked.owner@example.com', password: 'the owner keeps a long passphrase' };

let gatehouse: TestGatehouse;
let sink: MailSink;
let rp: client.Configuration;
let thirdParty: client.Configuration;
let counter = 0;

beforeAll(async () => {
  sink = await startMailSink();
  gatehouse = await startGatehouse({
    env: { SMTP_URL: sink.url, TRUST_PROXY: 'true' },
    // An address limited as a whole after a few failures from elsewhere (the mailed sign-in code).
    adjust: (config: Config) => ({
      ...config,
      limits: { ...config.limits, password: { ...config.limits.password, maxConsecutiveFailures: 6, account: { freeFailures: 6, firstDelaySeconds: 1, maxDelaySeconds: 1 } } },
    }),
  });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Pages app', firstParty: true }));
  thirdParty = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Elsewhere app' }));
  await gatehouse.addUser(owner.email, owner.password);
});
afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

async function newPerson(): Promise<string> {
  counter += 1;
  const email = `pages${counter}@example.com`;
  await gatehouse.addUser(email, password);
  return email;
}

/** A browser behind its own address (the server trusts X-Forwarded-For, as behind a proxy). */
function browserAt(address: string, headers: Record<string, string> = {}): UserAgent {
  const ua = new UserAgent(gatehouse.url);
  Object.assign(ua.headers, { 'x-forwarded-for': address, ...headers });
  return ua;
}

async function loginPage(ua: UserAgent, params: Record<string, string> = {}, config = rp): Promise<Page> {
  return asPage(await ua.navigate((await authorizationRequest(config, params)).url.href));
}

const text = (page: Page, selector: string) => page.document.querySelector(selector)?.text.trim();
const html = (page: Page) => page.document.querySelector('html')!;
const paragraphs = (page: Page) => page.document.querySelectorAll('main p').map((each) => each.text.trim());

describe('the login form shown again', () => {
  it('puts a missing password next to the password field, with the focus there', async () => {
    const email = await newPerson();
    const ua = browserAt('192.0.2.1');
    const refused = asPage(await ua.submit(await loginPage(ua), '/login', { email, password: '' }));
    expect(refused.status).toBe(400);
    expect(fieldProblem(refused, 'password')).toBe(message('libraries.enter_password'));
    // What was typed stays; the other field is not marked.
    expect(refused.document.querySelector('#email')!.getAttribute('value')).toBe(email);
    expect(refused.document.querySelector('#email')!.getAttribute('aria-invalid')).toBeUndefined();
    expect(refused.document.querySelectorAll('[role=alert]')).toHaveLength(0);
  });

  it('marks both fields when both are empty, focusing the first', async () => {
    const ua = browserAt('192.0.2.2');
    const refused = asPage(await ua.submit(await loginPage(ua), '/login', { email: '', password: '' }));
    expect(refused.status).toBe(400);
    expect(fieldProblem(refused, 'email')).toBe(message('libraries.enter_email'));
    const passwordField = refused.document.querySelector('#password')!;
    expect(passwordField.getAttribute('aria-invalid')).toBe('true');
    expect(text(refused, '#password-error')).toBe(message('libraries.enter_password'));
    expect(passwordField.getAttribute('autofocus')).toBeUndefined();
  });

  it('says a refused password in words without any field prefix, describing the password field, focused to retype it', async () => {
    const email = await newPerson();
    const ua = browserAt('192.0.2.3');
    const refused = asPage(await ua.submit(await loginPage(ua), '/login', { email, password: 'not the password at all' }));
    expect(refused.status).toBe(401);
    expect(formProblem(refused)).toBe('Incorrect email or password.');
    expect(refused.document.querySelector('#form-error')?.text.trim()).toBe('Incorrect email or password.');
    expect(refused.document.querySelector('#password')!.getAttribute('aria-describedby')).toBe('form-error');
    expect(refused.document.querySelectorAll('[autofocus]').map((element) => element.id)).toEqual(['password']);
    expect(refused.document.querySelector('title')!.text).toBe(`Error: Incorrect email or password. – ${message('login.title')} · Gatehouse`);
  });
});

describe('the mailed sign-in code', () => {
  it('puts a wrong or missing code next to the code field', async () => {
    const attacker = browserAt('203.0.113.7');
    for (let guess = 0; guess < 6; guess += 1) {
      expect(asPage(await attacker.submit(await loginPage(attacker), '/login', { email: owner.email, password: `guess number ${guess}` })).status).toBe(401);
    }
    const ua = browserAt('198.51.100.20');
    const codePage = asPage(await ua.submit(await loginPage(ua), '/login', owner));
    expect(text(codePage, 'h1')).toBe(message('login.sign_in_code_title'));
    expect(text(codePage, 'main p strong')).toBe(owner.email);
    expect(paragraphs(codePage)).toContain(message('sign_in_code.explanation', { email: owner.email }));
    const mail = await sink.waitFor((each) => each.to === owner.email && each.subject === 'Your sign-in code');

    const empty = asPage(await ua.submit(codePage, '/sign-in-code', { code: '' }));
    expect(empty.status).toBe(400);
    expect(fieldProblem(empty, 'code')).toBe(message('flows.enter_mailed_code'));
    const wrong = asPage(await ua.submit(empty, '/sign-in-code', { code: codeIn(mail) === '000000' ? '111111' : '000000' }));
    expect(wrong.status).toBe(400);
    expect(fieldProblem(wrong, 'code')).toMatch(/^That code is not right\. \d tries left\.$/);
    const done = await ua.submit(wrong, '/sign-in-code', { code: codeIn(mail) });
    expect('redirectedTo' in done && new URL(done.redirectedTo).searchParams.get('code')).toBeTruthy();
  });
});

describe('the sign-in pages in another language', () => {
  /** The page speaks German, and its words are the catalog's German sentences (English where a translation is still missing). */
  function expectGerman(page: Page) {
    expect(html(page).getAttribute('lang')).toBe('de');
    expect(html(page).getAttribute('dir')).toBe('ltr');
  }
  const de = (id: Parameters<typeof message>[0], values?: Parameters<typeof message>[1]) => message(id, values, 'de');

  for (const [how, ua, params] of [
    ['Accept-Language', () => browserAt('192.0.2.10', { 'accept-language': 'de' }), {}],
    ['ui_locales', () => browserAt('192.0.2.11', { 'accept-language': 'en' }), { ui_locales: 'de' }],
  ] as const) {
    it(`renders the login page from the catalog, by ${how}`, async () => {
      const page = await loginPage(ua(), params);
      expectGerman(page);
      expect(text(page, 'h1')).toBe(de('login.title'));
      expect(text(page, 'p.muted')).toBe(de('sign_in.to_continue', { client: 'Pages app' }));
      expect(text(page, 'p.muted strong')).toBe('Pages app');
      expect(text(page, 'label[for=email]')).toBe(de('login.email_label'));
      expect(text(page, 'label[for=password]')).toBe(de('login.password_label'));
      expect(text(page, 'form[action$="/login"] button')).toBe(de('login.submit'));
      expect(text(page, 'a[href$="/forgot-password"]')).toBe(de('sign_in.forgot_password'));
      expect(text(page, 'form[action$="/abort"] button')).toBe(de('sign_in.cancel'));
    });
  }

  it('says what failed in German too', async () => {
    const email = await newPerson();
    const ua = browserAt('192.0.2.12');
    const refused = asPage(await ua.submit(await loginPage(ua, { ui_locales: 'de' }), '/login', { email, password: '' }));
    expectGerman(refused);
    expect(fieldProblem(refused, 'password')).toBe(de('libraries.enter_password'));
    const wrong = asPage(await ua.submit(refused, '/login', { email, password: 'not the password at all' }));
    expectGerman(wrong);
    expect(formProblem(wrong)).toBe(de('libraries.incorrect_email_or_password'));
  });

  it('renders the consent page and the sign-out pages from the catalog', async () => {
    const email = await newPerson();
    const ua = browserAt('192.0.2.13', { 'accept-language': 'de' });
    const login = await loginPage(ua, { ui_locales: 'de' }, thirdParty);
    const consent = asPage(await ua.submit(login, '/login', { email, password }));
    expectGerman(consent);
    expect(text(consent, 'h1')).toBe(de('consent.heading'));
    const asking = consent.document.querySelectorAll('main p').find((each) => each.querySelector('strong')?.text === 'Elsewhere app');
    expect(asking?.text.trim()).toBe(de('consent.asking', { client: 'Elsewhere app' }));
    expect(text(consent, '.remembered-consent')).toBe(de('consent.remembered', { client: 'Elsewhere app', accountPage: de('consent.account_page') }));
    expect(text(consent, '.remembered-consent a')).toBe(de('consent.account_page'));
    expect(text(consent, 'button[value=allow]')).toBe(de('consent.allow'));
    expect(text(consent, 'button[value=deny]')).toBe(de('consent.deny'));
    const permissions = consent.document.querySelectorAll('ul.permissions li').map((each) => each.text.trim());
    expect(permissions).toContain(de('consent.scope_email'));

    // Signing out: the application names the language (ui_locales) over the browser's English.
    ua.headers['accept-language'] = 'en';
    const confirm = asPage(await ua.navigate(`${gatehouse.url}/session/end?ui_locales=de`));
    expectGerman(confirm);
    expect(text(confirm, 'h1')).toBe(de('logout.heading'));
    expect(paragraphs(confirm)).toContain(de('logout.question', { product: 'Gatehouse' }));
    expect(text(confirm, 'button[value=yes]')).toBe(de('logout.submit'));
    ua.headers['accept-language'] = 'de';
    const done = asPage(await ua.submit(confirm, '/session/end/confirm', { logout: 'yes' }));
    expectGerman(done);
    expect(text(done, 'h1')).toBe(de('logged_out.heading'));
    expect(text(done, 'p.muted')).toBe(de('logged_out.close_window'));
  });
});
