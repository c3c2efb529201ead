import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { simpleParser } from 'mailparser';
import { parse } from 'node-html-parser';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { viewsDir } from '../../src/config/paths.ts';
import { chromiumAvailable, launchChromium } from '../helpers/browser.ts';
import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { html, ico, png, svg } from '../helpers/images.ts';
import type { MailSink } from '../helpers/mail-sink.ts';
import { startMailSink } from '../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { UserAgent, asPage } from '../helpers/user-agent.ts';

/**
 * A server started with the operator's brand (docs/branding.md): product name, colours, light and
 * dark logos, favicon, links, and a THEME_DIR replacing a partial of the login page, the stylesheet
 * and a mail template. Everything is checked where a person meets it: the HTML, the bytes served,
 * the mail an SMTP server receives, and what Chromium computes.
 */

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-brand-'));
const write = (name: string, bytes: Buffer | string) => {
  const path = join(dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, bytes);
  return path;
};
const logo = png(120, 40, [29, 78, 216]);
const darkLogo = svg('#93c5fd');
const favicon = ico();
const projectStylesheet = readFileSync(join(viewsDir, 'assets', 'gatehouse.css'), 'utf8');
const files = {
  logo: write('logo.png', logo),
  darkLogo: write('logo-dark.svg', darkLogo),
  favicon: write('favicon.ico', favicon),
  theme: join(dir, 'theme'),
};
// The theme: the project's stylesheet with a marker, an addition, a partial of the login page, and one mail.
write('theme/assets/gatehouse.css', `/* acme theme */\n${projectStylesheet}`);
write('theme/assets/theme.css', '.brand { letter-spacing: .1em; }\n');
write('theme/partials/client-brand.eta', '<p class="themed-client">Themed for <%= it.clientName %></p>\n');
write('theme/mail/verify-email.html.eta', "<% layout('layout.html.eta') %>\n    <p>Acme code: <strong><%= it.code %></strong></p>\n");

const brandEnv = {
  BRAND_PRODUCT_NAME: 'Acmé ID',
  BRAND_LOGO_FILE: files.logo,
  BRAND_LOGO_DARK_FILE: files.darkLogo,
  BRAND_FAVICON_FILE: files.favicon,
  BRAND_PRIMARY_COLOR: '#1d4ed8',
  BRAND_PRIMARY_COLOR_DARK: '#93c5fd',
  BRAND_SUPPORT_URL: 'https://help.acme.example/',
  BRAND_PRIVACY_URL: 'https://acme.example/privacy',
  BRAND_MAIL_FROM_NAME: 'Acmé, Sign-in',
  MAIL_FROM: 'id@acme.example',
  THEME_DIR: files.theme,
};

const available = chromiumAvailable();
let gatehouse: TestGatehouse;
let sink: MailSink;
let browser: Browser | undefined;

