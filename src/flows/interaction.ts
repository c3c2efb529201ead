import type { Context } from 'koa';
import type Provider from 'oidc-provider';

import type { Config } from '../config/load-config.ts';
import { GatehouseError } from '../errors.ts';
import { message } from '../messages/messages.ts';
import { speakForSignIn } from '../messages/request-locale.ts';
import type { Level } from '../oidc/levels.ts';
import { requiredLevel } from '../oidc/levels.ts';
import { requestedAcrValues } from '../oidc/claims-parameter.ts';
import type { FormProtection } from './kit.ts';

/** What every sign-in page needs to know about the interaction it serves. */
export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The provider's prompts our pages handle. */
export type Prompt = 'login' | 'verify_email' | 'mfa' | 'consent';

/** One form field as parsed: a missing field is undefined, a repeated one an array (both fail validation). */
export function field(body: unknown, name: string): unknown {
  return body && typeof body === 'object' ? (body as Record<string, unknown>)[name] : undefined;
}

/** A submitted text, cut to what a page shows again (escaped by the template), or '' when it is not text. */
export function keep(value: unknown, max: number): string {
  return typeof value === 'string' ? value.slice(0, max) : '';
}

export async function clientName(provider: Provider, clientId: unknown): Promise<string> {
  const client = typeof clientId === 'string' ? await provider.Client.find(clientId) : undefined;
  return client?.clientName ?? client?.clientId ?? message('flows.an_application');
}

/**
 * The level this sign-in must reach (src/oidc/levels.ts), from what the provider's own checks read:
 * the client's flags, the request's acr_values, and MFA=required.
 */
export async function requiredLevelOf(deps: { provider: () => Provider; config: Pick<Config, 'accounts'> }, details: InteractionDetails): Promise<Level> {
  const clientId = details.params.client_id;
  const client = typeof clientId === 'string' ? await deps.provider().Client.find(clientId) : undefined;
  return requiredLevel({
    mfaEverywhere: deps.config.accounts.mfa === 'required',
    client: client as unknown as Record<string, unknown> | undefined,
    // acr_values and an essential acr claim alike (the provider's own check would loop otherwise).
    acrValues: requestedAcrValues(details.params),
  });
}

/**
 * The interaction this browser is in (from its cookie), which must be the one the URL names and,
 * when given, be at the expected prompt. Anything else is a stale tab or a forged request. A POST
 * must carry the interaction's form token.
 */
export async function currentInteraction(deps: { provider: () => Provider; forms: FormProtection }, ctx: Context, prompt?: Prompt): Promise<InteractionDetails> {
  const details = await deps.provider().interactionDetails(ctx.req, ctx.res);
  if (details.uid !== ctx.params.uid) throw new GatehouseError('invalid_input', 'flows.sign_in_request_does_not');
  // From here on the page (and any mail it sends) speaks what the application asked for in ui_locales.
  speakForSignIn(ctx, details.params.ui_locales);
  deps.forms.protect(ctx, `interaction:${details.uid}`);
  if (prompt && details.prompt.name !== prompt) throw new GatehouseError('invalid_input', 'flows.sign_in_step_already_complete');
  return details;
}

/** Who an audit event of an interaction page comes from: the source address and the client signing in to. */
export function interactionSource(ctx: Context, details: InteractionDetails): { sourceAddress: string; clientId?: string } {
  const clientId = details.params.client_id;
  return { sourceAddress: ctx.ip, ...(typeof clientId === 'string' ? { clientId } : {}) };
}

/** Sends the browser back to the interaction's page (after a POST that moved the flow on). */
export function showStep(ctx: Context, uid: string, url: (uid: string) => string): void {
  ctx.status = 303;
  ctx.redirect(url(uid));
}

