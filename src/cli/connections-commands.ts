import { GatehouseError } from '../errors.ts';
import { cliSource } from '../libraries/audit.ts';
import type { Connection, ConnectionInput, ConnectionUpdate } from '../libraries/connections.ts';
import { connectionTypes, githubDefaults } from '../libraries/connections.ts';
import { message } from '../messages/messages.ts';
import { connectionRedirectUri } from '../urls.ts';
import type { CliContext } from './context.ts';
import type { Command, Values } from './output.ts';
import { list, printable, table, text } from './output.ts';

/**
 * `gatehouse connections …`: connections to upstream identity providers ("Sign in with …"),
 * through the connections library (src/libraries/connections.ts), which validates, seals the
 * secret and records each change (actor cli). Secrets are taken from the command line or stdin and
 * never printed.
 */

/** What the commands print of a connection; `redirect_uri` is the address to register at the provider. */
function connectionJson(connection: Connection, issuer: string) {
  return {
    id: connection.id,
    type: connection.type,
    name: connection.name,
    issuer: connection.issuer,
    tenant: connection.tenant,
    client_id: connection.clientId,
    has_secret: connection.hasSecret,
    redirect_uri: connectionRedirectUri(issuer, connection.id),
    ...(connection.type === 'github' ? { authorization_url: connection.authorizationUrl, token_url: connection.tokenUrl, api_url: connection.apiUrl } : {}),
    scopes: connection.scopes,
    claim_mapping: connection.claimMapping,
    show_on_login_page: connection.showOnLoginPage,
    allow_new_accounts: connection.allowNewAccounts,
    trust_verified_emails: connection.trustVerifiedEmails,
    trust_upstream_mfa: connection.trustUpstreamMfa,
    disabled: connection.disabled,
    created_at: connection.createdAt.toISOString(),
    updated_at: connection.updatedAt.toISOString(),
  };
}

function connectionText(connection: Connection, issuer: string): string {
  const lines = [
    `id:               ${connection.id}`,
    `name:             ${printable(connection.name)}`,
    `type:             ${connection.type}`,
  ];
  if (connection.issuer !== null) lines.push(`issuer:           ${connection.issuer}`);
  if (connection.tenant !== null) lines.push(`tenant:           ${connection.tenant}`);
  if (connection.type === 'github') {
    lines.push(
      `authorization:    ${connection.authorizationUrl ?? githubDefaults.authorizationUrl}`,
      `token:            ${connection.tokenUrl ?? githubDefaults.tokenUrl}`,
      `API:              ${connection.apiUrl ?? githubDefaults.apiUrl}`,
    );
  }
  const claims = Object.entries(connection.claimMapping).map(([claim, upstream]) => `${claim}=${upstream}`).join(' ');
  lines.push(
    `client ID:        ${printable(connection.clientId)}`,
    `client secret:    ${connection.hasSecret ? 'set (sealed; never shown)' : 'none'}`,
    `redirect URI:     ${connectionRedirectUri(issuer, connection.id)}`,
    `scopes:           ${connection.scopes.join(' ')}`,
    `claims:           ${claims || '-'}`,
    `login page:       ${connection.showOnLoginPage ? 'shown' : 'hidden'}`,
    `new accounts:     ${connection.allowNewAccounts ? 'created at first sign-in' : 'no (existing accounts link it)'}`,
    `verified emails:  ${connection.trustVerifiedEmails ? 'trusted for linking' : 'not trusted (the person proves the account)'}`,
    `upstream MFA:     ${connection.trustUpstreamMfa ? 'counts as the second factor' : 'not trusted'}`,
    `status:           ${connection.disabled ? 'disabled' : 'enabled'}`,
    `created:          ${connection.createdAt.toISOString()}`,
  );
  return lines.join('\n');
}

/** `--claim name=display_name …` as a mapping; undefined when none is given. */
function claimMapping(values: Values): Record<string, string> | undefined {
  if (values['no-claims'] === true) {
    if (list(values.claim).length) throw new GatehouseError('invalid_input', 'cli.flags_exclusive', { first: '--claim', second: '--no-claims' });
    return {};
  }
  const claims = list(values.claim);
  if (claims.length === 0) return undefined;
  const mapping: Record<string, string> = {};
  for (const claim of claims) {
    const match = /^([^=]+)=(.+)$/.exec(claim);
    if (!match) throw new GatehouseError('invalid_input', 'cli.claim_format', { value: printable(claim) });
    const [, name, upstream] = match as unknown as [string, string, string];
    if (Object.hasOwn(mapping, name)) throw new GatehouseError('invalid_input', 'cli.claim_twice', { name: printable(name) });
    mapping[name] = upstream;
  }
  return mapping;
}

/** `--scope openid --scope "email profile"`: every scope, however given; undefined when none is. */
function scopes(values: Values): string[] | undefined {
  const given = list(values.scope).flatMap((scope) => scope.split(/\s+/)).filter(Boolean);
  return given.length ? given : undefined;
}

