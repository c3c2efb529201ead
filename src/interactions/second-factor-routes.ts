import Router from '@koa/router';
import type { Context } from 'koa';
import QRCode from 'qrcode';

import type { SecondFactorDependencies, SecondFactorVerdict } from '../accounts/second-factor.ts';
import { acr, activateEnrollment, beginEnrollment, isActive, pendingEnrollment, verifySecondFactor } from '../accounts/second-factor.ts';
import { recordAudit } from '../audit/audit.ts';
import { GatehouseError } from '../errors.ts';
import type { AccountRecord } from '../store/types.ts';
import type { InteractionDetails } from './consent.ts';
import { currentInteraction, field, formParser, interactionSource } from './interaction-context.ts';
import type { InteractionDependencies } from './routes.ts';

/**
 * The second factor during sign-in. The login page checks the password; when the account has an
 * authenticator app, the login step is not finished there: the interaction remembers (server-side)
 * that the password was right, and only a TOTP or recovery code finishes it. The `mfa` prompt
 * covers the rest: a session from before the factor existed, or a client that needs one from a
 * person who has none yet (set up here, inside the sign-in).
 */

/** How long a checked password waits for its second factor. */
const passwordValidSeconds = 10 * 60;

type PasswordVerified = { accountId: string; at: number };

/** The password step this interaction passed, if it still waits for a second factor. */
function passwordVerified(details: InteractionDetails): PasswordVerified | undefined {
  const value = (details.result as { passwordVerified?: Partial<PasswordVerified> } | undefined)?.passwordVerified;
  if (!value || typeof value.accountId !== 'string' || typeof value.at !== 'number') return undefined;
  if (Date.now() / 1000 - value.at > passwordValidSeconds) return undefined;
  return { accountId: value.accountId, at: value.at };
}

export function awaitsSecondFactor(details: InteractionDetails): boolean {
  return details.prompt.name === 'login' && passwordVerified(details) !== undefined;
}

