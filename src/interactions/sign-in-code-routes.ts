import Router from '@koa/router';
import type { Context } from 'koa';

import { authenticate, passwordSettingsFrom } from '../accounts/accounts.ts';
import { failureFloorFor, padToFloor } from '../accounts/passwords.ts';
import { acr, isActive } from '../accounts/second-factor.ts';
import type { SignInCodeDependencies } from '../accounts/sign-in-code.ts';
import { confirmSignInCode, pendingSignInCodeOf, startSignInCode } from '../accounts/sign-in-code.ts';
import { typedCodeSchema } from '../accounts/schemas.ts';
import { recordAudit } from '../audit/audit.ts';
import { GatehouseError, isGatehouseError } from '../errors.ts';
import type { ReservedAttempt } from '../limits/abuse-limits.ts';
import type { AccountRecord } from '../store/types.ts';
import type { InteractionDetails } from './consent.ts';
import { currentInteraction, field, formParser, interactionSource, mailedCodes } from './interaction-context.ts';
import { wrongCodeMessage } from './registration-routes.ts';
import type { InteractionDependencies } from './routes.ts';
import { requireSecondFactor } from './second-factor-routes.ts';

/**
 * The sign-in of an address that is limited as a whole while this source is not (see
 * accounts/sign-in-code.ts): the password is checked, and whatever the outcome the next page asks
 * for a code mailed to the address. Only the owner's mailbox makes it work; the second factor, if
 * the account has one, still follows.
 */

export function hasPendingSignInCode(details: InteractionDetails): boolean {
  return details.prompt.name === 'login' && pendingSignInCodeOf(details.result) !== undefined;
}

export function createSignInCodeRoutes(deps: InteractionDependencies) {
  const { store, views, config, outbox, logger } = deps;
  const router = new Router();
  const form = formParser(config);
  const passwords = passwordSettingsFrom(config);
  const codes: SignInCodeDependencies = {
    store, outbox, keyEncryptionKey: deps.keyEncryptionKey,
    codes: mailedCodes(deps, config.accounts.codeTtlSeconds),
  };

  function render(ctx: Context, details: InteractionDetails, email: string, extra: { error?: string } = {}, status = 200) {
    views.render(ctx, 'sign-in-code', { title: "Confirm it's you", uid: details.uid, email, error: extra.error }, status);
  }

  /**
   * Called by the login form when the address is limited as a whole but this source may still try
   * (`attempt` is reserved against this source only). Right or wrong, the answer is the code page,
   * after the same time.
   */
  async function begin(ctx: Context, details: InteractionDetails, input: { email: string; password: string; attempt: ReservedAttempt }): Promise<void> {
    const startedAt = performance.now();
    let account: AccountRecord | undefined;
    try {
      account = await authenticate(store, input.email, input.password, passwords);
    } catch (error) {
      // A disabled account is answered like a wrong password here: the page must not differ.
      if (!isGatehouseError(error) || (error.code !== 'invalid_credentials' && error.code !== 'account_disabled')) {
        await input.attempt.cancel();
        throw error;
      }
    }
    await (account ? input.attempt.succeeded() : input.attempt.failed());
    const pending = await startSignInCode(codes, { email: input.email, account });
    const known = account ?? (await store.accounts.findByEmail(input.email));
    await recordAudit(store.audit, {
      type: account ? 'login_code_requested' : 'login_failed', actor: 'user', ...interactionSource(ctx, details), ...(known ? { accountId: known.id } : {}),
      details: account ? { reason: 'address_limited' } : { reason: 'invalid_credentials', addressLimited: true },
    }, logger);
    await deps.provider().interactionResult(ctx.req, ctx.res, { signInCode: pending }, { mergeWithLastSubmission: false });
    // A right password would otherwise be answered sooner than a wrong one (which waits for the floor).
    await padToFloor(startedAt, failureFloorFor(passwords.limits));
    ctx.status = 303;
    ctx.redirect(`/interaction/${details.uid}`);
  }

  /** Shown by GET /interaction/:uid while the sign-in waits for the mailed code. */
  function show(ctx: Context, details: InteractionDetails): void {
    render(ctx, details, pendingSignInCodeOf(details.result)!.email);
  }

  router.post('/interaction/:uid/sign-in-code', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const pending = pendingSignInCodeOf(details.result);
    if (!pending) throw new GatehouseError('invalid_input', 'This sign-in step has expired. Start again from the application.');
    const parsed = typedCodeSchema.safeParse(field(ctx.request.body, 'code'));
    if (!parsed.success) return render(ctx, details, pending.email, { error: 'Enter the 6-digit code from the email.' }, 400);
    const allowed = await deps.limits.emailCode(pending.email);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return render(ctx, details, pending.email, { error: `Too many codes tried. Wait ${allowed.retryAfterSeconds} seconds, then try again.` }, 429);
    }
    const outcome = await confirmSignInCode(codes, pending, parsed.data);
    if (!outcome.ok) {
      if (outcome.reason === 'start_again') {
        await details.destroy();
        throw new GatehouseError('start_again', 'This sign-in cannot continue: the account changed since. Go back to the application and start again.');
      }
      return render(ctx, details, pending.email, { error: wrongCodeMessage(outcome) }, 400);
    }
    const accountId = outcome.account.id;
    if (isActive(await store.secondFactors.find(accountId))) return requireSecondFactor(deps, ctx, details, accountId);
    await recordAudit(store.audit, { type: 'login', actor: 'user', accountId, ...interactionSource(ctx, details), details: { amr: ['pwd'], mailedCode: true } }, logger);
    await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId, amr: ['pwd'], acr: acr.password } }, { mergeWithLastSubmission: false });
  });

  return { router, begin, show };
}