/** A setting turned on by one flag and off by another; undefined when neither is given. */
function toggle(values: Values, on: string, off: string): boolean | undefined {
  if (values[on] === true && values[off] === true) throw new GatehouseError('invalid_input', 'cli.flags_exclusive', { first: `--${on}`, second: `--${off}` });
  return values[on] === true ? true : values[off] === true ? false : undefined;
}

/** The client secret from --client-secret or, better, stdin (--client-secret-stdin). */
async function clientSecret(ctx: CliContext, values: Values): Promise<string | undefined> {
  const inline = text(values['client-secret']);
  if (values['client-secret-stdin'] !== true) return inline;
  if (inline !== undefined) throw new GatehouseError('invalid_input', 'cli.flags_exclusive', { first: '--client-secret', second: '--client-secret-stdin' });
  const secret = await ctx.readSecret('Client secret: ');
  if (!secret) throw new GatehouseError('invalid_input', 'cli.no_client_secret_on_stdin');
  return secret;
}

function requiredId(values: Values): string {
  const id = text(values.id);
  if (!id) throw new GatehouseError('invalid_input', 'cli.connection_id_required');
  return id;
}

/** Drops the undefined fields (the library reads a field given as undefined as not given, but the audit trail is clearer without). */
function defined<T extends Record<string, unknown>>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as T;
}

const settingOptions = {
  name: { type: 'string' },
  issuer: { type: 'string' },
  tenant: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  'client-secret-stdin': { type: 'boolean' },
  scope: { type: 'string', multiple: true },
  claim: { type: 'string', multiple: true },
  'no-claims': { type: 'boolean' },
  hidden: { type: 'boolean' },
  'allow-new-accounts': { type: 'boolean' },
  'trust-verified-emails': { type: 'boolean' },
  'trust-upstream-mfa': { type: 'boolean' },
  'authorization-url': { type: 'string' },
  'token-url': { type: 'string' },
  'api-url': { type: 'string' },
} as const satisfies Command['options'];

const idOption = { id: { type: 'string' } } as const satisfies Command['options'];

