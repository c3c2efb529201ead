import type { MessageId, MessageValues } from './messages/messages.ts';
import { message } from './messages/messages.ts';

/**
 * The one error type Gatehouse raises on purpose. `code` is stable (tests, CLI output and JSON
 * errors rely on it); `status` is the HTTP status a page or endpoint answers with.
 */
export type ErrorCode =
  | 'invalid_config'
  | 'invalid_input'
  | 'not_found'
  | 'conflict'
  | 'invalid_credentials'
  | 'account_disabled'
  | 'registration_closed'
  | 'forbidden'
  | 'start_again'
  | 'passkey_invalid'
  | 'passkey_unknown'
  | 'upstream_unavailable'
  | 'upstream_refused'
  | 'upstream_invalid'
  | 'rate_limited'
  | 'unsupported_database'
  | 'store_unavailable'
  | 'migration_required'
  | 'internal';

const statusByCode: Record<ErrorCode, number> = {
  invalid_config: 500,
  invalid_input: 400,
  not_found: 404,
  conflict: 409,
  invalid_credentials: 401,
  account_disabled: 403,
  registration_closed: 403,
  forbidden: 403,
  // A half-finished sign-in that can no longer finish (the account changed under it).
  start_again: 409,
  // A passkey's answer that does not verify (malformed, wrong challenge, origin or RP, replayed).
  passkey_invalid: 400,
  // A passkey this installation (or this account) does not know.
  passkey_unknown: 400,
  // Sign-in with another provider (src/libraries/upstream-sign-in.ts). The provider did not answer
  // (network error, timeout, a 5xx): a gateway error.
  upstream_unavailable: 502,
  // The provider sent the person back with an error (access_denied, …): it said no.
  upstream_refused: 403,
  // What came back cannot be accepted: a state that is not this browser's (forged, replayed), a bad
  // signature, the wrong issuer, audience or nonce, a malformed answer. The callback request is refused.
  upstream_invalid: 400,
  rate_limited: 429,
  unsupported_database: 500,
  store_unavailable: 503,
  migration_required: 500,
  internal: 500,
};

/**
 * `messageId` names the words in the message catalog (src/messages/); `message` is them in English,
 * for logs and the CLI. Pages render the id again in the reader's language.
 */
export class GatehouseError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly messageId: MessageId;
  readonly values: MessageValues | undefined;

  constructor(code: ErrorCode, messageId: MessageId, values?: MessageValues, options?: { cause?: unknown }) {
    // English: `message` is what logs and the CLI print. A page shows wordsFor(error), in its reader's language.
    super(message(messageId, values, 'en'), options);
    this.name = 'GatehouseError';
    this.code = code;
    this.status = statusByCode[code];
    this.messageId = messageId;
    this.values = values;
  }
}

export function isGatehouseError(error: unknown): error is GatehouseError {
  return error instanceof GatehouseError;
}

/** The error's sentence in the language of the request being served. */
export function wordsFor(error: GatehouseError): string {
  // A validation error (src/libraries/validation.ts): its problems' own sentences, without the
  // internal field names a log line has ("password: …"); a form shows each next to its field.
  const issues = (error as { issues?: ReadonlyArray<{ message: string }> }).issues;
  if (Array.isArray(issues) && issues.length) return issues.map((issue) => issue.message).join(' ');
  return message(error.messageId, error.values);
}

/** Turns a zod error into one readable line: "email: Invalid email address; password: Required". */
export function describeIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues
    .map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}
