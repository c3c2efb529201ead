import { recordAudit } from '../audit/audit.ts';
import type { AuditInput } from '../audit/audit.ts';
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
  /** Prompts without echo on a terminal; reads stdin otherwise. */
  readSecret(prompt: string): Promise<string>;
  /** Records an operator's change in the audit trail. */
  audit(type: string, event?: Omit<AuditInput, 'type' | 'actor' | 'details'> & { details?: Record<string, unknown> }): Promise<void>;
};

export async function openCliContext(env: NodeJS.ProcessEnv, readSecret: CliContext['readSecret']): Promise<CliContext> {
  const config = loadConfig(env);
  const secrets = resolveSecrets(config);
  const store = await openStore(config.databaseUrl);
  return {
    config, secrets, store, readSecret,
    audit: (type, event = {}) => recordAudit(store.audit, { ...event, type, actor: 'cli', details: event.details ?? {} }),
  };
}
