import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';

import { z } from 'zod';

import { GatehouseError } from '../errors.ts';
import type { MessageId, MessageValues } from '../messages/messages.ts';
import { message } from '../messages/messages.ts';
import type { Locale } from '../messages/locales.ts';
import { isLocale, supportedLocales } from '../messages/locales.ts';
import type { Schedule } from './key-schedule.ts';
import { validateSchedule } from './key-schedule.ts';
import { defaultsFile } from './paths.ts';
import type { MessageOverrides } from '../theme/message-overrides.ts';
import { readMessageOverrides } from '../theme/message-overrides.ts';
import { checkAccent, formatRatio, parseHexColor, surfaceNames } from '../theme/brand-colors.ts';
import { faviconTypes, logoTypes, readImageFile } from '../theme/image-types.ts';

const ttlSchema = z.object({
  accessToken: z.number().int().positive(),
  clientCredentials: z.number().int().positive(),
  authorizationCode: z.number().int().positive().max(600),
  idToken: z.number().int().positive(),
  refreshToken: z.number().int().positive(),
  grant: z.number().int().positive(),
  interaction: z.number().int().positive(),
  /** The longest access token lifetime an API may have; retired signing keys stay published this long. */
  apiAccessTokenMax: z.number().int().positive(),
});

const sessionLifetimeSchema = z.object({ idleSeconds: z.number().int().positive(), absoluteSeconds: z.number().int().positive() })
  .refine((lifetime) => lifetime.idleSeconds <= lifetime.absoluteSeconds, 'idleSeconds must not exceed absoluteSeconds');

const delayPolicySchema = z.object({
  freeFailures: z.number().int().min(1),
  firstDelaySeconds: z.number().positive(),
  maxDelaySeconds: z.number().positive(),
});

