import type Router from '@koa/router';
import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { GatehouseError } from '../../errors.ts';
import { acr } from '../../libraries/second-factor.ts';
import { typedCodeSchema } from '../../libraries/schemas.ts';
import { message } from '../../messages/messages.ts';
import { normalizeEmail } from '../../store/normalize-email.ts';
import { routes, urls } from '../../urls.ts';
import { accepts } from '../engine.ts';
import type { InteractionDetails } from '../interaction.ts';
import { currentInteraction, field, showStep } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { showLogin } from '../login/view.ts';
import { describeCodeVerdict } from '../mailed-code.ts';
import { flowStateOf, saveFlowState } from '../state.ts';
import { progressOf, proveMailboxHere, startAgain } from '../registration/handler.ts';
import type { PendingRegistration, RegistrationProgress } from '../registration/state.ts';
import { confirmedPage, confirmPage, linkProblemPage, verificationPage } from './view.ts';

/**
 * Email verification pages. Verification happens in two situations that share one page: right
 * after registering (the login prompt is not finished yet: the flow state remembers who
 * registered), and when someone with an unverified address signs in (the `verify_email` prompt).
 */
type Subject = { email: string; accountId: string | null; codeId?: string };

type Verification =
  | { kind: 'registration'; subject: Subject; pending: PendingRegistration; progress: RegistrationProgress }
  | { kind: 'prompt'; subject: Subject; verified: boolean };

/** Whether the page may offer "Continue": the address is confirmed, for this browser. */
const confirmed = (current: Verification) => (current.kind === 'prompt' ? current.verified : current.progress === 'continue');

/** A registration with a passkey: the account has no password to sign in with, so it cannot skip confirming. */
const registersPasskey = (current: Verification) => current.kind === 'registration' && current.pending.credential === 'passkey';

async function verificationOf(deps: FlowDependencies, details: InteractionDetails): Promise<Verification> {
  if (details.prompt.name === 'verify_email') {
    const account = details.session?.accountId ? await deps.libraries.accounts.findById(details.session.accountId) : undefined;
    if (!account) throw new GatehouseError('invalid_input', 'verification.no_account');
    return { kind: 'prompt', subject: { email: normalizeEmail(account.email), accountId: account.id }, verified: account.emailVerified };
  }
  const state = flowStateOf(details.result);
  const position = { prompt: details.prompt.name, state, now: epochSeconds(deps.clock) };
  if (state?.step !== 'registration' || !accepts('verification', position)) throw new GatehouseError('invalid_input', 'verification.nothing_to_confirm');
  const progress = await progressOf(deps, state);
  if (progress === 'start_again') return startAgain(details);
  return { kind: 'registration', subject: { email: state.email, accountId: state.accountId, codeId: state.codeId }, pending: state, progress };
}

/** The "check your email" page. */
function render(deps: FlowDependencies, ctx: Context, details: InteractionDetails, current: Verification, extra: { error?: string; errors?: { code: string }; notice?: string } = {}, status = 200) {
  deps.views.render(ctx, 'verify-email', verificationPage(details.uid, {
    email: current.subject.email,
    verified: confirmed(current),
    canSkip: current.kind === 'registration' && !registersPasskey(current) && deps.config.accounts.emailVerification === 'optional',
    error: extra.error,
    errors: extra.errors,
    notice: extra.notice,
  }), status);
}

/**
 * The address is confirmed: registration completes the login (if this browser proved the mailbox
 * and the credentials are still the ones it set), or, for a registration with a passkey, goes on
 * to create the passkey (registration/); the prompt lets the sign-in go on.
 */
async function finish(deps: FlowDependencies, ctx: Context, details: InteractionDetails, current: Verification): Promise<void> {
  if (current.kind === 'prompt') {
    await deps.provider().interactionFinished(ctx.req, ctx.res, { verify_email: { verified: true } }, { mergeWithLastSubmission: true });
    return;
  }
  const { pending } = current;
  if (current.progress !== 'continue' || pending.accountId === null) {
    return render(deps, ctx, details, current, { error: message('verification.not_confirmed_yet') }, 400);
  }
  if (pending.credential === 'passkey' && pending.credentialStamp !== null && pending.mailboxProvedAt !== undefined) {
    await saveFlowState(deps.provider(), ctx, {
      step: 'passkey_registration', email: pending.email, accountId: pending.accountId, credentialStamp: pending.credentialStamp, mailboxProvedAt: pending.mailboxProvedAt,
    });
    return showStep(ctx, details.uid, urls.interaction);
  }
  await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId: pending.accountId, amr: ['pwd'], acr: acr.password } }, { mergeWithLastSubmission: false });
}

