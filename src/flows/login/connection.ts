import type Router from '@koa/router';
import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { isGatehouseError } from '../../errors.ts';
import type { AuditSource } from '../../libraries/audit.ts';
import type { Connection } from '../../libraries/connections.ts';
import { message } from '../../messages/messages.ts';
import { speakForSignIn } from '../../messages/request-locale.ts';
import { normalizeEmail } from '../../store/normalize-email.ts';
import type { AccountRecord } from '../../store/types.ts';
import { connectionRedirectUri, routes, urls } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { currentInteraction, requiredLevelOf, showStep } from '../interaction.ts';
import type { FlowDependencies } from '../kit.ts';
import { saveFlowState } from '../state.ts';
import { completeLogin } from './complete.ts';
import type { KeptIdentity, PendingUpstream, UpstreamDecision, UpstreamProblem } from './connection-rules.ts';
import {
  connectionIdFrom, decideUpstreamSignIn, isRegisteredCallback, keptIdentity, pendingVerdict, problemPage, upstreamCookieName,
  upstreamLifetimeSeconds, upstreamRequestKey, verifiedVerdict,
} from './connection-rules.ts';
import { firstStepAllowed } from './methods.ts';

/**
 * The strategy "Continue with <connection>": signing in with another provider.
 *
 * 1. `POST /interaction/:uid/connection/:id` (the login or registration page's button, with its
 *    CSRF token): the upstream library builds the authorization request (code flow, PKCE, state,
 *    nonce); the interaction keeps what the answer will be checked against (a `pending` entry,
 *    connection-rules.ts) and the browser gets a signed, HttpOnly, SameSite=Lax cookie naming the
 *    interaction, sent only to the connection's callback; then 303 to the upstream.
 * 2. `GET /connections/:id/callback` (the fixed redirect URI registered at the upstream): the
 *    cookie names the interaction (no cookie: another browser's answer, refused); its pending
 *    entry is taken (single use, 10 minutes, for this connection); the upstream library redeems the
 *    code and verifies the answer; the verified identity is kept in the interaction and the
 *    browser goes to the interaction's own return address, the only place this callback sends it.
 * 3. `GET /interaction/:uid/connection/return` (inside the interaction, with its own cookie): the
 *    verified identity is taken (single use) and decided on (connection-rules.ts): sign in to the
 *    linked account, link by a trusted verified email (the owner is mailed), ask for the proof of
 *    the account with that email (the `link_identity` step, link.ts), create the account, or refuse.
 *
 * Every refusal is a page of its own (a 4xx, never a 500) with the way back to the other ways to
 * sign in; nothing is created before the upstream's answer verified and the decision was taken.
 */

/** Who acts in an upstream sign-in: the person at this address, for the interaction's client when known. */
function personAt(ctx: Context, clientId?: unknown): AuditSource & { actor: 'user' } {
  return { actor: 'user', sourceAddress: ctx.ip, ...(typeof clientId === 'string' ? { clientId } : {}) };
}

/** The interaction as stored now (the request's own copy may be older; see passkey-ceremony.ts). */
async function storedInteraction(deps: Pick<FlowDependencies, 'provider'>, uid: string) {
  return deps.provider().Interaction.find(uid);
}

/** Keeps an upstream sign-in in flight in the interaction, under its own key (replacing any earlier one). */
async function rememberUpstream(deps: Pick<FlowDependencies, 'provider'>, uid: string, entry: unknown): Promise<boolean> {
  const interaction = await storedInteraction(deps, uid);
  if (!interaction) return false;
  interaction.result = { ...(interaction.result ?? {}), [upstreamRequestKey]: entry };
  await interaction.persist();
  return true;
}

/** Takes the interaction's upstream entry: removed (whatever it is) before it is judged, so it serves one request. */
async function takeUpstream(interaction: NonNullable<Awaited<ReturnType<typeof storedInteraction>>>): Promise<unknown> {
  const result = interaction.result as Record<string, unknown> | undefined;
  const entry = result?.[upstreamRequestKey];
  if (entry !== undefined) {
    const { [upstreamRequestKey]: _taken, ...rest } = result!;
    interaction.result = rest;
    await interaction.persist();
  }
  return entry;
}

