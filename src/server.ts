import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';

import type Provider from 'oidc-provider';

import { createApp } from './app.ts';
import type { Clock } from './clock.ts';
import { systemClock } from './clock.ts';
import { GatehouseError } from './errors.ts';
import type { Config } from './config/load-config.ts';
import type { Secrets } from './config/secrets.ts';
import { resolveSecrets } from './config/secrets.ts';
import { systemSource } from './libraries/audit.ts';
import type { Logger } from './logger.ts';
import { message } from './messages/messages.ts';
import { createAbuseLimits } from './limits/abuse-limits.ts';
import { createMailComposer } from './mail/compose.ts';
import { createMailer, senderOf } from './mail/mailer.ts';
import { createBranding } from './web/branding.ts';
import type { Outbox } from './mail/outbox.ts';
import { createOutbox } from './mail/outbox.ts';
import { createTransport } from './mail/transports.ts';
import { createLogoutDeliveryWorker } from './oidc/backchannel-logout.ts';
import { onLogoutQueued } from './libraries/sessions.ts';
import { applySeedFile } from './libraries/apply-seed.ts';
import { createWebhookDeliveryWorker } from './libraries/webhook-delivery.ts';
import { onWebhookQueued } from './libraries/webhooks.ts';
import { createOutgoingFetch } from './oidc/outgoing-requests.ts';
import { createObservability } from './observability/index.ts';
import type { Metrics } from './observability/metrics.ts';
import { openStore } from './store/open-store.ts';
import type { Store } from './store/types.ts';
import { createSweeper } from './sweeper.ts';

export type RunningServer = {
  /** The issuer: where relying parties reach it. */
  url: string;
  /** The configuration it runs with (the issuer filled in when PORT was 0). */
  config: Config;
  port: number;
  /** The Node HTTP server, for timeouts and for watching requests arrive. */
  httpServer: Server;
  store: Store;
  /** The provider serving now (rebuilt when the key ring changes). */
  provider(): Provider;
  /** Checks the key ring now instead of waiting for the next poll; true when keys changed. */
  reloadKeys(): Promise<boolean>;
  secrets: Secrets;
  /** Queues mail from templates (delivered by the poller, or at once by deliverMail). */
  outbox: Outbox;
  /** Delivers the due mail now instead of at the next poll; resolves when this round is done. */
  deliverMail(): Promise<void>;
  /**
   * Delivers the due back-channel logouts now instead of at the next poll: waits for a round under
   * way, then runs one more; resolves with that round's outcome counts.
   */
  deliverLogouts(): Promise<{ delivered: number; retried: number; given_up: number }>;
  /** Delivers the due webhook deliveries now: waits for a round under way, then runs one more; resolves with its outcome counts. */
  deliverWebhooks(): Promise<{ delivered: number; retried: number; given_up: number }>;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes the store. */
  close(): Promise<void>;
  /** This server's Prometheus metrics (METRICS=on), and the port of their own listener (METRICS_PORT). */
  metrics?: Metrics;
  metricsPort?: number;
};

/**
 * Development creates missing indexes and tables by itself; production refuses to run without
 * them (MongoDB and SQLite alike), since changing the schema of a large database is an operator's
 * decision (`gatehouse db migrate`).
 */
async function prepareSchema(store: Store, config: Config): Promise<void> {
  if (config.env !== 'production') return store.migrate();
  const pending = await store.pendingMigrations();
  if (pending.length) {
    throw new GatehouseError('migration_required', 'server.database_missing_run_npx_gatehouse', { value1: pending.join(', ') });
  }
}

export type ServerOptions = {
  /** The address to listen on (every interface by default). */
  host?: string;
  /**
   * The one clock everything that decides with the time reads (store, limits, mail, keys, sessions,
   * sweeper, health, flows, libraries); the system clock by default. Tests pass one they can move.
   */
  clock?: Clock;
  /** Where the secrets GATEHOUSE_SEED_FILE names are read from (process.env by default; tests pass their own). */
  env?: NodeJS.ProcessEnv;
};

