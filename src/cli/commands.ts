import { createAccount, findAccountByIdOrEmail, passwordSettingsFrom, setAccountDisabled } from '../accounts/accounts.ts';
import { hashLimitsFrom } from '../accounts/passwords.ts';
import { newAccountSchema } from '../accounts/schemas.ts';
import { describeIssues, GatehouseError } from '../errors.ts';
import { registerApi } from '../oidc/apis.ts';
import { registerClient } from '../oidc/clients.ts';
import type { AccountRecord, ApiRecord, AuditEvent, ClientMetadata, ClientRecord, SigningKeyRecord } from '../store/types.ts';
import { importIntoRing, publicJwks, revokeFromRing, rotateRing } from '../keys/key-ring.ts';
import type { RingChange } from '../keys/rotation.ts';
import { keySchedule } from '../config/load-config.ts';
import { readFileSync } from 'node:fs';
import type { CliContext } from './context.ts';

type Values = Record<string, string | boolean | string[] | undefined>;

/** What a command prints; `exitCode` 1 reports a partial failure whose report is still the output. */
export type Result = { json: unknown; text: string; exitCode?: number };

export type Command = {
  usage: string;
  options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  /** Names of the positional arguments, all required. */
  positionals: string[];
  run(ctx: CliContext, values: Values, positionals: string[]): Promise<Result>;
};

const list = (value: Values[string]): string[] => (Array.isArray(value) ? value : typeof value === 'string' ? [value] : []);
const text = (value: Values[string]): string | undefined => (typeof value === 'string' ? value : undefined);

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
    `type:           ${client.token_endpoint_auth_method === 'none' ? 'public (no secret, PKCE)' : 'confidential'}${client.first_party ? ', first-party (no consent page)' : ''}`,
    `grant types:    ${client.grant_types.join(', ')}`,
    `redirect URIs:  ${client.redirect_uris.join(' ') || '-'}`,
  ];
  if (client.post_logout_redirect_uris?.length) lines.push(`logout URIs:    ${client.post_logout_redirect_uris.join(' ')}`);
  if (client.scope) lines.push(`scope:          ${client.scope}`);
  if ('client_secret' in client) lines.push(`client_secret:  ${client.client_secret}`, '', 'Store the secret now: it is shown only once.');
  return lines.join('\n');
}

function recordJson(record: ClientRecord) {
  return clientJson(record.metadata, record.createdAt);
}

function accountJson(account: AccountRecord) {
  return {
    id: account.id,
    email: account.email,
    email_verified: account.emailVerified,
    ...account.profile,
    roles: account.roles,
    disabled: account.disabled,
    created_at: account.createdAt.toISOString(),
    updated_at: account.updatedAt.toISOString(),
  };
}

