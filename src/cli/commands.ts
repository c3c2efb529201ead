import { readFileSync } from 'node:fs';

import { GatehouseError } from '../errors.ts';
import type { RingChange } from '../keys/rotation.ts';
import { cliSource } from '../libraries/audit.ts';
import type { ProfilePatch } from '../libraries/accounts.ts';
import { accountRepresentation } from '../libraries/accounts.ts';
import type { PasskeySummary } from '../libraries/passkeys.ts';
import { invalidInput, issuesOf } from '../libraries/validation.ts';
import { message } from '../messages/messages.ts';
import { backupSqlite, restoreSqlite } from '../store/sqlite/backup.ts';
import { managementScopes } from '../web/management-api/scopes.ts';
import type { AccountRecord, ApiRecord, AuditEvent, ClientMetadata, ClientRecord, LogoutDelivery, SigningKeyRecord } from '../store/types.ts';
import { applyCommands } from './apply-commands.ts';
import { connectionCommands } from './connections-commands.ts';
import { registrationCommands } from './registration-commands.ts';
import { webhookCommands } from './webhooks-commands.ts';
import type { Command, Values } from './output.ts';
import { list, printable, table, text } from './output.ts';

export type { Command, Result } from './output.ts';
export { printable } from './output.ts';

function clientJson(metadata: ClientMetadata, createdAt: Date, clientSecret?: string) {
  return {
    ...metadata,
    ...(clientSecret ? { client_secret: clientSecret, client_secret_expires_at: 0 } : {}),
    client_id_issued_at: Math.floor(createdAt.getTime() / 1000),
  };
}

function clientText(client: ReturnType<typeof clientJson>): string {
  const lines = [
    `client_id:      ${client.client_id}`,
    `name:           ${client.client_name ?? ''}`,
    `type:           ${message(client.token_endpoint_auth_method === 'none' ? 'cli.client_type_public' : 'cli.client_type_confidential')}${client.first_party ? message('cli.client_first_party') : ''}`,
    `grant types:    ${client.grant_types.join(', ')}`,
    `redirect URIs:  ${client.redirect_uris.join(' ') || '-'}`,
  ];
  if (client.post_logout_redirect_uris?.length) lines.push(`logout URIs:    ${client.post_logout_redirect_uris.join(' ')}`);
  if (client.scope) lines.push(`scope:          ${client.scope}`);
  lines.push(`auth method:    ${client.token_endpoint_auth_method}`);
  const more = client as Record<string, unknown>;
  if (typeof more.jwks_uri === 'string') lines.push(`jwks_uri:       ${more.jwks_uri}`);
  if (more.jwks) lines.push(`jwks:           ${message('cli.client_jwks_keys', { count: (more.jwks as { keys?: unknown[] }).keys?.length ?? 0 })}`);
  for (const [key, label] of [['logo_uri', 'logo:           '], ['policy_uri', 'policy:         '], ['tos_uri', 'terms:          ']] as const) {
    if (typeof more[key] === 'string') lines.push(`${label}${printable(more[key])}`);
  }
  if (typeof more.backchannel_logout_uri === 'string') {
    lines.push(`back-channel:   ${printable(more.backchannel_logout_uri)}${more.backchannel_logout_session_required === true ? ' (sid)' : ''}`);
  }
  if (client.gatehouse_require_phishing_resistant) lines.push(message('cli.client_requires_phishing_resistant'));
  if ('client_secret' in client) lines.push(`client_secret:  ${client.client_secret}`, '', message('cli.store_secret_now'));
  return lines.join('\n');
}

/** A stored client: its metadata, whether it registered itself (RFC 7591) and when it was last used. */
function recordJson(record: ClientRecord) {
  return {
    ...clientJson(record.metadata, record.createdAt),
    dynamic: record.dynamic,
    last_used_at: record.lastUsedAt?.toISOString() ?? null,
  };
}

/** Names and URIs a client chose itself (a dynamic one) are shown with control characters escaped. */
function recordText(client: ReturnType<typeof recordJson>): string {
  return [
    clientText({ ...client, client_name: client.client_name === undefined ? undefined : printable(client.client_name) }),
    `registered:     ${message(client.dynamic ? 'cli.client_dynamic' : 'cli.client_by_operator')}`,
    `created:        ${new Date(client.client_id_issued_at * 1000).toISOString()}`,
    `last used:      ${client.last_used_at ?? message('cli.client_never_used')}`,
  ].join('\n');
}

const accountJson = accountRepresentation;

