import type Router from '@koa/router';
import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { GatehouseError } from '../../errors.ts';
import { typedCodeSchema } from '../../libraries/schemas.ts';
import { message } from '../../messages/messages.ts';
import { routes, urls } from '../../urls.ts';
import { accepts } from '../engine.ts';
import type { InteractionDetails } from '../interaction.ts';
import { currentInteraction, field, interactionSource, showStep } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { describeCodeVerdict } from '../mailed-code.ts';
import type { FlowStateOf } from '../state.ts';
import { flowStateOf, saveFlowState } from '../state.ts';
import { completeLogin } from './complete.ts';
import { showLinkIdentity } from './view.ts';

/**
 * The proof page of an identity link: someone signed in with another provider, whose email belongs
 * to an account here, and the connection does not link by email alone (or the upstream did not say
 * the email is verified). Nothing is linked yet. The page offers that account's own ways in: its
 * password (the password strategy's form, the address fixed), a passkey (the passkey strategy), or
 * a code mailed to the account (here). Whichever signs in to that account in this interaction makes
 * the link (`how: 'proof'`, complete.ts), through its second factor if it has one. Signing in to
 * another account makes none; "Sign in another way" drops the link and shows the login page.
 *
 * A mailed code proves the mailbox, not a password: the login it finishes is the upstream sign-in
 * (`amr` `fed`), now linked, with the account's second factor when it has one.
 */

/** The proof page's state, when this interaction is at that page (else the step has expired). */
function linkStateOf(deps: FlowDependencies, details: InteractionDetails): FlowStateOf<'link_identity'> {
  const state = flowStateOf(details.result);
  const position = { prompt: details.prompt.name, state, now: epochSeconds(deps.clock) };
  if (state?.step !== 'link_identity' || !accepts('link_identity', position)) throw new GatehouseError('invalid_input', 'flows.step_expired');
  return state;
}

/** Shown by GET /interaction/:uid at the `link_identity` step. */
export async function showLinkStep(deps: FlowDependencies, ctx: Context, details: InteractionDetails): Promise<void> {
  await showLinkIdentity(deps, ctx, details, linkStateOf(deps, details));
}

export function linkRoutes(router: Router, deps: FlowDependencies): void {
  // Mails a code to the account (limited per source like a reset request: it mails the owner).
  router.post(routes.linkCode, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const state = linkStateOf(deps, details);
    const allowed = await deps.limits.resetRequest(ctx.ip);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return showLinkIdentity(deps, ctx, details, state, { error: message('link.code_too_many', { seconds: allowed.retryAfterSeconds }) }, 429);
    }
    const account = await deps.libraries.accounts.findById(state.accountId);
    const pending = await deps.libraries.signInCode.start({ email: account?.email ?? state.email, account, reason: 'link_identity' }, { actor: 'user', ...interactionSource(ctx, details) });
    await saveFlowState(deps.provider(), ctx, { ...state, code: { codeId: pending.codeId, credentialStamp: pending.credentialStamp } });
    showStep(ctx, details.uid, urls.interaction);
  });

  router.post(routes.linkCodeConfirm, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const state = linkStateOf(deps, details);
    if (!state.code) return showLinkIdentity(deps, ctx, details, state, { error: message('code.void') }, 400);
    const parsed = typedCodeSchema.safeParse(field(ctx.request.body, 'code'));
    if (!parsed.success) return showLinkIdentity(deps, ctx, details, state, { errors: { code: message('flows.enter_mailed_code') } }, 400);
    const allowed = await deps.limits.emailCode(state.email);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return showLinkIdentity(deps, ctx, details, state, { error: message('flows.too_many_codes', { seconds: allowed.retryAfterSeconds }) }, 429);
    }
    const outcome = await deps.libraries.signInCode.confirm({ email: state.email, accountId: state.accountId, ...state.code }, parsed.data);
    if (!outcome.ok) {
      if (outcome.reason === 'start_again') {
        await details.destroy();
        throw new GatehouseError('start_again', 'login.account_changed_start_again');
      }
      return showLinkIdentity(deps, ctx, details, state, { errors: { code: describeCodeVerdict(outcome) } }, 400);
    }
    // The mailbox is proved: the upstream sign-in goes on, for this account (linked on the way).
    await completeLogin(deps, ctx, details, outcome.account.id, {
      method: 'federated', connectionId: state.connectionId, trustUpstreamMfa: false, upstreamAmr: null,
    });
  });

  // "Sign in another way": the link is dropped, the login page is shown.
  router.post(routes.linkCancel, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    linkStateOf(deps, details);
    await saveFlowState(deps.provider(), ctx, undefined);
    showStep(ctx, details.uid, urls.interaction);
  });
}