/** Shown by GET /interaction/:uid while an address waits for confirmation. */
export async function showVerification(deps: FlowDependencies, ctx: Context, details: InteractionDetails): Promise<void> {
  const current = await verificationOf(deps, details);
  let notice: string | undefined;
  // Signing in with an address never confirmed: send a code unless a usable one is out (the
  // account's own: someone registering the address meanwhile got a decoy, which does not count).
  if (current.kind === 'prompt' && !current.verified && (await deps.libraries.verification.sendUnlessPending(current.subject))) {
    notice = message('verification.code_sent', { email: current.subject.email });
  }
  render(deps, ctx, details, current, notice ? { notice } : {});
}

function renderLinkProblem(deps: FlowDependencies, ctx: Context) {
  deps.views.render(ctx, 'error', linkProblemPage(), 410);
}

export function verificationRoutes(router: Router, deps: FlowDependencies): void {
  router.post(routes.verifyEmail, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const current = await verificationOf(deps, details);
    const parsed = typedCodeSchema.safeParse(field(ctx.request.body, 'code'));
    // A problem with the typed code is shown next to the field; waiting, above the form.
    if (!parsed.success) return render(deps, ctx, details, current, { errors: { code: message('flows.enter_mailed_code') } }, 400);
    const allowed = await deps.limits.emailCode(current.subject.email);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return render(deps, ctx, details, current, { error: message('flows.too_many_codes', { seconds: allowed.retryAfterSeconds }) }, 429);
    }
    const verdict = await deps.libraries.verification.confirmWithCode(current.subject, parsed.data, { actor: 'user', sourceAddress: ctx.ip });
    if (!verdict.ok) return render(deps, ctx, details, current, { errors: { code: describeCodeVerdict(verdict) } }, 400);
    if (current.kind === 'prompt') return finish(deps, ctx, details, { ...current, verified: true });
    // The code typed here proves this browser reads the mailbox; the credentials are checked again.
    const pending = { ...current.pending, mailboxProvedAt: epochSeconds(deps.clock) };
    const progress = await progressOf(deps, pending);
    if (progress === 'start_again') return startAgain(details);
    await finish(deps, ctx, details, { ...current, pending, progress });
  });

  router.post(routes.verifyEmailContinue, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const current = await verificationOf(deps, details);
    if (!confirmed(current)) return render(deps, ctx, details, current, { error: message('verification.not_confirmed_yet') }, 400);
    await finish(deps, ctx, details, current);
  });

  router.post(routes.verifyEmailResend, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const current = await verificationOf(deps, details);
    const result = await deps.libraries.verification.resend(current.subject);
    if (!result.sent) {
      ctx.set('retry-after', String(result.waitSeconds));
      return render(deps, ctx, details, current, { error: message('verification.resend_wait', { seconds: result.waitSeconds }) }, 429);
    }
    // The registration now waits for the new code (the older one is void).
    if (current.kind === 'registration') await saveFlowState(deps.provider(), ctx, { ...current.pending, codeId: result.codeId });
    render(deps, ctx, details, current, { notice: message('verification.new_code_sent', { email: current.subject.email }) });
  });

  // EMAIL_VERIFICATION=optional: go on without confirming by signing in with the new password.
  // Asking for the password again keeps a taken address indistinguishable from a new one.
  router.post(routes.verifyEmailSkip, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const current = await verificationOf(deps, details);
    if (deps.config.accounts.emailVerification !== 'optional' || registersPasskey(current)) throw new GatehouseError('invalid_input', 'verification.required');
    await saveFlowState(deps.provider(), ctx, undefined);
    await showLogin(deps, ctx, details, { email: current.subject.email, notice: message('verification.skip_notice') });
  });

  // The link in the mail. GET only shows a button: mail scanners open links, and must not use them.
  router.get(routes.verifyEmailLink, async (ctx) => {
    const token = ctx.params.token ?? '';
    deps.forms.protect(ctx, `link:${token}`);
    const verdict = await deps.libraries.verification.inspectLink(token);
    if (!verdict.ok) return renderLinkProblem(deps, ctx);
    deps.views.render(ctx, 'confirm-email', confirmPage(token, verdict.record.email));
  });

  router.post(routes.verifyEmailLink, deps.form, async (ctx) => {
    const token = ctx.params.token ?? '';
    deps.forms.protect(ctx, `link:${token}`);
    const verdict = await deps.libraries.verification.confirmWithLink(token, { actor: 'user', sourceAddress: ctx.ip });
    if (!verdict.ok) return renderLinkProblem(deps, ctx);
    await proveMailboxHere(deps, ctx, verdict.record.accountId);
    deps.views.render(ctx, 'email-confirmed', confirmedPage(verdict.record.email));
  });
}
