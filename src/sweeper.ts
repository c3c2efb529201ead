import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';

import type { Clock } from './clock.ts';
import { systemClock } from './clock.ts';
import type { Logger } from './logger.ts';
import type { Store } from './store/types.ts';

/** The lease (src/store/types.ts LeaseStore) that keeps sweeping to one instance at a time. */
export const sweeperLeaseName = 'sweeper';

export type SweeperOptions = {
  store: Pick<Store, 'oidc' | 'codes' | 'rateLimits' | 'leases'>;
  logger: Pick<Logger, 'warn'>;
  /** The time records expire by and the run's budget is counted in (start-up's clock; tests move theirs). */
  clock?: Clock;
  /** Who this instance is in the lease; a random id by default. */
  holder?: string;
  /** Records deleted per statement: small enough that one batch never holds the event loop long. */
  batchSize?: number;
  /** How long one run may go on; what is left waits for the next run. */
  budgetMs?: number;
  /** How long the lease lasts unless renewed (it is renewed every third of it while sweeping). */
  leaseSeconds?: number;
  /** Lets timers and requests run between two batches; the next turn of the event loop by default. */
  yieldToEventLoop?: () => Promise<void>;
  /**
   * Deletes (and audits) up to `limit` dynamic clients unused for too long; returns how many
   * (libraries.clients.expireUnused with the system as source). Without it, clients are left alone.
   */
  expireUnusedClients?: (limit: number) => Promise<number>;
  /**
   * Erases (and audits) up to `limit` accounts whose deletion grace period has passed; returns how
   * many (libraries.accountDeletion.sweep). Without it, accounts are left alone.
   */
  deleteDueAccounts?: (limit: number) => Promise<number>;
  /**
   * Deletes up to `limit` delivered or given-up webhook deliveries older than webhooks.retentionDays;
   * returns how many (libraries.webhooks.prune). Without it, they are left alone.
   */
  pruneWebhookDeliveries?: (limit: number) => Promise<number>;
  /**
   * Deletes up to `limit` account-centre session rows whose session has expired; returns how many
   * (store.sessionActivity.sweepSessions). Without it, they are left alone.
   */
  sweepSessionActivity?: (limit: number) => Promise<number>;
};

type Table = 'oidc' | 'codes' | 'rateLimits' | 'clients' | 'accounts' | 'webhookDeliveries' | 'sessionActivity';

export type SweepReport = {
  /** False when another instance held the lease: this one swept nothing. */
  held: boolean;
  /** Expired records deleted, by table (clients: dynamic clients unused for too long; accounts, given deleteDueAccounts: erased at the end of their grace period). */
  deleted: Record<Exclude<Table, 'accounts' | 'webhookDeliveries' | 'sessionActivity'>, number> & { accounts?: number; webhookDeliveries?: number; sessionActivity?: number };
  /** Delete statements run. */
  batches: number;
  /** False when the run stopped before everything expired was gone (budget spent, lease lost, stopping). */
  complete: boolean;
};

export type Sweeper = {
  /** One run now (or the one under way): deletes expired records in batches while holding the lease. */
  sweep(): Promise<SweepReport>;
  /** Sweeps every `intervalSeconds` (an unref'd timer); a run still going when the next is due is not doubled. */
  start(intervalSeconds: number): void;
  /** Stops the timer, ends a run under way after its current batch, and gives the lease up. */
  stop(): Promise<void>;
};

/**
 * Deletes expired oidc records, one-time codes and rate limit counters, and (given
 * `expireUnusedClients`) dynamic clients unused for `dynamicClients.unusedExpiryDays`. A sweep used to be one
 * DELETE per table: with a backlog of 110,000 rows it held the event loop for a second. Now each
 * statement deletes at most `batchSize` records and the event loop runs between two of them, a run
 * stops after `budgetMs`, and a store-backed lease keeps the sweeping to one instance at a time
 * (another instance takes over once an instance that died holding it lets the lease expire).
 */
