import Router from '@koa/router';
import type { Context } from 'koa';

import { passwordSettingsFrom } from '../accounts/accounts.ts';
import type { VerificationDependencies, VerificationSubject } from '../accounts/email-verification.ts';
import { confirmWithCode, confirmWithLink, currentCode, resendVerificationCode, sendVerificationCode } from '../accounts/email-verification.ts';
import type { CodeVerdict } from '../accounts/one-time-codes.ts';
import { codeState, inspectLink, resendWait } from '../accounts/one-time-codes.ts';
import type { PendingRegistration, RegistrationProgress } from '../accounts/pending-registration.ts';
import { credentialStamp, pendingRegistrationOf, registrationProgress } from '../accounts/pending-registration.ts';
import type { Registration } from '../accounts/registration.ts';
import { register } from '../accounts/registration.ts';
import { acr } from '../accounts/second-factor.ts';
import { typedCodeSchema } from '../accounts/schemas.ts';
import { GatehouseError, isGatehouseError } from '../errors.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { InteractionDetails } from './consent.ts';
import { clientName, currentInteraction, field, formParser, mailedCodes, protectForm } from './interaction-context.ts';
import type { InteractionDependencies } from './routes.ts';

/**
 * Registration and email verification pages. Verification happens in two situations that share one
 * page: right after registering (the login step is not finished yet: the interaction remembers who
 * registered), and when someone with an unverified address signs in (the `verify_email` prompt).
 */

type Verification =
  | { kind: 'registration'; subject: VerificationSubject; pending: PendingRegistration; progress: RegistrationProgress }
  | { kind: 'prompt'; subject: VerificationSubject; verified: boolean };

/** Whether the page may offer "Continue": the address is confirmed, for this browser. */
const confirmed = (current: Verification) => (current.kind === 'prompt' ? current.verified : current.progress === 'continue');

/**
 * A browser that registered remembers which sign-in it registered in (a signed cookie, sent only to
 * the mailed link's pages), so that confirming the link in that same browser lets that sign-in
 * continue, and confirming it anywhere else does not.
 */
const registrationCookie = 'gatehouse.registration';

export function hasPendingRegistration(details: InteractionDetails): boolean {
  return details.prompt.name === 'login' && pendingRegistrationOf(details.result) !== undefined;
}

export function wrongCodeMessage(verdict: Extract<CodeVerdict, { ok: false }>): string {
  switch (verdict.reason) {
    case 'wrong':
      return verdict.attemptsLeft > 0
        ? `That code is not right. ${verdict.attemptsLeft} ${verdict.attemptsLeft === 1 ? 'try' : 'tries'} left.`
        : 'That code is not right, and that was the last try. Send a new code.';
    case 'exhausted':
      return 'Too many wrong codes. Send a new code.';
    case 'expired':
      return 'This code has expired. Send a new code.';
    case 'used':
    case 'missing':
      return 'This code is no longer valid. Send a new code.';
  }
}