/** Remembers that the password was right; the next page asks for the code. */
export async function requireSecondFactor(deps: InteractionDependencies, ctx: Context, details: InteractionDetails, accountId: string): Promise<void> {
  await deps.provider().interactionResult(ctx.req, ctx.res, { passwordVerified: { accountId, at: Math.floor(Date.now() / 1000) } }, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(`/interaction/${details.uid}`);
}

const replayedOrWrong = 'That code is not right or was already used. Enter the code your authenticator app shows now.';

export function describeVerdict(verdict: Extract<SecondFactorVerdict, { ok: false }>): string {
  switch (verdict.reason) {
    // One answer for both: telling a used code from a wrong one would confirm to someone replaying
    // an observed code that it was right (the audit trail still records which it was).
    case 'wrong':
    case 'replayed':
      return replayedOrWrong;
    case 'wait':
      return `Too many wrong codes. Wait ${verdict.waitSeconds} seconds, then try again.`;
    case 'missing':
      return 'There is no authenticator app set up for this account.';
  }
}

/** The QR code as inline SVG: drawn here, no image service sees the secret. */
async function qrCodeSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/**
 * What the setup page shows (in a sign-in or on the account page): the QR code and the secret, in
 * groups of four, of the factor being enrolled, which is started when there is none yet.
 */
export async function setupPageData(factors: SecondFactorDependencies, account: { id: string; email: string }): Promise<{ qrSvg: string; secret: string }> {
  const enrollment = (await pendingEnrollment(factors, account)) ?? (await beginEnrollment(factors, account));
  return { qrSvg: await qrCodeSvg(enrollment.uri), secret: enrollment.secret.replace(/(.{4})/g, '$1 ').trim() };
}

/** What the recovery codes page shows: the codes, once, and the same as a text download. */
export function recoveryCodesPageData(email: string, codes: string[]): { title: string; codes: string[]; download: string } {
  const text = `Gatehouse recovery codes for ${email}\nEach code works once.\n\n${codes.join('\n')}\n`;
  return { title: 'Save your recovery codes', codes, download: `data:text/plain;charset=utf-8,${encodeURIComponent(text)}` };
}

export function createSecondFactorRoutes(deps: InteractionDependencies) {
  const { store, views, config, logger } = deps;
  const router = new Router();
  const form = formParser(config);
  const factors: SecondFactorDependencies = { store, keyEncryptionKey: deps.keyEncryptionKey, logger };

  /** Whose second factor this interaction is about, and whether it is the login or the mfa step. */
  async function subjectOf(details: InteractionDetails): Promise<{ account: AccountRecord; step: 'login' | 'mfa' }> {
    const accountId = details.prompt.name === 'mfa' ? details.session?.accountId : passwordVerified(details)?.accountId;
    const account = accountId ? await store.accounts.findById(accountId) : undefined;
    if (!account || account.disabled) throw new GatehouseError('invalid_input', 'This sign-in step has expired. Start again from the application.');
    return { account, step: details.prompt.name === 'mfa' ? 'mfa' : 'login' };
  }

  function renderChallenge(ctx: Context, details: InteractionDetails, extra: { error?: string } = {}, status = 200) {
    views.render(ctx, 'second-factor', { title: 'Two-step verification', uid: details.uid, error: extra.error }, status);
  }

  async function renderSetup(ctx: Context, details: InteractionDetails, account: AccountRecord, extra: { error?: string } = {}, status = 200) {
    views.render(ctx, 'mfa-setup', {
      title: 'Set up two-step verification',
      action: `/interaction/${details.uid}/mfa/setup`,
      cancel: `/interaction/${details.uid}/abort`,
      intro: 'This application requires a second step when you sign in.',
      ...(await setupPageData(factors, account)),
      error: extra.error,
    }, status);
  }

  /** The login (and the factor) are complete. */
  async function finish(ctx: Context, details: InteractionDetails, accountId: string, method: 'otp' | 'recovery') {
    await recordAudit(store.audit, { type: 'login', actor: 'user', accountId, ...interactionSource(ctx, details), details: { amr: ['pwd', 'otp'], secondFactor: method } }, logger);
    // A recovery code stands in for the authenticator app (RFC 8176 has no value of its own for it).
    await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId, amr: ['pwd', 'otp'], acr: acr.mfa } }, { mergeWithLastSubmission: false });
  }

  /** Shown by GET /interaction/:uid at the second-factor step. */
  async function show(ctx: Context, details: InteractionDetails): Promise<void> {
    const { account } = await subjectOf(details);
    if (isActive(await store.secondFactors.find(account.id))) return renderChallenge(ctx, details);
    return renderSetup(ctx, details, account);
  }

  router.post('/interaction/:uid/second-factor', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const { account } = await subjectOf(details);
    const code = field(ctx.request.body, 'code');
    if (typeof code !== 'string' || !code.trim() || code.length > 64) return renderChallenge(ctx, details, { error: 'Enter the code from your authenticator app, or a recovery code.' }, 400);
    const verdict = await verifySecondFactor(factors, account.id, code);
    if (!verdict.ok) {
      await recordAudit(store.audit, { type: 'login_second_factor_failed', actor: 'user', accountId: account.id, ...interactionSource(ctx, details), details: { reason: verdict.reason } }, logger);
      if (verdict.reason === 'wait') ctx.set('retry-after', String(verdict.waitSeconds));
      return renderChallenge(ctx, details, { error: describeVerdict(verdict) }, verdict.reason === 'wait' ? 429 : 400);
    }
    await finish(ctx, details, account.id, verdict.method);
  });

  router.post('/interaction/:uid/mfa/setup', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'mfa');
    const { account } = await subjectOf(details);
    const code = field(ctx.request.body, 'code');
    const activated = typeof code === 'string' && code.length <= 16 ? await activateEnrollment(factors, account.id, code) : { ok: false as const, reason: 'wrong' as const };
    if (!activated.ok) {
      if (activated.reason === 'missing' && isActive(await store.secondFactors.find(account.id))) return renderChallenge(ctx, details);
      return renderSetup(ctx, details, account, { error: 'That code is not right. Enter the 6-digit code your app shows now.' }, 400);
    }
    // The codes are shown this once; the interaction remembers that setup succeeded here.
    await deps.provider().interactionResult(ctx.req, ctx.res, { mfaEnrolled: { accountId: account.id } }, { mergeWithLastSubmission: true });
    views.render(ctx, 'recovery-codes', {
      ...recoveryCodesPageData(account.email, activated.recoveryCodes),
      action: `/interaction/${details.uid}/mfa/done`,
      button: 'Continue',
    });
  });

  router.post('/interaction/:uid/mfa/done', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'mfa');
    const { account } = await subjectOf(details);
    const enrolled = (details.result as { mfaEnrolled?: { accountId?: unknown } } | undefined)?.mfaEnrolled;
    if (enrolled?.accountId !== account.id || !isActive(await store.secondFactors.find(account.id))) {
      throw new GatehouseError('invalid_input', 'Set up your authenticator app first.');
    }
    // The first code of the new factor was checked a moment ago in this interaction.
    await finish(ctx, details, account.id, 'otp');
  });

  return { router, show };
}
