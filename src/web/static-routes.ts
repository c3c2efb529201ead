import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import Router from '@koa/router';
import type { Context } from 'koa';

import type { Config } from '../config/load-config.ts';
import { viewsDir } from '../config/paths.ts';
import { message } from '../messages/messages.ts';
import { routes } from '../urls.ts';
import type { Views } from './views.ts';
import type { Branding } from './branding.ts';
import type { ClientLogos } from './client-logo.ts';

/**
 * What every page needs and no flow owns: the home page (it says Gatehouse runs and where its
 * discovery document is), the stylesheet, the scripts, and an empty favicon.
 */

/**
 * The browser half of @simplewebauthn: its UMD bundle, which a classic `<script src>` loads as the
 * global `SimpleWebAuthnBrowser` (no inline script, no module loader, nothing from another origin).
 */
export function webauthnBrowserBundle(): Buffer {
  const require = createRequire(import.meta.url);
  // The package's own entry point locates it; the bundle sits in its dist/ next to script/.
  const entry = require.resolve('@simplewebauthn/browser');
  return readFileSync(join(dirname(entry), '..', 'dist', 'bundle', 'index.umd.min.js'));
}

/**
 * Our own scripts: every `*.js` directly in views/assets, read once at start and served by its
 * name. Only these names exist; a request for anything else (another extension, a path, `..`) is
 * a 404 without touching the disk.
 */
export function firstPartyScripts(dir = join(viewsDir, 'assets')): Map<string, Buffer> {
  const scripts = new Map<string, Buffer>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isFile() && /^[a-z0-9][a-z0-9-]*\.js$/.test(entry.name)) scripts.set(entry.name, readFileSync(join(dir, entry.name)));
  }
  return scripts;
}

export function createStaticRoutes(deps: { views: Views; config: Pick<Config, 'issuer'>; branding?: Branding; clientLogos?: ClientLogos }): Router {
  const { views, config } = deps;
  const router = new Router();
  // THEME_DIR/assets/gatehouse.css replaces the project's stylesheet (docs/branding.md).
  const stylesheet = deps.branding?.stylesheet ?? readFileSync(join(viewsDir, 'assets', 'gatehouse.css'));
  // First: the brand's favicon answers before the empty one below.
  deps.branding?.addRoutes(router);
  deps.clientLogos?.addRoutes(router);
  const scripts = firstPartyScripts();
  const webauthnBrowser = webauthnBrowserBundle();

  router.get(routes.home, (ctx) => {
    views.render(ctx, 'home', { title: message('web.home_title'), issuer: config.issuer });
  });

  router.get(routes.stylesheet, (ctx) => {
    ctx.type = 'text/css; charset=utf-8';
    ctx.set('cache-control', 'public, max-age=3600');
    ctx.body = stylesheet;
  });

  // Addresses without a version in them: cached for an hour, like the stylesheet, so an upgrade
  // reaches every browser within the hour.
  const serveScript = (ctx: Context, body: Buffer) => {
    ctx.type = 'text/javascript; charset=utf-8';
    ctx.set('cache-control', 'public, max-age=3600');
    ctx.body = body;
  };

  router.get(routes.webauthnBrowser, (ctx) => serveScript(ctx, webauthnBrowser));

  router.get(routes.script, (ctx, next) => {
    const script = scripts.get(ctx.params.file ?? '');
    if (!script) return next();
    serveScript(ctx, script);
  });

  // Browsers ask for it on every page; "nothing" answered once and cached beats a logged 404
  // (BRAND_FAVICON_FILE's answers first, when set: branding.ts).
  router.get(routes.favicon, (ctx) => {
    ctx.set('cache-control', 'public, max-age=86400');
    ctx.status = 204;
  });

  return router;
}
