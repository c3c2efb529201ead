import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';

import type Provider from 'oidc-provider';

import { createApp } from './app.ts';
import { GatehouseError } from './errors.ts';
import type { Config } from './config/load-config.ts';
import type { Secrets } from './config/secrets.ts';
import { resolveSecrets } from './config/secrets.ts';
import type { Logger } from './logger.ts';
import { openStore } from './store/open-store.ts';
import type { Store } from './store/types.ts';

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
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes the store. */
  close(): Promise<void>;
};

/**
 * Development creates missing indexes by itself; production refuses to run without them, since
 * building an index on a large collection is an operator's decision (`gatehouse db migrate`).
 */
async function prepareSchema(store: Store, config: Config): Promise<void> {
  if (config.env !== 'production') return store.migrate();
  const pending = await store.pendingMigrations();
  if (pending.length) {
    throw new GatehouseError('migration_required', `the database is missing ${pending.join(', ')}; run \`npx gatehouse db migrate\` first`);
  }
}

export async function startServer(initialConfig: Config, logger: Logger, options: { host?: string } = {}): Promise<RunningServer> {
  let config = initialConfig;
  const secrets = resolveSecrets(config);
  const store = await openStore(config.databaseUrl);
  try {
    await prepareSchema(store, config);
  } catch (error) {
    await store.close();
    throw error;
  }
  // The port opens before the app exists (an ephemeral port must be known to name the issuer), so
  // requests arriving meanwhile wait for the app instead of hanging unanswered.
  const ready = Promise.withResolvers<RequestListener | undefined>();
  const server = createServer((req, res) => {
    void ready.promise.then((handle) => {
      if (handle) return handle(req, res);
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '5' }).end('Gatehouse failed to start\n');
    });
  });
  try {
    server.listen(config.port, options.host);
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    if (!config.issuerExplicit && config.port === 0) {
      // An ephemeral port: the issuer can only be known now.
      config = { ...config, issuer: `http://${options.host === '127.0.0.1' ? '127.0.0.1' : 'localhost'}:${port}` };
    }
    const { app, provider, reloadKeys } = await createApp({ config, secrets, store, logger });
    ready.resolve(app.callback());

    const sweeper = setInterval(() => {
      store.oidc.sweepExpired().catch((error: unknown) => logger.warn('sweeping expired records failed', { error }));
    }, config.sweepIntervalSeconds * 1000);
    sweeper.unref();

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
      clearInterval(sweeper);
      clearInterval(keyPoller);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), config.shutdownGraceSeconds * 1000);
      await closed;
      clearTimeout(grace);
      await store.close();
    })());

    return { url: config.issuer, config, port, httpServer: server, store, provider, reloadKeys, secrets, close };
  } catch (error) {
    ready.resolve(undefined);
    server.close();
    await store.close();
    throw error;
  }
}
