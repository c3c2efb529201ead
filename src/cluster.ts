import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';

import type { Clock } from './clock.ts';
import { systemClock } from './clock.ts';
import { doublingDelay } from './limits/backoff.ts';
import type { Logger } from './logger.ts';
import { message } from './messages/messages.ts';

/**
 * WORKERS > 1: this process becomes the primary of a node:cluster. It never opens the store or runs
 * the app; it forks the workers (each runs src/main.ts and serves on the shared port, as another
 * instance on the same database would), restarts a worker that dies, and passes SIGTERM/SIGINT on
 * so that every worker finishes its in-flight requests before the whole group exits.
 */
export type PrimaryOptions = {
  workers: number;
  /** Workers get this long (plus a margin) to finish after a stop signal, then are killed. */
  shutdownGraceSeconds: number;
  logger: Logger;
  /** Human lines (start-up, restarts); stdout by default. */
  print?: (line: string) => void;
  /** Called once, when every worker of the first generation is listening. */
  onReady?: () => void;
  /** Restart delays: the first after a crash, doubling for crashes in a row, at most `maxMs`. */
  backoff?: Partial<Backoff>;
  /** When crashes happen (for "in a row"); the system clock by default. */
  clock?: Clock;
};

export type Backoff = {
  initialMs: number;
  maxMs: number;
  /** A crash this long after the previous one starts the doubling again from initialMs. */
  resetAfterMs: number;
};

export const defaultBackoff: Backoff = { initialMs: 250, maxMs: 30_000, resetAfterMs: 60_000 };

/** The delay before restarting after the `crashesInARow`-th crash in a row (1, 2, …). */
export function restartDelay(crashesInARow: number, backoff: Backoff = defaultBackoff): number {
  return doublingDelay({ free: 1, first: backoff.initialMs, max: backoff.maxMs }, Math.max(1, crashesInARow));
}

export function isClusterPrimary(workers: number): boolean {
  return workers > 1 && cluster.isPrimary;
}

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/**
 * In a worker: when the primary goes away (killed without a chance to stop us), the shared port is
 * gone too, so the worker stops as if it had been told to.
 */
export function stopWhenPrimaryExits(stop: (reason: string) => void): void {
  if (cluster.isWorker) process.on('disconnect', () => stop('primary exited'));
}

/** Runs the primary until every worker has stopped; resolves with the exit code for the process. */
export function runPrimary(options: PrimaryOptions): Promise<number> {
  const { workers, logger } = options;
  const print = options.print ?? ((line: string) => console.log(line));
  const backoff = { ...defaultBackoff, ...options.backoff };
  const clock = options.clock ?? systemClock;
  const done = Promise.withResolvers<number>();

  // The workers that have listened at least once; until all of the first generation has, a worker
  // dying is a start-up failure (configuration, database, port), which restarting cannot fix.
  const listened = new Set<number>();
  let booted = false;
  let stopping = false;
  let exitCode = 0;
  let crashesInARow = 0;
  let lastCrashAt = 0;
  const pendingRestarts = new Set<NodeJS.Timeout>();
  let killTimer: NodeJS.Timeout | undefined;

  const fork = (): Worker => cluster.fork();

  const finishIfEmpty = () => {
    if (stopping && Object.keys(cluster.workers ?? {}).length === 0 && pendingRestarts.size === 0) {
      clearTimeout(killTimer);
      done.resolve(exitCode);
    }
  };

  const stop = (signal: NodeJS.Signals, code = 0) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    for (const timer of pendingRestarts) clearTimeout(timer);
    pendingRestarts.clear();
    const running = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
    if (signal !== 'SIGKILL') print(message('cluster.stopping_workers', { signal, count: running.length }));
    for (const worker of running) worker.process.kill(signal);
    killTimer = setTimeout(() => {
      for (const worker of Object.values(cluster.workers ?? {})) {
        logger.warn('worker did not stop in time; killing it', { pid: worker?.process.pid });
        worker?.process.kill('SIGKILL');
      }
    }, (options.shutdownGraceSeconds + 5) * 1000);
    killTimer.unref();
    finishIfEmpty();
  };

  cluster.on('listening', (worker, address) => {
    print(message('cluster.worker_serving', { id: String(worker.id), pid: String(worker.process.pid), port: String(address.port) }));
    listened.add(worker.id);
    if (!booted && listened.size >= workers) {
      booted = true;
      options.onReady?.();
    }
  });

  cluster.on('exit', (worker, code, signal) => {
    const how = signal ? message('cluster.by_signal', { signal }) : message('cluster.by_exit_code', { code: String(code) });
    if (stopping) {
      if (code !== 0 && signal !== 'SIGTERM' && signal !== 'SIGINT') exitCode = exitCode || 1;
      finishIfEmpty();
      return;
    }
    if (!booted && !listened.has(worker.id)) {
      // The worker has printed why; the others would fail alike.
      print(message('cluster.worker_failed_to_start', { id: String(worker.id), pid: String(worker.process.pid), how }));
      stop('SIGTERM', code || 1);
      return;
    }
    const now = clock().getTime();
    crashesInARow = now - lastCrashAt > backoff.resetAfterMs ? 1 : crashesInARow + 1;
    lastCrashAt = now;
    const delay = restartDelay(crashesInARow, backoff);
    logger.error('worker exited; starting another', { worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delay });
    print(message('cluster.worker_exited', { id: String(worker.id), pid: String(worker.process.pid), how, delay: String(delay) }));
    const timer = setTimeout(() => {
      pendingRestarts.delete(timer);
      if (!stopping) fork();
    }, delay);
    pendingRestarts.add(timer);
  });

  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  for (let index = 0; index < workers; index += 1) fork();
  return done.promise;
}
