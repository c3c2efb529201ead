import { z } from 'zod';

import type { SigningKeyRecord } from '../../store/types.ts';
import type { Route, RouteContext } from './kit.ts';

export const signingKeySchema = z.object({
  kid: z.string(),
  alg: z.string(),
  state: z.enum(['next', 'current', 'retired']),
  created_at: z.string(),
  activates_at: z.string().optional(),
  activated_at: z.string().optional(),
  retired_at: z.string().optional(),
}).meta({ id: 'SigningKey', description: 'A signing key of the ring (public facts only).' });

function keyJson(key: SigningKeyRecord): z.output<typeof signingKeySchema> {
  return {
    kid: key.kid, alg: key.alg, state: key.state as 'next' | 'current' | 'retired', created_at: key.createdAt.toISOString(),
    ...(key.activatesAt ? { activates_at: key.activatesAt.toISOString() } : {}),
    ...(key.activatedAt ? { activated_at: key.activatedAt.toISOString() } : {}),
    ...(key.retiredAt ? { retired_at: key.retiredAt.toISOString() } : {}),
  };
}

const ringSchema = z.object({ version: z.number().int(), items: z.array(signingKeySchema) }).meta({ id: 'KeyRing' });

const rotateKeysBody = z.strictObject({ immediately: z.boolean().default(false) }).meta({ id: 'RotateKeys' });
const importKeysBody = z.object({ keys: z.array(z.looseObject({ kty: z.string() })).min(1).max(10) })
  .meta({ id: 'PrivateJwks', description: 'A private JWK Set, as in jwks.json.example: each key becomes the next key of its algorithm.' });

export function keyRoutes({ libraries, reloadKeys }: RouteContext): Route[] {
  /** The ring after a change, with this instance's provider already signing (and publishing) with it. */
  const answer = async (ring: { version: number; keys: SigningKeyRecord[] }) => {
    await reloadKeys?.();
    return { status: 200, body: { version: ring.version, items: ring.keys.map(keyJson) } };
  };
  return [
    {
      method: 'get', path: '/keys', operationId: 'listKeys', summary: 'The signing key ring', tag: 'Signing keys', scope: 'keys:read',
      problems: [],
      responses: { 200: { description: 'Every key: next, current, retired', schema: ringSchema } },
      async handle() {
        const ring = await libraries.signingKeys.ring();
        return { status: 200, body: { version: ring.version, items: ring.keys.map(keyJson) } };
      },
    },
    {
      method: 'post', path: '/keys/rotate', operationId: 'rotateKeys', summary: 'Rotate: publish next keys (immediately: new keys sign now, for a suspected leak)', tag: 'Signing keys', scope: 'keys:write',
      body: rotateKeysBody, problems: [],
      responses: { 200: { description: 'The ring after the rotation', schema: ringSchema } },
      async handle({ body, source }) {
        const { ring } = await libraries.signingKeys.rotate({ immediately: (body as { immediately: boolean }).immediately }, source);
        return answer(ring);
      },
    },
    {
      method: 'post', path: '/keys/import', operationId: 'importKeys', summary: 'Import private keys (each becomes the next key of its algorithm)', tag: 'Signing keys', scope: 'keys:write',
      body: importKeysBody, problems: [409],
      responses: { 200: { description: 'The ring after the import (public facts only)', schema: ringSchema } },
      async handle({ body, source }) {
        const { ring } = await libraries.signingKeys.import(body, source);
        return answer(ring);
      },
    },
    {
      method: 'post', path: '/keys/{kid}/revoke', operationId: 'revokeKey', summary: 'Revoke a key (emergency: unpublished at once; tokens it signed stop verifying)', tag: 'Signing keys', scope: 'keys:write',
      params: z.object({ kid: z.string().max(200) }), problems: [404, 409],
      responses: { 200: { description: 'The ring after the revocation', schema: ringSchema } },
      async handle({ params, source }) {
        const { ring } = await libraries.signingKeys.revoke(params.kid!, source);
        return answer(ring);
      },
    },
  ];
}
