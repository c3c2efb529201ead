import type Provider from 'oidc-provider';

import type { Libraries } from '../libraries/index.ts';
import { isMetadataDocumentClientId } from '../oidc/configuration.ts';
import type { ClientOrigin } from './consent/view.ts';
import type { ClientLogoLookup } from './kit.ts';

/**
 * The application's own brand on the sign-in, consent and device pages (views/partials/client-brand.eta):
 * its name, its logo and its links as it registered them (logo_uri, client_uri, policy_uri, tos_uri).
 * Links only when absolute http(s) without credentials. The logo only for an application an
 * operator registered (an unreviewed one would borrow a look it has not earned), and only through
 * our origin (src/web/client-logo.ts, handed in by the web layer): undefined there means no logo.
 */

export type { ClientLogoLookup } from './kit.ts';

export type ClientBrand = {
  name: string;
  /** Our own address of the logo (/assets/client-logos/…). */
  logo?: string;
  homepage?: string;
  policy?: string;
  terms?: string;
};

export type ClientBrandInput = {
  clientId: string;
  name: string;
  origin: ClientOrigin;
  logoUri?: unknown;
  clientUri?: unknown;
  policyUri?: unknown;
  tosUri?: unknown;
};

/** An absolute http(s) link without credentials, as the browser will follow it; undefined for anything else. */
export function webLink(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const url = URL.parse(value);
  return url && (url.protocol === 'https:' || url.protocol === 'http:') && !url.username && !url.password ? url.href : undefined;
}

/** The partial's data (`it.clientBrand`). */
export async function clientBrand(input: ClientBrandInput, logos: ClientLogoLookup | undefined): Promise<ClientBrand> {
  const logoUri = input.origin === 'operator' ? webLink(input.logoUri) : undefined;
  const logo = logoUri && logos ? await logos.addressFor(input.clientId, logoUri) : undefined;
  const homepage = webLink(input.clientUri);
  const policy = webLink(input.policyUri);
  const terms = webLink(input.tosUri);
  return {
    name: input.name,
    ...(logo ? { logo } : {}),
    ...(homepage ? { homepage } : {}),
    ...(policy ? { policy } : {}),
    ...(terms ? { terms } : {}),
  };
}

/** The same, for the application of a sign-in (`client_id` of its authorization request), looked up. */
export async function clientBrandOf(
  deps: { provider: () => Provider; libraries: Pick<Libraries, 'clients'>; clientLogos?: ClientLogoLookup | undefined },
  clientId: unknown,
  name: string,
): Promise<{ clientBrand?: ClientBrand }> {
  if (typeof clientId !== 'string' || !clientId) return {};
  const client = await deps.provider().Client.find(clientId).catch(() => undefined);
  if (!client) return {};
  const origin: ClientOrigin = isMetadataDocumentClientId(clientId) ? 'metadata_document'
    : (await deps.libraries.clients.get(clientId).catch(() => undefined))?.dynamic ? 'self_registered' : 'operator';
  return {
    clientBrand: await clientBrand({
      clientId, name, origin, logoUri: client.logoUri, clientUri: client.clientUri, policyUri: client.policyUri, tosUri: client.tosUri,
    }, deps.clientLogos),
  };
}
