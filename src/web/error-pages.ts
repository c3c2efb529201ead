import type Koa from 'koa';
import { errors } from 'oidc-provider';

import { isGatehouseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { message } from '../messages/messages.ts';
import { currentRequest } from '../request-context.ts';
import type { Views } from './views.ts';

export type PageError = { status: number; code: string; description: string };

/**
 * What a person is told about an error: a 4xx keeps its meaning, a 5xx says nothing internal. Our
 * own errors are put in words from the message catalog, by their messageId.
 */
export function describeError(caught: unknown): PageError {
  const error = (caught ?? {}) as { status?: unknown; statusCode?: unknown; expose?: boolean; message?: string; error_description?: string };
  const raw = error.status ?? error.statusCode;
  let status = typeof raw === 'number' && Number.isInteger(raw) && raw >= 400 && raw <= 599 ? raw : 500;
  if (isGatehouseError(caught)) status = caught.status;
  if (status >= 500 || error.expose === false) {
    return { status, code: 'server_error', description: message('error.internal') };
  }
  if (isGatehouseError(caught)) return { status, code: caught.code, description: message(caught.messageId, caught.values) };
  if (caught instanceof errors.SessionNotFound) {
    return { status, code: 'session_not_found', description: message('web.session_not_found') };
  }
  if (status === 413) return { status, code: 'request_too_large', description: message('web.request_too_large') };
  // oidc-provider's errors carry an OAuth error code as message and a description meant for people.
  const code = error.message && /^[a-z_]+$/.test(error.message) ? error.message : 'invalid_request';
  return { status, code, description: error.error_description ?? message('web.request_not_processed') };
}

/**
 * Every page is drawn with the request's id (`it.requestId`): the error page shows it, so a person
 * can quote it and an operator find the request's log lines (they carry the same id). The
 * provider's own error pages are drawn through these views too.
 */
export function withRequestIds(views: Views): Views {
  return {
    render(ctx, name, data, status) {
      const requestId = currentRequest()?.requestId;
      views.render(ctx, name, requestId ? { requestId, ...data } : data, status);
    },
  };
}

/** Errors our own routes raise (or let through) become an error page; never a stack trace. */
export function errorPages(views: Views, logger: Logger): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && !ctx.body && !ctx.res.headersSent) {
        views.render(ctx, 'error', { title: message('web.page_not_found_title'), code: 'not_found', description: message('error.not_found') }, 404);
      }
    } catch (caught) {
      const { status, code, description } = describeError(caught);
      if (status >= 500) logger.error('request failed', { method: ctx.method, path: ctx.path, error: caught });
      if (ctx.res.headersSent) return;
      const title = message(status < 500 ? 'web.request_cannot_continue_title' : 'web.something_went_wrong_title');
      views.render(ctx, 'error', { title, code, description }, status);
    }
  };
}