/** The profile claims after the name, in OpenID Connect Core's order; the address part by part. */
function profileLines(profile: AccountRecord['profile']): string[] {
  const order = ['given_name', 'family_name', 'middle_name', 'nickname', 'preferred_username', 'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'phone_number', 'phone_number_verified'] as const;
  const line = (label: string, value: string) => `  ${`${label}:`.padEnd(24)}${printable(value)}`;
  const lines = order.filter((claim) => profile[claim] !== undefined).map((claim) => {
    const value = profile[claim]!;
    return line(claim, typeof value === 'boolean' ? (value ? 'yes' : 'no') : value);
  });
  for (const [part, value] of Object.entries(profile.address ?? {})) lines.push(line(`address.${part}`, value));
  return lines;
}

function accountText(account: AccountRecord): string {
  const details = profileLines(account.profile);
  return [
    `id:        ${account.id}`,
    `email:     ${printable(account.email)}${account.emailVerified ? ' (verified)' : ' (not verified)'}`,
    ...(account.profile.name ? [`name:      ${printable(account.profile.name)}`] : []),
    `roles:     ${account.roles.join(', ') || '-'}`,
    `status:    ${account.disabled ? 'disabled' : 'active'}`,
    `created:   ${account.createdAt.toISOString()}`,
    `profile:   ${message('cli.user_profile_updated_at', { when: account.profileUpdatedAt.toISOString() })}`,
    ...details,
  ].join('\n');
}

/** `users update`: each flag and the profile claim it changes (an address part as address.PART). */
const profileFlags = {
  name: 'name', 'given-name': 'given_name', 'family-name': 'family_name', 'middle-name': 'middle_name', nickname: 'nickname',
  'preferred-username': 'preferred_username', 'profile-url': 'profile', picture: 'picture', website: 'website', gender: 'gender',
  birthdate: 'birthdate', zoneinfo: 'zoneinfo', locale: 'locale', 'phone-number': 'phone_number', 'phone-number-verified': 'phone_number_verified',
  'address-formatted': 'address.formatted', 'address-street': 'address.street_address', 'address-locality': 'address.locality',
  'address-region': 'address.region', 'address-postal-code': 'address.postal_code', 'address-country': 'address.country',
} as const;

/** What `users update --help` shows each flag taking (TEXT otherwise). */
const profileFlagValues: Record<string, string> = {
  'profile-url': 'URL', picture: 'URL', website: 'URL', birthdate: 'YYYY-MM-DD', zoneinfo: 'ZONE', locale: 'TAG', 'phone-number': '+NUMBER', 'phone-number-verified': 'yes|no',
};

/** The profile change the flags given to `users update` ask for: an empty value removes the claim. */
function profilePatchFrom(values: Values): ProfilePatch {
  const patch: Record<string, unknown> = {};
  const address: Record<string, string> = {};
  for (const [flag, claim] of Object.entries(profileFlags)) {
    const value = text(values[flag]);
    if (value === undefined) continue;
    if (claim.startsWith('address.')) address[claim.slice('address.'.length)] = value;
    else if (claim === 'phone_number_verified') {
      if (!['yes', 'no', ''].includes(value)) throw new GatehouseError('invalid_input', 'cli.yes_or_no', { flag: `--${flag}` });
      patch[claim] = value === '' ? null : value === 'yes';
    } else patch[claim] = value;
  }
  if (Object.keys(address).length) patch.address = address;
  return patch as ProfilePatch;
}

/** The library's field problems named by the flags that gave them ("--phone-number: must be …"). */
function inProfileFlags(error: unknown): unknown {
  const issues = issuesOf(error);
  if (!issues) return error;
  const flagOf = new Map<string, string>(Object.entries(profileFlags).map(([flag, claim]) => [claim, `--${flag}`]));
  return invalidInput(issues.map((issue) => {
    const claim = issue.path.filter((key) => typeof key === 'string').join('.');
    return { path: [flagOf.get(claim) ?? claim], message: issue.message };
  }));
}

function passkeyJson(passkey: PasskeySummary) {
  return {
    id: passkey.id,
    name: passkey.name,
    created_at: passkey.createdAt.toISOString(),
    last_used_at: passkey.lastUsedAt?.toISOString() ?? null,
    // Backed up by a passkey provider as of its last use (device_type multiDevice: it may be).
    synced: passkey.backedUp,
    device_type: passkey.deviceType,
    transports: passkey.transports,
  };
}

function apiJson(api: ApiRecord) {
  return {
    identifier: api.identifier,
    ...(api.name ? { name: api.name } : {}),
    scopes: api.scopes,
    signing_alg: api.signingAlg,
    access_token_ttl: api.accessTokenTtl,
    created_at: api.createdAt.toISOString(),
  };
}

/** `--jwks`: a JWK Set given inline (JSON text) or as the path of a file that holds one. */
function jwksOption(value: string | undefined): { keys: Array<{ kty: 'RSA' | 'EC' | 'OKP' }> } | undefined {
  if (value === undefined) return undefined;
  const inline = value.trimStart().startsWith('{');
  try {
    return JSON.parse(inline ? value : readFileSync(value, 'utf8')) as { keys: Array<{ kty: 'RSA' | 'EC' | 'OKP' }> };
  } catch (error) {
    const cause = (error as NodeJS.ErrnoException).code ?? 'not valid JSON';
    throw new GatehouseError('invalid_input', 'cli.cannot_read_as_json', { file: inline ? '--jwks' : value, cause });
  }
}

/** `--management-scope`: the management API's scopes (space- or comma-separated, repeatable), each checked. */
function managementScopesOption(values: string[]): string[] {
  const scopes = [...new Set(values.flatMap((value) => value.split(/[\s,]+/)).filter(Boolean))];
  const unknown = scopes.find((scope) => !(managementScopes as readonly string[]).includes(scope));
  if (unknown !== undefined) throw new GatehouseError('invalid_input', 'api.unknown_management_scope', { scope: unknown, list: managementScopes.join(' ') });
  return scopes;
}

/** An optional link given to `clients update`: an empty value removes it. */
const linkChange = (value: string | undefined): string | null | undefined => (value === undefined ? undefined : value === '' ? null : value);

const authMethodUsage = '[--auth-method client_secret_basic|client_secret_post|private_key_jwt|none] [--jwks-uri U | --jwks JSON|FILE]';

/** The database URL of a command that works on a SQLite file; MongoDB has its own tools. */
function sqliteOnly(databaseUrl: string, command: string): string {
  if (!databaseUrl.startsWith('sqlite:')) throw new GatehouseError('unsupported_database', 'cli.backup_mongodb', { command });
  return databaseUrl;
}

function parseInteger(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new GatehouseError('invalid_input', 'cli.not_whole_number', { name });
  return Number(value);
}

function keyJson(key: SigningKeyRecord) {
  return {
    kid: key.kid,
    alg: key.alg,
    state: key.state,
    created_at: key.createdAt.toISOString(),
    ...(key.activatesAt ? { activates_at: key.activatesAt.toISOString() } : {}),
    ...(key.activatedAt ? { activated_at: key.activatedAt.toISOString() } : {}),
    ...(key.retiredAt ? { retired_at: key.retiredAt.toISOString() } : {}),
  };
}

function ringText(keys: SigningKeyRecord[]): string {
  return table([
    ['KID', 'ALG', 'STATE', 'PUBLISHED', 'SIGNS FROM', 'RETIRED'],
    ...keys.map((key) => [key.kid, key.alg, key.state, key.createdAt.toISOString(), (key.activatedAt ?? key.activatesAt)?.toISOString() ?? '-', key.retiredAt?.toISOString() ?? '-']),
  ]);
}

function describeChanges(changes: RingChange[]): string {
  return changes.map((change) => (change.type === 'create' ? message('cli.key_created', { state: change.state, alg: change.alg }) : `${change.type} ${change.kid}`)).join(', ');
}

function auditJson(event: AuditEvent) {
  return {
    at: event.at.toISOString(),
    type: event.type,
    actor: event.actor,
    ...(event.accountId ? { account_id: event.accountId } : {}),
    ...(event.clientId ? { client_id: event.clientId } : {}),
    ...(event.sourceAddress ? { source_address: event.sourceAddress } : {}),
    details: event.details,
  };
}

/** The flags `clients add` and `clients update` share: how the client authenticates, and its links. */
const clientAuthAndLinkOptions = {
  'auth-method': { type: 'string' },
  'jwks-uri': { type: 'string' },
  jwks: { type: 'string' },
  'logo-uri': { type: 'string' },
  'policy-uri': { type: 'string' },
  'tos-uri': { type: 'string' },
  'backchannel-logout-uri': { type: 'string' },
  'backchannel-logout-session-required': { type: 'string' },
} as const;

const backchannelUsage = '[--backchannel-logout-uri U] [--backchannel-logout-session-required yes|no]';

/** `--backchannel-logout-session-required yes|no` (yes when not given at `clients add`). */
function yesNo(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'yes' || value === 'no') return value === 'yes';
  throw new GatehouseError('invalid_input', 'cli.yes_or_no', { flag: `--${name}` });
}