export const defaultsSchema = z.object({
  port: z.number().int().min(0).max(65535),
  databaseUrl: z.string().min(1),
  dataDir: z.string().min(1),
  ttl: ttlSchema,
  sweepIntervalSeconds: z.number().int().positive(),
  formBodyLimitBytes: z.number().int().positive(),
  shutdownGraceSeconds: z.number().nonnegative(),
  /** The From address of outgoing mail (MAIL_FROM overrides it). */
  mailFrom: z.string().min(1),
  /**
   * The languages pages and mail speak (src/messages/locales.ts) and the one used when neither the
   * application, the person nor their browser names an available one. DEFAULT_LANGUAGE, LANGUAGES.
   */
  languages: z.object({ default: z.enum(supportedLocales), available: z.array(z.enum(supportedLocales)).min(1) })
    .refine((languages) => languages.available.includes(languages.default), 'the default language must be one of the available ones')
    .default({ default: 'en', available: [...supportedLocales] }),
  passwords: z.object({
    argon2: z.object({
      memoryKiB: z.number().int().min(7168, 'argon2 memory below 7 MiB is not safe').max(4_194_304),
      iterations: z.number().int().min(1).max(100),
      parallelism: z.number().int().min(1).max(64),
    }),
    minLength: z.number().int().min(8, 'NIST requires at least 8').max(64),
    /**
     * The costliest hashes `users import` accepts. Every failed sign-in is padded to the time the
     * costliest accepted hash takes to verify, so these also set how long a failed sign-in takes.
     */
    bcryptMaxCost: z.number().int().min(4).max(15, 'a bcrypt cost above 15 would make every failed sign-in take seconds'),
    argon2Max: z.object({
      memoryKiB: z.number().int().min(8).max(4_194_304),
      /** The work of one verification: a hash may use less memory and more iterations. */
      memoryKiBTimesIterations: z.number().int().min(8).max(4_194_304, 'more than 4 GiB of passes would make every failed sign-in take seconds'),
      parallelism: z.number().int().min(1).max(64),
    }).refine((max) => max.memoryKiBTimesIterations >= max.memoryKiB, 'memoryKiBTimesIterations must be at least memoryKiB (one pass over the most memory)'),
  }),
  accounts: z.object({
    /** open: anyone may register on the login page; closed: only admins create accounts. */
    registration: z.enum(['open', 'closed']),
    /** required: an unverified email cannot finish a login; optional: it can, with email_verified false. */
    emailVerification: z.enum(['required', 'optional']),
    /** required: every sign-in needs a second factor (people without one set it up first). */
    mfa: z.enum(['required', 'optional']),
    /** Lifetime of an email verification code and link. */
    codeTtlSeconds: z.number().int().positive().max(86_400),
    /** Wrong tries allowed per verification code before a new one must be requested. */
    codeMaxAttempts: z.number().int().min(1).max(20),
    /** How long to wait before another code or reset mail may be requested. */
    resendCooldownSeconds: z.number().int().nonnegative(),
    /** Lifetime of a password reset link. */
    resetTokenTtlSeconds: z.number().int().positive().max(86_400),
    /** Days between a person asking to delete their account and its erasure (0: at once); signing in meanwhile offers to cancel. */
    deletionGraceDays: z.number().int().min(0).max(365).default(7),
    /** on: people may delete their own account from the account page; off: only operators (`users delete`). */
    selfDeletion: z.enum(['on', 'off']).default('on'),
    /** Days the old address may undo an email change by the link mailed to it (src/libraries/email-change.ts). */
    emailChangeUndoDays: z.number().int().min(1).max(90).default(7),
  }),
  /**
   * How long a Gatehouse session lasts: `idleSeconds` after its last use, and never more than
   * `absoluteSeconds` after the login; longer when the login used a second factor.
   */
  sessions: z.object({ withSecondFactor: sessionLifetimeSchema, passwordOnly: sessionLifetimeSchema }),
  limits: z.object({
    password: z.object({
      /** NIST SP 800-63B: no more than 100 consecutive failures on one account; then a reset unlocks it. */
      maxConsecutiveFailures: z.number().int().min(1).max(100),
      account: delayPolicySchema,
      source: delayPolicySchema,
    }),
    /** Wrong client secrets per source address, at the token, introspection and revocation endpoints. */
    clientAuthentication: delayPolicySchema,
    registrationsPerHour: z.number().int().positive(),
    resetRequestsPerHour: z.number().int().positive(),
    emailCodesPerHour: z.number().int().positive(),
    mailsPerRecipient: z.object({ count: z.number().int().positive(), seconds: z.number().int().positive() }),
    noticeCoalesceSeconds: z.number().int().positive(),
    /** Authorization requests (GET/POST /auth, PAR) per source address (an IPv6 /64): each stores an interaction. */
    authorizationRequests: z.object({ count: z.number().int().positive(), seconds: z.number().int().positive() }),
    /** New-password forms submitted (reset link, account page) per source and per account or link. */
    passwordForms: z.object({ perSourcePerHour: z.number().int().positive(), perAccountPerHour: z.number().int().positive() }),
    /** Management API requests (/api/v1) per machine client. */
    managementApi: z.object({ count: z.number().int().positive(), seconds: z.number().int().positive() }).default({ count: 600, seconds: 60 }),
    /** Email change requests (the account page) per source and per account: each mails a new address. */
    emailChanges: z.object({ perSourcePerHour: z.number().int().positive(), perAccountPerHour: z.number().int().positive() }).default({ perSourcePerHour: 20, perAccountPerHour: 5 }),
  }),
  /**
   * Security notifications mailed to a person (src/libraries/security-notifications.ts): when the
   * second factor or a passkey is added or removed, and a sign-in from a browser not seen before.
   * SECURITY_NOTIFICATIONS overrides them (all, none, or a list). Password and email changes are
   * always told (their mails carry what to do if it was not you).
   */
  notifications: z.object({ secondFactor: z.boolean(), passkeys: z.boolean(), newDevice: z.boolean() })
    .default({ secondFactor: true, passkeys: true, newDevice: true }),
  /** Sign-in with other providers: how long any call to an upstream may take before the sign-in fails. */
  connections: z.object({ timeoutSeconds: z.number().positive().max(60) }),
  /**
   * Dynamic client registration (RFC 7591) by applications themselves: off, with an initial access
   * token (`gatehouse registration tokens create`), or open to anyone (public clients only).
   * CLIENT_REGISTRATION overrides it. Not REGISTRATION, which is about people creating accounts.
   */
  clientRegistration: z.enum(['off', 'token', 'open']),
  /**
   * Client ID Metadata Documents: an https `client_id` naming a JSON document that describes the
   * client. `hosts`: the hosts (host[:port], lower case) whose documents are accepted; null for any.
   */
  clientIdMetadataDocuments: z.object({ enabled: z.boolean(), hosts: z.array(z.string().min(1)).min(1).nullable() }),
  /**
   * DPoP (RFC 9449): sender-constrained tokens. `enabled`: a client that sends a DPoP proof gets
   * tokens bound to its key (`token_type: DPoP`, `cnf.jkt`); off, proofs are ignored and tokens are
   * bearer tokens. `nonces`: the token, userinfo and PAR endpoints require a server-provided nonce
   * in every proof (the first proof is answered `use_dpop_nonce` with a `DPoP-Nonce` header), so a
   * proof cannot be made in advance; the nonces are derived from KEY_ENCRYPTION_KEY, so every
   * instance accepts every other's.
   */
  dpop: z.object({ enabled: z.boolean(), nonces: z.boolean() }),
  /** Clients that registered themselves (and metadata documents): how long they live unused, how fast they may come. */
  dynamicClients: z.object({
    /** A dynamic client neither used nor changed for this many days is deleted by the sweeper. */
    unusedExpiryDays: z.number().positive().max(3650),
    /** Registrations per source address (an IPv6 /64) per hour. */
    registrationsPerHour: z.number().int().positive(),
    /** The largest Client ID Metadata Document fetched. */
    maxDocumentBytes: z.number().int().positive().max(1_048_576),
    /** How long fetching a Client ID Metadata Document may take. */
    fetchTimeoutSeconds: z.number().positive().max(60),
  }),
  mail: z.object({
    pollSeconds: z.number().positive(),
    leaseSeconds: z.number().int().positive(),
    /** The wait after a failed delivery; it doubles after each further failure, up to an hour. */
    firstRetrySeconds: z.number().positive(),
  }),
  /**
   * OpenID Connect Back-Channel Logout: the queue of logout tokens owed to clients
   * (src/oidc/backchannel-logout.ts). A failed delivery waits `firstRetrySeconds`, twice as long
   * after each further failure up to `maxRetrySeconds`, and is given up after `maxAttempts`. A
   * claimed delivery is leased for `leaseSeconds` (one POST takes at most
   * dynamicClients.fetchTimeoutSeconds). Delivered and given-up rows are pruned after `retentionDays`.
   */
  backchannelLogout: z.object({
    pollSeconds: z.number().positive(),
    leaseSeconds: z.number().int().positive(),
    firstRetrySeconds: z.number().positive(),
    maxRetrySeconds: z.number().positive(),
    maxAttempts: z.number().int().positive().max(100),
    retentionDays: z.number().positive().max(3650),
  }),
  /**
   * Webhooks (docs/webhooks.md): how often each instance looks for due deliveries (one queued in
   * that process goes at once), how long a claimed one is reserved (at least three timeouts), how
   * long one POST may take, the retry schedule (firstRetrySeconds doubling up to maxRetrySeconds,
   * less up to a quarter of jitter), the attempts before a delivery is given up, and how long
   * delivered and given-up deliveries are kept.
   */
  webhooks: z.object({
    pollSeconds: z.number().positive(),
    leaseSeconds: z.number().int().positive(),
    timeoutSeconds: z.number().positive().max(60),
    firstRetrySeconds: z.number().positive(),
    maxRetrySeconds: z.number().positive(),
    maxAttempts: z.number().int().positive().max(100),
    retentionDays: z.number().positive().max(3650),
  }),
  keys: z.object({
    jwksCacheSeconds: z.number().positive(),
    rotationIntervalDays: z.number().positive(),
    marginSeconds: z.number().nonnegative(),
    pollSeconds: z.number().positive(),
  }),
  /**
   * Prometheus metrics at /metrics (docs/observability.md): off by default. `port`: a listener of
   * their own (on `host`, loopback by default) instead of the main port. METRICS, METRICS_PORT,
   * METRICS_HOST and METRICS_TOKEN (a Bearer token, required in production on the main port).
   */
  metrics: z.object({ enabled: z.boolean(), port: z.number().int().min(1).max(65535).nullable(), host: z.string().min(1) }),
  /**
   * The operator's brand on every page and mail (docs/branding.md), each overridden by its BRAND_*
   * variable (THEME_DIR for themeDir). Files are read and colours checked at start-up
   * (readBrandingSettings); a relative path is from the working directory.
   */
  branding: z.object({
    productName: z.string().min(1),
    logoFile: z.string().min(1).nullable(),
    logoDarkFile: z.string().min(1).nullable(),
    faviconFile: z.string().min(1).nullable(),
    primaryColor: z.string().nullable(),
    primaryColorDark: z.string().nullable(),
    supportUrl: z.string().nullable(),
    privacyUrl: z.string().nullable(),
    /** The From name of mail; null: MAIL_FROM's display name when MAIL_FROM is set and has one, else productName. */
    mailFromName: z.string().nullable(),
    themeDir: z.string().min(1).nullable(),
  }).default({ productName: 'Gatehouse', logoFile: null, logoDarkFile: null, faviconFile: null, primaryColor: null, primaryColorDark: null, supportUrl: null, privacyUrl: null, mailFromName: null, themeDir: null }),
});

