import type Router from '@koa/router';
import type { Context } from 'koa';

import { GatehouseError } from '../../errors.ts';
import { message } from '../../messages/messages.ts';
import type { AccountRecord } from '../../store/types.ts';
import { routes, urls } from '../../urls.ts';
import { epochSeconds } from '../../clock.ts';
import { accepts } from '../engine.ts';
import type { InteractionDetails } from '../interaction.ts';
import { currentInteraction, field, interactionSource } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { finishLogin } from '../login/complete.ts';
import type { SecondStep } from '../login/methods.ts';
import { firstFactorOf, passkeysPossible, secondStepAssertion, secondStepsOffered } from '../login/methods.ts';
import { checkPasskeyAnswer } from '../login/passkey.ts';
import { issueCeremony } from '../passkey-ceremony.ts';
import { flowStateAt, flowStateOf, saveFlowState } from '../state.ts';
import { challengePage, describeVerdict, recoveryCodesPageData, signInSetupPage } from './view.ts';

/**
 * The second factor during sign-in. The password strategy checks the password; when the account
 * has an authenticator app (or a passkey, and the application needs a second factor), the login
 * step is not finished there: the flow state remembers that the password was right, and only a
 * TOTP code, a recovery code or one of the account's passkeys finishes it. The `mfa` prompt covers
 * the rest: a session from before the factor existed, or a client that needs one from a person who
 * has none yet (a passkey if the person has one, else the app, set up here inside the sign-in).
 */

/** Whose second factor this interaction is about: the session's at the mfa prompt, else the checked password's. */
async function subjectOf(deps: FlowDependencies, details: InteractionDetails): Promise<AccountRecord> {
  const position = { prompt: details.prompt.name, state: flowStateOf(details.result), now: epochSeconds(deps.clock) };
  const waiting = position.state?.step === 'second_factor' ? position.state.accountId : undefined;
  const accountId = details.prompt.name === 'mfa' ? details.session?.accountId : accepts('second_factor', position) ? waiting : undefined;
  const account = accountId ? await deps.libraries.accounts.findById(accountId) : undefined;
  if (!account || account.disabled) throw new GatehouseError('invalid_input', 'flows.step_expired');
  return account;
}

/** Which second steps this account can take here (methods.ts). */
async function stepsFor(deps: FlowDependencies, account: AccountRecord) {
  const possible = passkeysPossible(deps.libraries.passkeys.relyingParty);
  const [totpActive, passkeys] = await Promise.all([
    deps.libraries.secondFactor.isActive(account.id),
    possible ? deps.libraries.passkeys.list(account.id) : [],
  ]);
  return secondStepsOffered({ totpActive, passkeys: passkeys.length, passkeysPossible: possible });
}

/** The second-step page: the code form and/or the passkey (a fresh challenge for this account's passkeys). */
async function renderChallenge(deps: FlowDependencies, ctx: Context, details: InteractionDetails, account: AccountRecord, extra: { error?: string; codeError?: string } = {}, status = 200) {
  const offered = await stepsFor(deps, account);
  const passkey = offered.passkey
    ? await issueCeremony(deps, details, {
      purpose: 'second_factor',
      accountId: account.id,
      now: epochSeconds(deps.clock),
      options: await deps.libraries.passkeys.authenticationOptions({ accountId: account.id, userVerification: 'preferred' }),
      action: urls.secondFactorPasskey(details.uid),
      button: message('second_factor.passkey_button'),
    })
    : undefined;
  deps.views.render(ctx, 'second-factor', challengePage(details.uid, { error: extra.error, codeError: extra.codeError, code: offered.code || !offered.passkey, passkey }), status);
}

async function renderSetup(deps: FlowDependencies, ctx: Context, details: InteractionDetails, account: AccountRecord, extra: { codeError?: string } = {}, status = 200) {
  deps.views.render(ctx, 'mfa-setup', await signInSetupPage(details.uid, await deps.libraries.secondFactor.enrollment(account), extra.codeError), status);
}

/**
 * The login (and the factor) are complete, with what methods.ts says the step is worth. A recovery
 * code stands in for the app (RFC 8176 has no value of its own for it). The first step was the
 * password, or another provider: the flow state says so inside the login prompt, the session's
 * `amr` at the `mfa` prompt.
 */
