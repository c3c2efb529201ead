import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';

import { GatehouseError } from '../errors.ts';
// The address policy is a pure module (no provider in it): the same rules the provider's own
// outgoing requests follow, so a webhook can reach nothing a metadata document could not.
import { judgeAddress } from '../network/outgoing-addresses.ts';

export type DestinationPolicy = {
  /** Production: https only, loopback refused. */
  production: boolean;
  /** DNS, for tests; node:dns by default. */
  lookup?: (hostname: string) => Promise<Array<{ address: string }>>;
};

const defaultLookup = (hostname: string) => dnsLookup(hostname, { all: true });

/**
 * Checks a webhook URL when it is registered: an absolute http(s) URL (https in production) with no
 * credentials or fragment, whose host resolves only to addresses the outgoing-request policy allows
 * (src/network/outgoing-addresses.ts: never private, link-local, …; loopback outside production only).
 * Every delivery is judged again on the address it connects to (the outgoing fetch), so a name
 * that later resolves elsewhere gets nothing either. Returns the URL normalized.
 */
export async function checkWebhookUrl(input: string, policy: DestinationPolicy): Promise<string> {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new GatehouseError('invalid_input', 'webhooks.url_invalid', { url: input });
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.hash || input.length > 2000) {
    throw new GatehouseError('invalid_input', 'webhooks.url_invalid', { url: input });
  }
  if (policy.production && url.protocol !== 'https:') throw new GatehouseError('invalid_input', 'webhooks.url_https_required', { url: input });
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const judge = { allowLoopback: !policy.production };
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await (policy.lookup ?? defaultLookup)(host)).map((each) => each.address);
    } catch (error) {
      throw new GatehouseError('invalid_input', 'webhooks.url_unresolvable', { url: input, host, reason: (error as { code?: string }).code ?? (error as Error).message });
    }
  }
  for (const address of addresses) {
    const verdict = judgeAddress(address, judge);
    if (!verdict.ok) throw new GatehouseError('invalid_input', 'webhooks.url_refused', { url: input, reason: host === address ? verdict.reason : `${host} resolves to ${verdict.reason}` });
  }
  return url.href;
}
