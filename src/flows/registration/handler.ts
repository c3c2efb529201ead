import type Router from '@koa/router';
import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { GatehouseError, isGatehouseError, wordsFor } from '../../errors.ts';
import { passkeyAmr } from '../../libraries/passkeys.ts';
import { message } from '../../messages/messages.ts';
import { routes, urls } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { clientName, currentInteraction, field, interactionSource, keep, requiredLevelOf, showStep } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { completeLogin } from '../login/complete.ts';
import { limitedMessage } from '../login/view.ts';
import { firstStepAllowed, passkeysPossible } from '../login/methods.ts';
import { issueCeremony, submittedResponse, takeChallenge } from '../passkey-ceremony.ts';
import type { FlowStateOf } from '../state.ts';
import { flowStateAt, flowStateKey, saveFlowState } from '../state.ts';
import type { PendingRegistration, RegistrationProgress } from './state.ts';
import { passkeyRegistrationProgress, registrationProgress } from './state.ts';
import { fieldErrorsOf, passkeyRegistrationPage, registerPage } from './view.ts';

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

/** How the registration form asks to sign in: `method=passkey` (the passkey button), else a password. */
function chosenCredential(body: unknown): 'password' | 'passkey' {
  return field(body, 'method') === 'passkey' ? 'passkey' : 'password';
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

/**
 * A registration with a passkey whose mailbox this browser proved (verification/ saves the
 * `passkey_registration` state): the account may get its passkey, if nothing changed meanwhile.
 */
async function passkeyRegistrationOf(deps: FlowDependencies, details: InteractionDetails) {
  const pending = flowStateAt(details.result, 'passkey_registration');
  if (!pending) throw new GatehouseError('invalid_input', 'flows.step_expired');
  const account = await deps.libraries.accounts.findById(pending.accountId);
  if (passkeyRegistrationProgress(pending, account, account && deps.libraries.credentials.stamp(account)) === 'start_again' || !account) return startAgain(details);
  return { pending, account };
}

/** The "create your passkey" page, with a fresh registration ceremony for the new account. */
async function renderPasskeyRegistration(deps: FlowDependencies, ctx: Context, details: InteractionDetails, pending: FlowStateOf<'passkey_registration'>, extra: { error?: string } = {}, status = 200) {
  const passkey = await issueCeremony(deps, details, {
    purpose: 'registration',
    accountId: pending.accountId,
    now: epochSeconds(deps.clock),
    options: await deps.libraries.passkeys.registrationOptions({ id: pending.accountId, email: pending.email }),
    action: urls.registerPasskey(details.uid),
    button: message('registration.passkey_create_button'),
  });
  deps.views.render(ctx, 'passkey-registration', passkeyRegistrationPage(details.uid, pending.email, passkey, extra.error), status);
}

/** Shown by GET /interaction/:uid when a passkey registration's mailbox is proved. */
export async function showPasskeyRegistration(deps: FlowDependencies, ctx: Context, details: InteractionDetails): Promise<void> {
  const { pending } = await passkeyRegistrationOf(deps, details);
  await renderPasskeyRegistration(deps, ctx, details, pending);
}

/** The library's refusals of a new passkey that the page shows (anything else is a bug, and a 500). */
const refusedRegistrations = new Set(['passkey_invalid', 'conflict', 'invalid_input']);

export function registrationRoutes(router: Router, deps: FlowDependencies): void {
  router.get(routes.register, async (ctx) => {
    refuseWhenClosed(deps);
    const details = await currentInteraction(deps, ctx, 'login');
    await renderRegister(deps, ctx, details);
  });

  router.post(routes.register, deps.form, async (ctx) => {
    refuseWhenClosed(deps);
    const details = await currentInteraction(deps, ctx, 'login');
    const credential = chosenCredential(ctx.request.body);
    const typed = { email: keep(field(ctx.request.body, 'email'), 254), name: keep(field(ctx.request.body, 'name'), 200) };
    if (credential === 'passkey' && !passkeysPossible(deps.libraries.passkeys.relyingParty)) {
      return renderRegister(deps, ctx, details, { error: message('registration.passkey_not_here'), ...typed }, 400);
    }
    // An application that needs a phishing-resistant sign-in: the account signs in with a passkey.
    if (!firstStepAllowed(credential, await requiredLevelOf(deps, details))) {
      return renderRegister(deps, ctx, details, { error: message('login.passkey_required', { client: await clientName(deps.provider(), details.params.client_id) }), ...typed }, 403);
    }
    const submitted = { email: field(ctx.request.body, 'email'), password: field(ctx.request.body, 'password'), name: field(ctx.request.body, 'name') };
    const allowed = await deps.limits.registration(ctx.ip);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return renderRegister(deps, ctx, details, { error: message('registration.too_many', { seconds: allowed.retryAfterSeconds }) }, 429);
    }
    let registration: Awaited<ReturnType<FlowDependencies['libraries']['registration']['register']>>;
    try {
      const source = { actor: 'user' as const, sourceAddress: ctx.ip };
      // With a passkey, the account has no password (its owner can set one later by mailed link).
      registration = credential === 'passkey'
        ? await deps.libraries.registration.registerForPasskey({ email: submitted.email, name: submitted.name }, source)
        : await deps.libraries.registration.register(submitted, source);
    } catch (error) {
      if (!isGatehouseError(error) || error.code !== 'invalid_input') throw error;
      // Each problem next to its field ("password: …" is for logs); anything else above the form.
      const errors = fieldErrorsOf(error, ['email', 'name', 'password']);
      return renderRegister(deps, ctx, details, { ...(errors ? { errors } : { error: wordsFor(error) }), email: keep(submitted.email, 254), name: keep(submitted.name, 200) }, 400);
    }
    // The flow state remembers who registered (server-side), and this browser which sign-in it
    // registered in; the page that follows is the same whether the address was new or taken.
    const { subject, account } = registration;
    await saveFlowState(deps.provider(), ctx, {
      step: 'registration', email: subject.email, accountId: subject.accountId, codeId: subject.codeId,
      credentialStamp: account ? deps.libraries.credentials.stamp(account) : null, credential,
    });
    ctx.cookies.set(registrationCookie, details.uid, {
      signed: true, httpOnly: true, sameSite: 'lax', path: '/verify-email', secure: ctx.secure, maxAge: deps.config.ttl.interaction * 1000, overwrite: true,
    });
    showStep(ctx, details.uid, urls.interaction);
  });

  // The new account's passkey: created in the browser, verified and stored by the library; creating
  // it signs in (the registration required user verification, so it is worth a passkey sign-in).
  router.post(routes.registerPasskey, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const { pending } = await passkeyRegistrationOf(deps, details);
    const refuse = async (error: string, status: number) => renderPasskeyRegistration(deps, ctx, details, pending, { error }, status);
    const gate = await deps.limits.passkeyAttempt(ctx.ip);
    if (!gate.ok) {
      ctx.set('retry-after', String(gate.retryAfterSeconds));
      return refuse(limitedMessage(gate), 429);
    }
    const { attempt } = gate;
    const challenge = await takeChallenge(deps, details, { purpose: 'registration', accountId: pending.accountId }, epochSeconds(deps.clock));
    if (!challenge.ok) {
      await attempt.cancel();
      return refuse(message('passkey.expired'), 400);
    }
    const response = submittedResponse(field(ctx.request.body, 'response'));
    if (response === undefined) {
      await attempt.failed();
      return refuse(message('passkey.malformed'), 400);
    }
    let created: Awaited<ReturnType<FlowDependencies['libraries']['passkeys']['finishRegistration']>>;
    try {
      created = await deps.libraries.passkeys.finishRegistration({ accountId: pending.accountId, response, expectedChallenge: challenge.challenge }, { actor: 'user', ...interactionSource(ctx, details) });
    } catch (error) {
      if (!isGatehouseError(error) || !refusedRegistrations.has(error.code)) {
        await attempt.cancel();
        throw error;
      }
      await attempt.failed();
      return refuse(wordsFor(error), error.status);
    }
    await attempt.succeeded();
    await completeLogin(deps, ctx, details, pending.accountId, {
      method: 'passkey',
      passkey: { accountId: pending.accountId, passkeyId: created.id, userVerified: true, amr: passkeyAmr({ deviceType: created.deviceType, userVerified: true }) },
    });
  });
}
