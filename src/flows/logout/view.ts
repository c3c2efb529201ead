import { message } from '../../messages/messages.ts';
import type { ViewData } from '../kit.ts';

/**
 * Signing out (RP-initiated logout). oidc-provider runs it and asks for our two pages: the
 * confirmation, carrying its own form (`form`, the provider's HTML, rendered raw by the template),
 * and the page after it. The web layer hands them to the provider (src/web/provider-pages.ts).
 */
type Client = { clientId: string; clientName?: string | undefined } | undefined;

const nameOf = (client: Client) => client?.clientName ?? client?.clientId;

/** What the pages call the service being signed out of, unless the operator's brand names it (views/logout.eta). */
const productName = 'Gatehouse';

export function logoutPage(client: Client, form: string): ViewData {
  return { title: message('logout.title'), form, clientName: nameOf(client), productName };
}

export function loggedOutPage(client: Client): ViewData {
  return { title: message('logout.done_title'), clientName: nameOf(client), productName };
}
