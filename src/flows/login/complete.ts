import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import type { PasskeyAssertion } from '../../libraries/passkeys.ts';
import { message } from '../../messages/messages.ts';
import { urls } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { clientName, interactionSource, requiredLevelOf, showStep } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { saveFlowState } from '../state.ts';
import type { Assertion } from './methods.ts';
import { firstStepAllowed, passkeyAssertion, passkeysPossible, passwordAssertion, secondStepNeeded } from './methods.ts';
import { showLogin } from './view.ts';

/** How the first step was done: a password, the mailed code standing in for one, or a passkey (with what the library asserted). */
export type FirstStepDone =
  | { method: 'password' }
  | { method: 'mailed_code' }
  | { method: 'passkey'; passkey: PasskeyAssertion };

/**
 * Where every way to sign in ends: the account is known. What the sign-in is worth is decided in
 * methods.ts: a password under a phishing-resistant requirement is refused here too (the page
 * never offered it); with the authenticator app, or with a passkey when the application needs a
 * second factor, the login step is not finished yet (the flow state remembers the checked
 * password and the next page asks for the second step); otherwise the login is recorded with its
 * `amr` and `acr` and the provider goes on.
 */
export async function completeLogin(deps: FlowDependencies, ctx: Context, details: InteractionDetails, accountId: string, done: FirstStepDone): Promise<void> {
  const required = await requiredLevelOf(deps, details);
  if (!firstStepAllowed(done.method, required)) {
    return showLogin(deps, ctx, details, { error: message('login.passkey_required', { client: await clientName(deps.provider(), details.params.client_id) }) }, 403);
  }
  if (done.method === 'passkey') {
    const assertion = passkeyAssertion(done.passkey, required);
    // The library was asked to require user verification: an unverified passkey never gets here.
    if (!assertion) return showLogin(deps, ctx, details, { error: message('libraries.passkey_user_not_verified') }, 400);
    return finishLogin(deps, ctx, details, accountId, assertion, { passkeyId: done.passkey.passkeyId });
  }
  const [totpActive, passkeys] = await Promise.all([
    deps.libraries.secondFactor.isActive(accountId),
    passkeysPossible(deps.libraries.passkeys.relyingParty) ? deps.libraries.passkeys.list(accountId) : [],
  ]);
  if (secondStepNeeded({ first: done.method, required, totpActive, passkeys: passkeys.length })) {
    await saveFlowState(deps.provider(), ctx, { step: 'second_factor', accountId, passwordAt: epochSeconds(deps.clock) });
    return showStep(ctx, details.uid, urls.interaction);
  }
  await finishLogin(deps, ctx, details, accountId, passwordAssertion(), done.method === 'mailed_code' ? { mailedCode: true } : {});
}

/** Records the login (the sign-in trail says how) and hands it to the provider with its `amr` and `acr`. */
export async function finishLogin(deps: FlowDependencies, ctx: Context, details: InteractionDetails, accountId: string, assertion: Assertion, auditDetails: Record<string, unknown> = {}): Promise<void> {
  await deps.libraries.signIns.succeeded(accountId, { actor: 'user', ...interactionSource(ctx, details) }, { amr: assertion.amr, ...auditDetails });
  await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId, amr: assertion.amr, acr: assertion.acr } }, { mergeWithLastSubmission: false });
}
