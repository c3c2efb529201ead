import type { Context } from 'koa';
import Provider, { errors } from 'oidc-provider';

import type { AbuseLimits } from '../limits/abuse-limits.ts';

/**
 * Guessing client secrets is limited where the provider compares them, and nowhere else: the
 * comparison is wrapped so that its answer is given only when the per-source limit allows it
 * (src/limits/abuse-limits.ts, `clientSecretChecked`). A refused answer never leaves the provider
 * (it stops with invalid_client, and the web layer turns that into a 429 with Retry-After), so a
 * burst learns no more than the free answers. Requests that compare no secret (public clients,
 * a token of a known client) touch no counter; a right secret costs one read.
 *
 * Every client authentication method that evaluates a secret must go through this comparison:
 * today `client_secret_basic` is the only one enabled (src/oidc/configuration.ts).
 */

/** Where the comparison leaves its outcome for the request's middleware (src/web/request-limits.ts). */
export const clientSecretOutcomeKey = 'gatehouseClientSecret';

export type ClientSecretOutcome = { refusedFor?: number };

/** The outcome of this request's secret comparison, if one ran. */
export function clientSecretOutcome(ctx: Pick<Context, 'state'>): ClientSecretOutcome | undefined {
  return (ctx.state as Record<string, ClientSecretOutcome | undefined>)[clientSecretOutcomeKey];
}

/** The request the provider is serving now (it keeps it in an AsyncLocalStorage; untyped upstream). */
const currentRequest = (): Context | undefined => (Provider as unknown as { ctx?: Context }).ctx;

export function limitClientSecretGuesses(provider: Provider, limits: Pick<AbuseLimits, 'clientSecretChecked'>): void {
  const { prototype } = provider.Client;
  const compare = prototype.compareClientSecret;
  prototype.compareClientSecret = async function compareClientSecret(this: InstanceType<Provider['Client']>, actual: string): Promise<boolean> {
    const right = await compare.call(this, actual);
    const ctx = currentRequest();
    if (!ctx) return right;
    // Without a store there is no counting; the provider then answers its own JSON 503.
    const verdict = await limits.clientSecretChecked(ctx.ip, right).catch(() => ({ ok: true as const }));
    const outcome: ClientSecretOutcome = verdict.ok ? {} : { refusedFor: verdict.retryAfterSeconds };
    (ctx.state as Record<string, ClientSecretOutcome>)[clientSecretOutcomeKey] = outcome;
    if (!verdict.ok) throw new errors.InvalidClientAuth('client authentication refused for now');
    return right;
  };
}