async function finish(deps: FlowDependencies, ctx: Context, details: InteractionDetails, accountId: string, method: SecondStep, passkeyAmr: readonly string[] = []) {
  const state = flowStateOf(details.result);
  const first = details.prompt.name === 'mfa' ? firstFactorOf(details.session?.amr) : state?.step === 'second_factor' && state.first === 'federated' ? 'federated' : 'password';
  await finishLogin(deps, ctx, details, accountId, secondStepAssertion(method, passkeyAmr, first), { secondFactor: method });
}

/** Shown by GET /interaction/:uid at the second-factor step: the code and/or a passkey, or setting the app up. */
export async function showSecondFactor(deps: FlowDependencies, ctx: Context, details: InteractionDetails): Promise<void> {
  const account = await subjectOf(deps, details);
  const offered = await stepsFor(deps, account);
  if (offered.code || offered.passkey) return renderChallenge(deps, ctx, details, account);
  return renderSetup(deps, ctx, details, account);
}

export function secondFactorRoutes(router: Router, deps: FlowDependencies): void {
  router.post(routes.secondFactor, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const account = await subjectOf(deps, details);
    const code = field(ctx.request.body, 'code');
    if (typeof code !== 'string' || !code.trim() || code.length > 64) return renderChallenge(deps, ctx, details, account, { codeError: message('second_factor.enter_code') }, 400);
    const source = { actor: 'user' as const, ...interactionSource(ctx, details) };
    const verdict = await deps.libraries.secondFactor.verify(account.id, code, source);
    if (!verdict.ok) {
      await deps.libraries.signIns.secondFactorFailed(account.id, source, verdict.reason);
      if (verdict.reason === 'wait') ctx.set('retry-after', String(verdict.waitSeconds));
      // A wrong or used code is the field's problem; a wait (or no app at all) is the form's.
      const words = describeVerdict(verdict);
      return renderChallenge(deps, ctx, details, account, verdict.reason === 'wrong' || verdict.reason === 'replayed' ? { codeError: words } : { error: words }, verdict.reason === 'wait' ? 429 : 400);
    }
    await finish(deps, ctx, details, account.id, verdict.method);
  });

  // One of the account's passkeys as the second step (user verification preferred: the password
  // was the first factor). Its challenge names the account: another account's passkey is refused.
  router.post(routes.secondFactorPasskey, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const account = await subjectOf(deps, details);
    const checked = await checkPasskeyAnswer(deps, ctx, details, { purpose: 'second_factor', accountId: account.id, userVerification: 'preferred' });
    if (!checked.ok) {
      await deps.libraries.signIns.secondFactorFailed(account.id, { actor: 'user', ...interactionSource(ctx, details) }, `passkey_${checked.reason}`);
      if (checked.retryAfterSeconds !== undefined) ctx.set('retry-after', String(checked.retryAfterSeconds));
      return renderChallenge(deps, ctx, details, account, { error: checked.error }, checked.status);
    }
    await finish(deps, ctx, details, account.id, 'passkey', checked.assertion.amr);
  });

  router.post(routes.mfaSetup, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'mfa');
    const account = await subjectOf(deps, details);
    const code = field(ctx.request.body, 'code');
    const source = { actor: 'user' as const, ...interactionSource(ctx, details) };
    const activated = typeof code === 'string' && code.length <= 16 ? await deps.libraries.secondFactor.activate(account.id, code, source) : { ok: false as const, reason: 'wrong' as const };
    if (!activated.ok) {
      if (activated.reason === 'missing' && (await deps.libraries.secondFactor.isActive(account.id))) return renderChallenge(deps, ctx, details, account);
      return renderSetup(deps, ctx, details, account, { codeError: message('second_factor.setup_wrong_code') }, 400);
    }
    // The codes are shown this once; the flow state remembers that setup succeeded here.
    await saveFlowState(deps.provider(), ctx, { step: 'mfa_enrolled', accountId: account.id }, { merge: true });
    deps.views.render(ctx, 'recovery-codes', {
      ...recoveryCodesPageData(account.email, activated.recoveryCodes),
      action: urls.mfaDone(details.uid),
      button: message('second_factor.continue'),
    });
  });

  router.post(routes.mfaDone, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'mfa');
    const account = await subjectOf(deps, details);
    const enrolled = flowStateAt(details.result, 'mfa_enrolled');
    if (enrolled?.accountId !== account.id || !(await deps.libraries.secondFactor.isActive(account.id))) {
      throw new GatehouseError('invalid_input', 'second_factor.set_up_first');
    }
    // The first code of the new factor was checked a moment ago in this interaction.
    await finish(deps, ctx, details, account.id, 'otp');
  });
}
