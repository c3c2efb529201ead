import type { Config } from '../config/load-config.ts';
import { keyedHash } from '../keys/encryption.ts';
import type { MailTemplate } from '../mail/compose.ts';
import { message } from '../messages/messages.ts';
import type { AuditEvent } from '../store/types.ts';
import { urls } from '../urls.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { describeTime } from './password-reset.ts';

/**
 * Security notifications: a mail to the person when something changes how their account is signed
 * in to. One place maps the audit events the libraries already record to mails, so no library
 * changes for it: createLibraries hands every library a store whose audit trail calls `observe`
 * after each event is appended (observeAudit below).
 *
 * | audit event                     | mail                      | setting                      |
 * |---------------------------------|---------------------------|------------------------------|
 * | `mfa_enabled`, `mfa_removed`    | sign-in-method-changed    | notifications.secondFactor   |
 * | `passkey_added`, `passkey_removed` | sign-in-method-changed | notifications.passkeys       |
 * | `login` from a new device       | new-sign-in               | notifications.newDevice      |
 *
 * Two changes are always told, by the library that makes them, because their mails carry what to
 * do next: a password change or reset (`password-changed`, password-change.ts and
 * password-reset.ts) and an email change (`email-changed` to the old address, with its undo link,
 * email-change.ts).
 *
 * Mails go through the outbox (the durable queue); `observe` never delays or fails the action:
 * its work runs after the event is stored and a failure is logged.
 *
 * **New device.** The sign-in pages give every browser a long-lived signed cookie holding a random
 * id (src/flows/login/device.ts) and record the keyed hash of that id (`deviceHash`) as `device`
 * on the `login` event. The account's known devices are kept (store.knownDevices, hashes only); a
 * sign-in from one it does not know is told, unless the account knew none yet (its first sign-in,
 * or its first since this feature arrived): see newDeviceNotice.
 */

export type NotificationSettings = Config['notifications'];

/**
 * Whether a sign-in is told as one from a new device: only with the setting on, a device id on the
 * sign-in, a device the account did not know, and at least one other device it did know.
 */
export function newDeviceNotice(input: { enabled: boolean; device: boolean; known: boolean; othersKnown: number }): boolean {
  return input.enabled && input.device && !input.known && input.othersKnown > 0;
}

/** What a mail about a changed sign-in method says, for each event; undefined for events it is not about or turned off. */
export function methodChangeNotice(event: Pick<AuditEvent, 'type' | 'details'>, settings: NotificationSettings): string | undefined {
  const name = typeof event.details?.name === 'string' ? event.details.name : '';
  switch (event.type) {
    case 'mfa_enabled': return settings.secondFactor ? message('mail.notice_mfa_enabled') : undefined;
    case 'mfa_removed': return settings.secondFactor ? message('mail.notice_mfa_removed') : undefined;
    case 'passkey_added': return settings.passkeys ? message('mail.notice_passkey_added', { name }) : undefined;
    case 'passkey_removed': return settings.passkeys ? message('mail.notice_passkey_removed', { name }) : undefined;
    default: return undefined;
  }
}

export type SecurityNotificationsLibrary = {
  /**
   * Called with every audit event appended: starts queueing the mail it calls for, if any, and
   * resolves at once (it never throws, and never makes the action wait for the mail).
   */
  observe(event: AuditEvent): Promise<void>;
  /** Resolves when the mails of every event observed so far are queued (tests, and a clean shutdown). */
  settled(): Promise<void>;
  /** The keyed hash a device id is known by (recorded on the `login` event and in store.knownDevices). */
  deviceHash(deviceId: string): string;
};

export function securityNotificationsLibrary(deps: Pick<LibraryDependencies, 'store' | 'config' | 'outbox' | 'keyEncryptionKey' | 'logger'>): SecurityNotificationsLibrary {
  const { store, config, outbox, logger } = deps;
  const settings = config.notifications;
  const pending = new Set<Promise<void>>();
  const accountUrl = `${config.issuer}${urls.account()}`;

  async function mail(accountId: string, template: MailTemplate, data: Record<string, unknown>) {
    const account = await store.accounts.findById(accountId);
    if (!account || account.disabled) return;
    await outbox.send(account.email, template, { email: account.email, accountUrl, ...data });
  }

  async function handle(event: AuditEvent) {
    if (!event.accountId) return;
    const common = { when: describeTime(event.at), address: event.sourceAddress ?? '' };
    if (event.type === 'login') {
      const device = typeof event.details?.device === 'string' ? event.details.device : undefined;
      if (!device) return;
      const { known, others } = await store.knownDevices.remember(event.accountId, device, event.at);
      if (newDeviceNotice({ enabled: settings.newDevice, device: true, known, othersKnown: others })) await mail(event.accountId, 'new-sign-in', common);
      return;
    }
    const what = methodChangeNotice(event, settings);
    if (what) await mail(event.accountId, 'sign-in-method-changed', { ...common, what });
  }

  return {
    async observe(event) {
      if (event.type !== 'login' && !methodChangeNotice(event, settings)) return;
      const work = handle(event).catch((error: unknown) => logger?.warn('security notification not queued', { type: event.type, error }));
      pending.add(work);
      void work.finally(() => pending.delete(work));
    },
    async settled() {
      while (pending.size) await Promise.all([...pending]);
    },
    deviceHash: (deviceId) => keyedHash(deps.keyEncryptionKey, 'known devices', deviceId),
  };
}
