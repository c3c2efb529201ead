import Router from '@koa/router';
import type Koa from 'koa';

import type { Views } from './interactions/views.ts';
import type { Store } from './store/types.ts';

async function storeAnswers(store: Store): Promise<boolean> {
  try {
    await store.ping();
    return true;
  } catch {
    return false;
  }
}

/** For orchestrators: /healthz says the process is alive, /readyz that it can reach its store. */
export function healthRoutes(store: Store): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('cache-control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('cache-control', 'no-store');
    const ready = await storeAnswers(store);
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ready' : 'unavailable', store: store.kind };
  });
  return router;
}

/**
 * A request that failed with a 5xx while the store does not answer is an outage, not a bug: it
 * becomes a clean 503 with Retry-After (JSON for protocol endpoints, our page for pages), and
 * requests succeed again by themselves once the store is back.
 */
export function storeOutage(store: Store, views: Views): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    if (ctx.status < 500 || ctx.status === 503 || ctx.res.headersSent || (await storeAnswers(store))) return;
    const description = 'Gatehouse cannot reach its database right now. Try again in a moment.';
    const wasJson = /json/.test(ctx.response.type) || !ctx.accepts('html');
    ctx.set('retry-after', '5');
    if (wasJson) {
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable', error_description: description };
    } else {
      views.render(ctx, 'error', { title: 'Temporarily unavailable', error: 'temporarily_unavailable', description }, 503);
    }
  };
}
