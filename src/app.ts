import type { RequestListener } from 'node:http';

import Koa from 'koa';
import mount from 'koa-mount';
import Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

import type { Clock } from './clock.ts';
import { systemClock } from './clock.ts';
import type { Config } from './config/load-config.ts';
import { keySchedule } from './config/load-config.ts';
import type { Secrets } from './config/secrets.ts';
import { createStoreHealth, healthRoutes, storeOutage } from './web/health.ts';
import { errorPages, withRequestIds } from './web/error-pages.ts';
import { recordRoute } from './observability/http.ts';
import { createFormProtection, formParser } from './web/forms.ts';
import { createLanguageRoutes, languageMiddleware } from './web/language.ts';
import { authorizationByPost, jwksCaching, pagesExceptOnProtocolPaths } from './web/protocol.ts';
import { createProviderPages } from './web/provider-pages.ts';
import { authorizationRequestLimits, authorizationRequestMaxBytes, clientAuthenticationLimits, clientRegistrationLimits } from './web/request-limits.ts';
import { pinnedHost, securityHeaders } from './web/security-headers.ts';
import { createStaticRoutes } from './web/static-routes.ts';
import { createManagementApi } from './web/management-api/router.ts';
import { ensureManagementApi } from './web/management-api/scopes.ts';
import { createAccountRouter } from './flows/account/handler.ts';
import { createFlowRouter } from './flows/router.ts';
import { createLibraries, systemSource } from './libraries/index.ts';
import type { Libraries } from './libraries/index.ts';
import { createViews } from './web/views.ts';
import type { Branding } from './web/branding.ts';
import { createBranding } from './web/branding.ts';
import { clientLogoMaxBytes, createClientLogos } from './web/client-logo.ts';
import { createOutgoingFetch } from './oidc/outgoing-requests.ts';
import { providerJwks } from './keys/key-ring.ts';
import type { AbuseLimits } from './limits/abuse-limits.ts';
import type { Logger } from './logger.ts';
import type { Outbox } from './mail/outbox.ts';
import { limitClientSecretGuesses } from './oidc/client-secret-guesses.ts';
import { queueBackchannelLogouts } from './oidc/backchannel-logout.ts';
import { recordAccountActivity } from './oidc/activity-events.ts';
import { createDevicePolling, deviceAuthorizationAnswers, limitDevicePolling } from './oidc/device-polling.ts';
import { userCodeLimits } from './oidc/device-sign-in.ts';
import { rememberClientInstances } from './oidc/adapter.ts';
import type { ClientWriter } from './oidc/adapter.ts';
import { buildProviderConfiguration, isMetadataDocumentClientId } from './oidc/configuration.ts';
import { registrationCors } from './oidc/cors.ts';
import { auditRegistrations } from './oidc/registration-events.ts';
import { registrationScopes } from './oidc/registration-policy.ts';
import { createReadCache } from './oidc/read-cache.ts';
import type { PublishedDocuments } from './oidc/published-documents.ts';
import { answerPublished, recordPublishedDocuments } from './oidc/published-documents.ts';
import type { KeyRing, Store } from './store/types.ts';

export type AppDependencies = {
  config: Config;
  secrets: Secrets;
  store: Store;
  logger: Logger;
  outbox: Outbox;
  limits: AbuseLimits;
  /** The clock start-up threads everywhere (src/server.ts); the system clock by default. */
  clock?: Clock;
  /** The operator's brand and theme (src/web/branding.ts); built from config.branding when absent. */
  branding?: Branding;
};

export type App = {
  app: Koa;
  /**
   * What the HTTP server runs: discovery and the JWKS from their recorded bytes (with an ETag),
   * everything else through `app`.
   */
  handler: RequestListener;
  /** The provider serving requests now (it is rebuilt when the key ring changes). */
  provider(): Provider;
  /** The libraries, built once (start-up's chores use them too: the sweeper expires unused dynamic clients). */
  libraries: Libraries;
  /**
   * Advances the key ring on the schedule and, when it changed (here or through another instance
   * or the CLI), rebuilds the provider with the new keys. Requests already running finish on the
   * old one; sessions and interactions live in the store, so nothing is dropped.
   */
  reloadKeys(): Promise<boolean>;
};

