import { z } from 'zod';

import { systemClock } from '../clock.ts';
import { GatehouseError } from '../errors.ts';
import { message } from '../messages/messages.ts';
import type { ApiRecord, Store } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { invalidInput } from './validation.ts';

const scopeName = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export const newApiSchema = z.object({
  identifier: z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: message('libraries.api_identifier_not_absolute', { value: JSON.stringify(value) }) });
      return;
    }
    if (url.hash || value.includes('#')) ctx.addIssue({ code: 'custom', message: message('libraries.api_identifier_fragment') });
  }),
  name: z.string().trim().min(1).max(200).optional(),
  scopes: z.array(z.string().regex(scopeName, message('libraries.scope_names')).max(100)).max(100).default([]),
  signingAlg: z.enum(['RS256', 'ES256']).default('RS256'),
  accessTokenTtl: z.number().int().min(60).max(86_400).default(3600),
});

export type NewApiInput = z.input<typeof newApiSchema>;

export async function registerApi(store: Pick<Store, 'apis'>, input: NewApiInput, now = systemClock()): Promise<ApiRecord> {
  const parsed = newApiSchema.safeParse(input);
  if (!parsed.success) throw invalidInput(parsed.error.issues);
  const api: ApiRecord = { ...parsed.data, scopes: [...new Set(parsed.data.scopes)], createdAt: now };
  await store.apis.create(api);
  return api;
}

/** The APIs (resource servers) tokens can be issued for. */
export type ApisLibrary = {
  /** Registers an API; audited as `api_added`. Throws InvalidInputError, or `conflict` for an identifier in use. */
  register(input: NewApiInput, source: AuditSource): Promise<ApiRecord>;
  list(): Promise<ApiRecord[]>;
  find(identifier: string): Promise<ApiRecord | undefined>;
  /** Removes an API (`not_found` when there is none); audited as `api_removed`. */
  remove(identifier: string, source: AuditSource): Promise<void>;
  /**
   * Replaces an API's name, scopes, algorithm and token lifetime (validated as a new API's; an
   * absent name is removed): `not_found` when there is none. Audited as `api_updated` (what
   * changed) when anything did.
   */
  update(identifier: string, input: Omit<NewApiInput, 'identifier'>, source: AuditSource): Promise<ApiRecord>;
};

export function apisLibrary(deps: Pick<LibraryDependencies, 'store' | 'clock' | 'logger'>): ApisLibrary {
  const { store, clock, logger } = deps;
  const audit = (type: string, source: AuditSource, details: Record<string, unknown>) => recordAudit(store.audit, auditEvent(type, source, { details }), logger, clock);
  return {
    async register(input, source) {
      const api = await registerApi(store, input, clock());
      await audit('api_added', source, { identifier: api.identifier, scopes: api.scopes });
      return api;
    },
    list: () => store.apis.list(),
    find: (identifier) => store.apis.find(identifier),
    async remove(identifier, source) {
      if (!(await store.apis.remove(identifier))) throw new GatehouseError('not_found', 'libraries.no_api', { identifier });
      await audit('api_removed', source, { identifier });
    },
    async update(identifier, input, source) {
      const parsed = newApiSchema.safeParse({ ...input, identifier });
      if (!parsed.success) throw invalidInput(parsed.error.issues);
      const existing = await store.apis.find(identifier);
      if (!existing) throw new GatehouseError('not_found', 'libraries.no_api', { identifier });
      const { name, ...rest } = parsed.data;
      const next: ApiRecord = { ...rest, ...(name ? { name } : {}), scopes: [...new Set(parsed.data.scopes)], createdAt: existing.createdAt };
      const changed = (['name', 'scopes', 'signingAlg', 'accessTokenTtl'] as const).filter((key) => JSON.stringify(next[key]) !== JSON.stringify(existing[key]));
      if (changed.length === 0) return existing;
      if (!(await store.apis.replace(next))) throw new GatehouseError('not_found', 'libraries.no_api', { identifier });
      await audit('api_updated', source, { identifier, changed, scopes: next.scopes });
      return next;
    },
  };
}