export type Environment = 'development' | 'production' | 'test';

export type Config = z.infer<typeof defaultsSchema> & {
  env: Environment;
  issuer: string;
  /** False when the issuer was derived from PORT (then PORT=0 derives it from the port bound). */
  issuerExplicit: boolean;
  /** Signing keys for cookies, first signs, all verify. Undefined: generate/read in development. */
  cookieKeys?: string[];
  /** 32-byte key that encrypts private keys and client secrets at rest. */
  keyEncryptionKey?: Buffer;
  /** Trust X-Forwarded-Proto/-For from a TLS-terminating proxy in front. */
  trustProxy: boolean;
  /** smtp:// or smtps:// URL (with credentials) mail is sent through; undefined: .eml files under DATA_DIR/mail/ (development). */
  smtpUrl?: string;
  /** Worker processes serving on one port (node:cluster); 1 runs in this process alone. */
  workers: number;
  /** METRICS_TOKEN: the Bearer token a scraper of /metrics must send. */
  metricsToken?: string;
  /** GEOIP_DATABASE: a MaxMind-format .mmdb file the account centre places sessions' addresses with; undefined: no places. */
  geoipDatabase?: string;
  /** THEME_DIR/messages/<code>.json: the operator's own words over the shipped catalogs (src/theme/message-overrides.ts). */
  messageOverrides?: MessageOverrides;
  /** GATEHOUSE_SEED_FILE: a configuration-as-code file applied at start-up (docs/configuration-as-code.md), as an absolute path. */
  seedFile?: string;
};

/** What config/default.json holds: the one place every default is written. */
export type Defaults = z.infer<typeof defaultsSchema>;

let defaults: Defaults | undefined;

