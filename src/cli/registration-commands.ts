import { GatehouseError } from '../errors.ts';
import { cliSource } from '../libraries/audit.ts';
import type { RegistrationTokenSummary } from '../libraries/registration-tokens.ts';
import { message } from '../messages/messages.ts';
import type { Command } from './output.ts';
import { printable, table, text } from './output.ts';

/**
 * `gatehouse registration tokens …`: initial access tokens for dynamic client registration
 * (`CLIENT_REGISTRATION=token`), through the registration tokens library
 * (src/libraries/registration-tokens.ts), which records each change (actor cli). A token's value
 * is printed once, by `create`; afterwards it is named by its first six characters.
 */

function tokenJson(token: RegistrationTokenSummary) {
  return {
    id: token.id,
    ...(token.note !== undefined ? { note: token.note } : {}),
    created_at: token.createdAt.toISOString(),
    expires_at: token.expiresAt.toISOString(),
  };
}

/** --days: a positive number of days (the library checks the range). */
function days(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(value)) throw new GatehouseError('invalid_input', 'cli.days_not_positive');
  return Number(value);
}

export const registrationCommands: Record<string, Command> = {
  'registration tokens create': {
    usage: 'registration tokens create [--days N] [--note TEXT]   (an initial access token for CLIENT_REGISTRATION=token; shown once)',
    options: { days: { type: 'string' }, note: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      const expiresInDays = days(text(values.days));
      const note = text(values.note);
      const created = await ctx.libraries.registrationTokens.create({
        ...(expiresInDays !== undefined ? { expiresInDays } : {}), ...(note !== undefined ? { note } : {}),
      }, cliSource);
      const warning = ctx.config.clientRegistration === 'token' ? [] : ['', message('cli.registration_tokens_unused', { mode: ctx.config.clientRegistration })];
      return {
        json: { token: created.token, ...tokenJson(created) },
        text: [
          `token:    ${created.token}`,
          `id:       ${created.id}`,
          ...(created.note !== undefined ? [`note:     ${printable(created.note)}`] : []),
          `expires:  ${created.expiresAt.toISOString()}`,
          '',
          message('cli.registration_token_shown_once', { issuer: ctx.config.issuer }),
          ...warning,
        ].join('\n'),
      };
    },
  },
  'registration tokens list': {
    usage: 'registration tokens list   (the tokens not yet expired nor revoked, by their first six characters)',
    options: {},
    positionals: [],
    async run(ctx) {
      const tokens = await ctx.libraries.registrationTokens.list();
      const rows = [['ID', 'CREATED', 'EXPIRES', 'NOTE'], ...tokens.map((token) => [
        token.id, token.createdAt.toISOString(), token.expiresAt.toISOString(), printable(token.note ?? ''),
      ])];
      return { json: tokens.map(tokenJson), text: table(rows) };
    },
  },
  'registration tokens revoke': {
    usage: 'registration tokens revoke --id PREFIX   (its first six characters, as list shows them, or more)',
    options: { id: { type: 'string' } },
    positionals: [],
    async run(ctx, values) {
      const id = text(values.id);
      if (!id) throw new GatehouseError('invalid_input', 'cli.registration_token_id_required');
      const revoked = await ctx.libraries.registrationTokens.revoke(id, cliSource);
      return { json: { ...tokenJson(revoked), revoked: true }, text: message('cli.registration_token_revoked', { id: revoked.id }) };
    },
  },
};
