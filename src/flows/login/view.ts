import type { Context } from 'koa';

import { message } from '../../messages/messages.ts';
import type { InteractionDetails } from '../interaction.ts';
import { clientName } from '../interaction.ts';
import type { FlowDependencies, ViewData } from '../kit.ts';

/** The words for a refused attempt: locked until a reset, or wait a while. */
export function limitedMessage(verdict: { reason: 'slow_down' | 'locked'; retryAfterSeconds: number }): string {
  if (verdict.reason === 'locked') return message('login.locked');
  return message('flows.too_many_attempts', { seconds: verdict.retryAfterSeconds });
}

/** The sign-in page: the login hint (or what was typed) in the email field, and what went wrong. */
export async function loginPage(deps: Pick<FlowDependencies, 'provider' | 'config'>, details: InteractionDetails, extra: { error?: string; email?: string; notice?: string } = {}): Promise<ViewData> {
  return {
    title: message('login.title'),
    uid: details.uid,
    clientName: await clientName(deps.provider(), details.params.client_id),
    email: extra.email ?? (typeof details.params.login_hint === 'string' ? details.params.login_hint : ''),
    error: extra.error,
    notice: extra.notice,
    registrationOpen: deps.config.accounts.registration === 'open',
  };
}

/** Renders the sign-in page. */
export async function showLogin(deps: Pick<FlowDependencies, 'provider' | 'config' | 'views'>, ctx: Context, details: InteractionDetails, extra: Parameters<typeof loginPage>[2] = {}, status = 200): Promise<void> {
  deps.views.render(ctx, 'login', await loginPage(deps, details, extra), status);
}

/** A sign-in waiting for the code mailed to the address (sign-in-code.ts). */
export function signInCodePage(uid: string, email: string, error?: string): ViewData {
  return { title: message('login.sign_in_code_title'), uid, email, error };
}