/**
 * The validated defaults of config/default.json, read once. Code that needs a default without a
 * loaded configuration (a library's fallback, a CLI's) takes it from here rather than repeating it.
 */
export function configDefaults(): Defaults {
  defaults ??= defaultsSchema.parse(JSON.parse(readFileSync(defaultsFile, 'utf8')));
  return defaults;
}

/** One environment variable, how to read it, and where it goes. */
type Variable = { name: string; read: (value: string) => unknown };

/** Refuses the configuration: `name` (the variable) and what is wrong with it, in the catalog's words. */
function fail(name: string, problem: MessageId, values?: MessageValues): never {
  throw new GatehouseError('invalid_config', 'config.message', { name, problem: message(problem, values) });
}

const port: Variable['read'] = (value) => {
  if (!/^\d+$/.test(value) || Number(value) > 65535) fail('PORT', 'config.port_invalid', { value: JSON.stringify(value) });
  return Number(value);
};

function parseIssuer(value: string, env: Environment): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail('ISSUER', 'config.issuer_not_absolute', { value: JSON.stringify(value) });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail('ISSUER', 'config.issuer_not_http', { value: JSON.stringify(value) });
  if (url.search || url.hash) fail('ISSUER', 'config.issuer_query_or_fragment');
  if (url.username || url.password) fail('ISSUER', 'config.issuer_credentials');
  if (env === 'production' && url.protocol !== 'https:' && !isLoopbackHost(url.hostname)) {
    fail('ISSUER', 'config.issuer_not_https', { value: JSON.stringify(value) });
  }
  // The issuer is compared byte for byte by relying parties: no trailing slash.
  return url.href.replace(/\/$/, '');
}

export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function parseCookieKeys(value: string): string[] {
  const keys = value.split(',').map((key) => key.trim()).filter(Boolean);
  if (keys.length === 0) fail('COOKIE_KEYS', 'config.cookie_keys_empty');
  for (const key of keys) {
    if (key.length < 32) fail('COOKIE_KEYS', 'config.cookie_keys_short');
  }
  return keys;
}

export function parseEncryptionKey(value: string, name = 'KEY_ENCRYPTION_KEY'): Buffer {
  const key = Buffer.from(value.trim(), 'base64');
  if (key.length !== 32) fail(name, 'config.encryption_key_invalid');
  return key;
}

function positiveNumber(name: string, value: string): number {
  const number = Number(value);
  if (!value.trim() || !Number.isFinite(number) || number <= 0) fail(name, 'config.not_positive_number', { value: JSON.stringify(value) });
  return number;
}

/** The rotation schedule the key ring follows, derived from the configuration. */
export function keySchedule(config: Pick<Config, 'keys' | 'ttl'>): Schedule {
  return {
    jwksCacheSeconds: config.keys.jwksCacheSeconds,
    rotationIntervalSeconds: config.keys.rotationIntervalDays * 86_400,
    maxTokenLifetimeSeconds: Math.max(config.ttl.idToken, config.ttl.accessToken, config.ttl.clientCredentials, config.ttl.apiAccessTokenMax),
    marginSeconds: config.keys.marginSeconds,
  };
}

function parseSmtpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail('SMTP_URL', 'config.smtp_url_invalid');
  }
  // The value is not echoed: it usually holds a password.
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') fail('SMTP_URL', 'config.smtp_url_scheme', { scheme: JSON.stringify(url.protocol) });
  if (!url.hostname) fail('SMTP_URL', 'config.smtp_url_no_host');
  return value;
}

/** `Name <local@domain>` or `local@domain`. */
function parseMailFrom(value: string): string {
  const match = /^\s*(?:[^<>]*<([^<>\s]+)>|([^<>\s]+))\s*$/.exec(value);
  const address = match?.[1] ?? match?.[2];
  if (!address || !/^[^@\s]+@[^@\s]+$/.test(address)) fail('MAIL_FROM', 'config.mail_from_invalid', { value: JSON.stringify(value) });
  return value.trim();
}

/**
 * CLIENT_ID_METADATA_DOCUMENT_HOSTS: comma-separated `host[:port]` entries (a DNS name, an IPv4
 * address or a bracketed IPv6 address; no scheme, path or wildcard), lower-cased.
 */
export function parseMetadataDocumentHosts(value: string): string[] {
  const name = 'CLIENT_ID_METADATA_DOCUMENT_HOSTS';
  const entries = value.split(',').map((entry) => entry.trim().toLowerCase()).filter(Boolean);
  if (entries.length === 0) fail(name, 'config.hosts_empty');
  const label = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
  const hostPattern = new RegExp(`^(?:\\[[0-9a-f:.]+\\]|${label}(?:\\.${label})*)(?::(\\d{1,5}))?$`);
  for (const entry of entries) {
    const match = hostPattern.exec(entry);
    const port = match?.[1];
    if (!match || (port !== undefined && (Number(port) < 1 || Number(port) > 65535))) fail(name, 'config.host_invalid', { value: JSON.stringify(entry) });
    if (entry.startsWith('[')) {
      try {
        new URL(`https://${entry}/`);
      } catch {
        fail(name, 'config.host_invalid', { value: JSON.stringify(entry) });
      }
    }
  }
  return [...new Set(entries)];
}