export function createSweeper(options: SweeperOptions): Sweeper {
  const { store, logger } = options;
  const wall = options.clock ?? systemClock;
  /** Milliseconds since the epoch, by the clock. */
  const clock = () => wall().getTime();
  const holder = options.holder ?? randomUUID();
  const batchSize = options.batchSize ?? 500;
  const budgetMs = options.budgetMs ?? 10_000;
  const leaseMs = (options.leaseSeconds ?? 60) * 1000;
  const yieldToEventLoop = options.yieldToEventLoop ?? (() => nextTurn());
  const tables: Array<[Table, (limit: number) => Promise<number>]> = [
    ['oidc', (limit) => store.oidc.sweepExpired(limit)],
    ['codes', (limit) => store.codes.sweep(new Date(clock()), limit)],
    ['rateLimits', (limit) => store.rateLimits.sweep(new Date(clock()), limit)],
  ];
  const { expireUnusedClients } = options;
  if (expireUnusedClients) tables.push(['clients', expireUnusedClients]);
  const { deleteDueAccounts } = options;
  // An erasure is a transaction over every table: a few per batch (fewer than batchSize, so one
  // batch per run; the next run goes on).
  if (deleteDueAccounts) tables.push(['accounts', (limit) => deleteDueAccounts(Math.min(limit, 20))]);
  const { pruneWebhookDeliveries } = options;
  if (pruneWebhookDeliveries) tables.push(['webhookDeliveries', pruneWebhookDeliveries]);
  const { sweepSessionActivity } = options;
  if (sweepSessionActivity) tables.push(['sessionActivity', sweepSessionActivity]);

  let running: Promise<SweepReport> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;

  const lease = (now: number) => store.leases.acquire(sweeperLeaseName, holder, new Date(now), new Date(now + leaseMs));

  async function run(): Promise<SweepReport> {
    const report: SweepReport = { held: false, deleted: { oidc: 0, codes: 0, rateLimits: 0, clients: 0, ...(options.deleteDueAccounts ? { accounts: 0 } : {}), ...(options.pruneWebhookDeliveries ? { webhookDeliveries: 0 } : {}), ...(options.sweepSessionActivity ? { sessionActivity: 0 } : {}) }, batches: 0, complete: false };
    const startedAt = clock();
    if (!(await lease(startedAt))) return report;
    report.held = true;
    let renewedAt = startedAt;
    /** Checked before every batch but the first: whether this run may delete more. */
    async function mayGoOn(): Promise<boolean> {
      const now = clock();
      if (stopping || now - startedAt >= budgetMs) return false;
      if (now - renewedAt < leaseMs / 3) return true;
      if (!(await lease(now))) {
        logger.warn('the sweeper lease was taken over by another instance; leaving the sweeping to it', { holder });
        return false;
      }
      renewedAt = now;
      return true;
    }
    try {
      for (const [table, deleteBatch] of tables) {
        for (;;) {
          if (report.batches > 0 && !(await mayGoOn())) return report;
          const deleted = await deleteBatch(batchSize);
          report.deleted[table] = (report.deleted[table] ?? 0) + deleted;
          report.batches += 1;
          await yieldToEventLoop();
          if (deleted < batchSize) break;
        }
      }
      report.complete = true;
      return report;
    } finally {
      // The next run may go to any instance. Only our own lease is released (compare-and-set).
      await store.leases.release(sweeperLeaseName, holder).catch((error: unknown) => logger.warn('releasing the sweeper lease failed', { error }));
    }
  }

  function sweep(): Promise<SweepReport> {
    return (running ??= run().finally(() => {
      running = undefined;
    }));
  }

  return {
    sweep,
    start(intervalSeconds) {
      stopping = false;
      clearInterval(timer);
      timer = setInterval(() => {
        if (running) return;
        sweep().catch((error: unknown) => logger.warn('sweeping expired records failed', { error }));
      }, intervalSeconds * 1000);
      timer.unref();
    },
    async stop() {
      stopping = true;
      clearInterval(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
  };
}
