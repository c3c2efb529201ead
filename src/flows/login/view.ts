import type { Context } from 'koa';

import { epochSeconds } from '../../clock.ts';
import { message } from '../../messages/messages.ts';
import { urls } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { clientName, requiredLevelOf } from '../interaction.ts';
import type { FlowDependencies, ViewData } from '../kit.ts';
import type { PasskeyCeremonyView } from '../passkey-ceremony.ts';
import { ceremonyScripts, issueCeremony } from '../passkey-ceremony.ts';
import { firstStepsFor, passkeysPossible } from './methods.ts';

/** The words for a refused attempt: locked until a reset, or wait a while. */
export function limitedMessage(verdict: { reason: 'slow_down' | 'locked'; retryAfterSeconds: number }): string {
  if (verdict.reason === 'locked') return message('login.locked');
  return message('flows.too_many_attempts', { seconds: verdict.retryAfterSeconds });
}

type LoginPageDependencies = Pick<FlowDependencies, 'provider' | 'config' | 'libraries' | 'clock'>;

/**
 * The sign-in page: the login hint (or what was typed) in the email field, and what went wrong.
 * Where passkeys work it offers one (a button, and autofill in the email field), with a fresh
 * challenge kept in the interaction; when the application needs a phishing-resistant sign-in, the
 * passkey is all it offers, and it says why.
 */
export async function loginPage(deps: LoginPageDependencies, details: InteractionDetails, extra: { error?: string; email?: string; notice?: string } = {}): Promise<ViewData> {
  const name = await clientName(deps.provider(), details.params.client_id);
  const required = await requiredLevelOf(deps, details);
  const offered = firstStepsFor(required, passkeysPossible(deps.libraries.passkeys.relyingParty));
  let passkey: PasskeyCeremonyView | undefined;
  if (offered.passkey) {
    passkey = await issueCeremony(deps, details, {
      purpose: 'sign_in',
      accountId: null,
      now: epochSeconds(deps.clock),
      options: await deps.libraries.passkeys.authenticationOptions({ userVerification: 'required' }),
      action: urls.passkeySignIn(details.uid),
      button: message('login.passkey_button'),
      // Autofill lives in the email field, which only the password form has.
      autofill: offered.password,
    });
  }
  return {
    title: message('login.title'),
    uid: details.uid,
    clientName: name,
    email: extra.email ?? (typeof details.params.login_hint === 'string' ? details.params.login_hint : ''),
    error: extra.error,
    notice: extra.notice,
    registrationOpen: deps.config.accounts.registration === 'open',
    password: offered.password,
    ...(passkey ? { passkey, scripts: ceremonyScripts() } : {}),
    ...(required === 'phishing_resistant' ? { passkeyOnly: message('login.passkey_required', { client: name }) } : {}),
  };
}

/** Renders the sign-in page. */
export async function showLogin(deps: LoginPageDependencies & Pick<FlowDependencies, 'views'>, ctx: Context, details: InteractionDetails, extra: Parameters<typeof loginPage>[2] = {}, status = 200): Promise<void> {
  deps.views.render(ctx, 'login', await loginPage(deps, details, extra), status);
}

/** A sign-in waiting for the code mailed to the address (sign-in-code.ts). */
export function signInCodePage(uid: string, email: string, error?: string): ViewData {
  return { title: message('login.sign_in_code_title'), uid, email, error };
}