/** The page of a problem, with the way back to this interaction's other ways to sign in when there is one. */
export function showProblem(
  deps: Pick<FlowDependencies, 'views' | 'config'>,
  ctx: Context,
  problem: UpstreamProblem | 'too_many_accounts',
  context: { uid?: string | undefined; email?: string; retryAfterSeconds?: number; words?: string } = {},
): void {
  const page = problem === 'too_many_accounts'
    ? { status: 429, title: 'connection.problem_title' as const, text: 'registration.too_many' as const, offerRegistration: false }
    : problemPage(problem);
  if (context.retryAfterSeconds !== undefined) ctx.set('retry-after', String(context.retryAfterSeconds));
  const links = context.uid
    ? [
      { href: urls.interaction(context.uid), label: message('connection.back_to_sign_in') },
      ...(page.offerRegistration && deps.config.accounts.registration === 'open' ? [{ href: urls.register(context.uid), label: message('connection.create_account') }] : []),
    ]
    : [];
  deps.views.render(ctx, 'connection-problem', {
    title: message(page.title),
    text: context.words ?? message(page.text, { email: context.email ?? '', seconds: context.retryAfterSeconds ?? 0 }),
    links,
    startAgain: links.length === 0 ? message('connection.start_again') : undefined,
    // Not `problem`: the layout reads that as what failed, for the title.
    reason: problem,
  }, page.status);
}

/**
 * The problem an upstream library error is (its three codes, and a connection disabled under it),
 * with the library's words (they name the connection, and an upstream's refusal in its own words);
 * undefined for anything else (a bug: rethrown).
 */
function upstreamProblemOf(error: unknown): { problem: UpstreamProblem; words: string } | undefined {
  if (!isGatehouseError(error)) return undefined;
  const words = message(error.messageId, error.values);
  switch (error.code) {
    case 'upstream_unavailable':
    case 'upstream_refused':
    case 'upstream_invalid':
      return { problem: error.code, words };
    case 'forbidden':
      return { problem: 'connection_disabled', words };
    default:
      return undefined;
  }
}

/** A refusal the library did not record already goes to the sign-in trail. */
async function refused(deps: FlowDependencies, source: AuditSource, problem: UpstreamProblem | 'too_many_accounts', connectionId: string | undefined): Promise<void> {
  await deps.libraries.signIns.failed(source, { reason: problem, method: 'connection', ...(connectionId ? { connectionId } : {}) });
}