function oneOf<const T extends string>(name: string, value: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) fail(name, 'config.not_one_of', { choices: choices.join(', '), value: JSON.stringify(value) });
  return value as T;
}

/** SECURITY_NOTIFICATIONS: `all`, `none`, or a comma-separated list of second_factor, passkeys, new_device. */
function parseSecurityNotifications(value: string): Config['notifications'] {
  const trimmed = value.trim();
  if (trimmed === 'all') return { secondFactor: true, passkeys: true, newDevice: true };
  if (trimmed === 'none' || trimmed === '') return { secondFactor: false, passkeys: false, newDevice: false };
  const kinds = trimmed.split(',').map((kind) => kind.trim());
  for (const kind of kinds) oneOf('SECURITY_NOTIFICATIONS', kind, ['all', 'none', 'second_factor', 'passkeys', 'new_device']);
  if (kinds.includes('all') || kinds.includes('none')) oneOf('SECURITY_NOTIFICATIONS', trimmed, ['all', 'none']);
  return { secondFactor: kinds.includes('second_factor'), passkeys: kinds.includes('passkeys'), newDevice: kinds.includes('new_device') };
}

const environments = ['development', 'production', 'test'] as const;

const maxWorkers = 256;
const workersSchema = z.union([z.literal('auto'), z.string().regex(/^\d+$/).transform(Number).pipe(z.number().int().min(1).max(maxWorkers))]);

/** WORKERS: a whole number of processes, or `auto` for one per core. */
export function parseWorkers(value: string, cores = availableParallelism()): number {
  const parsed = workersSchema.safeParse(value.trim());
  if (!parsed.success) fail('WORKERS', 'config.workers_invalid', { max: String(maxWorkers), value: JSON.stringify(value) });
  return parsed.data === 'auto' ? Math.min(cores, maxWorkers) : parsed.data;
}

/**
 * `startingServer`: the configuration starts a server (src/main.ts), which needs SMTP_URL in
 * production too; the command line sends no mail and does without. Checked here, with the rest, so
 * that one run names every variable that is missing.
 */
export type LoadOptions = { startingServer?: boolean };

/**
 * Runs `read` for one variable; a refusal (GatehouseError 'invalid_config') is added to `problems`
 * instead of thrown, so that one run names every variable that is wrong.
 */
function collecting(problems: GatehouseError[]) {
  return <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (error) {
      if (error instanceof GatehouseError && error.code === 'invalid_config') {
        problems.push(error);
        return undefined;
      }
      throw error;
    }
  };
}

/** DEFAULT_LANGUAGE (one code) and LANGUAGES (codes separated by commas), each among the shipped ones. */
function readLanguageSettings(env: NodeJS.ProcessEnv, config: Config): void {
  const languages = { ...config.languages };
  if (env.LANGUAGES !== undefined && env.LANGUAGES.trim() !== '') {
    const codes = env.LANGUAGES.split(',').map((code) => code.trim()).filter(Boolean);
    for (const code of codes) if (!isLocale(code)) fail('LANGUAGES', 'config.not_one_of', { choices: supportedLocales.join(', '), value: JSON.stringify(code) });
    languages.available = [...new Set(codes as Locale[])];
  }
  if (env.DEFAULT_LANGUAGE !== undefined && env.DEFAULT_LANGUAGE.trim() !== '') {
    const code = env.DEFAULT_LANGUAGE.trim();
    if (!isLocale(code)) fail('DEFAULT_LANGUAGE', 'config.not_one_of', { choices: supportedLocales.join(', '), value: JSON.stringify(code) });
    languages.default = code;
  }
  if (!languages.available.includes(languages.default)) {
    fail(env.DEFAULT_LANGUAGE ? 'DEFAULT_LANGUAGE' : 'LANGUAGES', 'config.not_one_of', { choices: languages.available.join(', '), value: JSON.stringify(languages.default) });
  }
  config.languages = languages;
}

/**
 * METRICS, METRICS_PORT, METRICS_HOST, METRICS_TOKEN and LOG_FORMAT (docs/observability.md). On
 * the main port in production, /metrics needs a token: it is reachable by anyone who reaches the
 * provider. A METRICS_PORT listener is meant for an internal address; a token there is optional.
 */
function readMetricsSettings(env: NodeJS.ProcessEnv, environment: Environment, config: Config): void {
  const metrics = { ...config.metrics };
  if (env.METRICS !== undefined) metrics.enabled = oneOf('METRICS', env.METRICS, ['on', 'off']) === 'on';
  if (env.METRICS_PORT !== undefined && env.METRICS_PORT !== '') {
    if (!/^\d+$/.test(env.METRICS_PORT) || Number(env.METRICS_PORT) < 1 || Number(env.METRICS_PORT) > 65535) {
      fail('METRICS_PORT', 'config.metrics_port_invalid', { value: JSON.stringify(env.METRICS_PORT) });
    }
    metrics.port = Number(env.METRICS_PORT);
  }
  if (env.METRICS_HOST !== undefined) {
    if (!env.METRICS_HOST.trim()) fail('METRICS_HOST', 'config.data_dir_empty');
    metrics.host = env.METRICS_HOST.trim();
  }
  config.metrics = metrics;
  if (env.METRICS_TOKEN !== undefined && env.METRICS_TOKEN !== '') {
    if (!/^[\x21-\x7e]{16,}$/.test(env.METRICS_TOKEN)) fail('METRICS_TOKEN', 'config.metrics_token_short');
    config.metricsToken = env.METRICS_TOKEN;
  }
  if (environment === 'production' && metrics.enabled && metrics.port === null && !config.metricsToken) fail('METRICS_TOKEN', 'config.metrics_token_required');
}