export async function startServer(initialConfig: Config, logger: Logger, options: ServerOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  let config = initialConfig;
  const secrets = resolveSecrets(config);
  // Metrics (METRICS=on) and tracing spans: the store, limits, mail transport and requests observed once (src/observability/).
  const observability = createObservability(config, clock);
  // Before the store opens: production without SMTP_URL is a configuration error, not a runtime one.
  const transport = observability.transport(createTransport(config, logger));
  const store = observability.store(await openStore(config.databaseUrl, { env: config.env, clock }));
  try {
    await prepareSchema(store, config);
  } catch (error) {
    transport.close();
    await store.close();
    throw error;
  }
  // The port opens before the app exists (an ephemeral port must be known to name the issuer), so
  // requests arriving meanwhile wait for the app instead of hanging unanswered.
  const ready = Promise.withResolvers<RequestListener | undefined>();
  const waitForApp: RequestListener = (req, res) => {
    void ready.promise.then((handle) => {
      if (handle) return handle(req, res);
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' }).end(`${message('server.failed_to_start')}\n`);
    });
  };
  // Observed from the first request on (src/observability/): request ids, metrics and spans.
  const waiting = observability.requests(waitForApp);
  const server = createServer(waiting);
  try {
    server.listen(config.port, options.host);
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    if (!config.issuerExplicit && config.port === 0) {
      // An ephemeral port: the issuer can only be known now.
      config = { ...config, issuer: `http://${options.host === '127.0.0.1' ? '127.0.0.1' : 'localhost'}:${port}` };
    }
    // Mail goes through the queue in the store: an SMTP outage delays it, a restart resumes it, and
    // several instances share the work (leases).
    const mailer = createMailer({ store: store.mail, transport, from: senderOf(config), logger, clock, leaseSeconds: config.mail.leaseSeconds, firstRetrySeconds: config.mail.firstRetrySeconds });
    let delivering: Promise<void> | undefined;
    const deliverMail = (): Promise<void> => (delivering ??= mailer.deliverDue()
      .then(() => undefined, (error: unknown) => logger.warn('delivering mail failed', { error }))
      .finally(() => {
        delivering = undefined;
      }));
    const limits = observability.limits(createAbuseLimits(store.rateLimits, config.limits, clock));
    // The operator's brand on pages and mail; THEME_DIR's mail templates replace the project's (docs/branding.md).
    const branding = createBranding(config);
    const composer = createMailComposer({ cache: config.env !== 'development', overrideDir: branding.overrideDir, brand: branding.mail(config.issuer), defaultLocale: config.languages.default });
    const outbox = createOutbox(mailer, composer, {
      deliverSoon: () => void deliverMail(), logger, clock,
      admit: (to, template, coalesce) => limits.mailTo(to, template, coalesce),
      recordDrop: (drop) => store.mail.recordDrop(drop),
    });

    const { handler, provider, reloadKeys, libraries } = await createApp({ config, secrets, store, logger, outbox, limits, clock, branding });
    // GATEHOUSE_SEED_FILE: applied before the first request is served (one arriving meanwhile
    // waits), one instance at a time; a file that cannot be applied stops the start-up.
    if (config.seedFile) await applySeedFile(libraries.apply, config.seedFile, options.env ?? process.env, logger);
    ready.resolve(handler);
    // From now on requests go straight to the app, without waiting on the promise each time.
    server.off('request', waiting).on('request', observability.requests(handler));
    const metricsPort = await observability.listen();

    // Expired records go in small batches, on one instance at a time (a lease in the store).
    // Dynamic clients unused for dynamicClients.unusedExpiryDays go too (audited client_expired).
    const sweeper = createSweeper({ store, logger, clock, expireUnusedClients: (limit) => libraries.clients.expireUnused(systemSource, limit),
      deleteDueAccounts: (limit) => libraries.accountDeletion.sweep(limit), pruneWebhookDeliveries: (limit) => libraries.webhooks.prune(limit),
      sweepSessionActivity: (limit) => store.sessionActivity.sweepSessions(clock(), limit) });
    sweeper.start(config.sweepIntervalSeconds);

    const mailPoller = setInterval(() => void deliverMail(), config.mail.pollSeconds * 1000);
    mailPoller.unref();

    // Back-channel logouts go through a queue in the store too (src/oidc/backchannel-logout.ts):
    // delivered at once when queued in this process, by the poller when queued elsewhere (the CLI,
    // another instance) or due for a retry; several instances share the work (leases).
    const logoutWorker = createLogoutDeliveryWorker({ provider, sessions: libraries.sessions, logger });
    const noLogouts = { delivered: 0, retried: 0, given_up: 0 };
    let deliveringLogouts: Promise<typeof noLogouts> | undefined;
    const logoutRound = (): Promise<typeof noLogouts> => (deliveringLogouts ??= logoutWorker.deliverDue()
      .catch((error: unknown) => {
        logger.warn('delivering back-channel logouts failed', { error });
        return noLogouts;
      })
      .finally(() => {
        deliveringLogouts = undefined;
      }));
    const deliverLogouts = async () => {
      await deliveringLogouts;
      return logoutRound();
    };
    const stopListening = onLogoutQueued(() => void logoutRound());
    const logoutPoller = setInterval(() => void logoutRound(), config.backchannelLogout.pollSeconds * 1000);
    logoutPoller.unref();
    void logoutRound();
    // Delivered and given-up deliveries older than backchannelLogout.retentionDays go, a batch an
    // hour (idempotent deletes: instances doing it at once do no harm).
    const logoutPruner = setInterval(() => {
      libraries.sessions.prune(1000).catch((error: unknown) => logger.warn('pruning back-channel logout deliveries failed', { error }));
    }, 3_600_000);
    logoutPruner.unref();
    // Mail queued before a restart (or while SMTP was down) goes out without waiting for a poll.
    void deliverMail();

    // Webhook deliveries, queued as audit events are recorded (src/libraries/webhooks.ts): sent at
    // once when queued in this process (another round follows one under way), by the poller when
    // queued elsewhere or due for a retry; several instances share the work (leases). Each POST goes
    // through the outgoing-request policy (no private addresses; loopback outside production only).
    const webhookBatchSize = 20;
    const webhookWorker = createWebhookDeliveryWorker({
      webhooks: libraries.webhooks, logger, clock, batchSize: webhookBatchSize,
      fetch: createOutgoingFetch({ allowLoopback: config.env !== 'production', timeoutMs: config.webhooks.timeoutSeconds * 1000, maxResponseBytes: 64 * 1024 }),
    });
    const noWebhooks = { delivered: 0, retried: 0, given_up: 0 };
    let deliveringWebhooks: Promise<typeof noWebhooks> | undefined;
    let webhooksAgain = false;
    let webhooksStopped = false;
    const webhookRound = (): Promise<typeof noWebhooks> => {
      if (deliveringWebhooks) {
        webhooksAgain = true;
        return deliveringWebhooks;
      }
      return (deliveringWebhooks = webhookWorker.deliverDue()
        .then((outcome) => {
          // A full batch: more may be due (a burst); the next round follows at once.
          if (outcome.delivered + outcome.retried + outcome.given_up >= webhookBatchSize) webhooksAgain = true;
          return outcome;
        })
        .catch((error: unknown) => {
          logger.warn('delivering webhooks failed', { error });
          return noWebhooks;
        })
        .finally(() => {
          deliveringWebhooks = undefined;
          if (webhooksAgain && !webhooksStopped) void webhookRound();
          webhooksAgain = false;
        }));
    };
    const deliverWebhooks = async () => {
      while (deliveringWebhooks) await deliveringWebhooks;
      return webhookRound();
    };
    const stopWebhookListening = onWebhookQueued(() => void webhookRound());
    const webhookPoller = setInterval(() => void webhookRound(), config.webhooks.pollSeconds * 1000);
    webhookPoller.unref();
    void webhookRound();

    // Every instance follows the shared key ring: it advances the schedule (compare-and-set, so
    // one instance makes each change) and picks up changes made elsewhere, within pollSeconds.
    let polling = false;
    const keyPoller = setInterval(() => {
      if (polling) return;
      polling = true;
      reloadKeys()
        .catch((error: unknown) => logger.warn('checking the key ring failed', { error }))
        .finally(() => {
          polling = false;
        });
    }, config.keys.pollSeconds * 1000);
    keyPoller.unref();

    let closing: Promise<void> | undefined;
    const close = () => (closing ??= (async () => {
      const sweeping = sweeper.stop();
      clearInterval(keyPoller);
      clearInterval(mailPoller);
      clearInterval(logoutPoller);
      clearInterval(logoutPruner);
      stopListening();
      clearInterval(webhookPoller);
      stopWebhookListening();
      webhooksStopped = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), config.shutdownGraceSeconds * 1000);
      await closed;
      clearTimeout(grace);
      await delivering;
      await deliveringLogouts;
      await deliveringWebhooks;
      await sweeping;
      await observability.close();
      transport.close();
      await store.close();
    })());

    return { url: config.issuer, config, port, httpServer: server, store, provider, reloadKeys, secrets, outbox, deliverMail, deliverLogouts, deliverWebhooks, close, ...(observability.metrics ? { metrics: observability.metrics } : {}), ...(metricsPort !== undefined ? { metricsPort } : {}) };
  } catch (error) {
    ready.resolve(undefined);
    server.close();
    await observability.close();
    transport.close();
    await store.close();
    throw error;
  }
}