export function createRegistrationRoutes(deps: InteractionDependencies) {
  const { store, views, config, outbox, logger } = deps;
  const router = new Router();
  const form = formParser(config);
  const passwords = passwordSettingsFrom(config);
  const codes = mailedCodes(deps, config.accounts.codeTtlSeconds);
  const { rules } = codes;
  const verification: VerificationDependencies = { store, outbox, logger, issuer: config.issuer, codes };
  const registrationOpen = () => config.accounts.registration === 'open';

  function refuseWhenClosed(): void {
    if (!registrationOpen()) throw new GatehouseError('registration_closed', 'Registration is closed here. Ask your administrator for an account.');
  }

  async function verificationOf(details: InteractionDetails): Promise<Verification> {
    if (details.prompt.name === 'verify_email') {
      const account = details.session?.accountId ? await store.accounts.findById(details.session.accountId) : undefined;
      if (!account) throw new GatehouseError('invalid_input', 'This sign-in request has no account. Start again from the application.');
      return { kind: 'prompt', subject: { email: normalizeEmail(account.email), accountId: account.id }, verified: account.emailVerified };
    }
    const pending = details.prompt.name === 'login' ? pendingRegistrationOf(details.result) : undefined;
    if (!pending) throw new GatehouseError('invalid_input', 'There is no email address to confirm in this sign-in. Start again from the application.');
    const progress = await progressOf(pending);
    if (progress === 'start_again') return startAgain(details);
    return { kind: 'registration', subject: { email: pending.email, accountId: pending.accountId, codeId: pending.codeId }, pending, progress };
  }

  /** Nothing of this sign-in may be used again: the browser starts over, through every step. */
  async function startAgain(details: InteractionDetails): Promise<never> {
    await details.destroy();
    throw new GatehouseError('start_again', 'This sign-up cannot continue here: the address was confirmed in another browser, or the account changed since. Go back to the application and start again.');
  }

  async function progressOf(pending: PendingRegistration): Promise<RegistrationProgress> {
    const account = pending.accountId ? await store.accounts.findById(pending.accountId) : undefined;
    return registrationProgress(pending, account, account && credentialStamp(deps.keyEncryptionKey, account));
  }

  /** Keeps the registration's state in the interaction (server-side), replacing what was there. */
  async function remember(ctx: Context, pending: PendingRegistration): Promise<void> {
    await deps.provider().interactionResult(ctx.req, ctx.res, { registration: pending }, { mergeWithLastSubmission: false });
  }

  async function renderRegister(ctx: Context, details: InteractionDetails, extra: { error?: string; email?: string; name?: string } = {}, status = 200) {
    views.render(ctx, 'register', {
      title: 'Create account',
      uid: details.uid,
      clientName: await clientName(deps.provider(), details.params.client_id),
      minLength: config.passwords.minLength,
      email: extra.email ?? '',
      name: extra.name ?? '',
      error: extra.error,
    }, status);
  }

  /** The "check your email" page. */
  async function renderVerification(ctx: Context, details: InteractionDetails, current: Verification, extra: { error?: string; notice?: string } = {}, status = 200) {
    views.render(ctx, 'verify-email', {
      title: 'Check your email',
      uid: details.uid,
      email: current.subject.email,
      verified: confirmed(current),
      canSkip: current.kind === 'registration' && config.accounts.emailVerification === 'optional',
      error: extra.error,
      notice: extra.notice,
    }, status);
  }

  /** Shown by GET /interaction/:uid while an address waits for confirmation. */
  async function showVerification(ctx: Context, details: InteractionDetails): Promise<void> {
    const current = await verificationOf(details);
    let notice: string | undefined;
    if (current.kind === 'prompt' && !current.verified) {
      // Signing in with an address never confirmed: send a code unless a usable one is out (the
      // account's own: someone registering the address meanwhile got a decoy, which does not count).
      const latest = await currentCode(verification, current.subject);
      const now = new Date();
      if (codeState(latest, now, rules) !== 'usable' && resendWait(latest, now, rules) === 0) {
        await sendVerificationCode(verification, current.subject);
        notice = `We sent a code to ${current.subject.email}.`;
      }
    }
    await renderVerification(ctx, details, current, notice ? { notice } : {});
  }

  /**
   * The address is confirmed: registration completes the login (if this browser proved the mailbox
   * and the credentials are still the ones it set); the prompt lets the sign-in go on.
   */
  async function finish(ctx: Context, details: InteractionDetails, current: Verification): Promise<void> {
    if (current.kind === 'prompt') {
      await deps.provider().interactionFinished(ctx.req, ctx.res, { verify_email: { verified: true } }, { mergeWithLastSubmission: true });
      return;
    }
    if (current.progress !== 'continue' || current.pending.accountId === null) {
      return renderVerification(ctx, details, current, { error: 'Your address is not confirmed yet. Enter the code, or open the link in the email first.' }, 400);
    }
    await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId: current.pending.accountId, amr: ['pwd'], acr: acr.password } }, { mergeWithLastSubmission: false });
  }

  router.get('/interaction/:uid/register', async (ctx) => {
    refuseWhenClosed();
    const details = await currentInteraction(deps, ctx, 'login');
    await renderRegister(ctx, details);
  });

  router.post('/interaction/:uid/register', form, async (ctx) => {
    refuseWhenClosed();
    const details = await currentInteraction(deps, ctx, 'login');
    const submitted = { email: field(ctx.request.body, 'email'), password: field(ctx.request.body, 'password'), name: field(ctx.request.body, 'name') };
    const allowed = await deps.limits.registration(ctx.ip);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return renderRegister(ctx, details, { error: `Too many registrations from your network. Wait ${allowed.retryAfterSeconds} seconds, then try again.` }, 429);
    }
    let registration: Registration;
    try {
      registration = await register({ ...verification, passwords, sourceAddress: ctx.ip }, submitted);
    } catch (error) {
      if (!isGatehouseError(error) || error.code !== 'invalid_input') throw error;
      const keep = (value: unknown, max: number) => (typeof value === 'string' ? value.slice(0, max) : '');
      return renderRegister(ctx, details, { error: error.message, email: keep(submitted.email, 254), name: keep(submitted.name, 200) }, 400);
    }
    // The interaction remembers who registered (server-side), and this browser which interaction it
    // registered in; the page that follows is the same whether the address was new or taken.
    const { subject, account } = registration;
    await remember(ctx, {
      email: subject.email, accountId: subject.accountId, codeId: subject.codeId,
      credentialStamp: account ? credentialStamp(deps.keyEncryptionKey, account) : null,
    });
    ctx.cookies.set(registrationCookie, details.uid, {
      signed: true, httpOnly: true, sameSite: 'lax', path: '/verify-email', secure: ctx.secure, maxAge: config.ttl.interaction * 1000, overwrite: true,
    });
    ctx.status = 303;
    ctx.redirect(`/interaction/${details.uid}`);
  });

  router.post('/interaction/:uid/verify-email', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const current = await verificationOf(details);
    const parsed = typedCodeSchema.safeParse(field(ctx.request.body, 'code'));
    if (!parsed.success) return renderVerification(ctx, details, current, { error: 'Enter the 6-digit code from the email.' }, 400);
    const allowed = await deps.limits.emailCode(current.subject.email);
    if (!allowed.ok) {
      ctx.set('retry-after', String(allowed.retryAfterSeconds));
      return renderVerification(ctx, details, current, { error: `Too many codes tried. Wait ${allowed.retryAfterSeconds} seconds, then try again.` }, 429);
    }
    const verdict = await confirmWithCode(verification, current.subject, parsed.data);
    if (!verdict.ok) return renderVerification(ctx, details, current, { error: wrongCodeMessage(verdict) }, 400);
    if (current.kind === 'prompt') return finish(ctx, details, { ...current, verified: true });
    // The code typed here proves this browser reads the mailbox; the credentials are checked again.
    const pending = { ...current.pending, mailboxProvedAt: Math.floor(Date.now() / 1000) };
    const progress = await progressOf(pending);
    if (progress === 'start_again') return startAgain(details);
    await finish(ctx, details, { ...current, pending, progress });
  });

  router.post('/interaction/:uid/verify-email/continue', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const current = await verificationOf(details);
    if (!confirmed(current)) return renderVerification(ctx, details, current, { error: 'Your address is not confirmed yet. Enter the code, or open the link in the email first.' }, 400);
    await finish(ctx, details, current);
  });

  router.post('/interaction/:uid/verify-email/resend', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const current = await verificationOf(details);
    const result = await resendVerificationCode(verification, current.subject);
    if (!result.sent) {
      ctx.set('retry-after', String(result.waitSeconds));
      return renderVerification(ctx, details, current, { error: `A code was sent moments ago. Wait ${result.waitSeconds} seconds before asking for another.` }, 429);
    }
    // The registration now waits for the new code (the older one is void).
    if (current.kind === 'registration') await remember(ctx, { ...current.pending, codeId: result.codeId });
    await renderVerification(ctx, details, current, { notice: `We sent a new code to ${current.subject.email}.` });
  });

  // EMAIL_VERIFICATION=optional: go on without confirming by signing in with the new password.
  // Asking for the password again keeps a taken address indistinguishable from a new one.
  router.post('/interaction/:uid/verify-email/skip', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const current = await verificationOf(details);
    if (config.accounts.emailVerification !== 'optional') throw new GatehouseError('invalid_input', 'Confirming your email address is required here.');
    await deps.provider().interactionResult(ctx.req, ctx.res, {}, { mergeWithLastSubmission: false });
    views.render(ctx, 'login', {
      title: 'Sign in',
      uid: details.uid,
      clientName: await clientName(deps.provider(), details.params.client_id),
      email: current.subject.email,
      notice: 'Sign in with your new password to continue. You can confirm your address later.',
      registrationOpen: registrationOpen(),
    });
  });

  // The link in the mail. GET only shows a button: mail scanners open links, and must not use them.
  router.get('/verify-email/:token', async (ctx) => {
    protectForm(ctx, deps.keyEncryptionKey, `link:${ctx.params.token ?? ''}`);
    const verdict = await inspectLink(verification.codes, 'verify_email', ctx.params.token ?? '');
    if (!verdict.ok) return renderLinkProblem(ctx);
    views.render(ctx, 'confirm-email', { title: 'Confirm your email address', token: ctx.params.token, email: verdict.record.email });
  });

  router.post('/verify-email/:token', form, async (ctx) => {
    protectForm(ctx, deps.keyEncryptionKey, `link:${ctx.params.token ?? ''}`);
    const verdict = await confirmWithLink(verification, ctx.params.token ?? '');
    if (!verdict.ok) return renderLinkProblem(ctx);
    await proveMailboxHere(ctx, verdict.record.accountId);
    views.render(ctx, 'email-confirmed', { title: 'Email address confirmed', email: verdict.record.email });
  });

  /**
   * The link was confirmed in the browser that registered: the registration waiting in that
   * browser's sign-in may continue. Confirmed anywhere else, no registration continues.
   */
  async function proveMailboxHere(ctx: Context, accountId: string): Promise<void> {
    const uid = ctx.cookies.get(registrationCookie, { signed: true });
    if (!uid || uid.length > 128) return;
    const interaction = await deps.provider().Interaction.find(uid);
    const pending = interaction && pendingRegistrationOf(interaction.result);
    if (!interaction || !pending || pending.accountId !== accountId) return;
    interaction.result = { ...interaction.result, registration: { ...pending, mailboxProvedAt: Math.floor(Date.now() / 1000) } };
    await interaction.save(Math.max(1, interaction.exp - Math.floor(Date.now() / 1000)));
  }

  function renderLinkProblem(ctx: Context) {
    views.render(ctx, 'error', {
      title: 'This link is no longer valid',
      error: 'invalid_link',
      description: 'This confirmation link has expired or was already used. Go back to the sign-in page and ask for a new code.',
    }, 410);
  }

  return { router, showVerification };
}
