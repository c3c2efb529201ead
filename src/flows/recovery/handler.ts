import { createHash } from 'node:crypto';

import type Router from '@koa/router';
import type { Context } from 'koa';

import { message } from '../../messages/messages.ts';
import { routes } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { currentInteraction, field, keep } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { changedPage, invalidLinkPage, requestPage, resetFormPage } from './view.ts';

/**
 * Recovery: "Forgot password?" inside a sign-in (`/interaction/:uid/forgot-password`) and the page
 * behind the mailed link (`/reset-password/:token`, opened anywhere). The rules live in the
 * recovery library; nobody is signed in by a reset.
 */
function renderRequest(deps: FlowDependencies, ctx: Context, details: InteractionDetails, extra: Parameters<typeof requestPage>[2] = {}, status = 200) {
  deps.views.render(ctx, 'forgot-password', requestPage(details.uid, Math.round(deps.config.accounts.resetTokenTtlSeconds / 60), extra), status);
}

function renderResetForm(deps: FlowDependencies, ctx: Context, token: string, email: string, problem: Parameters<typeof resetFormPage>[3] = {}, status = 200) {
  deps.views.render(ctx, 'reset-password', resetFormPage(token, email, deps.config.passwords.minLength, problem), status);
}

function renderInvalidLink(deps: FlowDependencies, ctx: Context) {
  deps.views.render(ctx, 'message', invalidLinkPage(), 410);
}

export function recoveryRoutes(router: Router, deps: FlowDependencies): void {
  router.get(routes.forgotPassword, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    renderRequest(deps, ctx, details, { email: keep(details.params.login_hint, 254) });
  });

  router.post(routes.forgotPassword, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const email = field(ctx.request.body, 'email');
    const allowed = await deps.limits.resetRequest(ctx.ip);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return renderRequest(deps, ctx, details, { error: message('recovery.too_many', { seconds: allowed.retryAfterSeconds }) }, 429);
    }
    // The same page whether or not the address has an account (nor whether it is disabled, nor
    // whether a link went out moments ago). Only input that is not an address at all is refused.
    // The mail to an existing account is queued once this answer is sent (node:sqlite writes
    // block): unknown and known addresses get their answer after the same work.
    const defer = (task: () => Promise<void>) => ctx.res.once('close', () => {
      task().catch((error: unknown) => deps.logger.error('queueing a password reset mail failed', { error }));
    });
    const accepted = await deps.libraries.recovery.request(email, { actor: 'user', sourceAddress: ctx.ip }, { defer });
    if (!accepted) return renderRequest(deps, ctx, details, { email: keep(email, 254), errors: { email: message('recovery.enter_email') } }, 400);
    renderRequest(deps, ctx, details, { sent: true });
  });

  // The link in the mail. GET only shows the form: mail scanners open links and must not use them.
  router.get(routes.resetPasswordLink, async (ctx) => {
    const token = ctx.params.token ?? '';
    deps.forms.protect(ctx, `link:${token}`);
    const link = await deps.libraries.recovery.inspectLink(token);
    if (!link.ok) return renderInvalidLink(deps, ctx);
    renderResetForm(deps, ctx, token, link.account.email);
  });

  router.post(routes.resetPasswordLink, deps.form, async (ctx) => {
    const token = ctx.params.token ?? '';
    deps.forms.protect(ctx, `link:${token}`);
    // Each submission may run argon2 and the password policy: limited per source and per link.
    const allowed = await deps.limits.passwordForm(ctx.ip, `link:${createHash('sha256').update(token).digest('base64url')}`);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      const link = await deps.libraries.recovery.inspectLink(token);
      if (!link.ok) return renderInvalidLink(deps, ctx);
      return renderResetForm(deps, ctx, token, link.account.email, { error: message('flows.too_many_attempts', { seconds: allowed.retryAfterSeconds }) }, 429);
    }
    const outcome = await deps.libraries.recovery.reset({ token, password: field(ctx.request.body, 'password') }, { actor: 'user', sourceAddress: ctx.ip });
    if (!outcome.ok) {
      if (outcome.reason === 'invalid_link') return renderInvalidLink(deps, ctx);
      // The policy's reason, next to the password field.
      return renderResetForm(deps, ctx, token, outcome.email, { errors: { password: outcome.message } }, 400);
    }
    // A new password unlocks an address locked by failed sign-ins.
    await deps.limits.clearPasswordFailures(outcome.account.email, ctx.ip);
    deps.views.render(ctx, 'message', changedPage());
  });
}
