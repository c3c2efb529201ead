import { createHash } from 'node:crypto';

import type Router from '@koa/router';

import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import { routes, urls } from '../urls.ts';
import type { ImageType } from '../theme/image-types.ts';
import { clientLogoTypes, sniffImageType } from '../theme/image-types.ts';

/**
 * Applications' logos (their registered logo_uri), shown on the sign-in, consent and device pages.
 * The pages' policy allows images from our origin only, so Gatehouse fetches a logo itself —
 * through the outgoing-request guard (no private addresses; src/oidc/outgoing-requests.ts), at most
 * 256 KiB, PNG, JPEG, WebP or GIF judged by its bytes (never an SVG from elsewhere) — keeps it in
 * memory for an hour, and serves it from /assets/client-logos/<client>. A page shows the logo only
 * once it is known to be an image; any failure means no logo, never a broken page.
 */

export type ClientLogoFetch = (url: string, options?: RequestInit) => Promise<Response>;

export type ClientLogoOptions = {
  /** The guarded fetch (createOutgoingFetch with maxResponseBytes at most `maxBytes`). */
  fetch: ClientLogoFetch;
  /** The logo_uri of a client whose logo may be shown (an operator's); undefined for any other. */
  logoUriOf: (clientId: string) => Promise<string | undefined>;
  logger?: Logger;
  clock?: Clock;
  maxEntries?: number;
  ttlSeconds?: number;
  /** How long a failure is remembered (no refetch for each page view of a broken logo). */
  failureTtlSeconds?: number;
  maxBytes?: number;
  /** How long a page waits for a logo not fetched yet before it is drawn without one. */
  pageWaitMs?: number;
};

type Logo = { bytes: Buffer; type: ImageType };
type Entry = { expires: number; logo: Promise<Logo | undefined> };

export type ClientLogos = {
  /** The address of `clientId`'s logo on our origin, once fetched and an image; undefined otherwise (no logo on the page). */
  addressFor(clientId: string, logoUri: string): Promise<string | undefined>;
  /** The logo itself, fetched if need be (undefined on any failure). */
  get(logoUri: string): Promise<Logo | undefined>;
  addRoutes(router: Router): void;
};

export const clientLogoMaxBytes = 256 * 1024;

const versionOf = (logoUri: string) => createHash('sha256').update(logoUri).digest('hex').slice(0, 12);

export function createClientLogos(options: ClientLogoOptions): ClientLogos {
  const clock = options.clock ?? systemClock;
  const maxEntries = options.maxEntries ?? 200;
  const ttlMs = (options.ttlSeconds ?? 3600) * 1000;
  const failureTtlMs = (options.failureTtlSeconds ?? 300) * 1000;
  const maxBytes = options.maxBytes ?? clientLogoMaxBytes;
  const pageWaitMs = options.pageWaitMs ?? 1500;
  // Insertion order is recency: a hit moves its entry to the end, the first one is evicted.
  const cache = new Map<string, Entry>();

  async function download(logoUri: string): Promise<Logo | undefined> {
    const url = URL.parse(logoUri);
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) return undefined;
    try {
      const response = await options.fetch(url.href, { headers: { accept: 'image/png, image/jpeg, image/webp, image/gif' } });
      if (response.status !== 200) throw new Error(`answered ${response.status}`);
      const bytes = Buffer.from(await response.arrayBuffer());
      if (bytes.length > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
      const type = sniffImageType(bytes);
      if (!type || !clientLogoTypes.includes(type)) throw new Error('not a PNG, JPEG, WebP or GIF image');
      return { bytes, type };
    } catch (error) {
      options.logger?.warn('an application logo could not be fetched; its pages show none', { logoUri: `${url.origin}${url.pathname}`, error });
      return undefined;
    }
  }

  function get(logoUri: string): Promise<Logo | undefined> {
    const now = clock().getTime();
    const known = cache.get(logoUri);
    if (known && known.expires > now) {
      cache.delete(logoUri);
      cache.set(logoUri, known);
      return known.logo;
    }
    const entry: Entry = { expires: now + ttlMs, logo: download(logoUri) };
    // A failure is kept a shorter while (the application may fix its logo).
    void entry.logo.then((logo) => {
      if (!logo) entry.expires = Math.min(entry.expires, clock().getTime() + failureTtlMs);
    });
    cache.delete(logoUri);
    cache.set(logoUri, entry);
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
    return entry.logo;
  }

  return {
    get,
    async addressFor(clientId, logoUri) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waited = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), pageWaitMs);
      });
      try {
        // A slow logo server delays the page by pageWaitMs at most; the fetch goes on, for the next page.
        const logo = await Promise.race([get(logoUri), waited]);
        return logo ? urls.clientLogo(clientId, versionOf(logoUri)) : undefined;
      } finally {
        clearTimeout(timer);
      }
    },
    addRoutes(router) {
      router.get(routes.clientLogo, async (ctx, next) => {
        const logoUri = await options.logoUriOf(ctx.params.id ?? '').catch(() => undefined);
        const logo = logoUri ? await get(logoUri) : undefined;
        if (!logo) return next();
        ctx.type = logo.type;
        // The address carries a digest of the logo_uri: a new logo is a new address.
        ctx.set('cache-control', 'public, max-age=604800');
        ctx.set('x-content-type-options', 'nosniff');
        ctx.body = logo.bytes;
      });
    },
  };
}
