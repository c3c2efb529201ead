/** Webhooks (src/libraries/webhooks.ts, src/cli/webhooks-commands.ts): refusals and the CLI's lines. */
export const webhooks = {
  // Refusals (the library).
  'webhooks.id_taken': 'a webhook {id} exists already',
  'webhooks.no_webhook': 'no webhook {id} (gatehouse webhooks list shows them)',
  'webhooks.no_delivery': 'no webhook delivery {id} (gatehouse webhooks deliveries shows them)',
  'webhooks.url_invalid': 'the webhook URL must be an absolute http or https URL without credentials or fragment, not {url}',
  'webhooks.url_https_required': 'in production a webhook URL must be https, not {url}',
  'webhooks.url_refused': 'the webhook URL {url} is refused: {reason}',
  'webhooks.url_unresolvable': 'the webhook URL {url} cannot be checked: {host} does not resolve ({reason})',
  'webhooks.events_required': 'name at least one event (--event), or --all-events',
  'webhooks.unknown_event': 'unknown event {name}; the events are: {known}',
  // The command line.
  'cli.webhook_added': 'added webhook {id}; its signing secret, shown this once (give it to the receiver to verify Gatehouse-Signature):',
  'cli.webhook_removed': 'removed webhook {id}; its pending deliveries are given up',
  'cli.webhook_disabled': 'disabled webhook {id}: no new deliveries are queued for it, and pending ones are given up',
  'cli.webhook_enabled': 'enabled webhook {id}',
  'cli.webhook_secret_rotated': 'new signing secret of webhook {id}, shown this once (deliveries from now on are signed with it):',
  'cli.webhook_redelivery_queued': 'delivery {id} queued again; the worker sends it within seconds',
  'cli.webhook_status_invalid': '--status must be one of pending, delivered, failed',
} as const satisfies Record<string, string>;
