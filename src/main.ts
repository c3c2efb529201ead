#!/usr/bin/env node
import { isClusterPrimary, isClusterWorker, runPrimary, stopWhenPrimaryExits } from './cluster.ts';
import { loadConfig } from './config/load-config.ts';
import type { Config } from './config/load-config.ts';
import { resolveSecrets } from './config/secrets.ts';
import { isGatehouseError } from './errors.ts';
import { createLogger } from './logger.ts';
import { startServer } from './server.ts';

const logger = createLogger();

function warnIfGenerated(secrets: { source: string; file?: string }): void {
  if (secrets.source === 'generated') {
    console.warn(`warning: generated development secrets in ${secrets.file}; set COOKIE_KEYS and KEY_ENCRYPTION_KEY in production`);
  }
}

function printBanner(config: Config): void {
  console.log(`Gatehouse is running (${config.env}${config.workers > 1 ? `, ${config.workers} workers` : ''}) at ${config.issuer}
  discovery: ${config.issuer}/.well-known/openid-configuration
  database:  ${config.databaseUrl}

Next steps:
  add a user:    npx gatehouse users add --email you@example.com --verified   (asks for the password)
  add a client:  npx gatehouse clients add --name "My app" --redirect-uri http://localhost:8080/callback`);
}

async function main(): Promise<void> {
  const config = loadConfig();
  if (isClusterPrimary(config.workers)) {
    // Secrets first, so that development workers share one generated set (and one warning).
    warnIfGenerated(resolveSecrets(config));
    const code = await runPrimary({ workers: config.workers, shutdownGraceSeconds: config.shutdownGraceSeconds, logger, onReady: () => printBanner(config) });
    process.exit(code);
  }
  const running = await startServer(config, logger);

  warnIfGenerated(running.secrets);
  // In a cluster the primary prints the banner once, when every worker serves.
  if (!isClusterWorker()) printBanner(running.config);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal} received: finishing in-flight requests, then stopping`);
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('shutdown failed', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  stopWhenPrimaryExits((reason) => stop(reason));
}

main().catch((error: unknown) => {
  if (isGatehouseError(error)) {
    console.error(`gatehouse: ${error.code === 'invalid_config' ? 'invalid configuration: ' : ''}${error.message}`);
    process.exit(error.code === 'invalid_config' ? 2 : 1);
  }
  if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    console.error(`gatehouse: port ${(error as { port?: number }).port ?? ''} is already in use; set PORT to another port`);
    process.exit(1);
  }
  console.error(`gatehouse: failed to start: ${(error as Error).message}`);
  process.exit(1);
});
