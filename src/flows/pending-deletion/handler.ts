import type Router from '@koa/router';
import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { GatehouseError } from '../../errors.ts';
import { message } from '../../messages/messages.ts';
import { accepts } from '../engine.ts';
import type { InteractionDetails } from '../interaction.ts';
import { currentInteraction, field, interactionSource } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { flowStateOf } from '../state.ts';
import { pendingDeletionPage, pendingDeletionRoute } from './view.ts';

/**
 * The `pending_deletion` prompt (src/oidc/configuration.ts): a person who asked to delete their
 * account signs in during the grace period. After the login (and its second factor), before
 * anything else, the page says when the account will be erased and offers the two ways on:
 *
 * - Keep my account: the deletion is cancelled (libraries.accountDeletion.cancel, audited) and
 *   the sign-in goes on as usual.
 * - Continue to delete: the deletion stays scheduled and the application hears `access_denied`.
 *   The browser's session stays until the erasure ends it, but gets nowhere: every authorization
 *   request in it comes back to this page while the deletion is pending, so no application gets
 *   a token for the account meanwhile.
 *
 * It keeps no flow state: the account's `deleteAfter` is the whole of it, read at each step.
 */

const prompt = 'pending_deletion';

async function pendingOf(deps: FlowDependencies, details: InteractionDetails) {
  const position = { prompt: details.prompt.name, state: flowStateOf(details.result), now: epochSeconds(deps.clock) };
  if (!accepts(prompt, position)) throw new GatehouseError('invalid_input', 'flows.sign_in_step_already_complete');
  const accountId = details.session?.accountId;
  const account = accountId ? await deps.libraries.accounts.findById(accountId) : undefined;
  if (!account) throw new GatehouseError('invalid_input', 'verification.no_account');
  return account;
}

/** Shown by GET /interaction/:uid at the `pending_deletion` prompt. */
export async function showPendingDeletion(deps: FlowDependencies, ctx: Context, details: InteractionDetails, error?: string, status = 200): Promise<void> {
  const account = await pendingOf(deps, details);
  // Cancelled meanwhile (another tab, the account page): nothing to ask; the sign-in goes on.
  if (!account.deleteAfter) return finishKept(deps, ctx);
  deps.views.render(ctx, 'pending-deletion', pendingDeletionPage({ uid: details.uid, email: account.email, deleteAfter: account.deleteAfter, error }), status);
}

function finishKept(deps: FlowDependencies, ctx: Context) {
  return deps.provider().interactionFinished(ctx.req, ctx.res, { [prompt]: { kept: true } }, { mergeWithLastSubmission: true });
}

export function pendingDeletionRoutes(router: Router, deps: FlowDependencies): void {
  router.post(pendingDeletionRoute, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const account = await pendingOf(deps, details);
    const choice = field(ctx.request.body, 'choice');
    if (choice !== 'keep' && choice !== 'delete') return showPendingDeletion(deps, ctx, details, message('pending_deletion.choose'), 400);
    const source = { actor: 'user' as const, ...interactionSource(ctx, details) };
    if (choice === 'keep') {
      await deps.libraries.accountDeletion.cancel(account.id, source);
      return finishKept(deps, ctx);
    }
    await deps.provider().interactionFinished(ctx.req, ctx.res, {
      error: 'access_denied', error_description: message('pending_deletion.denied'),
    }, { mergeWithLastSubmission: true });
  });
}
