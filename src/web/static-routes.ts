import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import Router from '@koa/router';

import type { Config } from '../config/load-config.ts';
import { viewsDir } from '../config/paths.ts';
import { message } from '../messages/messages.ts';
import { routes } from '../urls.ts';
import type { Views } from './views.ts';

/**
 * What every page needs and no flow owns: the home page (it says Gatehouse runs and where its
 * discovery document is), the stylesheet, and an empty favicon.
 */
export function createStaticRoutes(deps: { views: Views; config: Pick<Config, 'issuer'> }): Router {
  const { views, config } = deps;
  const router = new Router();
  const stylesheet = readFileSync(join(viewsDir, 'assets', 'gatehouse.css'));

  router.get(routes.home, (ctx) => {
    views.render(ctx, 'home', { title: message('web.home_title'), issuer: config.issuer });
  });

  router.get(routes.stylesheet, (ctx) => {
    ctx.type = 'text/css; charset=utf-8';
    ctx.set('cache-control', 'public, max-age=3600');
    ctx.body = stylesheet;
  });

  // Browsers ask for it on every page; "nothing" answered once and cached beats a logged 404.
  router.get(routes.favicon, (ctx) => {
    ctx.set('cache-control', 'public, max-age=86400');
    ctx.status = 204;
  });

  return router;
}