/** The back-channel logout flags, as the clients library takes them (`update`: an empty URI removes it). */
function backchannelFlags(values: Values, removable: boolean) {
  const uri = text(values['backchannel-logout-uri']);
  const required = yesNo(text(values['backchannel-logout-session-required']), 'backchannel-logout-session-required');
  return {
    ...(uri !== undefined ? { backchannelLogoutUri: (removable ? linkChange(uri) : uri) as string } : {}),
    ...(required !== undefined ? { backchannelLogoutSessionRequired: required } : {}),
  };
}

function deliveryJson(delivery: LogoutDelivery) {
  return {
    id: delivery.id, client_id: delivery.clientId, account_id: delivery.accountId, sid: delivery.sid, reason: delivery.reason, status: delivery.status,
    attempts: delivery.attempts, last_error: delivery.lastError ?? null, last_attempt_at: delivery.lastAttemptAt?.toISOString() ?? null,
    next_attempt_at: delivery.status === 'pending' ? delivery.nextAttemptAt.toISOString() : null,
  };
}

export const commands: Record<string, Command> = {
  'audit tail': {
    usage: 'audit tail [--account ID|EMAIL] [--limit N]   (newest last; default 50)',
    options: { account: { type: 'string' }, limit: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      const limit = parseInteger(text(values.limit), 'limit') ?? 50;
      if (limit < 1 || limit > 10_000) throw new GatehouseError('invalid_input', 'cli.limit_out_of_range', { max: 10_000 });
      const who = text(values.account);
      const account = who ? await ctx.libraries.accounts.get(who) : undefined;
      const events = await ctx.libraries.audit.tail({ limit, ...(account ? { accountId: account.id } : {}) });
      const lines = events.map((event) => [event.at.toISOString(), event.type, event.actor, event.accountId ?? event.clientId ?? '', JSON.stringify(event.details)].join('  '));
      return { json: events.map(auditJson), text: lines.join('\n') || message('cli.no_events') };
    },
  },

  'keys list': {
    usage: 'keys list',
    options: {},
    positionals: [],
    async run(ctx) {
      const ring = await ctx.libraries.signingKeys.ring();
      return { json: { version: ring.version, keys: ring.keys.map(keyJson) }, text: ringText(ring.keys) };
    },
  },
  'keys rotate': {
    usage: 'keys rotate [--immediately]   (publishes next keys; --immediately: new keys sign now, for a suspected leak)',
    options: { immediately: { type: 'boolean' } },
    positionals: [],
    async run(ctx, values) {
      const immediately = values.immediately === true;
      const { ring, changes } = await ctx.libraries.signingKeys.rotate({ immediately }, cliSource);
      const summary = changes.length ? describeChanges(changes) : message('cli.keys_already_waiting');
      const when = immediately ? message('cli.keys_sign_now') : message('cli.keys_sign_after', { seconds: ctx.config.keys.jwksCacheSeconds + ctx.config.keys.marginSeconds });
      return { json: { version: ring.version, changes, keys: ring.keys.map(keyJson) }, text: `${summary}\n${when}\n\n${ringText(ring.keys)}` };
    },
  },
  'keys revoke': {
    usage: 'keys revoke KID   (emergency: removed from the JWKS at once; tokens it signed stop verifying)',
    options: {},
    positionals: ['KID'],
    async run(ctx, _values, [kid]) {
      const { ring, changes } = await ctx.libraries.signingKeys.revoke(kid!, cliSource);
      ctx.warn(message('cli.keys_revoked_warning', { kid: kid! }));
      return { json: { version: ring.version, changes, keys: ring.keys.map(keyJson) }, text: `${message('cli.keys_revoked', { kid: kid!, changes: describeChanges(changes) })}\n\n${ringText(ring.keys)}` };
    },
  },
  'keys import': {
    usage: 'keys import FILE   (a private JWKS, as in jwks.json.example; each key becomes the next key of its algorithm)',
    options: {},
    positionals: ['FILE'],
    async run(ctx, _values, [file]) {
      let jwks: unknown;
      try {
        jwks = JSON.parse(readFileSync(file!, 'utf8'));
      } catch (error) {
        // The parser's message can quote the file, which holds private keys: name only the cause.
        const cause = (error as NodeJS.ErrnoException).code ?? 'not valid JSON';
        throw new GatehouseError('invalid_input', 'cli.cannot_read_as_json', { file: file!, cause });
      }
      const { ring, changes } = await ctx.libraries.signingKeys.import(jwks, cliSource);
      return { json: { version: ring.version, changes, keys: ring.keys.map(keyJson) }, text: `${message('cli.keys_imported', { changes: describeChanges(changes) })}\n\n${ringText(ring.keys)}` };
    },
  },
  'keys export': {
    usage: 'keys export --public   (the published JWKS)',
    options: { public: { type: 'boolean' } },
    positionals: [],
    async run(ctx, values) {
      if (values.public !== true) throw new GatehouseError('invalid_input', 'cli.only_public_export');
      const jwks = await ctx.libraries.signingKeys.publicJwks();
      return { json: jwks, text: JSON.stringify(jwks, null, 2) };
    },
  },

  'db migrate': {
    usage: 'db migrate   (creates missing tables and indexes; safe to repeat)',
    options: {},
    positionals: [],
    async run(ctx) {
      const pending = await ctx.store.pendingMigrations();
      await ctx.store.migrate();
      return { json: { store: ctx.store.kind, applied: pending }, text: pending.length ? `applied: ${pending.join(', ')}` : 'the database is up to date' };
    },
  },
  'db status': {
    usage: 'db status',
    options: {},
    positionals: [],
    async run(ctx) {
      await ctx.store.ping();
      const pending = await ctx.store.pendingMigrations();
      return { json: { store: ctx.store.kind, pending }, text: pending.length ? `${ctx.store.kind}: pending ${pending.join(', ')}` : `${ctx.store.kind}: up to date` };
    },
  },

  'db backup': {
    usage: 'db backup FILE   (SQLite: a consistent copy of the database while the server runs; MongoDB: mongodump)',
    options: {},
    positionals: ['FILE'],
    fileOnly: true,
    async run(ctx, _values, [file]) {
      const report = await backupSqlite(sqliteOnly(ctx.config.databaseUrl, 'db backup'), file!);
      return {
        json: { source: report.source, file: report.file, bytes: report.bytes, schema_version: report.schemaVersion },
        text: message('cli.backup_done', { source: report.source, file: report.file, bytes: report.bytes, version: report.schemaVersion }),
      };
    },
  },
  'db restore': {
    usage: 'db restore FILE   (SQLite, deployment stopped: replaces the database with a backup; the old file is kept as <database>.before-restore)',
    options: {},
    positionals: ['FILE'],
    fileOnly: true,
    async run(ctx, _values, [file]) {
      const report = restoreSqlite(sqliteOnly(ctx.config.databaseUrl, 'db restore'), file!);
      const lines = [message('cli.restore_done', { file: report.file, target: report.target, version: report.schemaVersion })];
      if (report.previous) lines.push(message('cli.restore_kept_previous', { previous: report.previous }));
      lines.push(message('cli.restore_migrate_next'));
      return { json: { file: report.file, database: report.target, schema_version: report.schemaVersion, previous: report.previous }, text: lines.join('\n') };
    },
  },

  'mail status': {
    usage: 'mail status   (queued, sent, failed and dropped mail; the latest permanent failures and drops)',
    options: {},
    positionals: [],
    async run(ctx) {
      const [status, drops] = await Promise.all([ctx.libraries.mailQueue.status(), ctx.libraries.mailQueue.drops(10)]);
      const failures = status.recentFailures.map((f) => ({ id: f.id, to: f.to, subject: f.subject, attempts: f.attempts, last_error: f.lastError, at: f.at.toISOString() }));
      const dropped = drops.recent.map((d) => ({ day: d.day, kind: d.kind, reason: d.reason, count: d.count, last_at: d.lastAt.toISOString(), last_recipient: d.lastRecipient }));
      const oldest = status.oldestPendingAt?.toISOString() ?? null;
      const summary = `pending: ${status.pending}  sent: ${status.sent}  failed: ${status.failed}  dropped: ${drops.dropped}${oldest ? `  oldest pending: ${oldest}` : ''}`;
      const sections = [summary];
      if (failures.length) sections.push(table([['FAILED AT', 'TO', 'SUBJECT', 'ATTEMPTS', 'ERROR'], ...failures.map((f) => [f.at, f.to, f.subject, String(f.attempts), f.last_error])]));
      if (dropped.length) sections.push(table([['DAY', 'KIND', 'REASON', 'COUNT', 'LAST', 'LAST TO'], ...dropped.map((d) => [d.day, d.kind, d.reason, String(d.count), d.last_at, d.last_recipient])]));
      return {
        json: { pending: status.pending, sent: status.sent, failed: status.failed, dropped: drops.dropped, oldest_pending_at: oldest, recent_failures: failures, recent_drops: dropped },
        text: sections.join('\n\n'),
      };
    },
  },

  'clients add': {
    usage: `clients add --name N --redirect-uri U [--redirect-uri U2] [--post-logout-redirect-uri U] [--public] [--first-party] [--pkce-exempt] [--require-mfa] [--require-phishing-resistant] [--grant-type T …] [--scope S] [--management-scope "S …"] ${authMethodUsage} [--logo-uri U] [--policy-uri U] [--tos-uri U] ${backchannelUsage}   (--management-scope: a machine client of the management API, client credentials)`,
    options: {
      ...clientAuthAndLinkOptions,
      name: { type: 'string' },
      'management-scope': { type: 'string', multiple: true },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      public: { type: 'boolean' },
      'first-party': { type: 'boolean' },
      'pkce-exempt': { type: 'boolean' },
      'require-mfa': { type: 'boolean' },
      'require-phishing-resistant': { type: 'boolean' },
      'grant-type': { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
    },
    positionals: [],
    async run(ctx, values) {
      const management = managementScopesOption(list(values['management-scope']));
      const given = list(values['grant-type']);
      // A management client gets tokens by client credentials (with any other grant asked for).
      const grantTypes = management.length && !given.includes('client_credentials') ? [...given, 'client_credentials'] : given;
      const scopes = [...list(values.scope), ...management];
      const { metadata, createdAt, clientSecret } = await ctx.libraries.clients.register({
        name: text(values.name) ?? '',
        redirectUris: list(values['redirect-uri']),
        postLogoutRedirectUris: list(values['post-logout-redirect-uri']),
        public: values.public === true,
        firstParty: values['first-party'] === true,
        pkceExempt: values['pkce-exempt'] === true,
        requireMfa: values['require-mfa'] === true,
        requirePhishingResistant: values['require-phishing-resistant'] === true,
        ...(grantTypes.length ? { grantTypes: grantTypes as never } : {}),
        ...(scopes.length ? { scope: scopes.join(' ') } : {}),
        ...(text(values['auth-method']) ? { authMethod: text(values['auth-method']) as never } : {}),
        ...(text(values['jwks-uri']) !== undefined ? { jwksUri: text(values['jwks-uri'])! } : {}),
        ...(text(values.jwks) !== undefined ? { jwks: jwksOption(text(values.jwks)) } : {}),
        ...(text(values['logo-uri']) !== undefined ? { logoUri: text(values['logo-uri'])! } : {}),
        ...(text(values['policy-uri']) !== undefined ? { policyUri: text(values['policy-uri'])! } : {}),
        ...(text(values['tos-uri']) !== undefined ? { tosUri: text(values['tos-uri'])! } : {}),
        ...backchannelFlags(values, false),
      }, cliSource);
      const json = clientJson(metadata, createdAt, clientSecret);
      return { json, text: clientText(json) };
    },
  },
  'clients list': {
    usage: 'clients list',
    options: {},
    positionals: [],
    async run(ctx) {
      const clients = (await ctx.libraries.clients.list()).map(recordJson);
      const rows = [['CLIENT_ID', 'NAME', 'TYPE', 'GRANT TYPES', 'DYNAMIC', 'LAST USED'], ...clients.map((c) => [
        printable(c.client_id), printable(c.client_name ?? ''), c.token_endpoint_auth_method === 'none' ? 'public' : 'confidential', c.grant_types.join(','),
        c.dynamic ? 'yes' : 'no', c.last_used_at ?? '-',
      ])];
      return { json: clients, text: table(rows) };
    },
  },
  'clients show': {
    usage: 'clients show CLIENT_ID',
    options: {},
    positionals: ['CLIENT_ID'],
    async run(ctx, _values, [clientId]) {
      const json = recordJson(await ctx.libraries.clients.get(clientId!));
      return { json, text: recordText(json) };
    },
  },
  'clients update': {
    usage: `clients update --id CLIENT_ID [--name N] [--redirect-uri U …] [--post-logout-redirect-uri U …] [--grant-type T …] ${authMethodUsage} [--logo-uri U] [--policy-uri U] [--tos-uri U] ${backchannelUsage}   (a list given replaces the old one; an empty link removes it)`,
    options: {
      id: { type: 'string' },
      name: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      'grant-type': { type: 'string', multiple: true },
      ...clientAuthAndLinkOptions,
    },
    positionals: [],
    async run(ctx, values) {
      const clientId = text(values.id);
      if (!clientId) throw new GatehouseError('invalid_input', 'cli.client_id_required');
      const grantTypes = list(values['grant-type']);
      const redirectUris = list(values['redirect-uri']);
      const logoutUris = list(values['post-logout-redirect-uri']);
      const { metadata, clientSecret } = await ctx.libraries.clients.update(clientId, {
        ...(text(values.name) !== undefined ? { name: text(values.name)! } : {}),
        ...(redirectUris.length ? { redirectUris } : {}),
        ...(logoutUris.length ? { postLogoutRedirectUris: logoutUris } : {}),
        ...(grantTypes.length ? { grantTypes: grantTypes as never } : {}),
        ...(text(values['auth-method']) ? { authMethod: text(values['auth-method']) as never } : {}),
        ...(text(values['jwks-uri']) !== undefined ? { jwksUri: linkChange(text(values['jwks-uri'])) } : {}),
        ...(text(values.jwks) !== undefined ? { jwks: text(values.jwks) === '' ? null : jwksOption(text(values.jwks)) } : {}),
        ...(text(values['logo-uri']) !== undefined ? { logoUri: linkChange(text(values['logo-uri'])) } : {}),
        ...(text(values['policy-uri']) !== undefined ? { policyUri: linkChange(text(values['policy-uri'])) } : {}),
        ...(text(values['tos-uri']) !== undefined ? { tosUri: linkChange(text(values['tos-uri'])) } : {}),
        ...backchannelFlags(values, true),
      }, cliSource);
      const record = await ctx.libraries.clients.get(clientId);
      const json = { ...clientJson(metadata, record.createdAt, clientSecret), dynamic: record.dynamic, last_used_at: record.lastUsedAt?.toISOString() ?? null };
      return { json, text: `${message('cli.client_updated', { clientId })}\n\n${clientText(json)}` };
    },
  },
  'clients rotate-secret': {
    usage: 'clients rotate-secret --id CLIENT_ID [--overlap-days N]   (a new secret; the old one keeps working N days, 0 by default)',
    options: { id: { type: 'string' }, 'overlap-days': { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      const clientId = text(values.id);
      if (!clientId) throw new GatehouseError('invalid_input', 'cli.client_id_required');
      const overlapDays = parseInteger(text(values['overlap-days']), 'overlap-days') ?? 0;
      const { clientSecret, previousSecretExpiresAt } = await ctx.libraries.clients.rotateSecret(clientId, overlapDays, cliSource);
      const until = previousSecretExpiresAt?.toISOString();
      return {
        json: { client_id: clientId, client_secret: clientSecret, client_secret_expires_at: 0, previous_secret_expires_at: until ?? null },
        text: [
          `client_id:      ${clientId}`,
          `client_secret:  ${clientSecret}`,
          until ? message('cli.previous_secret_until', { until }) : message('cli.previous_secret_ended'),
          '',
          message('cli.store_secret_now'),
        ].join('\n'),
      };
    },
  },
  'clients remove': {
    usage: 'clients remove CLIENT_ID',
    options: {},
    positionals: ['CLIENT_ID'],
    async run(ctx, _values, [clientId]) {
      await ctx.libraries.clients.remove(clientId!, cliSource);
      return { json: { client_id: clientId, removed: true }, text: message('cli.client_removed', { clientId: clientId! }) };
    },
  },

  ...connectionCommands,
  ...applyCommands,
  ...registrationCommands,
  ...webhookCommands,
  'apis add': {
    usage: 'apis add --identifier URL [--scope S …] [--name N] [--signing-alg RS256|ES256] [--access-token-ttl SECONDS]',
    options: {
      identifier: { type: 'string' },
      scope: { type: 'string', multiple: true },
      name: { type: 'string' },
      'signing-alg': { type: 'string' },
      'access-token-ttl': { type: 'string' },
    },
    positionals: [],
    async run(ctx, values) {
      const ttl = parseInteger(text(values['access-token-ttl']), 'access-token-ttl');
      const api = await ctx.libraries.apis.register({
        identifier: text(values.identifier) ?? '',
        scopes: list(values.scope).flatMap((scope) => scope.split(/\s+/)).filter(Boolean),
        ...(text(values.name) ? { name: text(values.name) } : {}),
        ...(text(values['signing-alg']) ? { signingAlg: text(values['signing-alg']) as 'RS256' } : {}),
        ...(ttl !== undefined ? { accessTokenTtl: ttl } : {}),
      }, cliSource);
      return { json: apiJson(api), text: message('cli.api_added', { identifier: api.identifier, scopes: api.scopes.join(' ') || '-', alg: api.signingAlg, ttl: api.accessTokenTtl }) };
    },
  },
  'apis list': {
    usage: 'apis list',
    options: {},
    positionals: [],
    async run(ctx) {
      const apis = (await ctx.libraries.apis.list()).map(apiJson);
      return { json: apis, text: table([['IDENTIFIER', 'SCOPES', 'ALG', 'TTL'], ...apis.map((a) => [a.identifier, a.scopes.join(' '), a.signing_alg, String(a.access_token_ttl)])]) };
    },
  },
  'apis remove': {
    usage: 'apis remove IDENTIFIER',
    options: {},
    positionals: ['IDENTIFIER'],
    async run(ctx, _values, [identifier]) {
      await ctx.libraries.apis.remove(identifier!, cliSource);
      return { json: { identifier, removed: true }, text: message('cli.api_removed', { identifier: identifier! }) };
    },
  },

  'users add': {
    usage: 'users add --email E [--name N] [--given-name N] [--family-name N] [--verified] [--role R …]   (password on stdin)',
    options: {
      email: { type: 'string' },
      name: { type: 'string' },
      'given-name': { type: 'string' },
      'family-name': { type: 'string' },
      verified: { type: 'boolean' },
      role: { type: 'string', multiple: true },
    },
    positionals: [],
    async run(ctx, values) {
      if (!text(values.email)) throw new GatehouseError('invalid_input', 'cli.email_required');
      const details = {
        email: text(values.email)!,
        ...(text(values.name) ? { name: text(values.name) } : {}),
        ...(text(values['given-name']) ? { givenName: text(values['given-name']) } : {}),
        ...(text(values['family-name']) ? { familyName: text(values['family-name']) } : {}),
        emailVerified: values.verified === true,
        roles: list(values.role),
      };
      // Check everything else before asking for the password, so nobody types it for nothing.
      await ctx.libraries.accounts.checkNew(details);
      const password = await ctx.readSecret('Password: ');
      if (!password) throw new GatehouseError('invalid_input', 'cli.no_password_on_stdin');
      const account = await ctx.libraries.accounts.create({ ...details, password }, cliSource);
      return { json: accountJson(account), text: message('cli.user_added', { email: account.email, id: account.id }) };
    },
  },
  'users list': {
    usage: 'users list',
    options: {},
    positionals: [],
    async run(ctx) {
      const accounts = await ctx.libraries.accounts.list();
      const rows = [['ID', 'EMAIL', 'VERIFIED', 'ROLES', 'STATUS'], ...accounts.map((a) => [a.id, printable(a.email), a.emailVerified ? 'yes' : 'no', a.roles.join(',') || '-', a.disabled ? 'disabled' : 'active'])];
      return { json: accounts.map(accountJson), text: table(rows) };
    },
  },
  'users update': {
    usage: `users update --email E ${Object.keys(profileFlags).map((flag) => `[--${flag} ${profileFlagValues[flag] ?? 'TEXT'}]`).join(' ')}   (an empty value removes the detail)`,
    options: { email: { type: 'string' }, ...Object.fromEntries(Object.keys(profileFlags).map((flag) => [flag, { type: 'string' as const }])) },
    positionals: [],
    async run(ctx, values) {
      if (!text(values.email)) throw new GatehouseError('invalid_input', 'cli.email_required');
      const patch = profilePatchFrom(values);
      if (!Object.keys(patch).length) throw new GatehouseError('invalid_input', 'cli.user_update_nothing');
      const { account, changed } = await ctx.libraries.accounts.updateProfile(text(values.email)!, patch, cliSource).catch((error: unknown) => {
        throw inProfileFlags(error);
      });
      return {
        json: { ...accountJson(account), changed },
        text: changed.length
          ? message('cli.user_updated', { email: printable(account.email), changed: changed.join(', ') })
          : message('cli.user_unchanged', { email: printable(account.email) }),
      };
    },
  },
  'users show': {
    usage: 'users show ID|EMAIL',
    options: {},
    positionals: ['ID|EMAIL'],
    async run(ctx, _values, [who]) {
      const account = await ctx.libraries.accounts.get(who!);
      return { json: accountJson(account), text: accountText(account) };
    },
  },
  'users disable': {
    usage: 'users disable ID|EMAIL   (also ends their sessions and revokes their tokens)',
    options: {},
    positionals: ['ID|EMAIL'],
    async run(ctx, _values, [who]) {
      const account = await ctx.libraries.accounts.disable((await ctx.libraries.accounts.get(who!)).id, cliSource);
      return { json: accountJson(account), text: message('cli.user_disabled', { email: account.email }) };
    },
  },
  'users sign-out': {
    usage: 'users sign-out --email E   (ends every session of theirs, revokes their tokens, tells their applications by back-channel logout)',
    options: { email: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      if (!text(values.email)) throw new GatehouseError('invalid_input', 'cli.email_required');
      const ended = await ctx.libraries.sessions.signOut(text(values.email)!, cliSource);
      return {
        json: { account_id: ended.accountId, email: ended.email, sessions: ended.sessions, revoked: ended.revoked, logouts_queued: ended.queued },
        text: message('cli.user_signed_out', { email: printable(ended.email), sessions: ended.sessions, queued: ended.queued }),
      };
    },
  },
  'users delete': {
    usage: 'users delete --email E --yes   (erases the account and everything about it at once, tells their applications; the address is free again)',
    options: { email: { type: 'string' }, yes: { type: 'boolean' } },
    positionals: [],
    async run(ctx, values) {
      if (!text(values.email)) throw new GatehouseError('invalid_input', 'cli.email_required');
      const account = await ctx.libraries.accounts.get(text(values.email)!);
      if (values.yes !== true) throw new GatehouseError('invalid_input', 'cli.user_delete_needs_yes', { email: printable(account.email) });
      // At once: the grace period is for people deleting their own account.
      const deleted = await ctx.libraries.accountDeletion.deleteNow(account.id, cliSource);
      return {
        json: { account_id: account.id, email: account.email, deleted: true, audit_pseudonym: deleted.pseudonym, sessions: deleted.sessions, logouts_queued: deleted.logoutsQueued, erased: deleted.erased },
        text: message('cli.user_deleted', { email: printable(account.email), queued: deleted.logoutsQueued, pseudonym: deleted.pseudonym }),
      };
    },
  },
  'users export': {
    usage: 'users export --email E   (everything Gatehouse holds about them, as JSON on stdout: what they download from their account page)',
    options: { email: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      if (!text(values.email)) throw new GatehouseError('invalid_input', 'cli.email_required');
      const account = await ctx.libraries.accounts.get(text(values.email)!);
      const data = await ctx.libraries.accountDeletion.exportData(account.id, cliSource);
      return { json: data, text: JSON.stringify(data, null, 2) };
    },
  },
  'logout status': {
    usage: 'logout status   (back-channel logouts: pending, delivered, given up; the latest failures)',
    options: {},
    positionals: [],
    async run(ctx) {
      const status = await ctx.libraries.sessions.status(10);
      const failures = status.recentFailures.map(deliveryJson);
      const sections = [`pending: ${status.pending}  delivered: ${status.delivered}  failed: ${status.failed}`];
      if (failures.length) {
        sections.push(table([
          ['LAST ATTEMPT', 'CLIENT', 'STATUS', 'ATTEMPTS', 'NEXT', 'ERROR'],
          ...failures.map((f) => [f.last_attempt_at ?? '-', f.client_id, f.status === 'pending' ? 'retrying' : 'given up', String(f.attempts), f.next_attempt_at ?? '-', printable(f.last_error ?? '')]),
        ]));
      }
      return { json: { pending: status.pending, delivered: status.delivered, failed: status.failed, recent_failures: failures }, text: sections.join('\n\n') };
    },
  },
  'users enable': {
    usage: 'users enable ID|EMAIL',
    options: {},
    positionals: ['ID|EMAIL'],
    async run(ctx, _values, [who]) {
      const account = await ctx.libraries.accounts.enable((await ctx.libraries.accounts.get(who!)).id, cliSource);
      return { json: accountJson(account), text: message('cli.user_enabled', { email: account.email }) };
    },
  },
  'users reset-mfa': {
    usage: 'users reset-mfa --email E   (removes their authenticator app and recovery codes, for support)',
    options: { email: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      if (!text(values.email)) throw new GatehouseError('invalid_input', 'cli.email_required');
      const account = await ctx.libraries.accounts.get(text(values.email)!);
      // What the person does on their account page: the same removal, the same audit event.
      if (!(await ctx.libraries.secondFactor.remove(account.id, cliSource))) {
        throw new GatehouseError('not_found', 'cli.no_authenticator_app', { email: account.email });
      }
      return { json: { ...accountJson(account), mfa: false }, text: message('cli.user_mfa_removed', { email: account.email }) };
    },
  },
  'users passkeys': {
    usage: 'users passkeys --email E   (their passkeys: id, name, when added and last used, whether synced)',
    options: { email: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      if (!text(values.email)) throw new GatehouseError('invalid_input', 'cli.email_required');
      const account = await ctx.libraries.accounts.get(text(values.email)!);
      const passkeys = (await ctx.libraries.passkeys.list(account.id)).map(passkeyJson);
      const rows = [['ID', 'NAME', 'CREATED', 'LAST USED', 'SYNCED'], ...passkeys.map((p) => [p.id, printable(p.name), p.created_at, p.last_used_at ?? '-', p.synced ? 'yes' : 'no'])];
      return { json: passkeys, text: table(rows) };
    },
  },
  'users remove-passkey': {
    usage: 'users remove-passkey --email E --id ID   (the passkey no longer signs them in; for support, e.g. a lost device)',
    options: { email: { type: 'string' }, id: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      if (!text(values.email)) throw new GatehouseError('invalid_input', 'cli.email_required');
      if (!text(values.id)) throw new GatehouseError('invalid_input', 'cli.passkey_id_required');
      const id = text(values.id)!;
      const account = await ctx.libraries.accounts.get(text(values.email)!);
      const passkey = (await ctx.libraries.passkeys.list(account.id)).find((each) => each.id === id);
      if (!passkey) throw new GatehouseError('not_found', 'cli.no_passkey', { email: printable(account.email), id: printable(id) });
      // What the person does on their account page: the same removal, the same audit event.
      await ctx.libraries.passkeys.remove(account.id, id, cliSource);
      return {
        json: { ...passkeyJson(passkey), account_id: account.id, email: account.email, removed: true },
        text: message('cli.user_passkey_removed', { id, name: printable(passkey.name), email: printable(account.email) }),
      };
    },
  },
  'users import': {
    usage: 'users import FILE.jsonl [--dry-run]   (one JSON user a line; exit 1 if any line is refused or a duplicate, after importing the others)',
    options: { 'dry-run': { type: 'boolean' } },
    positionals: ['FILE.jsonl'],
    async run(ctx, values, [file]) {
      const dryRun = values['dry-run'] === true;
      const { importUsers } = ctx.libraries;
      const result = await importUsers.run(importUsers.read(file!), { dryRun }, cliSource);
      // Refused lines make the run a failure (exit 1), but the report is still its output.
      const refused = result.errors.length > 0 || result.duplicates.length > 0;
      return { json: { dry_run: dryRun, ...result }, text: importUsers.summary(result, { dryRun }), ...(refused ? { exitCode: 1 } : {}) };
    },
  },
};
