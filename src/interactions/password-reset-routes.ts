import { createHash } from 'node:crypto';

import Router from '@koa/router';
import type { Context } from 'koa';

import { passwordSettingsFrom } from '../accounts/accounts.ts';
import type { PasswordResetDependencies } from '../accounts/password-reset.ts';
import { inspectResetLink, requestPasswordReset, resetPassword } from '../accounts/password-reset.ts';
import type { InteractionDetails } from './consent.ts';
import { currentInteraction, field, formParser, mailedCodes, protectForm } from './interaction-context.ts';
import type { InteractionDependencies } from './routes.ts';

/**
 * "Forgot password?" (inside a sign-in: `/interaction/:uid/forgot-password`) and the page behind
 * the mailed link (`/reset-password/:token`, opened anywhere). Logic lives in
 * accounts/password-reset.ts.
 */
export function createPasswordResetRouter(deps: InteractionDependencies): Router {
  const { store, views, config, outbox, logger } = deps;
  const router = new Router();
  const form = formParser(config);
  const reset: PasswordResetDependencies = {
    store, outbox, logger, issuer: config.issuer,
    passwords: passwordSettingsFrom(config),
    codes: mailedCodes(deps, config.accounts.resetTokenTtlSeconds),
  };
  const minutes = Math.round(config.accounts.resetTokenTtlSeconds / 60);

  function renderRequest(ctx: Context, details: InteractionDetails, extra: { email?: string; error?: string; sent?: boolean } = {}, status = 200) {
    views.render(ctx, 'forgot-password', {
      title: extra.sent ? 'Check your email' : 'Reset your password',
      uid: details.uid,
      email: extra.email ?? '',
      error: extra.error,
      sent: extra.sent === true,
      minutes,
    }, status);
  }

  function renderResetForm(ctx: Context, token: string, email: string, error?: string, status = 200) {
    views.render(ctx, 'reset-password', { title: 'Choose a new password', token, email, error, minLength: config.passwords.minLength }, status);
  }

  function renderInvalidLink(ctx: Context) {
    views.render(ctx, 'message', {
      title: 'This link is no longer valid',
      paragraphs: [
        'This password reset link has expired, was already used, or was replaced by a newer one.',
        'Ask for a new one with "Forgot password?" on the sign-in page of the application you use.',
      ],
    }, 410);
  }

  router.get('/interaction/:uid/forgot-password', async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const hint = details.params.login_hint;
    renderRequest(ctx, details, { email: typeof hint === 'string' ? hint.slice(0, 254) : '' });
  });

  router.post('/interaction/:uid/forgot-password', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const email = field(ctx.request.body, 'email');
    const allowed = await deps.limits.resetRequest(ctx.ip);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return renderRequest(ctx, details, { error: `Too many requests from your network. Wait ${allowed.retryAfterSeconds} seconds, then try again.` }, 429);
    }
    // The same page whether or not the address has an account (nor whether it is disabled, nor
    // whether a link went out moments ago). Only input that is not an address at all is refused.
    // The mail to an existing account is queued once this answer is sent (node:sqlite writes
    // block): unknown and known addresses get their answer after the same work.
    const defer = (task: () => Promise<void>) => ctx.res.once('close', () => {
      task().catch((error: unknown) => logger.error('queueing a password reset mail failed', { error }));
    });
    const accepted = await requestPasswordReset({ ...reset, defer }, { email, sourceAddress: ctx.ip });
    if (!accepted) return renderRequest(ctx, details, { email: typeof email === 'string' ? email.slice(0, 254) : '', error: 'Enter the email address of your account.' }, 400);
    renderRequest(ctx, details, { sent: true });
  });

  // The link in the mail. GET only shows the form: mail scanners open links and must not use them.
  router.get('/reset-password/:token', async (ctx) => {
    const token = ctx.params.token ?? '';
    protectForm(ctx, deps.keyEncryptionKey, `link:${token}`);
    const link = await inspectResetLink(reset, token);
    if (!link.ok) return renderInvalidLink(ctx);
    renderResetForm(ctx, token, link.account.email);
  });

  router.post('/reset-password/:token', form, async (ctx) => {
    const token = ctx.params.token ?? '';
    protectForm(ctx, deps.keyEncryptionKey, `link:${token}`);
    // Each submission may run argon2 and the password policy: limited per source and per link.
    const allowed = await deps.limits.passwordForm(ctx.ip, `link:${createHash('sha256').update(token).digest('base64url')}`);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      const link = await inspectResetLink(reset, token);
      if (!link.ok) return renderInvalidLink(ctx);
      return renderResetForm(ctx, token, link.account.email, `Too many attempts. Wait ${allowed.retryAfterSeconds} seconds, then try again.`, 429);
    }
    const outcome = await resetPassword(reset, { token, password: field(ctx.request.body, 'password'), sourceAddress: ctx.ip });
    if (!outcome.ok) {
      if (outcome.reason === 'invalid_link') return renderInvalidLink(ctx);
      return renderResetForm(ctx, token, outcome.email, outcome.message, 400);
    }
    // A new password unlocks an address locked by failed sign-ins.
    await deps.limits.clearPasswordFailures(outcome.account.email, ctx.ip);
    // Nobody is signed in by a reset: signing in again goes through every step a login requires.
    views.render(ctx, 'message', {
      title: 'Your password was changed',
      paragraphs: [
        'You were signed out everywhere, and applications lost their access to your account.',
        'Sign in with your new password: go back to the application you were using, or open your account page.',
      ],
      links: [{ href: '/account', label: 'Open your account page' }],
    });
  });

  return router;
}
