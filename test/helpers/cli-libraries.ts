import { systemClock } from '../../src/clock.ts';
import type { Config } from '../../src/config/load-config.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { resolveSecrets } from '../../src/config/secrets.ts';
import type { Libraries } from '../../src/libraries/index.ts';
import { createLibraries } from '../../src/libraries/index.ts';
import { openStore } from '../../src/store/open-store.ts';
import type { Store } from '../../src/store/types.ts';

/**
 * The store and libraries of the database a CLI environment uses, opened beside the CLI (after a
 * first command created the database and the development secrets, which both then share): tests
 * arrange and check through the libraries what the CLI does. Mail goes nowhere.
 */
export async function openBesideCli(env: NodeJS.ProcessEnv): Promise<{ config: Config; store: Store; libraries: Libraries }> {
  const config = loadConfig(env);
  const store = await openStore(config.databaseUrl, { env: config.env });
  const libraries = createLibraries({ store, config, clock: systemClock, outbox: { send: async () => undefined }, keyEncryptionKey: resolveSecrets(config).keyEncryptionKey });
  return { config, store, libraries };
}
