import { createHmac } from 'node:crypto';
import { statSync } from 'node:fs';

import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';
import type { Configuration } from 'oidc-provider';

import { createAdapterFactory } from '../../src/oidc/adapter.ts';
import { openStore } from '../../src/store/open-store.ts';
import { basicAuth, redirectUri } from './fixture.ts';
import type { RegisteredClient } from './fixture.ts';
import { form, loopbackSource, pkcePair, send } from './http.ts';
import type { SeedRequest, SeedResult } from './seed-models.ts';
import { seedModels } from './seed-models.ts';

export function fileBytes(path: string): number {
  let total = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      total += statSync(`${path}${suffix}`).size;
    } catch {
      // no such file
    }
  }
  return total;
}

/**
 * Writes sessions and tokens into Gatehouse's database through its own adapter (the code its
 * provider stores them with), from this process, while the server runs.
 */
export async function seedGatehouse(databaseUrl: string, keyEncryptionKey: Buffer, cookieKeys: string[], issuer: string, ttl: { grant: number; accessToken: number }, request: SeedRequest): Promise<SeedResult> {
  const store = await openStore(databaseUrl);
  try {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const configuration: Configuration = {
      adapter: createAdapterFactory({ oidc: store.oidc, clients: store.clients, encryptionKey: keyEncryptionKey }),
      jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig' }] } as Configuration['jwks'],
      cookies: { keys: cookieKeys },
      extraClientMetadata: { properties: ['first_party', 'pkce_exempt'] },
      clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
      features: { devInteractions: { enabled: false } },
      // Gatehouse's own lifetimes for what is seeded (config/default.json).
      ttl: { Grant: ttl.grant, AccessToken: ttl.accessToken },
    };
    return await seedModels(new Provider(issuer, configuration), request);
  } finally {
    await store.close();
  }
}

/** Fills the baseline's in-memory adapter through its bench-only endpoint. */
export async function seedBaseline(base: string, request: SeedRequest): Promise<SeedResult> {
  const response = await send(`${base}/__bench/seed`, {
    method: 'POST',
    body: form({ client_id: request.clientId, scope: request.scope, sessions: String(request.sessions), tokens: String(request.tokens) }),
  });
  if (response.status !== 200) throw new Error(`seeding the baseline failed: ${response.status} ${response.body.slice(0, 200)}`);
  return JSON.parse(response.body) as SeedResult;
}

/** The `cookies` package's signature (keygrip: HMAC-SHA1, base64url without padding). */
function signCookie(name: string, value: string, key: string): string {
  return createHmac('sha1', key).update(`${name}=${value}`).digest('base64').replace(/\/|\+|=/g, (x) => ({ '/': '_', '+': '-', '=': '' })[x]!);
}

/**
 * Uses the seeded records over HTTP, so they are live and not just stored: introspects the sample
 * of tokens (each must be active) and resumes the sample of sessions with prompt=none (each must
 * come back with a code, without a login page).
 */
export async function touchSeeded(base: string, client: RegisteredClient & { clientSecret: string }, scope: string, seeded: SeedResult, cookieKey: string): Promise<{ activeTokens: number; resumedSessions: number }> {
  let activeTokens = 0;
  for (const token of seeded.tokens) {
    const response = await send(`${base}/token/introspection`, { method: 'POST', headers: { authorization: basicAuth(client) }, body: form({ token }) });
    if (response.status === 200 && (JSON.parse(response.body) as { active: boolean }).active) activeTokens += 1;
  }
  let resumedSessions = 0;
  for (const sessionId of seeded.sessions) {
    const { challenge } = pkcePair();
    const query = form({ client_id: client.clientId, response_type: 'code', redirect_uri: redirectUri, scope, prompt: 'none', code_challenge: challenge, code_challenge_method: 'S256', state: 'seeded' });
    // Each session from its own address, as its person would come back (see loopbackSource).
    const response = await send(`${base}/auth?${query}`, { headers: { cookie: `_session=${sessionId}; _session.sig=${signCookie('_session', sessionId, cookieKey)}` }, localAddress: loopbackSource() });
    const location = response.headers.location ? new URL(response.headers.location, base) : undefined;
    if (location?.href.startsWith(redirectUri) && location.searchParams.get('code')) resumedSessions += 1;
  }
  return { activeTokens, resumedSessions };
}
