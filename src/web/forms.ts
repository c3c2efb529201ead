import type { Context, Middleware } from 'koa';
import { koaBody } from 'koa-body';

import type { Config } from '../config/load-config.ts';
import { GatehouseError } from '../errors.ts';
import { field } from '../flows/interaction.ts';
import { keyedHash, sameToken } from '../keys/encryption.ts';

/**
 * Our forms: how their bodies are parsed and the one CSRF scheme that protects them. The flows
 * never import this module: start-up (src/app.ts) builds both once and hands them in as
 * dependencies (`form`, `forms`).
 */

/** Our forms are small url-encoded bodies; anything larger or of another type is refused. */
export function formParser(config: Pick<Config, 'formBodyLimitBytes'>): Middleware {
  return koaBody({ json: false, text: false, multipart: false, urlencoded: true, formLimit: config.formBodyLimitBytes });
}

/**
 * CSRF tokens for our forms: an HMAC of what the form belongs to (its scope: `interaction:<uid>`,
 * `link:<token>` of a mailed link, `account:<session id>` of the account page) under a key derived
 * from KEY_ENCRYPTION_KEY. A forged cross-site POST cannot know it; nothing is stored, every
 * instance computes the same token, and the scope's own binding (the interaction's cookie, the
 * account page's signed session cookie) is the second line.
 */
export type FormProtection = {
  /** The token of forms in this scope. */
  token(scope: string): string;
  /**
   * Puts the scope's token where the templates find it (`ctx.state.csrf`, which views.render passes
   * on as `it.csrf`) and, on POST, checks the submitted `csrf` field: a missing or wrong one throws
   * GatehouseError('forbidden', 'web.form_expired') (a 403 error page).
   */
  protect(ctx: Context, scope: string): void;
  /**
   * Like protect, but answers instead of throwing: true for anything but a POST, and for a POST
   * whose `csrf` field is the scope's token. For pages that answer a stale form their own way.
   */
  check(ctx: Context, scope: string): boolean;
};

export function createFormProtection(keyEncryptionKey: Buffer): FormProtection {
  const token = (scope: string) => keyedHash(keyEncryptionKey, 'csrf', scope);
  const check = (ctx: Context, scope: string) => {
    const expected = token(scope);
    ctx.state.csrf = expected;
    if (ctx.method !== 'POST') return true;
    return sameToken(expected, field((ctx.request as { body?: unknown }).body, 'csrf'));
  };
  return {
    token,
    check,
    protect(ctx, scope) {
      if (!check(ctx, scope)) throw new GatehouseError('forbidden', 'web.form_expired');
    },
  };
}
