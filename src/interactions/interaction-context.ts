import { timingSafeEqual } from 'node:crypto';

import type { Context } from 'koa';
import { koaBody } from 'koa-body';
import type Provider from 'oidc-provider';

import type { Config } from '../config/load-config.ts';
import { GatehouseError } from '../errors.ts';
import { keyedHash } from '../keys/encryption.ts';
import type { CodeDependencies } from '../accounts/one-time-codes.ts';
import { createCodeHasher } from '../accounts/one-time-codes.ts';
import type { Store } from '../store/types.ts';
import type { InteractionDetails } from './consent.ts';

/** What every page route needs to know about the request it serves. */

/** One form field as parsed: a missing field is undefined, a repeated one an array (both fail validation). */
export function field(body: unknown, name: string): unknown {
  return body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
}

/** Our forms are small url-encoded bodies; anything larger or of another type is refused. */
export function formParser(config: Pick<Config, 'formBodyLimitBytes'>) {
  return koaBody({ json: false, text: false, multipart: false, urlencoded: true, formLimit: config.formBodyLimitBytes });
}

export async function clientName(provider: Provider, clientId: unknown): Promise<string> {
  const client = typeof clientId === 'string' ? await provider.Client.find(clientId) : undefined;
  return client?.clientName ?? client?.clientId ?? 'an application';
}

/** The steps of a sign-in our pages handle (the provider's prompts, ours included). */
export type InteractionStep = 'login' | 'verify_email' | 'mfa' | 'consent';

/**
 * CSRF tokens for our forms: an HMAC of what the form belongs to (an interaction, a mailed link)
 * under a key derived from KEY_ENCRYPTION_KEY. A forged cross-site POST cannot know it; the
 * interaction's own cookie binding is the second line.
 */
export function csrfToken(keyEncryptionKey: Buffer, scope: string): string {
  return keyedHash(keyEncryptionKey, 'csrf', scope);
}

/** Makes the form token available to the templates (views.render adds it) and checks it on POST. */
export function protectForm(ctx: Context, keyEncryptionKey: Buffer, scope: string): void {
  const expected = csrfToken(keyEncryptionKey, scope);
  ctx.state.csrf = expected;
  if (ctx.method !== 'POST') return;
  const submitted = field(ctx.request.body, 'csrf');
  const ok = typeof submitted === 'string' && submitted.length === expected.length && timingSafeEqual(Buffer.from(submitted), Buffer.from(expected));
  if (!ok) throw new GatehouseError('forbidden', 'This form has expired or did not come from this site. Go back, reload the page and try again.');
}

/** What currentInteraction needs: the provider serving now, and the key of form tokens. */
export type InteractionAccess = { provider: () => Provider; keyEncryptionKey: Buffer };

/**
 * The interaction this browser is in (from its cookie), which must be the one the URL names and,
 * when given, be at the expected step. Anything else is a stale tab or a forged request. A POST
 * must carry the interaction's form token.
 */
export async function currentInteraction(access: InteractionAccess, ctx: Context, step?: InteractionStep): Promise<InteractionDetails> {
  const details = await access.provider().interactionDetails(ctx.req, ctx.res);
  if (details.uid !== ctx.params.uid) throw new GatehouseError('invalid_input', 'This sign-in request does not match your browser session. Start again from the application.');
  protectForm(ctx, access.keyEncryptionKey, `interaction:${details.uid}`);
  if (step && details.prompt.name !== step) throw new GatehouseError('invalid_input', 'This sign-in step is already complete. Start again from the application.');
  return details;
}

/** Who an audit event of an interaction page comes from: the source address and the client signing in to. */
export function interactionSource(ctx: Context, details: InteractionDetails): { sourceAddress: string; clientId?: string } {
  const clientId = details.params.client_id;
  return { sourceAddress: ctx.ip, ...(typeof clientId === 'string' ? { clientId } : {}) };
}

/** The mailed codes of one kind (their store, keyed hasher and rules), living `ttlSeconds`. */
export function mailedCodes(deps: { store: Pick<Store, 'codes'>; config: Pick<Config, 'accounts'>; keyEncryptionKey: Buffer }, ttlSeconds: number): CodeDependencies {
  const { codeMaxAttempts, resendCooldownSeconds } = deps.config.accounts;
  return { codes: deps.store.codes, hash: createCodeHasher(deps.keyEncryptionKey), rules: { ttlSeconds, maxAttempts: codeMaxAttempts, resendCooldownSeconds } };
}
