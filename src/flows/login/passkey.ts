import type Router from '@koa/router';
import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { isGatehouseError, wordsFor } from '../../errors.ts';
import type { GatehouseError } from '../../errors.ts';
import type { PasskeyAssertion } from '../../libraries/passkeys.ts';
import { message } from '../../messages/messages.ts';
import { routes } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { currentInteraction, field, interactionSource } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import type { CeremonyPurpose } from '../passkey-ceremony.ts';
import { submittedResponse, takeChallenge } from '../passkey-ceremony.ts';
import { completeLogin } from './complete.ts';
import { limitedMessage, showLogin } from './view.ts';

/**
 * The passkey strategy: "Sign in with a passkey" and passkey autofill on the login page. The page
 * drew a discoverable ceremony (anyone's passkey; user verification required) and kept its
 * challenge in the interaction; the browser's answer comes back in an ordinary form post with the
 * page's CSRF token. Answers are limited per source like passwords, the challenge is used up by
 * the first answer whatever its fate, and a refused one is the login page again (a new challenge,
 * the other ways to sign in still there) with what went wrong.
 */

/** Why an answer was not checked, or was refused: the page's words and status. */
export type PasskeyRefusal = { error: string; status: number; retryAfterSeconds?: number };

/** The library's refusals a page shows (anything else is a bug, and a 500). */
const refusedCodes = new Set<GatehouseError['code']>(['passkey_invalid', 'passkey_unknown', 'account_disabled']);

/**
 * Checks a passkey answer posted to a sign-in page: the source's limit, the interaction's challenge
 * for `purpose` (taken: it cannot be used again), the answer's form, then the library. Gives the
 * library's assertion, or what the page should say. Shared by the login page (any account, user
 * verification required) and the second step (`accountId`: that account's passkeys only).
 */
export async function checkPasskeyAnswer(
  deps: FlowDependencies,
  ctx: Context,
  details: InteractionDetails,
  ceremony: { purpose: CeremonyPurpose; accountId: string | null; userVerification: 'required' | 'preferred' },
): Promise<{ ok: true; assertion: PasskeyAssertion } | ({ ok: false; reason: string } & PasskeyRefusal)> {
  const gate = await deps.limits.passkeyAttempt(ctx.ip);
  if (!gate.ok) return { ok: false, reason: 'rate_limited', error: limitedMessage(gate), status: 429, retryAfterSeconds: gate.retryAfterSeconds };
  const { attempt } = gate;
  const challenge = await takeChallenge(deps, details, { purpose: ceremony.purpose, accountId: ceremony.accountId }, epochSeconds(deps.clock));
  if (!challenge.ok) {
    await attempt.cancel();
    return { ok: false, reason: `challenge_${challenge.reason}`, error: message('passkey.expired'), status: 400 };
  }
  const response = submittedResponse(field(ctx.request.body, 'response'));
  if (response === undefined) {
    await attempt.failed();
    return { ok: false, reason: 'malformed', error: message('passkey.malformed'), status: 400 };
  }
  const source = { actor: 'user' as const, ...interactionSource(ctx, details) };
  try {
    const assertion = await deps.libraries.passkeys.finishAuthentication({
      response,
      expectedChallenge: challenge.challenge,
      userVerification: ceremony.userVerification,
      ...(ceremony.accountId ? { accountId: ceremony.accountId } : {}),
    }, source);
    await attempt.succeeded();
    return { ok: true, assertion };
  } catch (error) {
    if (!isGatehouseError(error) || !refusedCodes.has(error.code)) {
      await attempt.cancel();
      throw error;
    }
    // A disabled account's passkey verified: not a failure of the source.
    await (error.code === 'account_disabled' ? attempt.cancel() : attempt.failed());
    return { ok: false, reason: error.code, error: wordsFor(error), status: error.status };
  }
}

export function passkeyStrategy(router: Router, deps: FlowDependencies): void {
  router.post(routes.passkeySignIn, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const checked = await checkPasskeyAnswer(deps, ctx, details, { purpose: 'sign_in', accountId: null, userVerification: 'required' });
    if (!checked.ok) {
      await deps.libraries.signIns.failed({ actor: 'user', ...interactionSource(ctx, details) }, { reason: checked.reason, method: 'passkey' });
      if (checked.retryAfterSeconds !== undefined) ctx.set('retry-after', String(checked.retryAfterSeconds));
      return showLogin(deps, ctx, details, { error: checked.error }, checked.status);
    }
    await completeLogin(deps, ctx, details, checked.assertion.accountId, { method: 'passkey', passkey: checked.assertion });
  });
}
