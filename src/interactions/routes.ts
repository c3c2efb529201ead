import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';

import { authenticate, passwordSettingsFrom } from '../accounts/accounts.ts';
import { acr, isActive } from '../accounts/second-factor.ts';
import { loginFormSchema } from '../accounts/schemas.ts';
import type { Config } from '../config/load-config.ts';
import { GatehouseError, isGatehouseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { Store } from '../store/types.ts';
import { describeConsent, grantConsent } from './consent.ts';
import type { InteractionDetails } from './consent.ts';
import { clientName, currentInteraction, field, formParser } from './interaction-context.ts';
import { createRegistrationRoutes, hasPendingRegistration } from './registration-routes.ts';
import { awaitsSecondFactor, createSecondFactorRoutes, requireSecondFactor } from './second-factor-routes.ts';
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
  /** Keys the hashes of mailed codes (see accounts/one-time-codes.ts). */
  keyEncryptionKey: Buffer;
};

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

  router.get('/interaction/:uid', async (ctx) => {
    const details = await currentInteraction(deps.provider(), ctx);
    switch (details.prompt.name) {
      case 'login':
        if (hasPendingRegistration(details)) return registration.showVerification(ctx, details);
        if (awaitsSecondFactor(details)) return secondFactor.show(ctx, details);
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
    const details = await currentInteraction(deps.provider(), ctx, 'login');
    const submitted = { email: field(ctx.request.body, 'email'), password: field(ctx.request.body, 'password') };
    const parsed = loginFormSchema.safeParse(submitted);
    // Shown again in the form (escaped by the template), so a typo in the password costs one field.
    const email = typeof submitted.email === 'string' ? submitted.email.slice(0, 254) : '';
    if (!parsed.success) return renderLogin(ctx, details, { error: 'Enter your email address and password.', email }, 400);
    let accountId: string;
    try {
      accountId = (await authenticate(store, parsed.data.email, parsed.data.password, passwords)).id;
    } catch (error) {
      if (isGatehouseError(error) && (error.code === 'invalid_credentials' || error.code === 'account_disabled')) {
        return renderLogin(ctx, details, { error: error.message, email }, error.status);
      }
      throw error;
    }
    // With an authenticator app the login is not finished yet: the code comes first.
    if (isActive(await store.secondFactors.find(accountId))) return requireSecondFactor(deps, ctx, details, accountId);
    await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId, amr: ['pwd'], acr: acr.password } }, { mergeWithLastSubmission: false });
  });

  router.post('/interaction/:uid/consent', form, async (ctx) => {
    const details = await currentInteraction(deps.provider(), ctx, 'consent');
    const decision = field(ctx.request.body, 'decision');
    if (decision !== 'allow' && decision !== 'deny') throw new GatehouseError('invalid_input', 'Choose Allow or Deny.');
    const result = decision === 'allow'
      ? await grantConsent(deps.provider(), details)
      : { error: 'access_denied', error_description: 'The user denied the request.' };
    await deps.provider().interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
  });

  router.post('/interaction/:uid/abort', async (ctx) => {
    await currentInteraction(deps.provider(), ctx);
    await deps.provider().interactionFinished(ctx.req, ctx.res, { error: 'access_denied', error_description: 'The user cancelled the sign-in.' }, { mergeWithLastSubmission: false });
  });

  router.use(registration.router.routes());
  router.use(secondFactor.router.routes());
  return router;
}
