import { loadConfig } from '../config/load-config.ts';
import type { Config } from '../config/load-config.ts';
import { resolveSecrets } from '../config/secrets.ts';
import type { Secrets } from '../config/secrets.ts';
import { openStore } from '../store/open-store.ts';
import type { Store } from '../store/types.ts';

/** What every command works with: the same configuration and store the server uses. */
export type CliContext = {
  config: Config;
  secrets: Secrets;
  store: Store;
  json: boolean;
  readStdin(): Promise<string>;
  /** Prompts without echo on a terminal; reads stdin otherwise. */
  readSecret(prompt: string): Promise<string>;
  out(text: string): void;
};

export async function openCliContext(env: NodeJS.ProcessEnv, json: boolean, io: Pick<CliContext, 'readStdin' | 'readSecret' | 'out'>): Promise<CliContext> {
  const config = loadConfig(env);
  const secrets = resolveSecrets(config);
  const store = await openStore(config.databaseUrl);
  return { config, secrets, store, json, ...io };
}
