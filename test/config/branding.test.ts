import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import { senderOf } from '../../src/mail/mailer.ts';
import { sniffImageType } from '../../src/theme/image-types.ts';
import { caught } from '../helpers/caught.ts';
import { gifStart, html, ico, jpegStart, png, svg, webpStart } from '../helpers/images.ts';

/** BRAND_* and THEME_DIR (docs/branding.md): each value read, each refusal one line naming its variable. */

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-branding-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, bytes: Buffer) => {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
};
const files = {
  png: file('logo.png', png(4, 4, [1, 2, 3])),
  svg: file('logo.svg', svg('#123456')),
  jpeg: file('logo.jpg', jpegStart),
  gif: file('logo.gif', gifStart),
  webp: file('logo.webp', webpStart),
  ico: file('favicon.ico', ico()),
  htmlAsPng: file('pretends.png', html),
  // One byte over 512 KiB, a PNG by its bytes.
  huge: file('huge.png', Buffer.concat([png(1, 1, [0, 0, 0]), Buffer.alloc(512 * 1024 + 1 - png(1, 1, [0, 0, 0]).length)])),
};
mkdirSync(join(dir, 'theme'));

const load = (env: NodeJS.ProcessEnv) => loadConfig(env, dir);

/** The one line loadConfig refuses `env` with. */
function refusal(env: NodeJS.ProcessEnv): string {
  const error = caught(() => load(env));
  expect(error).toBeInstanceOf(GatehouseError);
  expect((error as GatehouseError).code).toBe('invalid_config');
  const { message } = error as GatehouseError;
  expect(message).not.toContain('\n');
  return message;
}

