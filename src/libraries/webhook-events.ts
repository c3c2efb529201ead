import type { AuditEvent } from '../store/types.ts';

/**
 * Which audit events become which public webhook events (docs/webhooks.md has the same table; a
 * test holds them together). Audit event types are internal and may be renamed; these names are a
 * contract with receivers and only ever get added to.
 *
 * Every audit type Gatehouse records is listed, mapped to its public event or to null (not
 * published: queue housekeeping, requests for codes, consent, …), so that a new audit type is a
 * decision (test/libraries/webhooks.test.ts fails until it is listed here).
 */
export const webhookEventByAuditType = {
  account_created: 'user.created',
  account_registered: 'user.created',
  users_imported: null,
  profile_updated: 'user.updated',
  roles_changed: 'user.roles_changed',
  account_deletion_requested: 'user.deletion_requested',
  account_deletion_cancelled: 'user.deletion_cancelled',
  account_erasure_started: 'user.deleted',
  // Recorded after the erasure, under the pseudonym: user.deleted went out before, with the id.
  account_deleted: null,
  account_disabled: 'user.disabled',
  account_enabled: 'user.enabled',
  login: 'user.signed_in',
  login_failed: 'user.sign_in_failed',
  login_second_factor_failed: 'user.sign_in_failed',
  upstream_sign_in_failed: 'user.sign_in_failed',
  account_signed_out: 'user.signed_out',
  sessions_ended: 'user.signed_out',
  session_ended: 'user.signed_out',
  mfa_enabled: 'user.factor_changed',
  mfa_removed: 'user.factor_changed',
  mfa_recovery_codes_regenerated: 'user.factor_changed',
  passkey_added: 'user.factor_changed',
  passkey_removed: 'user.factor_changed',
  password_changed: 'user.password_changed',
  password_reset: 'user.password_changed',
  email_changed: 'user.email_changed',
  email_change_undone: 'user.email_changed',
  email_verified: 'user.email_verified',
  identity_linked: 'user.identity_linked',
  identity_unlinked: 'user.identity_unlinked',
  client_added: 'client.created',
  client_registered: 'client.created',
  client_updated: 'client.updated',
  client_secret_rotated: 'client.updated',
  client_registration_updated: 'client.updated',
  client_removed: 'client.deleted',
  client_expired: 'client.deleted',
  client_registration_deleted: 'client.deleted',
  api_added: 'api.created',
  api_updated: 'api.updated',
  api_removed: 'api.deleted',
  connection_added: 'connection.created',
  connection_updated: 'connection.updated',
  connection_enabled: 'connection.updated',
  connection_disabled: 'connection.updated',
  connection_removed: 'connection.deleted',
  key_ring_changed: 'key.rotated',
  token_reuse_detected: 'token.reuse_detected',
  webhook_added: 'webhook.created',
  webhook_updated: 'webhook.updated',
  webhook_removed: 'webhook.deleted',
  // Not published.
  webhook_delivery_requeued: null,
  email_change_requested: null,
  account_data_exported: null,
  app_revoked: null,
  password_reset_requested: null,
  login_code_requested: null,
  passkey_used: null,
  passkey_renamed: null,
  passkey_refused: null,
  mfa_recovery_code_used: null,
  consent_given: null,
  consent_denied: null,
  grant_revoked: null,
  client_registration_refused: null,
  registration_token_created: null,
  registration_token_revoked: null,
  'backchannel_logout.queued': null,
  'backchannel_logout.delivered': null,
  'backchannel_logout.failed': null,
  'backchannel_logout.given_up': null,
} as const satisfies Record<string, string | null>;

type Mapped = (typeof webhookEventByAuditType)[keyof typeof webhookEventByAuditType];

/** A public webhook event name. */
export type WebhookEventType = Exclude<Mapped, null>;

/** Every public event, in the order of the table. */
export const webhookEventTypes: readonly WebhookEventType[] = [...new Set(Object.values(webhookEventByAuditType).filter((type): type is WebhookEventType => type !== null))];

/**
 * Events about webhooks themselves go only to webhooks that name them: a webhook for every event
 * (`*`) does not get them, so registering a webhook never sets off deliveries by itself.
 */
export function isExplicitOnly(type: string): boolean {
  return type.startsWith('webhook.');
}

/** The public event of an audit event type; undefined when it is not published (or unknown). */
export function webhookEventOf(auditType: string): WebhookEventType | undefined {
  return Object.hasOwn(webhookEventByAuditType, auditType) ? (webhookEventByAuditType[auditType as keyof typeof webhookEventByAuditType] ?? undefined) : undefined;
}

/** Whether a webhook subscribed to `events` gets `type`. */
export function subscribes(events: readonly string[], type: string): boolean {
  return events.includes(type) || (events.includes('*') && !isExplicitOnly(type));
}

/** The body POSTed to a receiver (docs/webhooks.md#payload). */
export type WebhookPayload = {
  /** The event's id: the same in every webhook's delivery of it. */
  id: string;
  type: WebhookEventType;
  occurred_at: string;
  data: {
    /** The audit event type it comes from (more precise than `type`: login_second_factor_failed, passkey_added). */
    audit_type: string;
    actor: AuditEvent['actor'];
    account_id?: string;
    /** The account's email, for events about a person. */
    email?: string;
    client_id?: string;
    source_address?: string;
    /** The audit event's details: curated by the library that records it, never a password, code, token or secret. */
    details: Record<string, unknown>;
  };
};

/** The payload of an event (pure). `email` is the account's, looked up by the caller for user.* events. */
export function webhookPayload(eventId: string, type: WebhookEventType, event: AuditEvent, email?: string): WebhookPayload {
  return {
    id: eventId,
    type,
    occurred_at: event.at.toISOString(),
    data: {
      audit_type: event.type,
      actor: event.actor,
      ...(event.accountId ? { account_id: event.accountId } : {}),
      ...(email ? { email } : {}),
      ...(event.clientId ? { client_id: event.clientId } : {}),
      ...(event.sourceAddress ? { source_address: event.sourceAddress } : {}),
      details: event.details,
    },
  };
}
