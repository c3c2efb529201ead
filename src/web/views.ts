import { Eta } from 'eta';

import { viewsDir } from '../config/paths.ts';
import type { PageRenderer } from '../flows/kit.ts';
import { urls } from '../urls.ts';

/** The renderer the flows are handed: the page names and data are theirs (src/flows/kit.ts), the HTML is ours. */
export type Views = PageRenderer;
export type { ViewName } from '../flows/kit.ts';

export function createViews(options: { dir?: string; cache?: boolean } = {}): Views {
  // autoEscape: every `<%= %>` is HTML-escaped; raw output (`<%~ %>`) is reserved for the layout's
  // body and the provider's own logout form.
  const eta = new Eta({ views: options.dir ?? viewsDir, autoEscape: true, cache: options.cache ?? true, defaultExtension: '.eta' });
  return {
    render(ctx, name, data, status = 200) {
      ctx.status = status;
      ctx.type = 'text/html; charset=utf-8';
      ctx.set('cache-control', 'no-store');
      // Forms carry the request's CSRF token (see forms.ts) unless the page sets its own; every
      // address a page links or posts to comes from `it.urls` (src/urls.ts).
      const csrf = typeof ctx.state?.csrf === 'string' ? ctx.state.csrf : undefined;
      ctx.body = eta.render(name, { urls, ...(csrf ? { csrf } : {}), ...data });
    },
  };
}
