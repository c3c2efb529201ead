import type { Clock } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import type { Logger } from '../logger.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { Store } from '../store/types.ts';

/**
 * What the libraries are built from, once, at start-up (src/app.ts) or by the CLI (src/cli/context.ts):
 * each library binds the parts it needs, so callers pass only what an action is about.
 */
export type LibraryDependencies = {
  store: Store;
  config: Config;
  /** The one clock: codes, enrollments, audit events and keys read the time from it. */
  clock: Clock;
  /** Where mail is queued (the CLI, which sends none, passes one that refuses). */
  outbox: Outbox;
  /** Seals secrets and keys the hashes of codes. */
  keyEncryptionKey: Buffer;
  /** Audit events are logged too when given. */
  logger?: Logger;
};
