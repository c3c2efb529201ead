import { z } from 'zod';

import { describeIssues, GatehouseError } from '../errors.ts';
import type { ApiRecord, Store } from '../store/types.ts';

const scopeName = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export const newApiSchema = z.object({
  identifier: z.string().superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `identifier ${JSON.stringify(value)} must be an absolute URI (RFC 8707)` });
      return;
    }
    if (url.hash || value.includes('#')) ctx.addIssue({ code: 'custom', message: 'identifier must not contain a fragment' });
  }),
  name: z.string().trim().min(1).max(200).optional(),
  scopes: z.array(z.string().regex(scopeName, 'scopes are names without spaces or quotes').max(100)).max(100).default([]),
  signingAlg: z.enum(['RS256', 'ES256']).default('RS256'),
  accessTokenTtl: z.number().int().min(60).max(86_400).default(3600),
});

export type NewApiInput = z.input<typeof newApiSchema>;

export async function registerApi(store: Pick<Store, 'apis'>, input: NewApiInput, now = new Date()): Promise<ApiRecord> {
  const parsed = newApiSchema.safeParse(input);
  if (!parsed.success) throw new GatehouseError('invalid_input', describeIssues(parsed.error.issues));
  const api: ApiRecord = { ...parsed.data, scopes: [...new Set(parsed.data.scopes)], createdAt: now };
  await store.apis.create(api);
  return api;
}