/** A name people read (the product's, the From name of mail): no line breaks or control characters (a header is made of it). */
function brandText(name: string, value: string, max = 100): string {
  const trimmed = value.trim();
  // eslint-disable-next-line no-control-regex
  if (!trimmed || trimmed.length > max || /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u.test(trimmed)) {
    fail(name, 'config.brand_text_invalid', { max: String(max), value: JSON.stringify(value) });
  }
  return trimmed;
}

/** BRAND_PRIMARY_COLOR(_DARK): `#rrggbb`, whose links on the card and button text reach WCAG AA (4.5:1) in its scheme. */
export function parseBrandColor(name: string, value: string, scheme: 'light' | 'dark'): string {
  const trimmed = value.trim();
  if (!parseHexColor(trimmed)) fail(name, 'config.brand_color_invalid', { value: JSON.stringify(value) });
  const check = checkAccent(trimmed, scheme);
  if (check.link < 4.5) fail(name, 'config.brand_color_links', { color: check.accent, ratio: formatRatio(check.link), surface: surfaceNames[check.linkSurface][scheme] });
  if (check.button < 4.5) fail(name, 'config.brand_color_button', { color: check.accent, ratio: formatRatio(check.button), onAccent: check.onAccent });
  return check.accent;
}

/** BRAND_SUPPORT_URL, BRAND_PRIVACY_URL: absolute http(s) links without credentials; https in production. */
function brandUrl(name: string, value: string, environment: Environment): string {
  const url = URL.parse(value.trim());
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password) fail(name, 'config.brand_url_invalid', { value: JSON.stringify(value) });
  if (environment === 'production' && url.protocol !== 'https:') fail(name, 'config.brand_url_not_https', { value: JSON.stringify(value) });
  return url.href;
}

/** The display name of `Name <address>` (quotes and their escapes undone); undefined for a bare address. */
export function displayNameOf(mailFrom: string): string | undefined {
  const name = /^\s*([^<>]*?)\s*<[^<>]+>\s*$/.exec(mailFrom)?.[1];
  if (!name) return undefined;
  const unquoted = /^"(.*)"$/s.exec(name)?.[1]?.replace(/\\(.)/g, '$1') ?? name;
  return unquoted.trim() || undefined;
}

/**
 * BRAND_* and THEME_DIR (docs/branding.md), over config/default.json's `branding`. Every value is
 * checked here, files read (and sniffed) too, so that a wrong one stops the start-up with one line
 * naming its variable; src/web/branding.ts reads the files again to serve them.
 */
