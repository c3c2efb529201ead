#!/usr/bin/env node
import { isClusterPrimary, isClusterWorker, runPrimary, stopWhenPrimaryExits } from './cluster.ts';
import { loadConfig } from './config/load-config.ts';
import type { Config } from './config/load-config.ts';
import { resolveSecrets } from './config/secrets.ts';
import { isGatehouseError } from './errors.ts';
import { createLogger } from './logger.ts';
import { message } from './messages/messages.ts';
import { startClusterMetrics } from './observability/index.ts';
import { flushTracing, startTracing } from './observability/tracing.ts';
import { startServer } from './server.ts';

const logger = createLogger();

function warnIfGenerated(secrets: { source: string; file?: string }): void {
  if (secrets.source === 'generated') {
    console.warn(message('start.generated_secrets', { file: String(secrets.file) }));
  }
}

function printBanner(config: Config): void {
  console.log(message('start.banner', { env: config.env, workers: config.workers, issuer: config.issuer, databaseUrl: config.databaseUrl }));
}

async function main(): Promise<void> {
  const config = loadConfig(process.env, process.cwd(), { startingServer: true });
  if (isClusterPrimary(config.workers)) {
    // Secrets first, so that development workers share one generated set (and one warning).
    warnIfGenerated(resolveSecrets(config));
    // METRICS_PORT in a cluster: the primary answers with every worker's metrics, aggregated.
    const metricsListener = await startClusterMetrics(config);
    const code = await runPrimary({ workers: config.workers, shutdownGraceSeconds: config.shutdownGraceSeconds, logger, onReady: () => printBanner(config) });
    metricsListener?.close();
    process.exit(code);
  }
  // OpenTelemetry tracing, when the standard OTEL_* environment asks for it (docs/observability.md).
  startTracing();
  // Listening before start-up returns: a signal from then on stops the server gracefully, and one
  // that comes while it starts stops it as soon as it is up (nothing is half-written either way).
  type Running = Awaited<ReturnType<typeof startServer>>;
  const started: { server?: Running } = {};
  let stopping = false;
  const close = (server: Running) => server.close().then(flushTracing).then(
    () => process.exit(0),
    (error: unknown) => {
      logger.error('shutdown failed', { error });
      process.exit(1);
    },
  );
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(message('start.signal_received', { signal }));
    if (started.server) void close(started.server);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  stopWhenPrimaryExits((reason) => stop(reason));

  const running = await startServer(config, logger);
  started.server = running;
  if (stopping) return void close(running);

  warnIfGenerated(running.secrets);
  // In a cluster the primary prints the banner once, when every worker serves.
  if (!isClusterWorker()) printBanner(running.config);
}

main().catch((error: unknown) => {
  if (isGatehouseError(error)) {
    console.error(message(error.code === 'invalid_config' ? 'start.invalid_configuration' : 'start.failed', { detail: error.message }));
    process.exit(error.code === 'invalid_config' ? 2 : 1);
  }
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    const port = String((error as { port?: number }).port ?? '');
    // The metrics listener's own port (METRICS_PORT), or the server's (PORT).
    const variable = port !== '' && port === process.env.METRICS_PORT?.trim() ? 'METRICS_PORT' : 'PORT';
    console.error(message('start.port_in_use', { port, variable }));
    process.exit(1);
  }
  console.error(message('start.failed_to_start', { detail: String((error as Error).message) }));
  process.exit(1);
});
