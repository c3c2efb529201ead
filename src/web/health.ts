import Router from '@koa/router';
import type Koa from 'koa';

import type { Views } from './views.ts';
import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { message } from '../messages/messages.ts';
import type { Store, StoreWriteProblem } from '../store/types.ts';

/** How often at most /readyz writes to the store; answers in between come from the last probe. */
export const probeIntervalMs = 2_000;
/** What a 503 tells clients to wait, in seconds. */
const retryAfterSeconds = 5;

type Probe = { startedAt: number; problem: StoreWriteProblem | undefined };

/** Whether the store takes writes, found out with its write probe and kept between probes. */
export type StoreHealth = {
  /** The last probe's answer when it is younger than the interval, otherwise a new probe's. */
  check(): Promise<StoreWriteProblem | undefined>;
  /**
   * For a request that started at `since` and failed: the store's state from a probe that began
   * after it (one such probe serves every request waiting for it), or from a recent failed probe.
   */
  checkAfter(since: number): Promise<StoreWriteProblem | undefined>;
};

/**
 * The write probe, rate-limited: at most one runs at a time, and /readyz reuses its answer for
 * `intervalMs`, so polling it cannot load the database. A failed request may ask for a fresh one,
 * since the last answer may predate the failure. State changes are logged once, with the detail
 * that /readyz leaves out (file paths, hosts).
 */
export function createStoreHealth(store: Store, logger: Logger, options: { intervalMs?: number; clock?: Clock } = {}): StoreHealth {
  const intervalMs = options.intervalMs ?? probeIntervalMs;
  const wall = options.clock ?? systemClock;
  const clock = () => wall().getTime();
  let last: Probe | undefined;
  let running: { startedAt: number; done: Promise<Probe> } | undefined;

  function report(before: StoreWriteProblem | undefined, after: StoreWriteProblem | undefined): void {
    if (after && after.reason !== before?.reason) logger.warn('the store cannot write', { reason: after.reason, detail: after.message });
    else if (!after && before) logger.info('the store writes again', { after: before.reason });
  }

  function probe(): Promise<Probe> {
    if (running) return running.done;
    const startedAt = clock();
    const done = store.probeWrite()
      .catch((error: unknown): StoreWriteProblem => ({ reason: 'write failed', message: (error as Error).message }))
      .then((problem) => {
        report(last?.problem, problem);
        last = { startedAt, problem };
        running = undefined;
        return last;
      });
    running = { startedAt, done };
    return done;
  }

  return {
    async check() {
      if (last && clock() - last.startedAt < intervalMs) return last.problem;
      return (await probe()).problem;
    },
    async checkAfter(since) {
      if (last && (last.startedAt >= since || (last.problem && clock() - last.startedAt < intervalMs))) return last.problem;
      if (running && running.startedAt >= since) return (await running.done).problem;
      // A probe already under way began before this request failed: wait for it, then ask again.
      if (running) await running.done;
      return (await probe()).problem;
    },
  };
}

/**
 * For orchestrators: /healthz says the process is alive, /readyz that its store takes writes
 * (a read answering is not enough: a read-only or full disk fails every sign-in). A 503 names
 * the cause; the next probe after the cause is gone answers 200 again, without a restart.
 */
export function healthRoutes(store: Store, health: StoreHealth): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('cache-control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('cache-control', 'no-store');
    const problem = await health.check();
    if (!problem) {
      ctx.body = { status: 'ready', store: store.kind };
      return;
    }
    ctx.status = 503;
    ctx.set('retry-after', String(retryAfterSeconds));
    ctx.body = { status: 'unavailable', store: store.kind, reason: problem.reason };
  });
  return router;
}

/**
 * A request that failed with a 5xx while the store cannot write (or cannot be reached) is an
 * outage, not a bug: it becomes a clean 503 with Retry-After (JSON for protocol endpoints, our
 * page for pages), and requests succeed again by themselves once the store is back. The provider
 * catches its errors itself and answers 500 server_error, so this looks at the answer, not the error.
 */
export function storeOutage(health: StoreHealth, views: Views, clock: Clock = systemClock): Koa.Middleware {
  return async (ctx, next) => {
    const started = clock().getTime();
    await next();
    // A 503 with Retry-After was already answered on purpose.
    if (ctx.status < 500 || ctx.res.headersSent || ctx.response.get('retry-after')) return;
    const problem = await health.checkAfter(started);
    if (!problem) return;
    const description = message(problem.reason === 'unreachable' ? 'web.store_unreachable' : 'web.store_cannot_write');
    const wasJson = /json/.test(ctx.response.type) || !ctx.accepts('html');
    ctx.set('retry-after', String(retryAfterSeconds));
    ctx.set('cache-control', 'no-store');
    if (wasJson) {
      ctx.status = 503;
      ctx.body = { error: 'temporarily_unavailable', error_description: description };
    } else {
      views.render(ctx, 'error', { title: message('web.temporarily_unavailable_title'), code: 'temporarily_unavailable', description }, 503);
    }
  };
}