function readBrandingSettings(env: NodeJS.ProcessEnv, environment: Environment, cwd: string, config: Config, check: ReturnType<typeof collecting>): void {
  const branding = { ...config.branding };
  const given = (name: string) => (env[name] !== undefined && env[name]!.trim() !== '' ? env[name]! : undefined);
  const path = (value: string | null) => (value === null ? null : resolve(cwd, value.trim()));
  const text = (name: string, value: string | undefined) => (value === undefined ? undefined : check(() => brandText(name, value)));
  if (env.BRAND_PRODUCT_NAME !== undefined) branding.productName = text('BRAND_PRODUCT_NAME', env.BRAND_PRODUCT_NAME) ?? branding.productName;
  else branding.productName = check(() => brandText('BRAND_PRODUCT_NAME', branding.productName)) ?? 'Gatehouse';
  branding.logoFile = path(given('BRAND_LOGO_FILE') ?? branding.logoFile);
  branding.logoDarkFile = path(given('BRAND_LOGO_DARK_FILE') ?? branding.logoDarkFile);
  branding.faviconFile = path(given('BRAND_FAVICON_FILE') ?? branding.faviconFile);
  if (branding.logoFile) check(() => readImageFile('BRAND_LOGO_FILE', branding.logoFile!, logoTypes));
  if (branding.logoDarkFile) check(() => readImageFile('BRAND_LOGO_DARK_FILE', branding.logoDarkFile!, logoTypes));
  if (branding.faviconFile) check(() => readImageFile('BRAND_FAVICON_FILE', branding.faviconFile!, faviconTypes));
  const color = (name: string, value: string | null, scheme: 'light' | 'dark') => (value === null ? null : check(() => parseBrandColor(name, value, scheme)) ?? null);
  branding.primaryColor = color('BRAND_PRIMARY_COLOR', given('BRAND_PRIMARY_COLOR') ?? branding.primaryColor, 'light');
  branding.primaryColorDark = color('BRAND_PRIMARY_COLOR_DARK', given('BRAND_PRIMARY_COLOR_DARK') ?? branding.primaryColorDark, 'dark');
  const link = (name: string, value: string | null) => (value === null ? null : check(() => brandUrl(name, value, environment)) ?? null);
  branding.supportUrl = link('BRAND_SUPPORT_URL', given('BRAND_SUPPORT_URL') ?? branding.supportUrl);
  branding.privacyUrl = link('BRAND_PRIVACY_URL', given('BRAND_PRIVACY_URL') ?? branding.privacyUrl);
  branding.themeDir = path(given('THEME_DIR') ?? branding.themeDir);
  if (branding.themeDir) {
    const dir = branding.themeDir;
    check(() => {
      try {
        if (!statSync(dir).isDirectory()) fail('THEME_DIR', 'config.theme_dir_invalid', { dir, code: 'not a directory' });
        accessSync(dir, fsConstants.R_OK | fsConstants.X_OK);
      } catch (error) {
        if (error instanceof GatehouseError) throw error;
        fail('THEME_DIR', 'config.theme_dir_invalid', { dir, code: (error as NodeJS.ErrnoException).code ?? String(error) });
      }
      try {
        config.messageOverrides = readMessageOverrides(dir);
      } catch (error) {
        fail('THEME_DIR', 'config.theme_messages_invalid', { problem: (error as Error).message });
      }
    });
  }
  // The From name: said outright, else MAIL_FROM's own (when the operator set MAIL_FROM), else the product's.
  const fromName = given('BRAND_MAIL_FROM_NAME') ?? branding.mailFromName ?? undefined;
  const mailFromsName = env.MAIL_FROM !== undefined ? displayNameOf(config.mailFrom) : undefined;
  branding.mailFromName = fromName !== undefined
    ? check(() => brandText('BRAND_MAIL_FROM_NAME', fromName)) ?? null
    : mailFromsName !== undefined ? check(() => brandText('MAIL_FROM', mailFromsName)) ?? null : branding.productName;
  config.branding = branding;
}

