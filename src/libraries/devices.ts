import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

import Bowser from 'bowser';
import { Reader } from 'maxmind';
import type { CityResponse } from 'maxmind';

import type { Clock } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import type { Logger } from '../logger.ts';
import { currentLocale } from '../messages/messages.ts';
import type { AppConsent, RememberedConsent, Store } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import { revokeGrant, signClientOut } from './sessions.ts';

/**
 * The account centre's view of a person's sessions (devices) and apps, and the records behind it
 * (src/store session_activity and app_consents, migration 0018):
 *
 * - A session is recorded when the provider uses it at the authorization endpoint (a sign-in to an
 *   app, the account page's own, a silent renewal: src/oidc/activity-events.ts), never on the token
 *   paths: its browser (user agent), source address and sign-in methods, first and last seen. A
 *   session is written at most once a minute (per instance), or at once when its sign-in changed.
 * - An app's last use is recorded when tokens are issued for it (grant.success), at most once a
 *   minute per person and app (per instance).
 * - Consent is remembered per person and app (src/oidc/remembered-consent.ts) until the person
 *   removes the app here (`revokeApp`), which also revokes its grants and tokens and signs it out
 *   of every session (with a back-channel logout when it has a receiver).
 */

/** At most one write per session (or per person and app) in this long, unless its sign-in changed. */
export const activityWriteIntervalMs = 60_000;

/** How many throttling entries are kept in memory before they are forgotten (a forgotten one only costs a write). */
const throttleEntries = 10_000;

/** The longest user agent kept (longer ones are cut: they describe the same browser). */
export const maxUserAgentLength = 512;

/** A browser and operating system in words, from a user agent (bowser); null when unknown. */
export function describeDevice(userAgent: string | null | undefined): { browser: string | null; os: string | null } {
  if (!userAgent) return { browser: null, os: null };
  let parsed: Bowser.Parser.ParsedResult;
  try {
    parsed = Bowser.parse(userAgent.slice(0, maxUserAgentLength));
  } catch {
    return { browser: null, os: null };
  }
  const major = parsed.browser.version?.split('.')[0];
  const browser = parsed.browser.name ? [parsed.browser.name, major].filter(Boolean).join(' ') : null;
  const osVersion = parsed.os.versionName ?? parsed.os.version;
  const os = parsed.os.name ? [parsed.os.name, osVersion].filter(Boolean).join(' ') : null;
  return { browser, os };
}

/** Finds the approximate place of an address ("Berlin, Germany"), in the reader's language where the database has it, else English; undefined when unknown. */
export type PlaceLookup = (address: string | null | undefined) => string | undefined;

/** A place lookup over a MaxMind-format database (GeoLite2 City or Country, or any .mmdb with those fields). */
export function placeLookupFrom(database: Buffer): PlaceLookup {
  const reader = new Reader<CityResponse>(database);
  return (address) => {
    if (!address) return undefined;
    // An IPv4 address seen through an IPv6 socket.
    const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    if (!isIP(plain)) return undefined;
    const found = reader.get(plain);
    // GeoLite2 names places in de, en, es, fr, ja, pt-BR, ru and zh-CN; the page's language when it is one of them.
    const locale = currentLocale();
    const named = (names: Record<string, string> | undefined) => names?.[locale] ?? names?.en;
    const city = named(found?.city?.names as Record<string, string> | undefined);
    const country = named(found?.country?.names as Record<string, string> | undefined) ?? named(found?.registered_country?.names as Record<string, string> | undefined);
    const words = [city, country].filter((part): part is string => typeof part === 'string' && part.length > 0);
    return words.length ? words.join(', ') : undefined;
  };
}

/**
 * The place lookup of the configuration: none without GEOIP_DATABASE; the file is read at the first
 * lookup, and one that cannot be read or is no MaxMind database turns places off (with one warning).
 */
function configuredPlaceLookup(path: string | undefined, logger: Logger | undefined): PlaceLookup {
  if (!path) return () => undefined;
  let lookup: PlaceLookup | undefined;
  return (address) => {
    if (!lookup) {
      try {
        lookup = placeLookupFrom(readFileSync(path));
      } catch (error) {
        logger?.warn('GEOIP_DATABASE cannot be read as a MaxMind database; sessions are shown without places', { path, error });
        lookup = () => undefined;
      }
    }
    return lookup(address);
  };
}

/** A throttle: true when `key` was not let through within the interval (or its stamp changed). */
function throttle(clock: Clock) {
  const seen = new Map<string, { at: number; stamp: string }>();
  return (key: string, stamp = ''): boolean => {
    const now = clock().getTime();
    const last = seen.get(key);
    if (last && last.stamp === stamp && now - last.at < activityWriteIntervalMs && now >= last.at) return false;
    if (seen.size >= throttleEntries) seen.clear();
    seen.set(key, { at: now, stamp });
    return true;
  };
}

/** A session as the provider used it, to record. */
export type SessionSeen = {
  sessionId: string;
  accountId: string;
  userAgent?: string | undefined;
  sourceAddress?: string | undefined;
  amr: string[];
  /** When the person signed in (the session's loginTs): a new sign-in is written at once. */
  loginTs?: number | undefined;
  expiresAt: Date;
};