export const connectionCommands: Record<string, Command> = {
  'connections add': {
    usage: 'connections add --type oidc|google|microsoft|github --name N [--id SLUG] [--issuer URL] [--tenant T] --client-id ID '
      + '[--client-secret-stdin | --client-secret S] [--scope S …] [--claim CLAIM=UPSTREAM_CLAIM … | --no-claims] [--hidden] [--allow-new-accounts] '
      + '[--trust-verified-emails] [--trust-upstream-mfa] [--authorization-url U --token-url U --api-url U]',
    options: { type: { type: 'string' }, ...idOption, ...settingOptions },
    positionals: [],
    async run(ctx, values) {
      const type = text(values.type);
      if (!type) throw new GatehouseError('invalid_input', 'cli.connection_type_required', { types: connectionTypes.join(', ') });
      const input: ConnectionInput = defined({
        type: type as ConnectionInput['type'],
        name: text(values.name) ?? '',
        id: text(values.id),
        issuer: text(values.issuer),
        tenant: text(values.tenant),
        clientId: text(values['client-id']) ?? '',
        scopes: scopes(values),
        claimMapping: claimMapping(values),
        showOnLoginPage: values.hidden !== true,
        allowNewAccounts: values['allow-new-accounts'] === true,
        trustVerifiedEmails: values['trust-verified-emails'] === true,
        trustUpstreamMfa: values['trust-upstream-mfa'] === true,
        authorizationUrl: text(values['authorization-url']),
        tokenUrl: text(values['token-url']),
        apiUrl: text(values['api-url']),
      });
      const secret = await clientSecret(ctx, values);
      const connection = await ctx.libraries.connections.add({ ...input, ...(secret !== undefined ? { clientSecret: secret } : {}) }, cliSource);
      const added = message('cli.connection_added', { id: connection.id, redirectUri: connectionRedirectUri(ctx.config.issuer, connection.id) });
      return { json: connectionJson(connection, ctx.config.issuer), text: `${added}\n\n${connectionText(connection, ctx.config.issuer)}` };
    },
  },
  'connections list': {
    usage: 'connections list',
    options: {},
    positionals: [],
    async run(ctx) {
      const connections = await ctx.libraries.connections.list();
      const rows = [
        ['ID', 'TYPE', 'NAME', 'LOGIN PAGE', 'NEW ACCOUNTS', 'STATUS'],
        ...connections.map((c) => [c.id, c.type, printable(c.name), c.showOnLoginPage ? 'shown' : 'hidden', c.allowNewAccounts ? 'allowed' : 'no', c.disabled ? 'disabled' : 'enabled']),
      ];
      return { json: connections.map((connection) => connectionJson(connection, ctx.config.issuer)), text: table(rows) };
    },
  },
  'connections show': {
    usage: 'connections show --id ID',
    options: idOption,
    positionals: [],
    async run(ctx, values) {
      const id = requiredId(values);
      const connection = await ctx.libraries.connections.find(id);
      if (!connection) throw new GatehouseError('not_found', 'libraries.no_connection', { id: printable(id) });
      return { json: connectionJson(connection, ctx.config.issuer), text: connectionText(connection, ctx.config.issuer) };
    },
  },
  'connections update': {
    usage: 'connections update --id ID [--name N] [--issuer URL | --preset-issuer] [--tenant T] [--client-id ID] '
      + '[--client-secret-stdin | --client-secret S | --no-client-secret] [--scope S …] [--claim CLAIM=UPSTREAM_CLAIM … | --no-claims] [--shown | --hidden] '
      + '[--allow-new-accounts | --no-new-accounts] [--trust-verified-emails | --no-trust-verified-emails] [--trust-upstream-mfa | --no-trust-upstream-mfa] '
      + '[--authorization-url U --token-url U --api-url U | --github-com]',
    options: {
      ...idOption,
      ...settingOptions,
      'preset-issuer': { type: 'boolean' },
      'no-client-secret': { type: 'boolean' },
      shown: { type: 'boolean' },
      'no-new-accounts': { type: 'boolean' },
      'no-trust-verified-emails': { type: 'boolean' },
      'no-trust-upstream-mfa': { type: 'boolean' },
      'github-com': { type: 'boolean' },
    },
    positionals: [],
    async run(ctx, values) {
      const id = requiredId(values);
      const exclusive = (first: string, second: string) => {
        if (values[first] !== undefined && values[second] === true) throw new GatehouseError('invalid_input', 'cli.flags_exclusive', { first: `--${first}`, second: `--${second}` });
      };
      exclusive('issuer', 'preset-issuer');
      exclusive('client-secret', 'no-client-secret');
      exclusive('client-secret-stdin', 'no-client-secret');
      for (const url of ['authorization-url', 'token-url', 'api-url']) exclusive(url, 'github-com');
      const githubCom = values['github-com'] === true;
      const patch: ConnectionUpdate = defined({
        name: text(values.name),
        issuer: values['preset-issuer'] === true ? null : text(values.issuer),
        tenant: text(values.tenant),
        clientId: text(values['client-id']),
        scopes: scopes(values),
        claimMapping: claimMapping(values),
        showOnLoginPage: toggle(values, 'shown', 'hidden'),
        allowNewAccounts: toggle(values, 'allow-new-accounts', 'no-new-accounts'),
        trustVerifiedEmails: toggle(values, 'trust-verified-emails', 'no-trust-verified-emails'),
        trustUpstreamMfa: toggle(values, 'trust-upstream-mfa', 'no-trust-upstream-mfa'),
        authorizationUrl: githubCom ? null : text(values['authorization-url']),
        tokenUrl: githubCom ? null : text(values['token-url']),
        apiUrl: githubCom ? null : text(values['api-url']),
      });
      const secret = values['no-client-secret'] === true ? null : await clientSecret(ctx, values);
      if (secret !== undefined) patch.clientSecret = secret;
      if (Object.keys(patch).length === 0) throw new GatehouseError('invalid_input', 'cli.connection_nothing_to_change');
      const connection = await ctx.libraries.connections.update(id, patch, cliSource);
      return { json: connectionJson(connection, ctx.config.issuer), text: `${message('cli.connection_updated', { id: connection.id })}\n\n${connectionText(connection, ctx.config.issuer)}` };
    },
  },
  'connections disable': {
    usage: 'connections disable --id ID   (its button goes from the login page and sign-ins through it stop; linked identities stay)',
    options: idOption,
    positionals: [],
    async run(ctx, values) {
      const connection = await ctx.libraries.connections.setDisabled(requiredId(values), true, cliSource);
      return { json: connectionJson(connection, ctx.config.issuer), text: message('cli.connection_disabled', { id: connection.id }) };
    },
  },
  'connections enable': {
    usage: 'connections enable --id ID',
    options: idOption,
    positionals: [],
    async run(ctx, values) {
      const connection = await ctx.libraries.connections.setDisabled(requiredId(values), false, cliSource);
      return { json: connectionJson(connection, ctx.config.issuer), text: message('cli.connection_enabled', { id: connection.id }) };
    },
  },
  'connections remove': {
    usage: 'connections remove --id ID   (also unlinks every identity linked through it)',
    options: idOption,
    positionals: [],
    async run(ctx, values) {
      const id = requiredId(values);
      const { identitiesUnlinked } = await ctx.libraries.connections.remove(id, cliSource);
      return {
        json: { id, removed: true, identities_unlinked: identitiesUnlinked },
        text: message('cli.connection_removed', { id: printable(id), count: identitiesUnlinked }),
      };
    },
  },
};