export async function createApp(deps: AppDependencies): Promise<App> {
  const { config, secrets, logger, outbox, limits } = deps;
  const clock = deps.clock ?? systemClock;
  // The provider's hot paths read clients, APIs and accounts through a cache at most 1 s old; every
  // write made in this process (the libraries', through `store`) drops the cached copy at once.
  const reads = createReadCache(deps.store, { clock });
  const store = reads.observe(deps.store);
  // Every page (the error page shows it) is drawn with the request's id.
  // Their frame shows the operator's brand; THEME_DIR's templates replace the project's (docs/branding.md).
  const branding = deps.branding ?? createBranding(config);
  const views = withRequestIds(createViews({ cache: config.env !== 'development', languages: config.languages, overrideDir: branding.overrideDir, brand: branding.page }));
  // Applications' logos, fetched through the outgoing-request guard and served from our origin (an operator's clients only).
  const clientLogos = createClientLogos({
    fetch: createOutgoingFetch({ allowLoopback: config.env !== 'production', timeoutMs: 5000, maxResponseBytes: clientLogoMaxBytes }),
    logoUriOf: async (clientId) => {
      const record = await libraries.clients.get(clientId);
      return !record.dynamic && typeof record.metadata.logo_uri === 'string' ? record.metadata.logo_uri : undefined;
    },
    logger, clock,
  });
  const pages = createProviderPages(views, { clientLogos });
  // The one CSRF scheme and form parser, handed to the flows as dependencies (`forms`, `form`).
  const forms = createFormProtection(secrets.keyEncryptionKey);
  const form = formParser(config);
  // Built once: the flows and the provider's events go through them (and record their audit events).
  const libraries = createLibraries({ store, config, clock, outbox, logger, keyEncryptionKey: secrets.keyEncryptionKey });
  // The management API (/api/v1) is a resource tokens are issued for: registered once, at start-up.
  await ensureManagementApi(libraries, config.issuer, logger);
  const schedule = keySchedule(config);
  const registrationOn = config.clientRegistration !== 'off';
  // The device flow's polls, judged in the store so that every instance agrees (device-polling.ts).
  const devicePolling = createDevicePolling({ store: store.rateLimits, clock });
  // The clients that register themselves are written through the clients library (sealed secret,
  // marked dynamic); the store it writes to is the observed one, so the read cache sees it at once.
  const clientWriter: ClientWriter | undefined = registrationOn ? {
    save: (payload) => libraries.clients.saveRegistered(payload, clock()),
    remove: (clientId) => libraries.clients.removeRegistered(clientId),
  } : undefined;
  const buildProvider = (ring: KeyRing) => {
    const built = new Provider(config.issuer, buildProviderConfiguration({
      config, store, pages, clock, reads, jwks: providerJwks(ring, secrets.keyEncryptionKey), cookieKeys: secrets.cookieKeys, keyEncryptionKey: secrets.keyEncryptionKey,
      ...(clientWriter ? { clientWriter } : {}),
    }));
    built.on('server_error', (_ctx, error) => logger.error('provider error', { error }));
    limitClientSecretGuesses(built, limits);
    // end_session queues its back-channel logouts in the store; src/server.ts's worker delivers them.
    queueBackchannelLogouts(built, libraries.sessions, logger);
    // The account centre's devices and apps' last use (activity-events.ts).
    recordAccountActivity(built, { devices: libraries.devices, config, clock, logger });
    limitDevicePolling(built, devicePolling);
    rememberClientInstances(built);
    // The provider revokes a whole grant at the token endpoint when a used code or a rotated
    // refresh token comes back: someone holds a copy. That belongs in the audit trail.
    built.on('grant.revoked', (ctx: KoaContextWithOIDC, grantId: string) => {
      const reuse = ctx.oidc?.route === 'token';
      const accountId = ctx.oidc?.entities?.Grant?.accountId ?? ctx.oidc?.entities?.RefreshToken?.accountId;
      const clientId = ctx.oidc?.client?.clientId;
      libraries.audit.record(reuse ? 'token_reuse_detected' : 'grant_revoked', { actor: reuse ? 'system' : 'user', sourceAddress: ctx.ip }, {
        ...(accountId ? { accountId } : {}), ...(clientId ? { clientId } : {}),
        details: { grantId, ...(reuse ? { grantType: ctx.oidc?.params?.grant_type } : {}) },
      }).catch((error: unknown) => logger.warn('writing an audit event failed', { error }));
    });
    // Every registration, change, deletion and refusal goes to the audit trail (registration-events.ts).
    auditRegistrations(built, { config, audit: libraries.audit, logger });
    // A client in use is recorded as such (at most hourly), so that only unused dynamic clients expire.
    const touch = (ctx: KoaContextWithOIDC) => {
      const clientId = ctx.oidc?.client?.clientId;
      if (clientId && !isMetadataDocumentClientId(clientId)) void libraries.clients.touch(clientId);
    };
    built.on('authorization.success', touch);
    built.on('grant.success', touch);
    return built;
  };

  /** Advances the ring on the schedule; what this instance changed goes to the audit trail. */
  const advance = async (): Promise<KeyRing> => {
    const { ring: advanced } = await libraries.signingKeys.advance(systemSource);
    return advanced;
  };

  let ring = await advance();
  let provider = buildProvider(ring);
  let mounted = mount(provider);

  const app = new Koa();
  // The provider runs mounted in this app, so its signed cookies use this app's keys.
  app.keys = secrets.cookieKeys;
  app.silent = true;
  // Behind a TLS-terminating proxy, X-Forwarded-Proto tells the provider the request was https
  // (secure cookies, correct URLs). Only when configured: otherwise anyone could claim it.
  app.proxy = config.trustProxy;
  // First: once answered, the route matched (a pattern or the provider's route name) labels the request's metrics and span.
  app.use(recordRoute());
  app.use(pinnedHost(config));
  app.use(securityHeaders(config));
  // Whether the store takes writes: /readyz and the outage answers share one rate-limited probe.
  const health = createStoreHealth(store, logger, { clock });
  app.use(storeOutage(health, views, clock));
  // Which language pages, their errors and the mail they send speak (src/web/language.ts).
  app.use(languageMiddleware(config, clock, branding.page.productName));
  app.use(errorPages(views, logger));
  const flowDependencies = { provider: () => provider, libraries, views, form, forms, config, limits, logger, clock, clientLogos };
  // The management API answers everything under /api/v1 itself (JSON problems), before the pages and the provider.
  app.use(createManagementApi({ libraries, config, limits, clock, logger, reloadKeys: () => running.reloadKeys() }).middleware);
  app.use(pagesExceptOnProtocolPaths([
    healthRoutes(store, health).routes(),
    createStaticRoutes({ views, config, branding, clientLogos }).routes(),
    createLanguageRoutes(config, clock).routes(),
    createFlowRouter(flowDependencies).routes(),
    createAccountRouter(flowDependencies).routes(),
  ]));
  if (registrationOn) {
    // Browsers' preflights and CORS headers first, so that a 429 below is readable too.
    app.use(registrationCors());
    app.use(clientRegistrationLimits(limits, config.dynamicClients.registrationsPerHour));
    app.use(registrationScopes(store.apis));
  }
  app.use(clientAuthenticationLimits(limits));
  app.use(authorizationRequestLimits(limits, views));
  app.use(authorizationByPost(views, authorizationRequestMaxBytes));
  // The device flow: typed user codes limited per source, and the device authorization answer
  // completed with its interval (src/oidc/device-sign-in.ts, device-polling.ts).
  app.use(userCodeLimits(limits, pages));
  app.use(deviceAuthorizationAnswers(devicePolling));
  app.use(jwksCaching(schedule.jwksCacheSeconds));
  app.use((ctx, next) => mounted(ctx, next));

  const fullStack = app.callback();
  const { host, protocol } = new URL(config.issuer);
  // Behind a trusted proxy, an http issuer's URLs follow X-Forwarded-Proto: the full stack decides.
  const forwardedProtocolMatters = protocol === 'http:' && config.trustProxy;
  let published: PublishedDocuments | undefined;
  /** Records the current provider's documents; a provider replaced meanwhile makes it moot. */
  const publish = async () => {
    const recordedFor = provider;
    try {
      const documents = await recordPublishedDocuments(fullStack, host);
      if (provider === recordedFor) published = documents;
    } catch (error) {
      logger.warn('recording the discovery document and JWKS failed; the full stack answers them', { error });
    }
  };
  await publish();
  const handler: RequestListener = (req, res) => {
    if (forwardedProtocolMatters && req.headers['x-forwarded-proto'] !== undefined) return fullStack(req, res);
    if (!answerPublished(published, req, res)) return fullStack(req, res);
  };

  const running: App = {
    app,
    handler,
    provider: () => provider,
    libraries,
    async reloadKeys() {
      const latest = await advance();
      if (latest.version === ring.version) return false;
      const rebuilt = buildProvider(latest);
      [ring, provider, mounted, published] = [latest, rebuilt, mount(rebuilt), undefined];
      await publish();
      logger.info('signing keys reloaded', { version: latest.version, kids: latest.keys.map((key) => `${key.kid} (${key.alg} ${key.state})`) });
      return true;
    },
  };
  return running;
}