export function connectionStrategy(router: Router, deps: FlowDependencies): void {
  // 1. Leaving for the upstream.
  router.post(routes.connectionStart, deps.form, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const source = personAt(ctx, details.params.client_id);
    const id = connectionIdFrom(ctx.params.id);
    const connection = id ? await deps.libraries.connections.find(id) : undefined;
    if (!connection || connection.disabled) {
      await refused(deps, source, 'unknown_connection', id);
      return showProblem(deps, ctx, 'unknown_connection', { uid: details.uid });
    }
    if (!firstStepAllowed('federated', await requiredLevelOf(deps, details))) {
      await refused(deps, source, 'phishing_resistant_required', connection.id);
      return showProblem(deps, ctx, 'phishing_resistant_required', { uid: details.uid });
    }
    const redirectUri = connectionRedirectUri(deps.config.issuer, connection.id);
    let request: Awaited<ReturnType<FlowDependencies['libraries']['upstream']['begin']>>;
    try {
      request = await deps.libraries.upstream.begin(connection, redirectUri, source);
    } catch (error) {
      const failure = upstreamProblemOf(error);
      if (!failure) throw error;
      return showProblem(deps, ctx, failure.problem, { uid: details.uid, words: failure.words });
    }
    const pending: PendingUpstream = {
      phase: 'pending', connectionId: connection.id, state: request.state, nonce: request.nonce, codeVerifier: request.codeVerifier, issuedAt: epochSeconds(deps.clock),
    };
    if (!(await rememberUpstream(deps, details.uid, pending))) return showProblem(deps, ctx, 'interaction_gone');
    ctx.cookies.set(upstreamCookieName, details.uid, {
      signed: true, httpOnly: true, sameSite: 'lax', path: urls.connectionCallback(connection.id), secure: ctx.secure, maxAge: upstreamLifetimeSeconds * 1000, overwrite: true,
    });
    ctx.status = 303;
    ctx.redirect(request.url);
  });

  // 2. The upstream's answer, at the connection's fixed redirect URI.
  router.get(routes.connectionCallback, async (ctx) => {
    const id = connectionIdFrom(ctx.params.id);
    // The cookie only names the interaction (it expires with the pending request): what is used
    // once is the pending request, taken below. An answer sent again finds it gone, and says so.
    const uid = ctx.cookies.get(upstreamCookieName, { signed: true });
    let source = personAt(ctx);
    const connection = id ? await deps.libraries.connections.find(id) : undefined;
    if (!connection) {
      await refused(deps, source, 'unknown_connection', id);
      return showProblem(deps, ctx, 'unknown_connection');
    }
    if (!uid || uid.length > 128) {
      await refused(deps, source, 'no_cookie', connection.id);
      return showProblem(deps, ctx, 'no_cookie');
    }
    const interaction = await storedInteraction(deps, uid);
    if (!interaction) {
      await refused(deps, source, 'interaction_gone', connection.id);
      return showProblem(deps, ctx, 'interaction_gone');
    }
    source = personAt(ctx, interaction.params.client_id);
    // Outside /interaction/, yet this sign-in's page: it speaks what the application asked for.
    speakForSignIn(ctx, interaction.params.ui_locales);
    const verdict = pendingVerdict(await takeUpstream(interaction), connection.id, epochSeconds(deps.clock));
    if (!verdict.ok) {
      await refused(deps, source, verdict.reason, connection.id);
      return showProblem(deps, ctx, verdict.reason, { uid });
    }
    if (connection.disabled) {
      await refused(deps, source, 'connection_disabled', connection.id);
      return showProblem(deps, ctx, 'connection_disabled', { uid });
    }
    const redirectUri = connectionRedirectUri(deps.config.issuer, connection.id);
    const callbackUrl = new URL(ctx.originalUrl, deps.config.issuer);
    if (!isRegisteredCallback(callbackUrl, redirectUri)) {
      await refused(deps, source, 'wrong_callback', connection.id);
      return showProblem(deps, ctx, 'wrong_callback', { uid });
    }
    const { state, nonce, codeVerifier } = verdict.entry;
    let identity: KeptIdentity | undefined;
    try {
      identity = keptIdentity(await deps.libraries.upstream.complete(connection, callbackUrl, { state, nonce, codeVerifier }, redirectUri, source));
    } catch (error) {
      const failure = upstreamProblemOf(error);
      if (!failure) throw error;
      // The library recorded the failure (upstream_sign_in_failed, with its reason).
      return showProblem(deps, ctx, failure.problem, { uid, words: failure.words });
    }
    if (!identity) {
      await refused(deps, source, 'upstream_invalid', connection.id);
      return showProblem(deps, ctx, 'upstream_invalid', { uid });
    }
    const verified = { phase: 'verified' as const, connectionId: connection.id, identity, verifiedAt: epochSeconds(deps.clock) };
    if (!(await rememberUpstream(deps, uid, verified))) return showProblem(deps, ctx, 'interaction_gone');
    // Back into the interaction, in this browser: the one address this callback ever redirects to.
    showStep(ctx, uid, urls.connectionReturn);
  });

  // 3. Back in the interaction: decide, and carry it out.
  router.get(routes.connectionReturn, async (ctx) => {
    const details = await currentInteraction(deps, ctx, 'login');
    const source = personAt(ctx, details.params.client_id);
    const interaction = await storedInteraction(deps, details.uid);
    const verdict = verifiedVerdict(interaction ? await takeUpstream(interaction) : undefined, epochSeconds(deps.clock));
    if (!verdict.ok) {
      await refused(deps, source, verdict.reason, undefined);
      return showProblem(deps, ctx, verdict.reason, { uid: details.uid });
    }
    const { connectionId, identity } = verdict.entry;
    const connection = await deps.libraries.connections.find(connectionId);
    if (!connection) {
      await refused(deps, source, 'unknown_connection', connectionId);
      return showProblem(deps, ctx, 'unknown_connection', { uid: details.uid });
    }
    const decision = await decide(deps, details, connection, identity);
    await carryOut(deps, ctx, details, connection, identity, decision, source);
  });
}

