import { createHash } from 'node:crypto';

import { z } from 'zod';

import type { AuditSource } from '../../libraries/audit.ts';
import type { Libraries } from '../../libraries/index.ts';
import { ApiProblem } from './problems.ts';
import type { ManagementScope } from './scopes.ts';

/**
 * What a management API route is made of. One declaration serves three readers: the router (which
 * validates the request with these schemas and checks the scope), the OpenAPI document (generated
 * from the same schemas, openapi.ts) and the tests (every route × a token without its scope).
 */
export type Route = {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** OpenAPI style, under /api/v1: '/clients/{clientId}'. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** The scope a token must have. */
  scope: ManagementScope;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The largest body this route takes, when it is not the API's (router.ts maxBodyBytes); 413 beyond. */
  maxBodyBytes?: number;
  /**
   * An update guarded by ETag: the current representation (its ETag must equal If-Match; 428
   * without one, 412 when it differs) before the change runs.
   */
  current?: (input: RouteInput) => Promise<unknown>;
  /** The success answers: status → description and body schema (none for 204); `etag` when it carries one. */
  responses: Record<number, { description: string; schema?: z.ZodType; etag?: boolean; location?: boolean }>;
  /** Codes of the problems this route may answer beyond every route's (400, 401, 403, 413, 429). */
  problems: number[];
  /** The request's name of a library's field in a refusal (library camelCase → API snake_case by default). */
  fieldName?: (path: string) => string;
  handle(input: RouteInput): Promise<RouteAnswer>;
};

export type RouteInput = {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
  /** Who acts: the machine client (actor `api`), from this address. */
  source: AuditSource;
  /** The URL of this request (for pagination links). */
  url: URL;
};

export type RouteAnswer = { status: number; body?: unknown; etag?: boolean; location?: string };

export type RouteContext = {
  libraries: Libraries;
  /** The management API's own identifier (`${issuer}/api/v1`). */
  identifier: string;
  /** After the key ring changed: this instance's provider signs and publishes with it at once. */
  reloadKeys?: () => Promise<boolean>;
};

/** The strong ETag of a representation: a hash of its JSON. */
export function etagOf(representation: unknown): string {
  return `"${createHash('sha256').update(JSON.stringify(representation)).digest('base64url').slice(0, 27)}"`;
}

// Cursor pagination. A cursor is opaque to callers: base64url JSON of where the last page ended.

export const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50).describe('At most this many items (1-200, 50 by default).'),
  cursor: z.string().max(512).optional().describe('The next_cursor of the previous page; absent for the first.'),
});

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page.'),
  });
}

export function encodeCursor(position: unknown): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

export function decodeCursor<T extends z.ZodType>(cursor: string | undefined, schema: T): z.output<T> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // Below.
  }
  throw new ApiProblem('invalid_input', 'api.bad_cursor', undefined, { errors: [{ path: 'cursor', message: 'unknown cursor' }] });
}

/**
 * One page of a list held in memory, ordered by `key` (unique, stable): the items after the
 * cursor's key. The store's lists are small for these resources (clients, APIs, accounts,
 * connections); a page is cut from the sorted whole.
 */
export function pageByKey<T>(all: T[], key: (item: T) => string, query: { limit: number; cursor?: string | undefined }): { items: T[]; next_cursor: string | null } {
  const after = decodeCursor(query.cursor, z.object({ after: z.string() }))?.after;
  const sorted = [...all].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((item) => key(item) > after);
  const items = rest.slice(0, query.limit);
  const more = rest.length > query.limit;
  return { items, next_cursor: more ? encodeCursor({ after: key(items.at(-1)!) }) : null };
}

/** Renames a library's camelCase field names to the API's snake_case ones ("redirectUris.0" → "redirect_uris.0"). */
export function snakePath(path: string): string {
  return path.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}