beforeAll(async () => {
  sink = await startMailSink();
  gatehouse = await startGatehouse({ env: { ...brandEnv, SMTP_URL: sink.url } });
  if (available) browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function home() {
  const response = await fetch(`${gatehouse.url}/`);
  return parse(await response.text());
}

const absolute = (href: string) => new URL(href, gatehouse.url).href;

describe('a branded server', () => {
  it('names the product in every page’s title and header, with the logo (alt: the name) and a dark one for the dark scheme', async () => {
    const page = await home();
    // The home page is named after the product alone; every other page after itself, then the product.
    expect(page.querySelector('title')!.text).toBe('Acmé ID');
    const header = page.querySelector('.card .brand')!;
    const img = header.querySelector('picture img')!;
    expect(img.getAttribute('alt')).toBe('Acmé ID');
    expect(img.getAttribute('src')).toMatch(/^\/assets\/brand\/logo\?v=[0-9a-f]{12}$/);
    const source = header.querySelector('picture source')!;
    expect(source.getAttribute('media')).toBe('(prefers-color-scheme: dark)');
    expect(source.getAttribute('srcset')).toMatch(/^\/assets\/brand\/logo-dark\?v=[0-9a-f]{12}$/);
    // The footer: the operator's links, in the page's words.
    const footer = page.querySelectorAll('footer.brand-footer a').map((a) => [a.text, a.getAttribute('href')]);
    expect(footer).toEqual([['Help', 'https://help.acme.example/'], ['Privacy', 'https://acme.example/privacy']]);
  });

  it('serves the logos from its own origin by their sniffed types, an SVG with a policy that runs nothing', async () => {
    const page = await home();
    const light = await fetch(absolute(page.querySelector('picture img')!.getAttribute('src')!));
    expect(light.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await light.arrayBuffer()).equals(logo)).toBe(true);
    expect(light.headers.get('cache-control')).toBe('public, max-age=86400');
    const dark = await fetch(absolute(page.querySelector('picture source')!.getAttribute('srcset')!));
    expect(dark.headers.get('content-type')).toBe('image/svg+xml');
    expect(dark.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'");
    expect(dark.headers.get('x-content-type-options')).toBe('nosniff');
    expect(Buffer.from(await dark.arrayBuffer()).equals(darkLogo)).toBe(true);
  });

  it('serves the favicon it was given, and links it', async () => {
    const page = await home();
    const link = page.querySelector('link[rel=icon]')!;
    expect(link.getAttribute('type')).toBe('image/x-icon');
    const response = await fetch(absolute(link.getAttribute('href')!));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/x-icon');
    expect(Buffer.from(await response.arrayBuffer()).equals(favicon)).toBe(true);
    expect((await fetch(`${gatehouse.url}/favicon.ico`)).headers.get('content-type')).toBe('image/x-icon');
  });

  it('links the theme’s stylesheet in place of the project’s, then the colours, then the theme’s additions', async () => {
    const page = await home();
    const sheets = page.querySelectorAll('link[rel=stylesheet]').map((link) => link.getAttribute('href')!);
    expect(sheets).toHaveLength(3);
    expect(sheets[0]).toBe('/assets/gatehouse.css');
    expect(sheets[1]).toMatch(/^\/assets\/brand\/brand\.css\?v=[0-9a-f]{12}$/);
    expect(sheets[2]).toMatch(/^\/assets\/brand\/theme\.css\?v=[0-9a-f]{12}$/);
    expect(await (await fetch(absolute(sheets[0]!))).text()).toMatch(/^\/\* acme theme \*\//);
    const colours = await fetch(absolute(sheets[1]!));
    expect(colours.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const css = await colours.text();
    expect(css).toContain('@media (prefers-color-scheme: light){:root{--accent:#1d4ed8;--on-accent:#ffffff}}');
    expect(css).toContain('@media (prefers-color-scheme: dark){:root{--accent:#93c5fd;--on-accent:#10131a}}');
    expect(await (await fetch(absolute(sheets[2]!))).text()).toBe('.brand { letter-spacing: .1em; }\n');
    // No inline style anywhere: the policy allows styles from our origin only.
    expect((await (await fetch(`${gatehouse.url}/`)).text())).not.toMatch(/<style|style="/);
  });

  it('draws a page with the theme’s partial in place of the project’s (the login page’s client brand)', async () => {
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Notes' }));
    const page = asPage(await new UserAgent(gatehouse.url).navigate((await authorizationRequest(rp)).url.href));
    expect(page.document.querySelector('.themed-client')?.text).toBe('Themed for Notes');
    expect(page.document.querySelector('title')!.text).toMatch(/ · Acmé ID$/);
  });

  it('sends mail from the brand’s name (encoded), with its logo and links, through the theme’s template', async () => {
    await gatehouse.outbox.send('pat@example.com', 'verify-email', { code: '314159', link: `${gatehouse.url}/verify-email/x`, minutes: 15 });
    await gatehouse.deliverMail();
    const mail = await sink.waitFor((candidate) => candidate.to === 'pat@example.com');
    const parsed = await simpleParser(mail.raw);
    expect(parsed.from?.value).toEqual([{ name: 'Acmé, Sign-in', address: 'id@acme.example' }]);
    // Non-ASCII and a comma: the header is encoded, never the raw name.
    expect(mail.raw).toMatch(/^From: =\?UTF-8\?/m);
    expect(mail.html).toContain('Acme code: <strong>314159</strong>');
    const body = parse(mail.html);
    const img = body.querySelector('img')!;
    expect(img.getAttribute('alt')).toBe('Acmé ID');
    expect(img.getAttribute('src')).toMatch(new RegExp(`^${gatehouse.url}/assets/brand/logo\\?v=[0-9a-f]{12}$`));
    expect(body.querySelectorAll('a').map((a) => a.getAttribute('href'))).toEqual(['https://help.acme.example/', 'https://acme.example/privacy']);
    expect(mail.text).toMatch(/\n-- \nHelp: https:\/\/help\.acme\.example\/\nPrivacy: https:\/\/acme\.example\/privacy\n?$/);
  });

  describe.skipIf(!available)('in Chromium', () => {
    it('fills buttons with the brand colour in each scheme and shows the dark logo in the dark one', async () => {
      const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Colours' }));
      const seen: Record<string, { background: string; color: string; logo: string; logoWidth: number }> = {};
      for (const colorScheme of ['light', 'dark'] as const) {
        const context = await browser!.newContext({ colorScheme });
        const page = await context.newPage();
        const blocked: string[] = [];
        page.on('console', (message) => {
          if (message.type() === 'error') blocked.push(message.text());
        });
        await page.goto((await authorizationRequest(rp)).url.href);
        const button = page.locator('form button[type=submit]').first();
        const logoImage = page.locator('.brand picture img');
        await logoImage.evaluate((img) => (img as unknown as { decode(): Promise<void> }).decode());
        seen[colorScheme] = {
          background: await button.evaluate((element) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(element).backgroundColor),
          color: await button.evaluate((element) => (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(element).color),
          logo: await logoImage.evaluate((img) => (img as unknown as { currentSrc: string }).currentSrc),
          logoWidth: await logoImage.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
        };
        // Nothing refused by the page's policy (logos, favicon and stylesheets are all our own).
        expect(blocked.filter((text) => /Content Security Policy/i.test(text))).toEqual([]);
        await context.close();
      }
      expect(seen.light).toMatchObject({ background: 'rgb(29, 78, 216)', color: 'rgb(255, 255, 255)' });
      expect(seen.light!.logo).toMatch(/\/assets\/brand\/logo\?v=/);
      expect(seen.light!.logoWidth).toBe(120);
      expect(seen.dark).toMatchObject({ background: 'rgb(147, 197, 253)', color: 'rgb(16, 19, 26)' });
      expect(seen.dark!.logo).toMatch(/\/assets\/brand\/logo-dark\?v=/);
      expect(seen.dark!.logoWidth).toBe(120);
    });
  });
});

describe('start-up refusals', () => {
  it.each([
    ['an oversized logo', Buffer.concat([png(1, 1, [0, 0, 0]), Buffer.alloc(600 * 1024)]), /^BRAND_LOGO_FILE \S+ is \d+ bytes; at most 524288 bytes \(512 KiB\) are accepted$/],
    ['a page pretending to be a logo', html, /^BRAND_LOGO_FILE \S+ is not an image of a type accepted here \(PNG, JPEG, WebP, GIF, SVG\), judged by its bytes, not its name$/],
  ])('refuses %s, in one line', async (_, bytes, expected) => {
    const path = write(`refused-${bytes.length}.png`, bytes);
    await expect(startGatehouse({ env: { BRAND_LOGO_FILE: path } })).rejects.toThrow(expected);
  });
});
