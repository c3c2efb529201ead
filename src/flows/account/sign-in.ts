import { createHash, randomBytes } from 'node:crypto';

import { z } from 'zod';

import { GatehouseError } from '../../errors.ts';
import { message } from '../../messages/messages.ts';
import type { MessageId, MessageValues } from '../../messages/messages.ts';
import { accountClientId, accountRedirectUri, accountScope } from '../../oidc/account-client.ts';
import type { InProcessRequest, InProcessResponse } from './in-process.ts';

/**
 * How the account page signs in: the authorization code flow with PKCE against Gatehouse itself,
 * like any relying party. What it keeps between the redirect and the callback (state, nonce, PKCE
 * verifier) lives in a short-lived signed cookie (see handler.ts).
 */

/**
 * A section of the account page (`/account`, `/account/sessions`, …): where a sign-in started from
 * there comes back to. Only such a path, never a URL: nothing can make the callback redirect away.
 */
const accountPath = /^\/account(\/[a-z][a-z-]{0,31})?$/;

export function accountPathOrUndefined(path: unknown): string | undefined {
  return typeof path === 'string' && accountPath.test(path) ? path : undefined;
}

export const pendingSignInSchema = z.object({
  state: z.string().min(1).max(100),
  nonce: z.string().min(1).max(100),
  verifier: z.string().min(43).max(128),
  /** Unix seconds. */
  exp: z.number().int(),
  /** The section to come back to after the sign-in (accountPath). */
  returnTo: z.string().regex(accountPath).optional(),
});

export type PendingSignIn = z.infer<typeof pendingSignInSchema>;

/** How long a sign-in may take from the redirect to the callback: like an interaction. */
export function newPendingSignIn(now: Date, lifetimeSeconds: number, returnTo?: string): PendingSignIn {
  const random = () => randomBytes(32).toString('base64url');
  const back = accountPathOrUndefined(returnTo);
  return { state: random(), nonce: random(), verifier: random(), exp: Math.floor(now.getTime() / 1000) + lifetimeSeconds, ...(back ? { returnTo: back } : {}) };
}

export function codeChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** `fresh`: sign in again even with a session (password and second factor), for sensitive changes. */
export function authorizationUrl(issuer: string, pending: PendingSignIn, options: { fresh?: boolean } = {}): string {
  const params = new URLSearchParams({
    ...(options.fresh ? { prompt: 'login' } : {}),
    client_id: accountClientId,
    response_type: 'code',
    scope: accountScope,
    redirect_uri: accountRedirectUri(issuer),
    state: pending.state,
    nonce: pending.nonce,
    code_challenge: codeChallenge(pending.verifier),
    code_challenge_method: 'S256',
  });
  return `${issuer}/auth?${params.toString()}`;
}

/** What the account page needs from the ID token. */
export type SignedIn = { sub: string; authTime: number; amr: string[]; acr?: string };

const idTokenClaimsSchema = z.object({
  iss: z.string(),
  sub: z.string().min(1).max(255),
  aud: z.union([z.string(), z.array(z.string())]),
  azp: z.string().optional(),
  exp: z.number(),
  nonce: z.string().optional(),
  auth_time: z.number().int(),
  amr: z.array(z.string()).optional(),
  acr: z.string().optional(),
});

function invalidResponse(detail: MessageId, values?: MessageValues): GatehouseError {
  return new GatehouseError('internal', 'account.account_page_could_not_complete', { detail: message(detail, values) });
}

/**
 * Checks an ID token received straight from the token endpoint. The signature is not verified:
 * the token came over an in-process call to our own provider, which OpenID Connect Core 3.1.3.7
 * allows in place of it (the direct TLS channel case); everything else is checked.
 */
export function checkIdToken(idToken: string, expected: { issuer: string; nonce: string; now: Date }): SignedIn {
  const parts = idToken.split('.');
  if (parts.length !== 3) throw invalidResponse('account.id_token_not_jwt');
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8'));
  } catch {
    throw invalidResponse('account.id_token_not_json');
  }
  const parsed = idTokenClaimsSchema.safeParse(payload);
  if (!parsed.success) throw invalidResponse('account.id_token_lacks_claims');
  const claims = parsed.data;
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== expected.issuer) throw invalidResponse('account.id_token_issuer');
  if (!audiences.includes(accountClientId) || (audiences.length > 1 && claims.azp !== accountClientId)) throw invalidResponse('account.id_token_audience');
  if (claims.exp * 1000 <= expected.now.getTime()) throw invalidResponse('account.id_token_expired');
  if (claims.nonce !== expected.nonce) throw invalidResponse('account.id_token_nonce');
  return { sub: claims.sub, authTime: claims.auth_time, amr: claims.amr ?? [], ...(claims.acr ? { acr: claims.acr } : {}) };
}

const tokenResponseSchema = z.object({ id_token: z.string(), token_type: z.string() });

/**
 * Redeems the authorization code at the provider's token endpoint (in-process, see
 * in-process.ts) and checks the ID token. A code the provider refuses (expired, used, not ours)
 * is the person's problem (400); anything else is ours.
 */
export async function redeemCode(
  send: (input: InProcessRequest) => Promise<InProcessResponse>,
  input: { issuer: string; pending: PendingSignIn; code: string; now: Date },
): Promise<SignedIn> {
  const response = await send({
    method: 'POST',
    path: '/token',
    headers: { host: new URL(input.issuer).host, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: input.code,
      redirect_uri: accountRedirectUri(input.issuer),
      code_verifier: input.pending.verifier,
      client_id: accountClientId,
    }).toString(),
  });
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    throw invalidResponse('account.token_endpoint_not_json', { status: response.status });
  }
  if (response.status === 400 && (json as { error?: unknown }).error === 'invalid_grant') {
    throw new GatehouseError('invalid_input', 'account.sign_in_has_expired_or');
  }
  const tokens = tokenResponseSchema.safeParse(json);
  if (response.status !== 200 || !tokens.success) throw invalidResponse('account.token_endpoint_refused', { status: response.status, error: String((json as { error?: unknown }).error ?? '') });
  return checkIdToken(tokens.data.id_token, { issuer: input.issuer, nonce: input.pending.nonce, now: input.now });
}
