import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { message } from '../../src/messages/messages.ts';
import { supportedLocales } from '../../src/messages/locales.ts';
import { safeReturn } from '../../src/web/language.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse, testEnvironment } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import type { Page } from '../helpers/user-agent.ts';
import { asPage, UserAgent } from '../helpers/user-agent.ts';
import { caught } from '../helpers/caught.ts';

/**
 * Which language a page speaks: ui_locales, then the switcher's choice, then Accept-Language, then
 * the default — and a choice made during a sign-in beats the ui_locales it started with. The rule
 * is unit-tested in test/messages/locales.test.ts; these tests drive the real server.
 */

let gatehouse: TestGatehouse;
let registered: { clientId: string; clientSecret?: string };

beforeAll(async () => {
  gatehouse = await startGatehouse();
  registered = await gatehouse.addClient({ name: 'Language app' });
});

afterAll(async () => {
  await gatehouse?.stop();
});

const htmlOf = (page: Page) => page.document.querySelector('html')!;
const langOf = (page: Page) => htmlOf(page).getAttribute('lang');

async function loginPage(ua: UserAgent, params: Record<string, string> = {}): Promise<Page> {
  const rp = await relyingParty(gatehouse, registered);
  const request = await authorizationRequest(rp, params);
  return asPage(await ua.navigate(request.url.href));
}

