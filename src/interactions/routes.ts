import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';

import { authenticate, passwordSettingsFrom } from '../accounts/accounts.ts';
import { acr, isActive } from '../accounts/second-factor.ts';
import { recordAudit } from '../audit/audit.ts';
import { loginFormSchema } from '../accounts/schemas.ts';
import type { Config } from '../config/load-config.ts';
import { GatehouseError, isGatehouseError } from '../errors.ts';
import type { AbuseLimits } from '../limits/abuse-limits.ts';
import type { Logger } from '../logger.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { Store } from '../store/types.ts';
import { describeConsent, grantConsent } from './consent.ts';
import type { InteractionDetails } from './consent.ts';
import { clientName, currentInteraction, field, formParser, interactionSource } from './interaction-context.ts';
import { createRegistrationRoutes, hasPendingRegistration } from './registration-routes.ts';
import { awaitsSecondFactor, createSecondFactorRoutes, requireSecondFactor } from './second-factor-routes.ts';
import { createSignInCodeRoutes, hasPendingSignInCode } from './sign-in-code-routes.ts';
import type { Views } from './views.ts';
import { viewsDir } from './views.ts';

/** `provider` returns the provider serving now: it is rebuilt when signing keys change. */
export type InteractionDependencies = {
  provider: () => Provider;
  store: Store;
  views: Views;
  config: Config;
  outbox: Outbox;
  logger: Logger;
  /** Abuse limits shared through the store (src/limits/). */
  limits: AbuseLimits;
  /** Keys the hashes of mailed codes (see accounts/one-time-codes.ts). */
  keyEncryptionKey: Buffer;
};

export function limitedMessage(verdict: { reason: 'slow_down' | 'locked'; retryAfterSeconds: number }): string {
  if (verdict.reason === 'locked') return 'Too many failed sign-ins for this address. Use “Forgot password?” to choose a new password and unlock it.';
  return `Too many attempts. Wait ${verdict.retryAfterSeconds} ${verdict.retryAfterSeconds === 1 ? 'second' : 'seconds'}, then try again.`;
}

