import { issuesOf } from '../../libraries/validation.ts';
import { maxPasswordBytes } from '../../libraries/password-policy.ts';
import { message } from '../../messages/messages.ts';
import { urls } from '../../urls.ts';
import type { InteractionDetails } from '../interaction.ts';
import { clientName, requiredLevelOf } from '../interaction.ts';
import type { FlowDependencies, ViewData } from '../kit.ts';
import { firstStepsFor, passkeysPossible } from '../login/methods.ts';
import { connectionButtons } from '../login/view.ts';
import type { PasskeyCeremonyView } from '../passkey-ceremony.ts';
import { ceremonyScripts } from '../passkey-ceremony.ts';

/** A form's problems by field name, in the form's order (the template ties each to its field). */
export type FieldErrors = Record<string, string>;

/**
 * A validation error's problems by field, in `fields` order (the first problem of each field), or
 * undefined when the error is not one, or concerns something else than these fields.
 */
export function fieldErrorsOf(error: unknown, fields: readonly string[]): FieldErrors | undefined {
  const issues = issuesOf(error);
  if (!issues?.length) return undefined;
  const found = new Map<string, string>();
  for (const issue of issues) {
    const name = issue.path[0];
    if (typeof name !== 'string' || !fields.includes(name)) return undefined;
    if (!found.has(name)) found.set(name, issue.message);
  }
  return Object.fromEntries(fields.filter((name) => found.has(name)).map((name) => [name, found.get(name)!]));
}

/**
 * The registration form: what was typed comes back (escaped by the template) with what went wrong.
 * Where passkeys work it offers one instead of a password (shown by the page's script when the
 * browser can make one), and the buttons of other providers (signing in with one can create the
 * account, when its connection allows); for an application that needs a phishing-resistant
 * sign-in, only a passkey.
 */
export async function registerPage(deps: Pick<FlowDependencies, 'provider' | 'config' | 'libraries'>, details: InteractionDetails, extra: { error?: string; errors?: FieldErrors; email?: string; name?: string } = {}): Promise<ViewData> {
  const name = await clientName(deps.provider(), details.params.client_id);
  const required = await requiredLevelOf(deps, details);
  const offered = firstStepsFor(required, passkeysPossible(deps.libraries.passkeys.relyingParty));
  return {
    title: message('registration.title'),
    uid: details.uid,
    clientName: name,
    minLength: deps.config.passwords.minLength,
    maxPasswordBytes,
    email: extra.email ?? '',
    name: extra.name ?? '',
    error: extra.error,
    errors: extra.errors,
    password: offered.password,
    passkey: offered.passkey,
    connections: await connectionButtons(deps, details.uid, offered),
    ...(offered.passkey ? { scripts: [urls.script('passkey-sign-in.js')] } : {}),
    ...(required === 'phishing_resistant' ? { passkeyOnly: message('login.passkey_required', { client: name }) } : {}),
  };
}

/** The new account's passkey: its address, the ceremony, and what went wrong. */
export function passkeyRegistrationPage(uid: string, email: string, passkey: PasskeyCeremonyView, error?: string): ViewData {
  return { title: message('registration.passkey_title'), uid, email, passkey, error, scripts: ceremonyScripts() };
}
