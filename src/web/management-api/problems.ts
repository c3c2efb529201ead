import type Koa from 'koa';

import { isGatehouseError } from '../../errors.ts';
import type { ErrorCode } from '../../errors.ts';
import { issuesOf } from '../../libraries/validation.ts';
import type { Logger } from '../../logger.ts';
import type { MessageId, MessageValues } from '../../messages/messages.ts';
import { message } from '../../messages/messages.ts';
import { currentRequest } from '../../request-context.ts';

/**
 * RFC 9457 problem details: every refusal of the management API is `application/problem+json`
 * with a stable `type` (a URI naming the problem; it need not be dereferenced), its `title`, the
 * HTTP `status`, a `detail` for this occurrence and `code`, the same word as the URI's last part
 * (a GatehouseError code where one applies). Programs branch on `code` (or `type`), never on words.
 */
export const problemBase = 'https://gatehouse.dev/problems/';

/** Every problem code the API answers with, and its HTTP status. */
export const problemStatus = {
  invalid_input: 400,
  invalid_json: 400,
  unauthorized: 401,
  invalid_token: 401,
  forbidden: 403,
  insufficient_scope: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  precondition_required: 428,
  rate_limited: 429,
  internal: 500,
  not_implemented: 501,
  other: 500,
} as const;

export type ProblemCode = keyof typeof problemStatus;

export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode | ErrorCode;
  /** invalid_input: each field's problem, `path` in the request's own terms (body fields, query parameters). */
  errors?: Array<{ path: string; message: string }>;
  /** insufficient_scope: the scope the token lacks. */
  scope?: string;
};

/** A refusal a handler throws; the router turns it into a problem answer. */
export class ApiProblem extends Error {
  readonly problem: Problem;
  readonly headers: Record<string, string>;

  constructor(code: ProblemCode, messageId: MessageId, values?: MessageValues, extra: { errors?: Problem['errors']; scope?: string; headers?: Record<string, string> } = {}) {
    super(message(messageId, values));
    this.name = 'ApiProblem';
    this.problem = {
      type: `${problemBase}${code}`, title: message(`api.problem.${code}` as MessageId), status: problemStatus[code], detail: this.message, code,
      ...(extra.errors ? { errors: extra.errors } : {}), ...(extra.scope ? { scope: extra.scope } : {}),
    };
    this.headers = extra.headers ?? {};
  }
}

const knownTitle = (code: string): string =>
  code in problemStatus ? message(`api.problem.${code}` as MessageId) : message('api.problem.other');

/** A GatehouseError from a library as a problem: its code and status, its words. */
function fromGatehouseError(error: Parameters<typeof isGatehouseError>[0] & { code: ErrorCode; status: number; message: string }, rename: (path: string) => string): Problem {
  const issues = issuesOf(error);
  return {
    type: `${problemBase}${error.code}`,
    title: knownTitle(error.code),
    status: error.status,
    detail: error.message,
    code: error.code,
    ...(issues ? { errors: issues.map((issue) => ({ path: rename(issue.path.map(String).join('.')), message: issue.message })) } : {}),
  };
}

/** Answers `problem`. */
export function answerProblem(ctx: Koa.Context, problem: Problem, headers: Record<string, string> = {}): void {
  for (const [name, value] of Object.entries(headers)) ctx.set(name, value);
  ctx.status = problem.status;
  ctx.body = problem;
  ctx.type = 'application/problem+json';
}

/**
 * Any error as a problem answer: an ApiProblem or a GatehouseError as itself (field paths renamed
 * to the request's terms), anything else a 500 that says only the request id (the log has the rest).
 */
export function answerError(ctx: Koa.Context, error: unknown, logger: Logger, rename: (path: string) => string = (path) => path): void {
  if (error instanceof ApiProblem) return answerProblem(ctx, error.problem, error.headers);
  if (isGatehouseError(error) && error.status < 500) return answerProblem(ctx, fromGatehouseError(error, rename));
  if (isGatehouseError(error) && error.code === 'store_unavailable') return answerProblem(ctx, fromGatehouseError(error, rename), { 'retry-after': '5' });
  logger.error('management API request failed', { error, path: ctx.path, method: ctx.method });
  const requestId = currentRequest()?.requestId ?? '-';
  answerProblem(ctx, new ApiProblem('internal', 'api.internal', { requestId }).problem);
}