/** Our own pages: login, consent, and the landing page. Logic lives in accounts/ and consent.ts. */
export function createInteractionRouter(deps: InteractionDependencies): Router {
  const { store, views, config } = deps;
  const passwords = passwordSettingsFrom(config);
  const router = new Router();
  const form = formParser(config);
  const stylesheet = readFileSync(join(viewsDir, 'assets', 'gatehouse.css'));

  router.get('/', (ctx) => {
    views.render(ctx, 'home', { title: 'Gatehouse', issuer: config.issuer });
  });

  router.get('/assets/gatehouse.css', (ctx) => {
    ctx.type = 'text/css; charset=utf-8';
    ctx.set('cache-control', 'public, max-age=3600');
    ctx.body = stylesheet;
  });

  // Browsers ask for it on every page; "nothing" answered once and cached beats a logged 404.
  router.get('/favicon.ico', (ctx) => {
    ctx.set('cache-control', 'public, max-age=86400');
    ctx.status = 204;
  });

  async function renderLogin(ctx: Context, details: InteractionDetails, extra: { error?: string; email?: string; notice?: string } = {}, status = 200) {
    views.render(ctx, 'login', {
      title: 'Sign in',
      uid: details.uid,
      clientName: await clientName(deps.provider(), details.params.client_id),
      email: extra.email ?? (typeof details.params.login_hint === 'string' ? details.params.login_hint : ''),
      error: extra.error,
      notice: extra.notice,
      registrationOpen: config.accounts.registration === 'open',
    }, status);
  }

  const registration = createRegistrationRoutes(deps);
  const secondFactor = createSecondFactorRoutes(deps);
  const signInCode = createSignInCodeRoutes(deps);

  router.get('/interaction/:uid', async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    switch (details.prompt.name) {
      case 'login':
        if (hasPendingRegistration(details)) return registration.showVerification(ctx, details);
        if (awaitsSecondFactor(details)) return secondFactor.show(ctx, details);
        if (hasPendingSignInCode(details)) return signInCode.show(ctx, details);
        return renderLogin(ctx, details);
      case 'verify_email':
        return registration.showVerification(ctx, details);
      case 'mfa':
        return secondFactor.show(ctx, details);
      case 'consent':
        return views.render(ctx, 'consent', {
          title: 'Allow access',
          uid: details.uid,
          clientName: await clientName(deps.provider(), details.params.client_id),
          ...describeConsent(details),
        });
      default:
        throw new GatehouseError('invalid_input', `This sign-in step (${details.prompt.name}) is not supported.`);
    }
  });

  router.post('/interaction/:uid/login', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const submitted = { email: field(ctx.request.body, 'email'), password: field(ctx.request.body, 'password') };
    const parsed = loginFormSchema.safeParse(submitted);
    // Shown again in the form (escaped by the template), so a typo in the password costs one field.
    const email = typeof submitted.email === 'string' ? submitted.email.slice(0, 254) : '';
    if (!parsed.success) return renderLogin(ctx, details, { error: 'Enter your email address and password.', email }, 400);
    // Guessing is slowed per address typed and per source (the same whether an account exists).
    // The attempt is reserved before the password is checked: a burst cannot outrun the limits.
    const gate = await deps.limits.passwordAttempt(parsed.data.email, ctx.ip);
    if (!gate.ok) {
      await recordAudit(store.audit, { type: 'login_failed', actor: 'user', ...interactionSource(ctx, details), details: { reason: gate.reason === 'locked' ? 'locked' : 'rate_limited' } }, deps.logger);
      ctx.set('retry-after', String(gate.retryAfterSeconds));
      return renderLogin(ctx, details, { error: limitedMessage(gate), email }, 429);
    }
    const { attempt } = gate;
    // Limited as a whole, but not from here: the owner still gets in, with a code from her mailbox.
    if (gate.stepUp) return signInCode.begin(ctx, details, { email: parsed.data.email, password: parsed.data.password, attempt });
    let accountId: string;
    try {
      accountId = (await authenticate(store, parsed.data.email, parsed.data.password, passwords)).id;
    } catch (error) {
      if (isGatehouseError(error) && error.code === 'invalid_credentials') await attempt.failed();
      else await attempt.cancel();
      if (isGatehouseError(error) && (error.code === 'invalid_credentials' || error.code === 'account_disabled')) {
        // Looked up in both cases (an unknown address costs the same): the owner's trail shows the attempt.
        const account = await store.accounts.findByEmail(parsed.data.email);
        await recordAudit(store.audit, {
          type: 'login_failed', actor: 'user', ...interactionSource(ctx, details), ...(account ? { accountId: account.id } : {}),
          details: { reason: error.code },
        }, deps.logger);
        return renderLogin(ctx, details, { error: error.message, email }, error.status);
      }
      throw error;
    }
    await attempt.succeeded();
    // With an authenticator app the login is not finished yet: the code comes first.
    if (isActive(await store.secondFactors.find(accountId))) return requireSecondFactor(deps, ctx, details, accountId);
    await recordAudit(store.audit, {
      type: 'login', actor: 'user', accountId, ...interactionSource(ctx, details),
      details: { amr: ['pwd'] },
    }, deps.logger);
    await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId, amr: ['pwd'], acr: acr.password } }, { mergeWithLastSubmission: false });
  });

  router.post('/interaction/:uid/consent', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'consent');
    const decision = field(ctx.request.body, 'decision');
    if (decision !== 'allow' && decision !== 'deny') throw new GatehouseError('invalid_input', 'Choose Allow or Deny.');
    const result = decision === 'allow'
      ? await grantConsent(deps.provider(), details)
      : { error: 'access_denied', error_description: 'The user denied the request.' };
    await recordAudit(store.audit, {
      type: decision === 'allow' ? 'consent_given' : 'consent_denied', actor: 'user', ...interactionSource(ctx, details),
      ...(details.session?.accountId ? { accountId: details.session.accountId } : {}),
      details: { scope: typeof details.params.scope === 'string' ? details.params.scope : '' },
    }, deps.logger);
    await deps.provider().interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  });

  router.post('/interaction/:uid/abort', form, async (ctx) => {
    await currentInteraction(deps, ctx);
    await deps.provider().interactionFinished(ctx.req, ctx.res, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' }, { mergeWithLastSubmission: false });
  });

  router.use(registration.router.routes());
  router.use(secondFactor.router.routes());
  router.use(signInCode.router.routes());
  return router;
}