/** Text from users shown on an operator's terminal: control characters are escaped, never obeyed. */
export function printable(value: string): string {
  return value.replace(/[\p{Cc}\u202A-\u202E\u2066-\u2069]/gu, (char) => `\\u${char.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

function accountText(account: AccountRecord): string {
  return [
    `id:        ${account.id}`,
    `email:     ${printable(account.email)}${account.emailVerified ? ' (verified)' : ' (not verified)'}`,
    ...(account.profile.name ? [`name:      ${printable(account.profile.name)}`] : []),
    `roles:     ${account.roles.join(', ') || '-'}`,
    `status:    ${account.disabled ? 'disabled' : 'active'}`,
    `created:   ${account.createdAt.toISOString()}`,
  ].join('\n');
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

function table(rows: string[][]): string {
  if (rows.length <= 1) return '(none)';
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

function parseInteger(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new GatehouseError('invalid_input', `--${name} must be a whole number`);
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
  return changes.map((change) => (change.type === 'create' ? `new ${change.state} ${change.alg} key` : `${change.type} ${change.kid}`)).join(', ');
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

export const commands: Record<string, Command> = {
  'audit tail': {
    usage: 'audit tail [--account ID|EMAIL] [--limit N]   (newest last; default 50)',
    options: { account: { type: 'string' }, limit: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      const limit = parseInteger(text(values.limit), 'limit') ?? 50;
      if (limit < 1 || limit > 10_000) throw new GatehouseError('invalid_input', '--limit must be from 1 to 10000');
      const account = text(values.account) ? await findAccountByIdOrEmail(ctx.store, text(values.account)!) : undefined;
      const events = await ctx.store.audit.tail({ limit, ...(account ? { accountId: account.id } : {}) });
      const lines = events.map((event) => [event.at.toISOString(), event.type, event.actor, event.accountId ?? event.clientId ?? '', JSON.stringify(event.details)].join('  '));
      return { json: events.map(auditJson), text: lines.join('\n') || '(no events)' };
    },
  },

  'keys list': {
    usage: 'keys list',
    options: {},
    positionals: [],
    async run(ctx) {
      const ring = await ctx.store.signingKeys.read();
      return { json: { version: ring.version, keys: ring.keys.map(keyJson) }, text: ringText(ring.keys) };
    },
  },
  'keys rotate': {
    usage: 'keys rotate [--immediately]   (publishes next keys; --immediately: new keys sign now, for a suspected leak)',
    options: { immediately: { type: 'boolean' } },
    positionals: [],
    async run(ctx, values) {
      const immediately = values.immediately === true;
      const { ring, changes } = await rotateRing(ctx.store.signingKeys, ctx.secrets.keyEncryptionKey, keySchedule(ctx.config), immediately);
      if (changes.length) await ctx.audit('key_ring_changed', { details: { command: immediately ? 'keys rotate --immediately' : 'keys rotate', changes, version: ring.version } });
      const summary = changes.length ? describeChanges(changes) : 'nothing to do: next keys are already waiting';
      const when = immediately ? 'Instances pick the new keys up within their poll interval.' : `The next keys start signing after ${ctx.config.keys.jwksCacheSeconds + ctx.config.keys.marginSeconds} seconds (one JWKS cache lifetime plus the margin).`;
      return { json: { version: ring.version, changes, keys: ring.keys.map(keyJson) }, text: `${summary}\n${when}\n\n${ringText(ring.keys)}` };
    },
  },
  'keys revoke': {
    usage: 'keys revoke KID   (emergency: removed from the JWKS at once; tokens it signed stop verifying)',
    options: {},
    positionals: ['KID'],
    async run(ctx, _values, [kid]) {
      const { ring, changes } = await revokeFromRing(ctx.store.signingKeys, ctx.secrets.keyEncryptionKey, kid!);
      await ctx.audit('key_ring_changed', { details: { command: 'keys revoke', kid, changes, version: ring.version } });
      process.stderr.write(`warning: every token signed with ${kid} now fails verification, once verifiers refetch the JWKS\n`);
      return { json: { version: ring.version, changes, keys: ring.keys.map(keyJson) }, text: `revoked ${kid}: ${describeChanges(changes)}\n\n${ringText(ring.keys)}` };
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
        throw new GatehouseError('invalid_input', `cannot read ${file} as JSON (${cause})`);
      }
      const { ring, changes } = await importIntoRing(ctx.store.signingKeys, ctx.secrets.keyEncryptionKey, keySchedule(ctx.config), jwks);
      await ctx.audit('key_ring_changed', { details: { command: 'keys import', changes, version: ring.version } });
      return { json: { version: ring.version, changes, keys: ring.keys.map(keyJson) }, text: `imported: ${describeChanges(changes)}\n\n${ringText(ring.keys)}` };
    },
  },
  'keys export': {
    usage: 'keys export --public   (the published JWKS)',
    options: { public: { type: 'boolean' } },
    positionals: [],
    async run(ctx, values) {
      if (values.public !== true) throw new GatehouseError('invalid_input', 'only --public export is offered: private keys never leave the store');
      const jwks = publicJwks(await ctx.store.signingKeys.read());
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

  'mail status': {
    usage: 'mail status   (queued, sent, failed and dropped mail; the latest permanent failures and drops)',
    options: {},
    positionals: [],
    async run(ctx) {
      const [status, drops] = await Promise.all([ctx.store.mail.status(), ctx.store.mail.drops(10)]);
      const failures = status.recentFailures.map((f) => ({ id: f.id, to: f.to, subject: f.subject, attempts: f.attempts, last_error: f.lastError, at: f.at.toISOString() }));
      const dropped = drops.recent.map((d) => ({ day: d.day, kind: d.kind, reason: d.reason, count: d.count, last_at: d.lastAt.toISOString(), last_recipient: d.lastRecipient }));
      const summary = `pending: ${status.pending}  sent: ${status.sent}  failed: ${status.failed}  dropped: ${drops.dropped}`;
      const sections = [summary];
      if (failures.length) sections.push(table([['FAILED AT', 'TO', 'SUBJECT', 'ATTEMPTS', 'ERROR'], ...failures.map((f) => [f.at, f.to, f.subject, String(f.attempts), f.last_error])]));
      if (dropped.length) sections.push(table([['DAY', 'KIND', 'REASON', 'COUNT', 'LAST', 'LAST TO'], ...dropped.map((d) => [d.day, d.kind, d.reason, String(d.count), d.last_at, d.last_recipient])]));
      return {
        json: { pending: status.pending, sent: status.sent, failed: status.failed, dropped: drops.dropped, recent_failures: failures, recent_drops: dropped },
        text: sections.join('\n\n'),
      };
    },
  },

  'clients add': {
    usage: 'clients add --name N --redirect-uri U [--redirect-uri U2] [--post-logout-redirect-uri U] [--public] [--first-party] [--pkce-exempt] [--require-mfa] [--grant-type T …] [--scope S]',
    options: {
      name: { type: 'string' },
      'redirect-uri': { type: 'string', multiple: true },
      'post-logout-redirect-uri': { type: 'string', multiple: true },
      public: { type: 'boolean' },
      'first-party': { type: 'boolean' },
      'pkce-exempt': { type: 'boolean' },
      'require-mfa': { type: 'boolean' },
      'grant-type': { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
    },
    positionals: [],
    async run(ctx, values) {
      const grantTypes = list(values['grant-type']);
      const scopes = list(values.scope);
      const now = new Date();
      const { metadata, clientSecret } = await registerClient(ctx.store, ctx.secrets.keyEncryptionKey, {
        name: text(values.name) ?? '',
        redirectUris: list(values['redirect-uri']),
        postLogoutRedirectUris: list(values['post-logout-redirect-uri']),
        public: values.public === true,
        firstParty: values['first-party'] === true,
        pkceExempt: values['pkce-exempt'] === true,
        requireMfa: values['require-mfa'] === true,
        ...(grantTypes.length ? { grantTypes: grantTypes as never } : {}),
        ...(scopes.length ? { scope: scopes.join(' ') } : {}),
      }, now);
      const json = clientJson(metadata, now, clientSecret);
      await ctx.audit('client_added', { clientId: metadata.client_id, details: { client_name: metadata.client_name, redirect_uris: metadata.redirect_uris, grant_types: metadata.grant_types, public: metadata.token_endpoint_auth_method === 'none' } });
      return { json, text: clientText(json) };
    },
  },
  'clients list': {
    usage: 'clients list',
    options: {},
    positionals: [],
    async run(ctx) {
      const clients = (await ctx.store.clients.list()).map(recordJson);
      const rows = [['CLIENT_ID', 'NAME', 'TYPE', 'GRANT TYPES'], ...clients.map((c) => [c.client_id, c.client_name ?? '', c.token_endpoint_auth_method === 'none' ? 'public' : 'confidential', c.grant_types.join(',')])];
      return { json: clients, text: table(rows) };
    },
  },
  'clients show': {
    usage: 'clients show CLIENT_ID',
    options: {},
    positionals: ['CLIENT_ID'],
    async run(ctx, _values, [clientId]) {
      const record = await ctx.store.clients.find(clientId!);
      if (!record) throw new GatehouseError('not_found', `no client ${clientId}`);
      const json = recordJson(record);
      return { json, text: clientText(json) };
    },
  },
  'clients remove': {
    usage: 'clients remove CLIENT_ID',
    options: {},
    positionals: ['CLIENT_ID'],
    async run(ctx, _values, [clientId]) {
      if (!(await ctx.store.clients.remove(clientId!))) throw new GatehouseError('not_found', `no client ${clientId}`);
      await ctx.audit('client_removed', { clientId: clientId! });
      return { json: { client_id: clientId, removed: true }, text: `removed client ${clientId}` };
    },
  },

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
      const api = await registerApi(ctx.store, {
        identifier: text(values.identifier) ?? '',
        scopes: list(values.scope).flatMap((scope) => scope.split(/\s+/)).filter(Boolean),
        ...(text(values.name) ? { name: text(values.name) } : {}),
        ...(text(values['signing-alg']) ? { signingAlg: text(values['signing-alg']) as 'RS256' } : {}),
        ...(ttl !== undefined ? { accessTokenTtl: ttl } : {}),
      });
      await ctx.audit('api_added', { details: { identifier: api.identifier, scopes: api.scopes } });
      return { json: apiJson(api), text: `added API ${api.identifier} (scopes: ${api.scopes.join(' ') || '-'}; ${api.signingAlg} JWT access tokens, ${api.accessTokenTtl}s)` };
    },
  },
  'apis list': {
    usage: 'apis list',
    options: {},
    positionals: [],
    async run(ctx) {
      const apis = (await ctx.store.apis.list()).map(apiJson);
      return { json: apis, text: table([['IDENTIFIER', 'SCOPES', 'ALG', 'TTL'], ...apis.map((a) => [a.identifier, a.scopes.join(' '), a.signing_alg, String(a.access_token_ttl)])]) };
    },
  },
  'apis remove': {
    usage: 'apis remove IDENTIFIER',
    options: {},
    positionals: ['IDENTIFIER'],
    async run(ctx, _values, [identifier]) {
      if (!(await ctx.store.apis.remove(identifier!))) throw new GatehouseError('not_found', `no API ${identifier}`);
      await ctx.audit('api_removed', { details: { identifier } });
      return { json: { identifier, removed: true }, text: `removed API ${identifier}` };
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
      if (!text(values.email)) throw new GatehouseError('invalid_input', '--email is required');
      const details = {
        email: text(values.email)!,
        ...(text(values.name) ? { name: text(values.name) } : {}),
        ...(text(values['given-name']) ? { givenName: text(values['given-name']) } : {}),
        ...(text(values['family-name']) ? { familyName: text(values['family-name']) } : {}),
        emailVerified: values.verified === true,
        roles: list(values.role),
      };
      // Check everything else before asking for the password, so nobody types it for nothing.
      const checked = newAccountSchema.omit({ password: true }).safeParse(details);
      if (!checked.success) throw new GatehouseError('invalid_input', describeIssues(checked.error.issues));
      if (await ctx.store.accounts.findByEmail(checked.data.email)) throw new GatehouseError('conflict', `an account with email ${checked.data.email} already exists`);
      const password = await ctx.readSecret('Password: ');
      if (!password) throw new GatehouseError('invalid_input', 'no password on stdin (pipe it in, or run in a terminal to be asked)');
      const account = await createAccount(ctx.store, { ...details, password }, passwordSettingsFrom(ctx.config));
      await ctx.audit('account_created', { accountId: account.id, details: { email: account.email, roles: account.roles, email_verified: account.emailVerified } });
      return { json: accountJson(account), text: `added user ${account.email} (id ${account.id})` };
    },
  },
  'users list': {
    usage: 'users list',
    options: {},
    positionals: [],
    async run(ctx) {
      const accounts = await ctx.store.accounts.list();
      const rows = [['ID', 'EMAIL', 'VERIFIED', 'ROLES', 'STATUS'], ...accounts.map((a) => [a.id, printable(a.email), a.emailVerified ? 'yes' : 'no', a.roles.join(',') || '-', a.disabled ? 'disabled' : 'active'])];
      return { json: accounts.map(accountJson), text: table(rows) };
    },
  },
  'users show': {
    usage: 'users show ID|EMAIL',
    options: {},
    positionals: ['ID|EMAIL'],
    async run(ctx, _values, [who]) {
      const account = await findAccountByIdOrEmail(ctx.store, who!);
      return { json: accountJson(account), text: accountText(account) };
    },
  },
  'users disable': {
    usage: 'users disable ID|EMAIL   (also ends their sessions and revokes their tokens)',
    options: {},
    positionals: ['ID|EMAIL'],
    async run(ctx, _values, [who]) {
      const account = await setAccountDisabled(ctx.store, (await findAccountByIdOrEmail(ctx.store, who!)).id, true);
      await ctx.audit('account_disabled', { accountId: account.id, details: { email: account.email } });
      return { json: accountJson(account), text: `disabled ${account.email}; their sessions and tokens are revoked` };
    },
  },
  'users enable': {
    usage: 'users enable ID|EMAIL',
    options: {},
    positionals: ['ID|EMAIL'],
    async run(ctx, _values, [who]) {
      const account = await setAccountDisabled(ctx.store, (await findAccountByIdOrEmail(ctx.store, who!)).id, false);
      await ctx.audit('account_enabled', { accountId: account.id, details: { email: account.email } });
      return { json: accountJson(account), text: `enabled ${account.email}` };
    },
  },
  'users reset-mfa': {
    usage: 'users reset-mfa --email E   (removes their authenticator app and recovery codes, for support)',
    options: { email: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      if (!text(values.email)) throw new GatehouseError('invalid_input', '--email is required');
      const account = await findAccountByIdOrEmail(ctx.store, text(values.email)!);
      const removed = await ctx.store.secondFactors.remove(account.id);
      if (!removed) throw new GatehouseError('not_found', `${account.email} has no authenticator app set up`);
      await ctx.audit('mfa_reset', { accountId: account.id, details: { email: account.email } });
      return { json: { ...accountJson(account), mfa: false }, text: `removed the authenticator app of ${account.email}; they sign in with their password and can set up a new one` };
    },
  },
  'users import': {
    usage: 'users import FILE.jsonl [--dry-run]   (one JSON user a line; exit 1 if any line is refused or a duplicate, after importing the others)',
    options: { 'dry-run': { type: 'boolean' } },
    positionals: ['FILE.jsonl'],
    async run(ctx, values, [file]) {
      // Loaded here, not at the top, so that this command is one self-contained entry.
      const { importSummary, importUsers, readImportFile } = await import('../accounts/import-users.ts');
      const dryRun = values['dry-run'] === true;
      const result = await importUsers(ctx.store, readImportFile(file!), { dryRun, limits: hashLimitsFrom(ctx.config.passwords) });
      const summary = importSummary(result, { dryRun });
      // Refused lines make the run a failure (exit 1), but the report is still its output.
      const refused = result.errors.length > 0 || result.duplicates.length > 0;
      return { json: { dry_run: dryRun, ...result }, text: summary, ...(refused ? { exitCode: 1 } : {}) };
    },
  },
};
