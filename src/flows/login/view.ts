import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { message } from '../../messages/messages.ts';
import { urls } from '../../urls.ts';
import { pageFor } from '../engine.ts';
import type { InteractionDetails } from '../interaction.ts';
import { clientName, requiredLevelOf } from '../interaction.ts';
import type { FlowDependencies, ViewData } from '../kit.ts';
import type { PasskeyCeremonyView } from '../passkey-ceremony.ts';
import { ceremonyScripts, issueCeremony } from '../passkey-ceremony.ts';
import { clientBrandOf } from '../client-brand.ts';
import type { FlowStateOf } from '../state.ts';
import { flowStateOf } from '../state.ts';
import { firstStepsFor, passkeysPossible } from './methods.ts';

/** The words for a refused attempt: locked until a reset, or wait a while. */
export function limitedMessage(verdict: { reason: 'slow_down' | 'locked'; retryAfterSeconds: number }): string {
  if (verdict.reason === 'locked') return message('login.locked');
  return message('flows.too_many_attempts', { seconds: verdict.retryAfterSeconds });
}

type LoginPageDependencies = Pick<FlowDependencies, 'provider' | 'config' | 'libraries' | 'clock' | 'clientLogos'>;

/** A "Continue with …" button: a plain form (no script) posting to the connection's start, with the page's CSRF token. */
export type ConnectionButton = { id: string; label: string; action: string };

/**
 * The connections the login and registration pages offer (those the operator shows there, enabled),
 * in the order the library lists them; none where the authorization needs a phishing-resistant
 * sign-in, which another provider never is.
 */
export async function connectionButtons(deps: Pick<FlowDependencies, 'libraries'>, uid: string, offered: { federated: boolean }): Promise<ConnectionButton[]> {
  if (!offered.federated) return [];
  const connections = await deps.libraries.connections.listForLoginPage();
  return connections
    .filter((connection) => connection.showOnLoginPage && !connection.disabled)
    .map((connection) => ({ id: connection.id, label: message('login.continue_with', { name: connection.name }), action: urls.connectionStart(uid, connection.id) }));
}

/** A discoverable passkey sign-in offered on a page of this sign-in (its challenge issued now). */
function passkeySignInCeremony(deps: LoginPageDependencies, details: InteractionDetails, autofill: boolean): Promise<PasskeyCeremonyView> {
  return deps.libraries.passkeys.authenticationOptions({ userVerification: 'required' }).then((options) => issueCeremony(deps, details, {
    purpose: 'sign_in', accountId: null, now: epochSeconds(deps.clock), options,
    action: urls.passkeySignIn(details.uid), button: message('login.passkey_button'), autofill,
  }));
}

/**
 * The sign-in page: the login hint (or what was typed) in the email field, and what went wrong.
 * Where passkeys work it offers one (a button, and autofill in the email field), with a fresh
 * challenge kept in the interaction; a button per connection to another provider; when the
 * application needs a phishing-resistant sign-in, the passkey is all it offers, and it says why.
 */
/**
 * What went wrong on a sign-in form: `error` for the whole form (role=alert), `errors` by field (shown
 * next to each), and `retype` the field a form-level error is about (a refused password: described
 * by the error, and focused to type it again).
 */
export type FormProblems = { error?: string; errors?: Record<string, string>; retype?: 'password' };

export async function loginPage(deps: LoginPageDependencies, details: InteractionDetails, extra: FormProblems & { email?: string; notice?: string } = {}): Promise<ViewData> {
  const name = await clientName(deps.provider(), details.params.client_id);
  const required = await requiredLevelOf(deps, details);
  const offered = firstStepsFor(required, passkeysPossible(deps.libraries.passkeys.relyingParty));
  // Autofill lives in the email field, which only the password form has.
  const passkey = offered.passkey ? await passkeySignInCeremony(deps, details, offered.password) : undefined;
  return {
    title: message('login.title'),
    uid: details.uid,
    clientName: name,
    email: extra.email ?? (typeof details.params.login_hint === 'string' ? details.params.login_hint : ''),
    error: extra.error,
    errors: extra.errors,
    retype: extra.retype,
    notice: extra.notice,
    registrationOpen: deps.config.accounts.registration === 'open',
    password: offered.password,
    connections: await connectionButtons(deps, details.uid, offered),
    ...(passkey ? { passkey, scripts: ceremonyScripts() } : {}),
    ...(required === 'phishing_resistant' ? { passkeyOnly: message('login.passkey_required', { client: name }) } : {}),
    // The application's name, logo and links (views/partials/client-brand.eta).
    ...(await clientBrandOf(deps, details.params.client_id, name)),
  };
}

/**
 * Renders the sign-in page; at the proof page of an identity link (`link_identity`), that page
 * instead, so that a refused password or passkey lands where it was given.
 */
export async function showLogin(deps: LoginPageDependencies & Pick<FlowDependencies, 'views'>, ctx: Context, details: InteractionDetails, extra: Parameters<typeof loginPage>[2] = {}, status = 200): Promise<void> {
  const state = flowStateOf(details.result);
  if (state?.step === 'link_identity' && pageFor({ prompt: details.prompt.name, state, now: epochSeconds(deps.clock) }) === 'link_identity') {
    const { email: _typed, ...shown } = extra;
    return showLinkIdentity(deps, ctx, details, state, shown, status);
  }
  deps.views.render(ctx, 'login', await loginPage(deps, details, extra), status);
}

/**
 * The proof page of an identity link (login/link.ts): the upstream's email belongs to an account,
 * so the person signs in to that account here (its password, a passkey, or a code mailed to it) and
 * the link is made once that succeeds. Or signs in another way.
 */
export async function linkIdentityPage(deps: LoginPageDependencies, details: InteractionDetails, state: FlowStateOf<'link_identity'>, extra: FormProblems & { notice?: string } = {}): Promise<ViewData> {
  const [connection, name, required] = await Promise.all([
    deps.libraries.connections.find(state.connectionId), clientName(deps.provider(), details.params.client_id), requiredLevelOf(deps, details),
  ]);
  const offered = firstStepsFor(required, passkeysPossible(deps.libraries.passkeys.relyingParty));
  const passkey = offered.passkey ? await passkeySignInCeremony(deps, details, false) : undefined;
  return {
    title: message('link.title'),
    uid: details.uid,
    clientName: name,
    email: state.email,
    connectionName: connection?.name ?? state.connectionId,
    codeSent: state.code !== undefined,
    error: extra.error,
    errors: extra.errors,
    retype: extra.retype,
    notice: extra.notice ?? (state.code !== undefined && !extra.error && !extra.errors ? message('link.code_sent', { email: state.email }) : undefined),
    ...(passkey ? { passkey, scripts: ceremonyScripts() } : {}),
  };
}

export async function showLinkIdentity(
  deps: LoginPageDependencies & Pick<FlowDependencies, 'views'>, ctx: Context, details: InteractionDetails, state: FlowStateOf<'link_identity'>, extra: FormProblems & { notice?: string } = {}, status = 200,
): Promise<void> {
  deps.views.render(ctx, 'link-identity', await linkIdentityPage(deps, details, state, extra), status);
}

/** A sign-in waiting for the code mailed to the address (sign-in-code.ts). */
export function signInCodePage(uid: string, email: string, problems: FormProblems = {}): ViewData {
  return { title: message('login.sign_in_code_title'), uid, email, error: problems.error, errors: problems.errors };
}
