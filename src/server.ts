import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createServer } from 'node:http';

import type Provider from 'oidc-provider';

import { createApp } from './app.ts';
import type { Config } from './config/load-config.ts';
import type { Secrets } from './config/secrets.ts';
import { resolveSecrets } from './config/secrets.ts';
import type { Logger } from './logger.ts';
import { openStore } from './store/open-store.ts';
import type { Store } from './store/types.ts';

export type RunningServer = {
  /** Where it listens, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  store: Store;
  provider: Provider;
  secrets: Secrets;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes the store. */
  close(): Promise<void>;
};

export async function startServer(config: Config, logger: Logger, options: { host?: string } = {}): Promise<RunningServer> {
  const secrets = resolveSecrets(config);
  const store = await openStore(config.databaseUrl);
  let server;
  try {
    const { app, provider } = await createApp({ config, secrets, store, logger });
    server = createServer(app.callback());
    server.listen(config.port, options.host);
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;

    const sweeper = setInterval(() => {
      store.oidc.sweepExpired().catch((error: unknown) => logger.warn('sweeping expired records failed', { error }));
    }, config.sweepIntervalSeconds * 1000);
    sweeper.unref();

    let closing: Promise<void> | undefined;
    const httpServer = server;
    const close = () => (closing ??= (async () => {
      clearInterval(sweeper);
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      const grace = setTimeout(() => httpServer.closeAllConnections(), config.shutdownGraceSeconds * 1000);
      await closed;
      clearTimeout(grace);
      await store.close();
    })());

    return { url: `http://${options.host && !options.host.includes(':') ? options.host : 'localhost'}:${port}`, port, store, provider, secrets, close };
  } catch (error) {
    server?.close();
    await store.close();
    throw error;
  }
}
