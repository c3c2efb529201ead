import { z } from 'zod';

import type { RegistrationTokenSummary } from '../../libraries/registration-tokens.ts';
import type { Route, RouteContext } from './kit.ts';

/** An initial access token for dynamic client registration as listed: never its value. */
export const registrationTokenSchema = z.object({
  id: z.string().describe('Its first six characters.'),
  note: z.string().optional(),
  created_at: z.string(),
  expires_at: z.string(),
}).meta({ id: 'RegistrationToken' });

function tokenJson(token: RegistrationTokenSummary): z.output<typeof registrationTokenSchema> {
  return { id: token.id, ...(token.note !== undefined ? { note: token.note } : {}), created_at: token.createdAt.toISOString(), expires_at: token.expiresAt.toISOString() };
}

const createdTokenSchema = registrationTokenSchema.extend({ token: z.string().describe('The bearer token: shown this once.') }).meta({ id: 'CreatedRegistrationToken' });
const newTokenBody = z.strictObject({
  days: z.number().optional().describe('Days until it expires (7 by default, at most 365).'),
  note: z.string().max(200).optional(),
}).meta({ id: 'NewRegistrationToken' });

/** Initial access tokens for CLIENT_REGISTRATION=token (`gatehouse registration tokens …`): clients' business. */
export function registrationTokenRoutes({ libraries }: RouteContext): Route[] {
  return [
    {
      method: 'get', path: '/registration-tokens', operationId: 'listRegistrationTokens', summary: 'Initial access tokens not yet expired nor revoked', tag: 'Clients', scope: 'clients:read',
      problems: [],
      responses: { 200: { description: 'Oldest first', schema: z.object({ items: z.array(registrationTokenSchema) }) } },
      async handle() {
        return { status: 200, body: { items: (await libraries.registrationTokens.list()).map(tokenJson) } };
      },
    },
    {
      method: 'post', path: '/registration-tokens', operationId: 'createRegistrationToken', summary: 'A new initial access token (its value is in this answer only)', tag: 'Clients', scope: 'clients:write',
      body: newTokenBody, problems: [], fieldName: (path) => (path === 'expiresInDays' ? 'days' : path),
      responses: { 201: { description: 'Created', schema: createdTokenSchema } },
      async handle({ body, source }) {
        const input = body as z.output<typeof newTokenBody>;
        const created = await libraries.registrationTokens.create({ ...(input.days !== undefined ? { expiresInDays: input.days } : {}), ...(input.note !== undefined ? { note: input.note } : {}) }, source);
        return { status: 201, body: { token: created.token, ...tokenJson(created) } };
      },
    },
    {
      method: 'post', path: '/registration-tokens/{tokenId}/revoke', operationId: 'revokeRegistrationToken', summary: 'Revoke an initial access token', tag: 'Clients', scope: 'clients:write',
      params: z.object({ tokenId: z.string().max(200).describe('Its first six characters (or more).') }), problems: [404, 409],
      responses: { 200: { description: 'The revoked token', schema: registrationTokenSchema } },
      async handle({ params, source }) {
        return { status: 200, body: tokenJson(await libraries.registrationTokens.revoke(params.tokenId!, source)) };
      },
    },
  ];
}