/** A live session of the account, with what was seen of it. */
export type DeviceSession = {
  id: string;
  browser: string | null;
  os: string | null;
  userAgent: string | null;
  sourceAddress: string | null;
  place: string | undefined;
  amr: string[];
  /** When it signed in (loginTs), if known. */
  signedInAt: Date | null;
  firstSeenAt: Date | null;
  lastSeenAt: Date | null;
  /** The clients signed in within it. */
  clientIds: string[];
};

/** An app (client) the person has consented to, or holds a grant for. */
export type ConnectedApp = {
  clientId: string;
  /** Whether the client is still registered (a removed client may leave grants behind until they expire). */
  known: boolean;
  name: string | null;
  logoUri: string | null;
  firstParty: boolean;
  /** Whether its consent is remembered (a new sign-in does not ask again). */
  remembered: boolean;
  /** OpenID Connect scopes it may use (remembered or granted). */
  scopes: string[];
  claims: string[];
  /** API scopes by resource indicator. */
  resourceScopes: Record<string, string[]>;
  grantedAt: Date | null;
  lastUsedAt: Date | null;
  /** How many live grants it holds (one per session it signed in within, or a refresh token's). */
  grants: number;
};

export type DevicesLibrary = {
  /** Records a session the provider used (at most once a minute per session). */
  sessionSeen(seen: SessionSeen): Promise<void>;
  /** Records that tokens were issued to a client for a person (at most once a minute per pair). */
  appUsed(accountId: string, clientId: string): Promise<void>;
  /** The account's live sessions, most recently seen first. */
  sessions(accountId: string): Promise<DeviceSession[]>;
  /** The account's apps: remembered consents and clients holding live grants, most recent first. */
  apps(accountId: string): Promise<ConnectedApp[]>;
  /** The remembered consent of a person for a client, if any. */
  rememberedConsent(accountId: string, clientId: string): Promise<AppConsent | undefined>;
  rememberConsent(consent: RememberedConsent): Promise<void>;
  /**
   * Removes an app from the account: forgets its consent, signs it out of every session (a
   * back-channel logout to each, when it has a receiver), and revokes every grant it holds with
   * its refresh and access tokens. Audited as `app_revoked`. False when there was nothing to remove.
   */
  revokeApp(accountId: string, clientId: string, source: AuditSource): Promise<boolean>;
  /** The approximate place of an address (GEOIP_DATABASE), if any. */
  placeOf: PlaceLookup;
};

type Grant = { id: string; clientId: string; iat: number | null; scopes: string[]; claims: string[]; resources: Record<string, string[]> };

function words(value: unknown): string[] {
  return typeof value === 'string' ? value.split(' ').filter(Boolean) : [];
}

function grantOf(id: string, payload: Record<string, unknown>): Grant | undefined {
  if (typeof payload.clientId !== 'string') return undefined;
  const openid = payload.openid as { scope?: unknown; claims?: unknown } | undefined;
  const resources = (payload.resources && typeof payload.resources === 'object' ? payload.resources : {}) as Record<string, unknown>;
  return {
    id,
    clientId: payload.clientId,
    iat: typeof payload.iat === 'number' ? payload.iat : null,
    scopes: words(openid?.scope),
    claims: Array.isArray(openid?.claims) ? openid.claims.filter((claim): claim is string => typeof claim === 'string') : [],
    resources: Object.fromEntries(Object.entries(resources).map(([indicator, scope]) => [indicator, words(scope)])),
  };
}

const union = (...lists: string[][]) => [...new Set(lists.flat())];