describe('branding settings', () => {
  it('defaults to Gatehouse and nothing else', () => {
    expect(load({}).branding).toEqual({
      productName: 'Gatehouse', logoFile: null, logoDarkFile: null, faviconFile: null, primaryColor: null, primaryColorDark: null,
      supportUrl: null, privacyUrl: null, mailFromName: 'Gatehouse', themeDir: null,
    });
  });

  it('reads every variable', () => {
    const branding = load({
      BRAND_PRODUCT_NAME: '  Acme ID ', BRAND_LOGO_FILE: 'logo.png', BRAND_LOGO_DARK_FILE: files.svg, BRAND_FAVICON_FILE: files.ico,
      BRAND_PRIMARY_COLOR: '#1D4ED8', BRAND_PRIMARY_COLOR_DARK: '#93c5fd', BRAND_SUPPORT_URL: 'https://help.acme.example/',
      BRAND_PRIVACY_URL: 'http://acme.example/privacy', THEME_DIR: 'theme',
    }).branding;
    expect(branding).toEqual({
      productName: 'Acme ID', logoFile: files.png, logoDarkFile: files.svg, faviconFile: files.ico, primaryColor: '#1d4ed8', primaryColorDark: '#93c5fd',
      supportUrl: 'https://help.acme.example/', privacyUrl: 'http://acme.example/privacy', mailFromName: 'Acme ID', themeDir: join(dir, 'theme'),
    });
  });

  it('treats an empty optional variable as unset', () => {
    expect(load({ BRAND_LOGO_FILE: '', BRAND_PRIMARY_COLOR: ' ', BRAND_SUPPORT_URL: '', THEME_DIR: '' }).branding).toMatchObject({ logoFile: null, primaryColor: null, supportUrl: null, themeDir: null });
  });

  it.each([
    ['an empty name', ''],
    ['a line break', 'Acme\nID'],
    ['a carriage return', 'Acme\rBcc: x@evil.example'],
    ['a control character', 'Acme\u0007'],
    ['101 characters', 'a'.repeat(101)],
  ])('refuses a product name with %s', (_, value) => {
    expect(refusal({ BRAND_PRODUCT_NAME: value })).toBe(`BRAND_PRODUCT_NAME must be 1 to 100 characters without line breaks or other control characters, got ${JSON.stringify(value)}`);
  });

  it('accepts logos in PNG, JPEG, WebP, GIF and SVG by their bytes, and the favicon as ICO, PNG or SVG', () => {
    for (const logo of [files.png, files.jpeg, files.webp, files.gif, files.svg]) expect(load({ BRAND_LOGO_FILE: logo }).branding.logoFile).toBe(logo);
    for (const icon of [files.ico, files.png, files.svg]) expect(load({ BRAND_FAVICON_FILE: icon }).branding.faviconFile).toBe(icon);
    expect([files.png, files.jpeg, files.webp, files.gif, files.svg, files.ico].map((path) => sniffImageType(readFileSync(path)))).toEqual(
      ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/svg+xml', 'image/x-icon'],
    );
  });

  it('refuses a logo that is not an image, whatever its name says', () => {
    expect(refusal({ BRAND_LOGO_FILE: files.htmlAsPng })).toBe(`BRAND_LOGO_FILE ${files.htmlAsPng} is not an image of a type accepted here (PNG, JPEG, WebP, GIF, SVG), judged by its bytes, not its name`);
    expect(refusal({ BRAND_LOGO_DARK_FILE: files.ico })).toBe(`BRAND_LOGO_DARK_FILE ${files.ico} is not an image of a type accepted here (PNG, JPEG, WebP, GIF, SVG), judged by its bytes, not its name`);
    expect(refusal({ BRAND_FAVICON_FILE: files.jpeg })).toBe(`BRAND_FAVICON_FILE ${files.jpeg} is not an image of a type accepted here (ICO, PNG, SVG), judged by its bytes, not its name`);
  });

  it('refuses a logo over 512 KiB, and one that cannot be read', () => {
    expect(refusal({ BRAND_LOGO_FILE: files.huge })).toBe(`BRAND_LOGO_FILE ${files.huge} is 524289 bytes; at most 524288 bytes (512 KiB) are accepted`);
    expect(refusal({ BRAND_LOGO_FILE: 'missing.png' })).toBe(`BRAND_LOGO_FILE cannot read ${join(dir, 'missing.png')} (ENOENT)`);
    expect(refusal({ BRAND_FAVICON_FILE: join(dir, 'theme') })).toBe(`BRAND_FAVICON_FILE cannot read ${join(dir, 'theme')} (not a file)`);
  });

  it('refuses a colour that is not #rrggbb', () => {
    for (const value of ['blue', '#fff', '1d4ed8', '#1d4ed8ff']) {
      expect(refusal({ BRAND_PRIMARY_COLOR: value })).toBe(`BRAND_PRIMARY_COLOR must be a colour written #rrggbb (six hexadecimal digits), got ${JSON.stringify(value)}`);
    }
  });

  it('refuses colours whose links miss WCAG AA, naming the ratio and where it was measured', () => {
    expect(refusal({ BRAND_PRIMARY_COLOR: '#ffcc00' })).toBe('BRAND_PRIMARY_COLOR #ffcc00 gives links 1.3:1 against the light page background (#f4f5f7); WCAG AA needs 4.5:1');
    expect(refusal({ BRAND_PRIMARY_COLOR: '#767676' })).toBe('BRAND_PRIMARY_COLOR #767676 gives links 4.1:1 against the light page background (#f4f5f7); WCAG AA needs 4.5:1');
    expect(refusal({ BRAND_PRIMARY_COLOR_DARK: '#1d4ed8' })).toBe('BRAND_PRIMARY_COLOR_DARK #1d4ed8 gives links 2.3:1 against the dark card (#1f2229); WCAG AA needs 4.5:1');
  });

  it('checks each colour in its own scheme: a good light colour is no dark one, and the reverse', () => {
    expect(load({ BRAND_PRIMARY_COLOR: '#1d4ed8' }).branding.primaryColor).toBe('#1d4ed8');
    expect(load({ BRAND_PRIMARY_COLOR_DARK: '#93c5fd' }).branding.primaryColorDark).toBe('#93c5fd');
    expect(refusal({ BRAND_PRIMARY_COLOR: '#93c5fd' })).toMatch(/^BRAND_PRIMARY_COLOR #93c5fd gives links 1\.\d:1 against the /);
  });

  it('takes http(s) links, and only https in production', () => {
    for (const value of ['ftp://acme.example/', 'javascript:alert(1)', 'help', 'https://user:pw@acme.example/']) {
      expect(refusal({ BRAND_SUPPORT_URL: value })).toBe(`BRAND_SUPPORT_URL must be an absolute http:// or https:// URL without credentials, got ${JSON.stringify(value)}`);
    }
    expect(load({ BRAND_PRIVACY_URL: 'http://acme.example/privacy' }).branding.privacyUrl).toBe('http://acme.example/privacy');
    const production = { NODE_ENV: 'production', ISSUER: 'https://id.acme.example', COOKIE_KEYS: 'k'.repeat(32), KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    expect(refusal({ ...production, BRAND_PRIVACY_URL: 'http://acme.example/privacy' })).toBe('BRAND_PRIVACY_URL must use https in production, got "http://acme.example/privacy"');
    expect(load({ ...production, BRAND_PRIVACY_URL: 'https://acme.example/privacy' }).branding.privacyUrl).toBe('https://acme.example/privacy');
  });

  it('refuses a THEME_DIR that is not a readable directory', () => {
    expect(refusal({ THEME_DIR: 'nowhere' })).toBe(`THEME_DIR ${join(dir, 'nowhere')} is not a readable directory (ENOENT)`);
    expect(refusal({ THEME_DIR: files.png })).toBe(`THEME_DIR ${files.png} is not a readable directory (not a directory)`);
  });

  it('names every wrong variable at once', () => {
    const error = caught(() => load({ BRAND_PRIMARY_COLOR: 'blue', BRAND_LOGO_FILE: files.htmlAsPng, THEME_DIR: 'nowhere' })) as GatehouseError;
    expect(error.message).toMatch(/^3 variables are missing or invalid:/);
    expect(error.message.split('\n').slice(1).map((line) => line.trim().split(' ')[0]).sort()).toEqual(['BRAND_LOGO_FILE', 'BRAND_PRIMARY_COLOR', 'THEME_DIR']);
  });
});

describe('the From of mail', () => {
  it('is the product name at MAIL_FROM’s address, unless MAIL_FROM or BRAND_MAIL_FROM_NAME names one', () => {
    expect(senderOf(load({ BRAND_PRODUCT_NAME: 'Acme' }))).toEqual({ name: 'Acme', address: 'no-reply@localhost' });
    expect(senderOf(load({ BRAND_PRODUCT_NAME: 'Acme', MAIL_FROM: 'id@acme.example' }))).toEqual({ name: 'Acme', address: 'id@acme.example' });
    expect(senderOf(load({ BRAND_PRODUCT_NAME: 'Acme', MAIL_FROM: 'Acme Accounts <id@acme.example>' }))).toEqual({ name: 'Acme Accounts', address: 'id@acme.example' });
    expect(senderOf(load({ MAIL_FROM: '"Acme, Inc. \\"ID\\"" <id@acme.example>' }))).toEqual({ name: 'Acme, Inc. "ID"', address: 'id@acme.example' });
    expect(senderOf(load({ MAIL_FROM: 'Acme <id@acme.example>', BRAND_MAIL_FROM_NAME: 'Acme Sign-in' }))).toEqual({ name: 'Acme Sign-in', address: 'id@acme.example' });
  });

  it('refuses a From name with a line break', () => {
    expect(refusal({ BRAND_MAIL_FROM_NAME: 'Acme\r\nBcc: everyone@example.com' })).toBe(
      'BRAND_MAIL_FROM_NAME must be 1 to 100 characters without line breaks or other control characters, got "Acme\\r\\nBcc: everyone@example.com"',
    );
  });
});
