import { randomBytes } from 'node:crypto';

import { z } from 'zod';

import { GatehouseError } from '../errors.ts';
import { message } from '../messages/messages.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { invalidInput } from './validation.ts';

/**
 * Initial access tokens (RFC 7591 §3): with `CLIENT_REGISTRATION=token`, an application registers
 * itself only with one of these as its bearer token. An operator creates them
 * (`gatehouse registration tokens create`), hands one to a developer, and revokes it when done.
 *
 * They are oidc-provider's own `InitialAccessToken` model, written here in its opaque format (see
 * oidc-provider lib/models/formats/opaque.js): the token's value IS the record's id (`jti`), so the
 * value is shown once, at creation, and afterwards an operator names a token by its first
 * characters (`id`, never the whole value: not in listings, not in the audit trail). A token may
 * register several clients until it expires or is revoked; the provider checks its `exp` itself.
 */

/** oidc-provider's model name, the store's `store.oidc.model(…)`. */
export const initialAccessTokenModel = 'InitialAccessToken';
/** How many leading characters of a token name it in listings, the audit trail and `revoke`. */
export const tokenIdLength = 6;
/** A token's lifetime unless the operator says otherwise. */
export const defaultTokenDays = 7;
const maxTokenDays = 365;
/** Tokens listed at most (they are few: each is made by hand). */
const listLimit = 1000;

const createSchema = z.object({
  expiresInDays: z.number().positive(message('libraries.token_days_range', { max: String(maxTokenDays) }))
    .max(maxTokenDays, message('libraries.token_days_range', { max: String(maxTokenDays) })).default(defaultTokenDays),
  note: z.string().trim().max(200).regex(/^[^\p{Cc}]*$/u, message('libraries.token_note_control')).optional(),
});

export type RegistrationTokenInput = z.input<typeof createSchema>;

/** A token as an operator sees it after creation: never its value. */
export type RegistrationTokenSummary = {
  /** Its first six characters. */
  id: string;
  note?: string;
  createdAt: Date;
  expiresAt: Date;
};

export type CreatedRegistrationToken = RegistrationTokenSummary & {
  /** The bearer token itself: shown once, here, and never again. */
  token: string;
};

export type RegistrationTokensLibrary = {
  /** A new token (7 days unless `expiresInDays`, at most 365); audited `registration_token_created` with its id, never its value. */
  create(input: RegistrationTokenInput, source: AuditSource): Promise<CreatedRegistrationToken>;
  /** The tokens not yet expired nor revoked, oldest first. */
  list(): Promise<RegistrationTokenSummary[]>;
  /**
   * Revokes the token whose value starts with `prefixOrId` (at least 6 characters; the id `list`
   * shows, or the whole value); audited `registration_token_revoked`. `not_found` when none matches,
   * `conflict` when several do (give more characters). Returns the revoked token.
   */
  revoke(prefixOrId: string, source: AuditSource): Promise<RegistrationTokenSummary>;
};

/** What Gatehouse keeps next to the provider's fields in a token's record (the provider ignores it). */
type TokenPayload = { jti: string; kind: typeof initialAccessTokenModel; iat: number; exp: number; gatehouse_note?: string };

function summary(id: string, payload: Record<string, unknown>, expiresAt: Date | null): RegistrationTokenSummary {
  const record = payload as Partial<TokenPayload>;
  const exp = typeof record.exp === 'number' ? new Date(record.exp * 1000) : expiresAt;
  return {
    id: id.slice(0, tokenIdLength),
    ...(typeof record.gatehouse_note === 'string' ? { note: record.gatehouse_note } : {}),
    createdAt: new Date((typeof record.iat === 'number' ? record.iat : 0) * 1000),
    expiresAt: exp ?? new Date(0),
  };
}

export function registrationTokensLibrary(deps: Pick<LibraryDependencies, 'store' | 'clock' | 'logger'>): RegistrationTokensLibrary {
  const { store, clock, logger } = deps;
  const tokens = () => store.oidc.model(initialAccessTokenModel);
  const audit = (type: string, source: AuditSource, details: Record<string, unknown>) =>
    recordAudit(store.audit, auditEvent(type, source, { details }), logger, clock);
  const listed = () => store.oidc.listModel(initialAccessTokenModel, listLimit);

  return {
    async create(input, source) {
      const parsed = createSchema.safeParse(input);
      if (!parsed.success) throw invalidInput(parsed.error.issues);
      const { expiresInDays, note } = parsed.data;
      // 256 bits, base64url, as the provider's own opaque tokens (bitsOfOpaqueRandomness); never
      // starting with '-', which a command line would take for an option.
      let token: string;
      do token = randomBytes(32).toString('base64url'); while (token.startsWith('-'));
      const iat = Math.floor(clock().getTime() / 1000);
      const expiresIn = Math.max(1, Math.round(expiresInDays * 86_400));
      const payload: TokenPayload = { jti: token, kind: initialAccessTokenModel, iat, exp: iat + expiresIn, ...(note ? { gatehouse_note: note } : {}) };
      await tokens().upsert(token, payload, expiresIn);
      const created = summary(token, payload, null);
      await audit('registration_token_created', source, {
        token_id: created.id, expires_at: created.expiresAt.toISOString(), ...(note ? { note } : {}),
      });
      return { ...created, token };
    },
    async list() {
      const records = await listed();
      return records.map((record) => summary(record.id, record.payload, record.expiresAt))
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || a.id.localeCompare(b.id));
    },
    async revoke(prefixOrId, source) {
      const prefix = prefixOrId.trim();
      if (prefix.length < tokenIdLength) throw new GatehouseError('invalid_input', 'libraries.token_id_short', { length: tokenIdLength });
      const matches = (await listed()).filter((record) => record.id.startsWith(prefix));
      if (matches.length === 0) throw new GatehouseError('not_found', 'libraries.no_registration_token', { id: prefix.slice(0, tokenIdLength) });
      if (matches.length > 1) throw new GatehouseError('conflict', 'libraries.registration_token_ambiguous', { id: prefix });
      const [match] = matches as [typeof matches[number]];
      await tokens().destroy(match.id);
      const revoked = summary(match.id, match.payload, match.expiresAt);
      await audit('registration_token_revoked', source, { token_id: revoked.id });
      return revoked;
    },
  };
}
