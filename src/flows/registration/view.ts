import { message } from '../../messages/messages.ts';
import type { InteractionDetails } from '../interaction.ts';
import { clientName } from '../interaction.ts';
import type { FlowDependencies, ViewData } from '../kit.ts';

/** The registration form: what was typed comes back (escaped by the template) with what went wrong. */
export async function registerPage(deps: Pick<FlowDependencies, 'provider' | 'config'>, details: InteractionDetails, extra: { error?: string; email?: string; name?: string } = {}): Promise<ViewData> {
  return {
    title: message('registration.title'),
    uid: details.uid,
    clientName: await clientName(deps.provider(), details.params.client_id),
    minLength: deps.config.passwords.minLength,
    email: extra.email ?? '',
    name: extra.name ?? '',
    error: extra.error,
  };
}
