import { fileURLToPath } from 'node:url';

import { Eta } from 'eta';
import type { Context } from 'koa';

export const viewsDir = fileURLToPath(new URL('../../views/', import.meta.url));

export type ViewName = 'sign-in-code' | 'home' | 'login' | 'consent' | 'logout' | 'logged-out' | 'error' | 'register' | 'verify-email' | 'confirm-email' | 'email-confirmed'
  | 'forgot-password' | 'reset-password' | 'message' | 'account' | 'second-factor' | 'mfa-setup' | 'recovery-codes';

export type Views = {
  /** Renders a page into the response with `status` (200 by default); pages are never cached. */
  render(ctx: Context, name: ViewName, data: Record<string, unknown> & { title: string }, status?: number): void;
};

export function createViews(options: { dir?: string; cache?: boolean } = {}): Views {
  // autoEscape: every `<%= %>` is HTML-escaped; raw output (`<%~ %>`) is reserved for the layout's
  // body and the provider's own logout form.
  const eta = new Eta({ views: options.dir ?? viewsDir, autoEscape: true, cache: options.cache ?? true, defaultExtension: '.eta' });
  return {
    render(ctx, name, data, status = 200) {
      ctx.status = status;
      ctx.type = 'text/html; charset=utf-8';
      ctx.set('cache-control', 'no-store');
      // Forms carry the request's CSRF token (see interaction-context.ts) unless the page sets its own.
      const csrf = typeof ctx.state?.csrf === 'string' ? ctx.state.csrf : undefined;
      ctx.body = eta.render(name, { ...(csrf ? { csrf } : {}), ...data });
    },
  };
}
