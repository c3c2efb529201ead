import type Router from '@koa/router';
import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { GatehouseError, isGatehouseError } from '../../errors.ts';
import { message } from '../../messages/messages.ts';
import { routes, urls } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { currentInteraction, field, keep, showStep } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { flowStateAt, flowStateKey, saveFlowState } from '../state.ts';
import type { PendingRegistration, RegistrationProgress } from './state.ts';
import { registrationProgress } from './state.ts';
import { registerPage } from './view.ts';

/**
 * Registration: the form, then the verification page (verification/) until the mailbox is proved.
 * The registration's state lives in the flow state (server-side); this browser remembers which
 * sign-in it registered in (a signed cookie, sent only to the mailed link's pages), so confirming
 * the link in that same browser lets that sign-in continue, and confirming it anywhere else does not.
 */
const registrationCookie = 'gatehouse.registration';

const registrationOpen = (deps: FlowDependencies) => deps.config.accounts.registration === 'open';

function refuseWhenClosed(deps: FlowDependencies): void {
  if (!registrationOpen(deps)) throw new GatehouseError('registration_closed', 'registration.closed');
}

async function renderRegister(deps: FlowDependencies, ctx: Context, details: InteractionDetails, extra: Parameters<typeof registerPage>[2] = {}, status = 200) {
  deps.views.render(ctx, 'register', await registerPage(deps, details, extra), status);
}

/** Where a pending registration stands now (the account and its credentials as they are). */
export async function progressOf(deps: FlowDependencies, pending: PendingRegistration): Promise<RegistrationProgress> {
  const account = pending.accountId ? await deps.libraries.accounts.findById(pending.accountId) : undefined;
  return registrationProgress(pending, account, account && deps.libraries.credentials.stamp(account));
}

/** Nothing of this sign-in may be used again: the browser starts over, through every step. */
export async function startAgain(details: InteractionDetails): Promise<never> {
  await details.destroy();
  throw new GatehouseError('start_again', 'registration.start_again');
}

/**
 * The link was confirmed in the browser that registered: the registration waiting in that
 * browser's sign-in may continue. Confirmed anywhere else, no registration continues.
 */
export async function proveMailboxHere(deps: FlowDependencies, ctx: Context, accountId: string): Promise<void> {
  const uid = ctx.cookies.get(registrationCookie, { signed: true });
  if (!uid || uid.length > 128) return;
  const interaction = await deps.provider().Interaction.find(uid);
  const pending = interaction && flowStateAt(interaction.result, 'registration');
  if (!interaction || !pending || pending.accountId !== accountId) return;
  // That sign-in is not this request's: its interaction is updated where it is stored.
  const now = epochSeconds(deps.clock);
  interaction.result = { ...interaction.result, [flowStateKey]: { ...pending, mailboxProvedAt: now } };
  await interaction.save(Math.max(1, interaction.exp - now));
}

export function registrationRoutes(router: Router, deps: FlowDependencies): void {
  router.get(routes.register, async (ctx) => {
    refuseWhenClosed(deps);
    const details = await currentInteraction(deps, ctx, 'login');
    await renderRegister(deps, ctx, details);
  });

  router.post(routes.register, deps.form, async (ctx) => {
    refuseWhenClosed(deps);
    const details = await currentInteraction(deps, ctx, 'login');
    const submitted = { email: field(ctx.request.body, 'email'), password: field(ctx.request.body, 'password'), name: field(ctx.request.body, 'name') };
    const allowed = await deps.limits.registration(ctx.ip);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return renderRegister(deps, ctx, details, { error: message('registration.too_many', { seconds: allowed.retryAfterSeconds }) }, 429);
    }
    let registration: Awaited<ReturnType<FlowDependencies['libraries']['registration']['register']>>;
    try {
      registration = await deps.libraries.registration.register(submitted, { actor: 'user', sourceAddress: ctx.ip });
    } catch (error) {
      if (!isGatehouseError(error) || error.code !== 'invalid_input') throw error;
      return renderRegister(deps, ctx, details, { error: error.message, email: keep(submitted.email, 254), name: keep(submitted.name, 200) }, 400);
    }
    // The flow state remembers who registered (server-side), and this browser which sign-in it
    // registered in; the page that follows is the same whether the address was new or taken.
    const { subject, account } = registration;
    await saveFlowState(deps.provider(), ctx, {
      step: 'registration', email: subject.email, accountId: subject.accountId, codeId: subject.codeId,
      credentialStamp: account ? deps.libraries.credentials.stamp(account) : null,
    });
    ctx.cookies.set(registrationCookie, details.uid, {
      signed: true, httpOnly: true, sameSite: 'lax', path: '/verify-email', secure: ctx.secure, maxAge: deps.config.ttl.interaction * 1000, overwrite: true,
    });
    showStep(ctx, details.uid, urls.interaction);
  });
}
