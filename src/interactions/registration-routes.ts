import Router from '@koa/router';
import type { Context } from 'koa';

import { passwordSettingsFrom } from '../accounts/accounts.ts';
import type { VerificationDependencies, VerificationSubject } from '../accounts/email-verification.ts';
import { confirmWithCode, confirmWithLink, resendVerificationCode, sendVerificationCode } from '../accounts/email-verification.ts';
import type { CodeVerdict } from '../accounts/one-time-codes.ts';
import { codeState, createCodeHasher, inspectLink, resendWait } from '../accounts/one-time-codes.ts';
import { register } from '../accounts/registration.ts';
import { acr } from '../accounts/second-factor.ts';
import { typedCodeSchema } from '../accounts/schemas.ts';
import { GatehouseError, isGatehouseError } from '../errors.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { InteractionDetails } from './consent.ts';
import { clientName, currentInteraction, field, formParser, protectForm } from './interaction-context.ts';
import type { InteractionDependencies } from './routes.ts';

/**
 * Registration and email verification pages. Verification happens in two situations that share one
 * page: right after registering (the login step is not finished yet: the interaction remembers who
 * registered), and when someone with an unverified address signs in (the `verify_email` prompt).
 */

type Verification = { kind: 'registration' | 'prompt'; subject: VerificationSubject; verified: boolean };

/** The registration this interaction is waiting to verify, as the register route stored it. */
function pendingRegistration(details: InteractionDetails): VerificationSubject | undefined {
  const pending = (details.result as { registration?: unknown } | undefined)?.registration as Partial<VerificationSubject> | undefined;
  if (!pending || typeof pending.email !== 'string') return undefined;
  return { email: pending.email, accountId: typeof pending.accountId === 'string' ? pending.accountId : null };
}

export function hasPendingRegistration(details: InteractionDetails): boolean {
  return details.prompt.name === 'login' && pendingRegistration(details) !== undefined;
}

function wrongCodeMessage(verdict: Extract<CodeVerdict, { ok: false }>): string {
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
  const rules = { ttlSeconds: config.accounts.codeTtlSeconds, maxAttempts: config.accounts.codeMaxAttempts, resendCooldownSeconds: config.accounts.resendCooldownSeconds };
  const verification: VerificationDependencies = {
    store, outbox, logger, issuer: config.issuer,
    codes: { codes: store.codes, hash: createCodeHasher(deps.keyEncryptionKey), rules },
  };
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
    const subject = details.prompt.name === 'login' ? pendingRegistration(details) : undefined;
    if (!subject) throw new GatehouseError('invalid_input', 'There is no email address to confirm in this sign-in. Start again from the application.');
    const account = subject.accountId ? await store.accounts.findById(subject.accountId) : undefined;
    return { kind: 'registration', subject, verified: account?.emailVerified === true };
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
      verified: current.verified,
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
      // Signing in with an address never confirmed: send a code unless a usable one is out.
      const latest = await store.codes.latest(current.subject.email, 'verify_email');
      const now = new Date();
      if (codeState(latest, now, rules) !== 'usable' && resendWait(latest, now, rules) === 0) {
        await sendVerificationCode(verification, current.subject);
        notice = `We sent a code to ${current.subject.email}.`;
      }
    }
    await renderVerification(ctx, details, current, notice ? { notice } : {});
  }

  /** The address is confirmed: registration completes the login; the prompt lets the sign-in go on. */
  async function finish(ctx: Context, current: Verification): Promise<void> {
    if (current.kind === 'registration') {
      await deps.provider().interactionFinished(ctx.req, ctx.res, { login: { accountId: current.subject.accountId!, amr: ['pwd'], acr: acr.password } }, { mergeWithLastSubmission: false });
    } else {
      await deps.provider().interactionFinished(ctx.req, ctx.res, { verify_email: { verified: true } }, { mergeWithLastSubmission: true });
    }
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
    let subject: VerificationSubject;
    try {
      subject = await register({ ...verification, passwords, sourceAddress: ctx.ip }, submitted);
    } catch (error) {
      if (!isGatehouseError(error) || error.code !== 'invalid_input') throw error;
      const keep = (value: unknown, max: number) => (typeof value === 'string' ? value.slice(0, max) : '');
      return renderRegister(ctx, details, { error: error.message, email: keep(submitted.email, 254), name: keep(submitted.name, 200) }, 400);
    }
    // The interaction remembers who registered (server-side); the page that follows is the same
    // whether the address was new or taken.
    await deps.provider().interactionResult(ctx.req, ctx.res, { registration: subject }, { mergeWithLastSubmission: false });
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
    await finish(ctx, { ...current, verified: true });
  });

  router.post('/interaction/:uid/verify-email/continue', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const current = await verificationOf(details);
    if (!current.verified) return renderVerification(ctx, details, current, { error: 'Your address is not confirmed yet. Enter the code, or open the link in the email first.' }, 400);
    await finish(ctx, current);
  });

  router.post('/interaction/:uid/verify-email/resend', form, async (ctx) => {
    const details = await currentInteraction(deps, ctx);
    const current = await verificationOf(details);
    const result = await resendVerificationCode(verification, current.subject);
    if (!result.sent) {
      ctx.set('retry-after', String(result.waitSeconds));
      return renderVerification(ctx, details, current, { error: `A code was sent moments ago. Wait ${result.waitSeconds} seconds before asking for another.` }, 429);
    }
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
    views.render(ctx, 'email-confirmed', { title: 'Email address confirmed', email: verdict.record.email });
  });

  function renderLinkProblem(ctx: Context) {
    views.render(ctx, 'error', {
      title: 'This link is no longer valid',
      error: 'invalid_link',
      description: 'This confirmation link has expired or was already used. Go back to the sign-in page and ask for a new code.',
    }, 410);
  }

  return { router, showVerification };
}