/**
 * Builds the one typed configuration object: declarative defaults from config/default.json,
 * overridden by environment variables, validated. Throws GatehouseError('invalid_config') naming
 * the variable; when several are missing or invalid, one error names them all, a line each.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), options: LoadOptions = {}): Config {
  const problems: GatehouseError[] = [];
  const config = collecting(problems)(() => readConfig(env, cwd, options, collecting(problems)));
  if (problems.length === 1) throw problems[0]!;
  if (problems.length > 1) {
    throw new GatehouseError('invalid_config', 'config.problems', { count: problems.length, problems: problems.map((problem) => problem.message).join('\n  ') });
  }
  return config!;
}

function readConfig(env: NodeJS.ProcessEnv, cwd: string, options: LoadOptions, check: ReturnType<typeof collecting>): Config {
  const defaults = structuredClone(configDefaults());

  const nodeEnv = env.NODE_ENV ?? 'development';
  if (!(environments as readonly string[]).includes(nodeEnv)) {
    fail('NODE_ENV', 'config.not_one_of', { choices: environments.join(', '), value: JSON.stringify(nodeEnv) });
  }
  const environment = nodeEnv as Environment;

  const config: Config = { ...defaults, env: environment, issuer: '', issuerExplicit: env.ISSUER !== undefined, trustProxy: false, workers: 1 };
  if (env.PORT !== undefined) config.port = check(() => port(env.PORT!) as number) ?? config.port;
  if (env.DATABASE_URL !== undefined) {
    check(() => {
      if (!/^(sqlite:|mongodb(\+srv)?:\/\/)./.test(env.DATABASE_URL!)) {
        fail('DATABASE_URL', 'config.database_url_invalid', { value: JSON.stringify(env.DATABASE_URL) });
      }
      config.databaseUrl = env.DATABASE_URL!;
    });
  }
  if (env.DATA_DIR !== undefined) {
    check(() => {
      if (!env.DATA_DIR!.trim()) fail('DATA_DIR', 'config.data_dir_empty');
      config.dataDir = env.DATA_DIR!;
    });
  }
  config.dataDir = isAbsolute(config.dataDir) ? config.dataDir : resolve(cwd, config.dataDir);
  config.issuer = check(() => parseIssuer(env.ISSUER ?? `http://localhost:${config.port}`, environment)) ?? '';
  if (env.TRUST_PROXY !== undefined) {
    check(() => {
      if (!['true', 'false', '1', '0'].includes(env.TRUST_PROXY!)) fail('TRUST_PROXY', 'config.trust_proxy_invalid', { value: JSON.stringify(env.TRUST_PROXY) });
      config.trustProxy = env.TRUST_PROXY === 'true' || env.TRUST_PROXY === '1';
    });
  }
  config.keys = { ...config.keys };
  if (env.JWKS_CACHE_SECONDS !== undefined) config.keys.jwksCacheSeconds = check(() => positiveNumber('JWKS_CACHE_SECONDS', env.JWKS_CACHE_SECONDS!)) ?? config.keys.jwksCacheSeconds;
  if (env.KEY_ROTATION_DAYS !== undefined) config.keys.rotationIntervalDays = check(() => positiveNumber('KEY_ROTATION_DAYS', env.KEY_ROTATION_DAYS!)) ?? config.keys.rotationIntervalDays;
  if (env.KEY_POLL_SECONDS !== undefined) config.keys.pollSeconds = check(() => positiveNumber('KEY_POLL_SECONDS', env.KEY_POLL_SECONDS!)) ?? config.keys.pollSeconds;
  const scheduleProblems = validateSchedule(keySchedule(config));
  // An instance may sign with a key for up to one poll after another instance retired it.
  if (config.keys.marginSeconds < config.keys.pollSeconds) scheduleProblems.push(message('config.margin_below_poll', { margin: String(config.keys.marginSeconds), poll: String(config.keys.pollSeconds) }));
  if (scheduleProblems.length) check(() => fail('KEY_ROTATION_DAYS', 'config.schedule_does_not_fit', { problems: scheduleProblems.join('; ') }));
  if (env.COOKIE_KEYS !== undefined) config.cookieKeys = check(() => parseCookieKeys(env.COOKIE_KEYS!));
  if (env.KEY_ENCRYPTION_KEY !== undefined) config.keyEncryptionKey = check(() => parseEncryptionKey(env.KEY_ENCRYPTION_KEY!));
  if (env.SMTP_URL !== undefined && env.SMTP_URL !== '') config.smtpUrl = check(() => parseSmtpUrl(env.SMTP_URL!));
  config.accounts = { ...config.accounts };
  if (env.REGISTRATION !== undefined) config.accounts.registration = check(() => oneOf('REGISTRATION', env.REGISTRATION!, ['open', 'closed'])) ?? config.accounts.registration;
  if (env.MFA !== undefined) config.accounts.mfa = check(() => oneOf('MFA', env.MFA!, ['required', 'optional'])) ?? config.accounts.mfa;
  if (env.EMAIL_VERIFICATION !== undefined) config.accounts.emailVerification = check(() => oneOf('EMAIL_VERIFICATION', env.EMAIL_VERIFICATION!, ['required', 'optional'])) ?? config.accounts.emailVerification;
  if (env.SECURITY_NOTIFICATIONS !== undefined) config.notifications = check(() => parseSecurityNotifications(env.SECURITY_NOTIFICATIONS!)) ?? config.notifications;
  if (env.CLIENT_REGISTRATION !== undefined) config.clientRegistration = check(() => oneOf('CLIENT_REGISTRATION', env.CLIENT_REGISTRATION!, ['off', 'token', 'open'])) ?? config.clientRegistration;
  config.clientIdMetadataDocuments = { ...config.clientIdMetadataDocuments };
  if (env.CLIENT_ID_METADATA_DOCUMENTS !== undefined) {
    config.clientIdMetadataDocuments.enabled = check(() => oneOf('CLIENT_ID_METADATA_DOCUMENTS', env.CLIENT_ID_METADATA_DOCUMENTS!, ['on', 'off'])) === 'on';
  }
  if (env.CLIENT_ID_METADATA_DOCUMENT_HOSTS !== undefined) config.clientIdMetadataDocuments.hosts = check(() => parseMetadataDocumentHosts(env.CLIENT_ID_METADATA_DOCUMENT_HOSTS!)) ?? null;
  if (env.GEOIP_DATABASE !== undefined && env.GEOIP_DATABASE.trim() !== '') config.geoipDatabase = env.GEOIP_DATABASE.trim();
  if (env.MAIL_FROM !== undefined) config.mailFrom = check(() => parseMailFrom(env.MAIL_FROM!)) ?? config.mailFrom;
  check(() => readLanguageSettings(env, config));
  readBrandingSettings(env, environment, cwd, config, check);
  if (env.WORKERS !== undefined) config.workers = check(() => parseWorkers(env.WORKERS!)) ?? config.workers;
  if (env.GATEHOUSE_SEED_FILE !== undefined && env.GATEHOUSE_SEED_FILE.trim() !== '') config.seedFile = resolve(cwd, env.GATEHOUSE_SEED_FILE.trim());
  // Each worker would derive its own issuer from a port it has not bound yet.
  if (config.workers > 1 && config.port === 0 && !config.issuerExplicit) check(() => fail('WORKERS', 'config.workers_need_issuer'));
  check(() => readMetricsSettings(env, environment, config));
  // The logger reads LOG_FORMAT itself (it exists before the configuration); a wrong value is refused here.
  if (env.LOG_FORMAT !== undefined) check(() => oneOf('LOG_FORMAT', env.LOG_FORMAT!, ['json', 'text']));

  if (environment === 'production') {
    if (env.COOKIE_KEYS === undefined) check(() => fail('COOKIE_KEYS', 'config.cookie_keys_required'));
    if (env.KEY_ENCRYPTION_KEY === undefined) check(() => fail('KEY_ENCRYPTION_KEY', 'config.key_encryption_key_required'));
    // The command line sends no mail; a server without SMTP_URL could not send a code.
    if (options.startingServer && !env.SMTP_URL) check(() => fail('SMTP_URL', 'config.smtp_url_required'));
  }
  return config;
}
