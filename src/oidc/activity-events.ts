import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { Clock } from '../clock.ts';
import { epochSeconds } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import type { DevicesLibrary } from '../libraries/devices.ts';
import type { Logger } from '../logger.ts';
import { sessionTtl } from './configuration.ts';

/**
 * What the account centre shows of sessions and apps, from the provider's events
 * (src/libraries/devices.ts keeps it, throttled to one write a minute):
 *
 * - `authorization.success`: the browser's session was used (a sign-in to an app, the account
 *   page's own, a silent renewal): its device, address and sign-in methods. The authorization
 *   endpoint saves the session anyway; the token, userinfo and introspection paths never touch this.
 * - `grant.success`: tokens were issued to an app for a person (code or refresh): its last use.
 *
 * A failed write is logged and never fails the request.
 */
export function recordAccountActivity(provider: Provider, deps: { devices: DevicesLibrary; config: Pick<Config, 'sessions'>; clock: Clock; logger: Logger }): void {
  const { devices, config, clock, logger } = deps;
  const failed = (error: unknown) => logger.warn('recording account activity failed', { error });
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => {
    const session = ctx.oidc?.session;
    const accountId = session?.accountId;
    if (!session || typeof accountId !== 'string' || typeof session.jti !== 'string') return;
    const amr = Array.isArray(session.amr) ? session.amr.filter((each): each is string => typeof each === 'string') : [];
    const now = epochSeconds(clock);
    const userAgent = ctx.get('user-agent');
    devices.sessionSeen({
      sessionId: session.jti,
      accountId,
      ...(userAgent ? { userAgent } : {}),
      ...(ctx.ip ? { sourceAddress: ctx.ip } : {}),
      amr,
      loginTs: session.loginTs,
      expiresAt: new Date((now + sessionTtl(config, { amr, loginTs: session.loginTs }, now)) * 1000),
    }).catch(failed);
  });
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const entities = ctx.oidc?.entities as { Grant?: { accountId?: unknown }; Account?: { accountId?: unknown } } | undefined;
    const accountId = entities?.Grant?.accountId ?? entities?.Account?.accountId;
    const clientId = ctx.oidc?.client?.clientId;
    if (typeof accountId !== 'string' || !clientId) return;
    devices.appUsed(accountId, clientId).catch(failed);
  });
}
