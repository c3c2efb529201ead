import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { isGatehouseError } from '../../errors.ts';
import type { PasskeyAssertion } from '../../libraries/passkeys.ts';
import { message } from '../../messages/messages.ts';
import { isMultiFactor } from '../../oidc/levels.ts';
import { urls } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { clientName, interactionSource, requiredLevelOf, showStep } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { flowStateOf, saveFlowState } from '../state.ts';
import { linkToMake, pendingLinkOf } from './connection-rules.ts';
import { deviceIdOf } from './device.ts';
import type { Assertion } from './methods.ts';
import { federatedAssertion, firstStepAllowed, passkeyAssertion, passkeysPossible, passwordAssertion, secondStepNeeded } from './methods.ts';
import { showLogin } from './view.ts';

/**
 * How the first step was done: a password, the mailed code standing in for one, a passkey (with
 * what the library asserted), or another provider (the connection, whether it trusts the
 * upstream's MFA, and the upstream's `amr`).
 */
export type FirstStepDone =
  | { method: 'password' }
  | { method: 'mailed_code' }
  | { method: 'passkey'; passkey: PasskeyAssertion }
  | { method: 'federated'; connectionId: string; trustUpstreamMfa: boolean; upstreamAmr: string[] | null };

/**
 * Where every way to sign in ends: the account is known. What the sign-in is worth is decided in
 * methods.ts: a password under a phishing-resistant requirement is refused here too (the page
 * never offered it); with the authenticator app, or with a passkey when the application needs a
 * second factor, the login step is not finished yet (the flow state remembers the checked
 * password and the next page asks for the second step); otherwise the login is recorded with its
 * `amr` and `acr` and the provider goes on. An identity link waiting for this account's proof
 * (login/connection.ts) rides along to the second step and is made when the login is finished.
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
  const first = done.method === 'federated' ? federatedAssertion({ amr: done.upstreamAmr, trustUpstreamMfa: done.trustUpstreamMfa }) : passwordAssertion();
  const [totpActive, passkeys] = await Promise.all([
    deps.libraries.secondFactor.isActive(accountId),
    passkeysPossible(deps.libraries.passkeys.relyingParty) ? deps.libraries.passkeys.list(accountId) : [],
  ]);
  if (secondStepNeeded({ first: done.method, required, totpActive, passkeys: passkeys.length, firstMultiFactor: isMultiFactor(first.amr) })) {
    const now = epochSeconds(deps.clock);
    const link = linkToMake(flowStateOf(details.result), accountId, now);
    await saveFlowState(deps.provider(), ctx, {
      step: 'second_factor', accountId, passwordAt: now, ...(done.method === 'federated' ? { first: 'federated' as const } : {}), ...(link ? { link } : {}),
    });
    return showStep(ctx, details.uid, urls.interaction);
  }
  const audit = done.method === 'mailed_code' ? { mailedCode: true } : done.method === 'federated' ? { connectionId: done.connectionId } : {};
  await finishLogin(deps, ctx, details, accountId, first, audit);
}

/**
 * Records the login (the sign-in trail says how) and hands it to the provider with its `amr` and
 * `acr`. An identity link waiting for this account's proof in this interaction is made first.
 */
export async function finishLogin(deps: FlowDependencies, ctx: Context, details: InteractionDetails, accountId: string, assertion: Assertion, auditDetails: Record<string, unknown> = {}): Promise<void> {
  const source = { actor: 'user' as const, ...interactionSource(ctx, details) };
  const linked = await makeProvedLink(deps, details, accountId, source);
  // The browser, by the keyed hash of its device cookie: a sign-in from a new one is told (security-notifications.ts).
  const device = deps.libraries.securityNotifications.deviceHash(deviceIdOf(ctx));
  await deps.libraries.signIns.succeeded(accountId, source, { amr: assertion.amr, ...auditDetails, ...(linked ? { linkedConnectionId: linked } : {}), device });
  await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId, amr: assertion.amr, acr: assertion.acr } }, { mergeWithLastSubmission: false });
}

/**
 * The link the proof page waited for, now that its account signed in here (`how: 'proof'`). An
 * identity linked meanwhile (a second tab) or a connection removed meanwhile costs the link, not the
 * sign-in. Gives the connection linked, if any.
 */
async function makeProvedLink(deps: FlowDependencies, details: InteractionDetails, accountId: string, source: { actor: 'user'; sourceAddress: string; clientId?: string }): Promise<string | undefined> {
  const state = flowStateOf(details.result);
  const link = linkToMake(state, accountId, epochSeconds(deps.clock));
  if (!link) {
    if (pendingLinkOf(state)) deps.logger.info('identity not linked: another account signed in, or the proof took too long', { connectionId: pendingLinkOf(state)?.connectionId });
    return undefined;
  }
  try {
    await deps.libraries.identities.link({ accountId, connectionId: link.connectionId, subject: link.subject, email: link.email, how: 'proof' }, source);
    await deps.libraries.identities.recordUse(link.connectionId, link.subject);
    return link.connectionId;
  } catch (error) {
    if (!isGatehouseError(error) || (error.code !== 'conflict' && error.code !== 'not_found')) throw error;
    deps.logger.warn('identity not linked after its proof', { connectionId: link.connectionId, reason: error.code });
    return undefined;
  }
}
