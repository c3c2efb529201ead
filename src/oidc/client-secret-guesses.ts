import { createHash, timingSafeEqual } from 'node:crypto';

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
 * `client_secret_basic` and `client_secret_post` (src/oidc/configuration.ts).
 *
 * Two more rules live in the same place, since the provider treats both secret methods as one:
 * - a client uses exactly the method it is registered with: a `client_secret_basic` client's
 *   secret must come in the Authorization header, a `client_secret_post` client's in the body;
 * - after `clients rotate-secret --overlap-days N`, the previous secret is also right until its
 *   overlap ends (the client adapter opens it; it is no metadata the provider knows).
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

/** Equal strings, compared in constant time (over their digests, so lengths may differ). */
function sameSecret(a: string, b: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** Where the secret came in: the Authorization header (basic) or the body (post). */
function secretCameAs(ctx: Context): 'client_secret_basic' | 'client_secret_post' {
  const params = (ctx as unknown as { oidc?: { params?: { client_secret?: unknown } } }).oidc?.params;
  return params?.client_secret ? 'client_secret_post' : 'client_secret_basic';
}

export function limitClientSecretGuesses(provider: Provider, limits: Pick<AbuseLimits, 'clientSecretChecked'>): void {
  const { prototype } = provider.Client;
  const compare = prototype.compareClientSecret;
  const adapter = (provider.Client as unknown as { adapter?: { previousSecret?: (clientId: string) => Promise<string | undefined> } }).adapter;
  prototype.compareClientSecret = async function compareClientSecret(this: InstanceType<Provider['Client']>, actual: string): Promise<boolean> {
    const ctx = currentRequest();
    const method = this.clientAuthMethod;
    if (ctx && (method === 'client_secret_basic' || method === 'client_secret_post') && secretCameAs(ctx) !== method) {
      throw new errors.InvalidClientAuth('the provided authentication mechanism does not match the registered client authentication method');
    }
    let right = await compare.call(this, actual);
    if (!right && typeof actual === 'string' && adapter?.previousSecret) {
      const previous = await adapter.previousSecret(this.clientId);
      right = previous !== undefined && sameSecret(previous, actual);
    }
    if (!ctx) return right;
    // Without a store there is no counting; the provider then answers its own JSON 503.
    const verdict = await limits.clientSecretChecked(ctx.ip, right).catch(() => ({ ok: true as const }));
    const outcome: ClientSecretOutcome = verdict.ok ? {} : { refusedFor: verdict.retryAfterSeconds };
    (ctx.state as Record<string, ClientSecretOutcome>)[clientSecretOutcomeKey] = outcome;
    if (!verdict.ok) throw new errors.InvalidClientAuth('client authentication refused for now');
    return right;
  };
}