export function devicesLibrary(deps: { store: Store; clock: Clock; config: Pick<Config, 'geoipDatabase'>; logger?: Logger | undefined }): DevicesLibrary {
  const { store, clock, logger } = deps;
  const sessionWrite = throttle(clock);
  const appWrite = throttle(clock);
  const placeOf = configuredPlaceLookup(deps.config.geoipDatabase, logger);
  const sessionsDeps = { store, clock, ...(logger ? { logger } : {}) };

  async function liveGrants(accountId: string): Promise<Grant[]> {
    const records = await store.oidc.listByAccountId('Grant', accountId, 1000);
    return records.map((record) => grantOf(record.id, record.payload)).filter((grant): grant is Grant => grant !== undefined);
  }

  return {
    async sessionSeen(seen) {
      if (!sessionWrite(seen.sessionId, `${seen.accountId} ${seen.loginTs ?? ''} ${seen.amr.join(',')}`)) return;
      const now = clock();
      await store.sessionActivity.recordSession({
        sessionId: seen.sessionId,
        accountId: seen.accountId,
        userAgent: seen.userAgent ? seen.userAgent.slice(0, maxUserAgentLength) : null,
        sourceAddress: seen.sourceAddress ?? null,
        amr: seen.amr.slice(0, 10),
        firstSeenAt: now,
        lastSeenAt: now,
        expiresAt: seen.expiresAt,
      });
    },
    async appUsed(accountId, clientId) {
      if (!appWrite(`${accountId} ${clientId}`)) return;
      await store.sessionActivity.recordAppUse(accountId, clientId, clock());
    },
    async sessions(accountId) {
      const [live, seen] = await Promise.all([
        store.oidc.listByAccountId('Session', accountId, 1000), store.sessionActivity.listSessions(accountId, clock()),
      ]);
      const byId = new Map(seen.map((activity) => [activity.sessionId, activity]));
      const listed = live.map((session): DeviceSession => {
        const activity = byId.get(session.id);
        const payload = session.payload;
        const device = describeDevice(activity?.userAgent);
        const amr = activity?.amr.length ? activity.amr : Array.isArray(payload.amr) ? (payload.amr as unknown[]).filter((each): each is string => typeof each === 'string') : [];
        const authorizations = payload.authorizations && typeof payload.authorizations === 'object' ? Object.keys(payload.authorizations) : [];
        return {
          id: session.id,
          ...device,
          userAgent: activity?.userAgent ?? null,
          sourceAddress: activity?.sourceAddress ?? null,
          place: placeOf(activity?.sourceAddress),
          amr,
          signedInAt: typeof payload.loginTs === 'number' ? new Date(payload.loginTs * 1000) : null,
          firstSeenAt: activity?.firstSeenAt ?? null,
          lastSeenAt: activity?.lastSeenAt ?? null,
          clientIds: authorizations,
        };
      });
      const recency = (session: DeviceSession) => (session.lastSeenAt ?? session.signedInAt)?.getTime() ?? 0;
      return listed.sort((a, b) => recency(b) - recency(a) || a.id.localeCompare(b.id));
    },
    async apps(accountId) {
      const [remembered, grants] = await Promise.all([store.sessionActivity.listApps(accountId, 1000), liveGrants(accountId)]);
      const clientIds = union(remembered.map((app) => app.clientId), grants.map((grant) => grant.clientId));
      const apps = await Promise.all(clientIds.map(async (clientId): Promise<ConnectedApp | undefined> => {
        const record = remembered.find((app) => app.clientId === clientId);
        const held = grants.filter((grant) => grant.clientId === clientId);
        // A row with neither a remembered consent nor a live grant is only a past use: nothing the app may still do.
        if (!record?.remembered && held.length === 0) return undefined;
        const client = await store.clients.find(clientId);
        const metadata = client?.metadata as Record<string, unknown> | undefined;
        const resourceScopes: Record<string, string[]> = {};
        for (const [indicator, scope] of Object.entries(record?.remembered ? record.resourceScopes : {})) resourceScopes[indicator] = words(scope);
        for (const grant of held) {
          for (const [indicator, scopes] of Object.entries(grant.resources)) resourceScopes[indicator] = union(resourceScopes[indicator] ?? [], scopes);
        }
        const grantTimes = held.map((grant) => grant.iat).filter((iat): iat is number => iat !== null);
        const grantedAt = record?.grantedAt ?? (grantTimes.length ? new Date(Math.min(...grantTimes) * 1000) : null);
        return {
          clientId,
          known: client !== undefined,
          name: typeof metadata?.client_name === 'string' ? metadata.client_name : null,
          logoUri: typeof metadata?.logo_uri === 'string' ? metadata.logo_uri : null,
          firstParty: metadata?.first_party === true,
          remembered: record?.remembered ?? false,
          scopes: union(record?.remembered ? words(record.scope) : [], ...held.map((grant) => grant.scopes)),
          claims: union(record?.remembered ? record.claims : [], ...held.map((grant) => grant.claims)),
          resourceScopes,
          grantedAt,
          lastUsedAt: record?.lastUsedAt ?? null,
          grants: held.length,
        };
      }));
      const recency = (app: ConnectedApp) => Math.max(app.lastUsedAt?.getTime() ?? 0, app.grantedAt?.getTime() ?? 0);
      return apps.filter((app): app is ConnectedApp => app !== undefined).sort((a, b) => recency(b) - recency(a) || a.clientId.localeCompare(b.clientId));
    },
    rememberedConsent: async (accountId, clientId) => {
      const app = await store.sessionActivity.findApp(accountId, clientId);
      return app?.remembered ? app : undefined;
    },
    rememberConsent: (consent) => store.sessionActivity.rememberConsent(consent),
    async revokeApp(accountId, clientId, source) {
      const forgotten = await store.sessionActivity.forgetApp(accountId, clientId);
      const signedOut = await signClientOut(sessionsDeps, accountId, clientId, source);
      const grantIds = union(signedOut.grantIds, (await liveGrants(accountId)).filter((grant) => grant.clientId === clientId).map((grant) => grant.id));
      for (const grantId of grantIds) await revokeGrant(store, grantId);
      if (!forgotten && grantIds.length === 0) return false;
      await recordAudit(store.audit, auditEvent('app_revoked', source, {
        accountId, clientId, details: { grants: grantIds.length, remembered: forgotten, queued: signedOut.queued },
      }), logger, clock);
      return true;
    },
    placeOf,
  };
}