/** Gathers what the decision needs (the linked account, or the account with the email) and takes it (connection-rules.ts). */
async function decide(deps: FlowDependencies, details: InteractionDetails, connection: Connection, identity: KeptIdentity): Promise<UpstreamDecision> {
  const linked = await deps.libraries.identities.find(connection.id, identity.subject);
  const linkedAccount = linked ? (await deps.libraries.accounts.findById(linked.accountId)) ?? null : undefined;
  const sameEmail = !linked && identity.email ? await deps.libraries.accounts.findByEmail(identity.email) : undefined;
  return decideUpstreamSignIn({
    connection,
    identity,
    linked: linkedAccount === undefined ? undefined : linkedAccount && { id: linkedAccount.id, disabled: linkedAccount.disabled },
    sameEmail: sameEmail && { id: sameEmail.id, disabled: sameEmail.disabled },
    required: await requiredLevelOf(deps, details),
  });
}

/** Whether an error is a race the person can only meet by signing in again (an account or a link made at the same moment). */
function isRace(error: unknown): boolean {
  return isGatehouseError(error) && (error.code === 'conflict' || error.code === 'not_found');
}

async function carryOut(
  deps: FlowDependencies, ctx: Context, details: InteractionDetails, connection: Connection, identity: KeptIdentity, decision: UpstreamDecision, source: AuditSource & { actor: 'user' },
): Promise<void> {
  const uid = details.uid;
  const signIn = (accountId: string) => completeLogin(deps, ctx, details, accountId, {
    method: 'federated', connectionId: connection.id, trustUpstreamMfa: connection.trustUpstreamMfa, upstreamAmr: identity.amr,
  });
  const link = async (accountId: string, how: 'trusted_email' | 'created'): Promise<boolean> => {
    try {
      await deps.libraries.identities.link({ accountId, connectionId: connection.id, subject: identity.subject, email: identity.email, how }, source);
      return true;
    } catch (error) {
      if (!isRace(error)) throw error;
      await refused(deps, source, 'conflict', connection.id);
      showProblem(deps, ctx, 'conflict', { uid });
      return false;
    }
  };
  switch (decision.kind) {
    case 'sign_in':
      await deps.libraries.identities.recordUse(connection.id, identity.subject);
      return signIn(decision.accountId);
    case 'link_trusted': {
      const account = await deps.libraries.accounts.findById(decision.accountId);
      if (!account || !(await link(account.id, 'trusted_email'))) {
        if (!account) showProblem(deps, ctx, 'conflict', { uid });
        return;
      }
      // Linked without the owner's own proof: the library mails the owner about it.
      await deps.libraries.identities.recordUse(connection.id, identity.subject);
      return signIn(account.id);
    }
    case 'prove':
      await saveFlowState(deps.provider(), ctx, {
        step: 'link_identity', connectionId: connection.id, subject: identity.subject, email: identity.email!, accountId: decision.accountId, issuedAt: epochSeconds(deps.clock),
      });
      return showStep(ctx, uid, urls.interaction);
    case 'create': {
      // New accounts from one source are limited like registrations.
      const allowed = await deps.limits.registration(ctx.ip);
      if (!allowed.ok) {
        await refused(deps, source, 'too_many_accounts', connection.id);
        return showProblem(deps, ctx, 'too_many_accounts', { uid, retryAfterSeconds: allowed.retryAfterSeconds });
      }
      let created: AccountRecord;
      try {
        created = await deps.libraries.accounts.createFromUpstream({
          email: identity.email!, emailVerified: decision.emailVerified, profile: identity.profile as Record<string, string>, connectionId: connection.id,
        }, source);
      } catch (error) {
        if (!isRace(error)) throw error;
        await refused(deps, source, 'conflict', connection.id);
        return showProblem(deps, ctx, 'conflict', { uid });
      }
      const accountId = created.id;
      if (!(await link(accountId, 'created'))) {
        deps.logger.warn('an account created from another provider could not be linked (a concurrent link)', { accountId, connectionId: connection.id });
        return;
      }
      await deps.libraries.identities.recordUse(connection.id, identity.subject);
      // An address nobody vouched for gets the usual mailed confirmation (the verify_email prompt,
      // when verification is required, finds this code out and waits for it).
      if (!created.emailVerified) await deps.libraries.verification.send({ email: normalizeEmail(created.email), accountId });
      return signIn(accountId);
    }
    case 'refuse':
      await refused(deps, source, decision.reason, connection.id);
      return showProblem(deps, ctx, decision.reason, { uid, ...(identity.email ? { email: identity.email } : {}) });
  }
}
