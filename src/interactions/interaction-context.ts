import type { Context } from 'koa';
import { koaBody } from 'koa-body';
import type Provider from 'oidc-provider';

import type { Config } from '../config/load-config.ts';
import { GatehouseError } from '../errors.ts';
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
 * The interaction this browser is in (from its cookie), which must be the one the URL names and,
 * when given, be at the expected step. Anything else is a stale tab or a forged request.
 */
export async function currentInteraction(provider: Provider, ctx: Context, step?: InteractionStep): Promise<InteractionDetails> {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== ctx.params.uid) throw new GatehouseError('invalid_input', 'This sign-in request does not match your browser session. Start again from the application.');
  if (step && details.prompt.name !== step) throw new GatehouseError('invalid_input', 'This sign-in step is already complete. Start again from the application.');
  return details;
}