describe('the language of a page', () => {
  it('is the default without any hint, and says so in lang and dir', async () => {
    const page = asPage(await new UserAgent(gatehouse.url).navigate(`${gatehouse.url}/`));
    expect(langOf(page)).toBe('en');
    expect(htmlOf(page).getAttribute('dir')).toBe('ltr');
  });

  it('follows Accept-Language, a right-to-left language mirrored', async () => {
    const ua = new UserAgent(gatehouse.url);
    ua.headers['accept-language'] = 'pt-BR, ar;q=0.9, de;q=0.8';
    const page = asPage(await ua.navigate(`${gatehouse.url}/`));
    expect(langOf(page)).toBe('ar');
    expect(htmlOf(page).getAttribute('dir')).toBe('rtl');
  });

  it('follows the switcher over Accept-Language, and remembers it', async () => {
    const ua = new UserAgent(gatehouse.url);
    ua.headers['accept-language'] = 'de';
    const home = asPage(await ua.navigate(`${gatehouse.url}/`));
    expect(langOf(home)).toBe('de');
    const links = home.document.querySelectorAll('nav.languages a');
    expect(links.map((link) => link.getAttribute('lang'))).toEqual([...supportedLocales]);
    const japanese = links.find((link) => link.getAttribute('lang') === 'ja')!;
    expect(japanese.text).toBe('日本語');
    expect(links.find((link) => link.getAttribute('lang') === 'de')!.getAttribute('aria-current')).toBe('true');
    const switched = asPage(await ua.navigate(new URL(japanese.getAttribute('href')!, home.url).href));
    expect(switched.url).toBe(`${gatehouse.url}/`);
    expect(langOf(switched)).toBe('ja');
    expect(langOf(asPage(await ua.navigate(`${gatehouse.url}/`)))).toBe('ja');
  });

  it('on a sign-in, follows ui_locales over Accept-Language and an old choice; the switcher then wins', async () => {
    const ua = new UserAgent(gatehouse.url);
    ua.headers['accept-language'] = 'de';
    // A choice remembered from long ago (the cookie's time is in it).
    await ua.jar.setCookie(`gatehouse.lang=fr.${Math.floor(Date.now() / 1000) - 30 * 86_400}; Path=/`, gatehouse.url);
    const login = await loginPage(ua, { ui_locales: 'pt-BR es' });
    expect(langOf(login)).toBe('es');
    expect(login.document.querySelector('title')!.text).toContain(message('login.title', undefined, 'es'));
    // The switcher on the login page comes back to this sign-in, now in the language chosen.
    const french = login.document.querySelectorAll('nav.languages a').find((link) => link.getAttribute('lang') === 'fr')!;
    expect(new URL(french.getAttribute('href')!, login.url).searchParams.get('return')).toMatch(/^\/interaction\/[^/]+$/);
    const again = asPage(await ua.navigate(new URL(french.getAttribute('href')!, login.url).href));
    expect(again.url).toBe(login.url);
    expect(langOf(again)).toBe('fr');
  });

  it('ignores ui_locales naming no shipped language', async () => {
    const ua = new UserAgent(gatehouse.url);
    ua.headers['accept-language'] = 'ja';
    expect(langOf(await loginPage(ua, { ui_locales: 'zh-CN pt' }))).toBe('ja');
  });

  it('is listed in discovery as ui_locales_supported', async () => {
    const discovery = await (await fetch(`${gatehouse.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(discovery.ui_locales_supported).toEqual([...supportedLocales]);
  });
});

describe('the switcher route', () => {
  async function pick(path: string) {
    const response = await fetch(`${gatehouse.url}${path}`, { redirect: 'manual' });
    return { status: response.status, location: response.headers.get('location'), cookie: response.headers.getSetCookie().find((value) => value.startsWith('gatehouse.lang=')) };
  }

  it('remembers a shipped language for a year, HttpOnly and SameSite=Lax, and goes back', async () => {
    const answer = await pick('/language/de?return=%2Faccount%3Fx%3D1');
    expect(answer.status).toBe(303);
    expect(answer.location).toBe('/account?x=1');
    expect(answer.cookie).toMatch(/^gatehouse\.lang=de\.\d{10}; path=\/; expires=.*; samesite=lax; httponly$/i);
  });

  it('never goes back to another site', async () => {
    for (const target of ['//evil.example/', '/\\evil.example', 'https://evil.example/', 'javascript:alert(1)', '/%0d%0aSet-Cookie:x=1']) {
      const answer = await pick(`/language/de?return=${encodeURIComponent(target)}`);
      expect(answer.status).toBe(303);
      expect(answer.location === '/' || answer.location!.startsWith('/%')).toBe(true);
    }
    expect(safeReturn('/\r\nx')).toBe('/');
    expect(safeReturn('x'.repeat(3000))).toBe('/');
  });

  it('changes nothing for a language it does not ship (or a differently spelt one)', async () => {
    for (const code of ['pt', 'DE', 'de-AT', 'd%2e', '%00']) {
      const answer = await pick(`/language/${code}?return=/`);
      expect(answer.status).toBe(303);
      expect(answer.cookie).toBeUndefined();
    }
  });
});

describe('the operator’s languages', () => {
  it('LANGUAGES narrows what is offered; DEFAULT_LANGUAGE is the fallback', async () => {
    const narrowed = await startGatehouse({ env: { LANGUAGES: 'en, de', DEFAULT_LANGUAGE: 'de' } });
    try {
      const ua = new UserAgent(narrowed.url);
      ua.headers['accept-language'] = 'ja';
      const home = asPage(await ua.navigate(`${narrowed.url}/`));
      expect(langOf(home)).toBe('de');
      expect(home.document.querySelectorAll('nav.languages a').map((link) => link.getAttribute('lang'))).toEqual(['en', 'de']);
      const discovery = await (await fetch(`${narrowed.url}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
      expect(discovery.ui_locales_supported).toEqual(['en', 'de']);
    } finally {
      await narrowed.stop();
    }
  });

  it('refuses a language it does not ship, or a default that is not offered, in one line', () => {
    const dir = '/tmp/gatehouse-language-config';
    const refusal = (env: NodeJS.ProcessEnv) => (caught(() => loadConfig({ ...testEnvironment(dir), ...env })) as Error).message;
    expect(refusal({ DEFAULT_LANGUAGE: 'pt' })).toBe('DEFAULT_LANGUAGE must be one of en, de, fr, es, ja, ar, got "pt"');
    expect(refusal({ LANGUAGES: 'en,xx' })).toBe('LANGUAGES must be one of en, de, fr, es, ja, ar, got "xx"');
    expect(refusal({ LANGUAGES: 'en,de', DEFAULT_LANGUAGE: 'fr' })).toBe('DEFAULT_LANGUAGE must be one of en, de, got "fr"');
  });
});
