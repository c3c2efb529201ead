import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type Router from '@koa/router';
import type { Context } from 'koa';

import type { Config } from '../config/load-config.ts';
import { routes } from '../urls.ts';
import { brandStylesheet } from '../theme/brand-colors.ts';
import type { ImageType } from '../theme/image-types.ts';
import { faviconTypes, logoTypes, readImageFile } from '../theme/image-types.ts';

/**
 * The operator's brand (docs/branding.md): what every page and mail shows of it, and the files
 * Gatehouse serves for it from its own origin (the Content-Security-Policy allows images and
 * styles from nowhere else). Built once at start-up from the checked configuration.
 */

/** What a page's layout reads as `it.brand`. */
export type PageBrand = {
  productName: string;
  /** The logo in the header (alt: the product name); `darkSrc` for the dark colour scheme. */
  logo?: { src: string; darkSrc?: string };
  favicon?: { href: string; type: string };
  /** Linked after gatehouse.css, in order: the colours (brand.css), then the theme's additions (theme.css). */
  stylesheets: string[];
  supportUrl?: string;
  privacyUrl?: string;
};

/** What a mail's layout reads as `it.brand`: addresses are absolute (a mail is read elsewhere). */
export type MailBrand = {
  productName: string;
  logoUrl?: string;
  supportUrl?: string;
  privacyUrl?: string;
};

export type Branding = {
  page: PageBrand;
  mail(issuer: string): MailBrand;
  /** THEME_DIR: the operator's templates, before views/ (createViews / createMailComposer `overrideDir`). */
  overrideDir?: string;
  /** THEME_DIR/assets/gatehouse.css, replacing the project's stylesheet. */
  stylesheet?: Buffer;
  /** Adds the brand's own addresses (logos, favicon, brand.css, theme.css) to the static router. */
  addRoutes(router: Router): void;
};

type Served = { bytes: Buffer; type: string; version: string };

const versionOf = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex').slice(0, 12);

/**
 * An SVG is a document: served so that nothing in it runs or loads (styles inline only), and never
 * sniffed as anything else. Raster images get the site's policy like every answer.
 */
export const svgPolicy = "default-src 'none'; style-src 'unsafe-inline'";

function serve(ctx: Context, file: Served, maxAge: number): void {
  ctx.type = file.type;
  ctx.set('cache-control', `public, max-age=${maxAge}`);
  ctx.set('x-content-type-options', 'nosniff');
  if (file.type === 'image/svg+xml') ctx.set('content-security-policy', svgPolicy);
  ctx.body = file.bytes;
}

function image(variable: string, path: string | null, types: readonly ImageType[]): Served | undefined {
  if (!path) return undefined;
  const { bytes, type } = readImageFile(variable, path, types);
  return { bytes, type, version: versionOf(bytes) };
}

function css(bytes: Buffer | string): Served {
  const buffer = Buffer.from(bytes);
  return { bytes: buffer, type: 'text/css; charset=utf-8', version: versionOf(buffer) };
}

export function createBranding(config: Pick<Config, 'branding'>): Branding {
  const settings = config.branding;
  const logo = image('BRAND_LOGO_FILE', settings.logoFile, logoTypes);
  const logoDark = image('BRAND_LOGO_DARK_FILE', settings.logoDarkFile, logoTypes);
  const favicon = image('BRAND_FAVICON_FILE', settings.faviconFile, faviconTypes);
  const colors = settings.primaryColor || settings.primaryColorDark
    ? css(brandStylesheet({ light: settings.primaryColor, dark: settings.primaryColorDark }))
    : undefined;
  const themeDir = settings.themeDir ?? undefined;
  const themeFile = (name: string) => (themeDir && existsSync(join(themeDir, 'assets', name)) ? readFileSync(join(themeDir, 'assets', name)) : undefined);
  const replacedStylesheet = themeFile('gatehouse.css');
  const themeAdditions = themeFile('theme.css');
  const theme = themeAdditions ? css(themeAdditions) : undefined;

  const at = (path: string, file: Served) => `${path}?v=${file.version}`;
  // A dark logo alone is the logo in both schemes (there is nothing else to show in the light one).
  const headerLogo = logo ?? logoDark;
  const page: PageBrand = {
    productName: settings.productName,
    ...(headerLogo ? {
      logo: {
        src: at(logo ? routes.brandLogo : routes.brandLogoDark, headerLogo),
        ...(logo && logoDark ? { darkSrc: at(routes.brandLogoDark, logoDark) } : {}),
      },
    } : {}),
    ...(favicon ? { favicon: { href: at(routes.favicon, favicon), type: favicon.type } } : {}),
    stylesheets: [...(colors ? [at(routes.brandStylesheet, colors)] : []), ...(theme ? [at(routes.themeStylesheet, theme)] : [])],
    ...(settings.supportUrl ? { supportUrl: settings.supportUrl } : {}),
    ...(settings.privacyUrl ? { privacyUrl: settings.privacyUrl } : {}),
  };

  return {
    page,
    mail(issuer) {
      return {
        productName: settings.productName,
        // Mail readers show the light logo (few follow the reader's scheme); the dark one only when it is all there is.
        ...(page.logo ? { logoUrl: `${issuer.replace(/\/$/, '')}${page.logo.src}` } : {}),
        ...(settings.supportUrl ? { supportUrl: settings.supportUrl } : {}),
        ...(settings.privacyUrl ? { privacyUrl: settings.privacyUrl } : {}),
      };
    },
    ...(themeDir ? { overrideDir: themeDir } : {}),
    ...(replacedStylesheet ? { stylesheet: replacedStylesheet } : {}),
    addRoutes(router) {
      // Addresses carry the file's version (?v=): a changed file is a new address after a restart.
      if (logo) router.get(routes.brandLogo, (ctx) => serve(ctx, logo, 86_400));
      if (logoDark) router.get(routes.brandLogoDark, (ctx) => serve(ctx, logoDark, 86_400));
      if (colors) router.get(routes.brandStylesheet, (ctx) => serve(ctx, colors, 3600));
      if (theme) router.get(routes.themeStylesheet, (ctx) => serve(ctx, theme, 3600));
      if (favicon) router.get(routes.favicon, (ctx) => serve(ctx, favicon, 86_400));
    },
  };
}
