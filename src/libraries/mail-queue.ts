import type { MailQueueStatus, MailStore } from '../store/types.ts';
import type { LibraryDependencies } from './dependencies.ts';

/** The outgoing mail queue as operators see it: what is queued, sent, failed and dropped. */
export type MailQueueLibrary = {
  status(): Promise<MailQueueStatus>;
  /** Mail not sent (budgets, suppression), with the latest `limit` kinds of drops. */
  drops(limit: number): ReturnType<MailStore['drops']>;
};

export function mailQueueLibrary(deps: Pick<LibraryDependencies, 'store'>): MailQueueLibrary {
  return {
    status: () => deps.store.mail.status(),
    drops: (limit) => deps.store.mail.drops(limit),
  };
}
