import { createHash } from 'node:crypto';

// @simplewebauthn/server: the maintained WebAuthn relying-party implementation (attestation
// formats, COSE keys, backup flags and sign counters as the specification has them).
import { generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';
import type {
  AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { z } from 'zod';

import type { Clock } from '../clock.ts';
import { GatehouseError } from '../errors.ts';
import type { MessageId } from '../messages/messages.ts';
import { message } from '../messages/messages.ts';
import { words } from './schemas.ts';
import type { PasskeyDeviceType, PasskeyRecord, Store } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { invalidInput } from './validation.ts';

/**
 * Passkeys (WebAuthn): registering one to an account, and checking one at sign-in, first or as the
 * second step. The ceremonies' challenges are made here and kept by the caller (single use, in the
 * sign-in's state or the account page's session); everything else is decided here: the relying
 * party (from the issuer only), what is verified, what is stored (public keys only), what is audited.
 *
 * Replays: each challenge is good for one ceremony (the caller's part), and the authenticator's
 * sign counter is recorded with compare-and-set, so one assertion is accepted at most once even
 * when submitted many times at once. Authenticators that keep no counter (most synced passkeys
 * report 0) rely on the single-use challenge alone, as WebAuthn intends.
 */

export type PasskeySummary = {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  backedUp: boolean;
  deviceType: PasskeyDeviceType;
  transports: string[];
};

/** An accepted passkey: whose, which, whether the person was verified, and the `amr` values (RFC 8176). */
export type PasskeyAssertion = { accountId: string; passkeyId: string; userVerified: boolean; amr: string[] };

export type PasskeysLibrary = {
  /** Derived from the issuer: id = issuer hostname, origin = issuer origin (scheme://host[:port]), name = the service name. */
  relyingParty: { id: string; name: string; origin: string };
  list(accountId: string): Promise<PasskeySummary[]>;
  /**
   * Options for navigator.credentials.create (JSON form): a discoverable credential, user
   * verification required, attestation none, the account's passkeys excluded; user.id is an
   * opaque handle derived from the account id (passkeyUserHandle), user.name and displayName the
   * email. The challenge is options.challenge: the caller keeps it, for one use. `conflict` when
   * the account already has the most passkeys allowed.
   */
  registrationOptions(account: { id: string; email: string }): Promise<PublicKeyCredentialCreationOptionsJSON>;
  /**
   * Verifies the browser's answer against the expected challenge, the origin and the RP id, stores
   * the passkey and audits `passkey_added`. GatehouseError `passkey_invalid` (400) for a malformed
   * or failing answer, `conflict` for a credential already registered or one passkey too many,
   * `invalid_input` for a bad name. The name is trimmed, 1-64 characters; without one it is
   * "Passkey added <date>".
   */
  finishRegistration(input: { accountId: string; response: unknown; expectedChallenge: string; name?: string }, source: AuditSource): Promise<PasskeySummary>;
  /**
   * Options for navigator.credentials.get: without accountId, discoverable (allowCredentials empty:
   * passkey sign-in and autofill); with one, allowCredentials = that account's passkeys (a passkey
   * as the second step). userVerification 'required' when asked for, else 'preferred'.
   */
  authenticationOptions(input: { accountId?: string; userVerification: 'required' | 'preferred' }): Promise<PublicKeyCredentialRequestOptionsJSON>;
  /**
   * Verifies an assertion: the credential (and, given accountId, that it is that account's), the
   * user handle, origin, RP id, challenge, user verification when required and the sign counter
   * (compare-and-set: a replayed or cloned assertion is refused); records the use (counter,
   * backedUp, lastUsedAt) and audits `passkey_used`. Every refusal is audited as `passkey_refused`
   * with its reason and throws: `passkey_unknown` (a credential unknown, or another account's),
   * `passkey_invalid` (anything else that fails), `account_disabled` (after a valid assertion).
   */
  finishAuthentication(input: { response: unknown; expectedChallenge: string; accountId?: string; userVerification: 'required' | 'preferred' }, source: AuditSource): Promise<PasskeyAssertion>;
  /** Renames a passkey; audited as `passkey_renamed`. `not_found` when the account has no such passkey, `invalid_input` for a bad name. */
  rename(accountId: string, passkeyId: string, name: string, source: AuditSource): Promise<void>;
  /**
   * Removes a passkey: the person on their account page, or support from the CLI (`gatehouse users
   * remove-passkey`), alike. The account's half-finished sign-ins start again. Audited as
   * `passkey_removed`; `not_found` when the account has no such passkey.
   */
  remove(accountId: string, passkeyId: string, source: AuditSource): Promise<void>;
};

/** Passkeys one account may have: enough for every device a person owns, and a bound on what one account stores. */
export const maxPasskeysPerAccount = 25;
export const maxPasskeyNameLength = 64;
/** How long the browser offers a ceremony (ms). A caller keeping the challenge may expire it after this. */
export const ceremonyTimeoutMs = 5 * 60_000;
/**
 * The signature algorithms offered and accepted (COSE ids): EdDSA, ES256, RS256, @simplewebauthn's
 * defaults without the post-quantum ML-DSA-44, which Node's Web Crypto has only as an experiment
 * (asking whether it has it prints an ExperimentalWarning).
 */
export const passkeyAlgorithms = [-8, -7, -257];
/** What the relying party is called in browsers' passkey dialogs when nothing else is given. */
const defaultServiceName = 'Gatehouse';

/** The `amr` values (RFC 8176) of a passkey use: `swk` for a synced passkey, `hwk` for one bound to its device, `user` when the person was verified. */
export function passkeyAmr(input: { deviceType: PasskeyDeviceType; userVerified: boolean }): string[] {
  return [input.deviceType === 'multiDevice' ? 'swk' : 'hwk', ...(input.userVerified ? ['user'] : [])];
}

/**
 * The WebAuthn user handle of an account (base64url): a hash of its id, so the authenticator is
 * given neither the email nor the id itself, and it needs storing nowhere.
 */
export function passkeyUserHandle(accountId: string): string {
  return handleBytes(accountId).toString('base64url');
}

function handleBytes(accountId: string): Buffer {
  return createHash('sha256').update(`gatehouse passkey user handle\0${accountId}`).digest();
}

/** The relying party of an issuer: its hostname as the RP id, its origin as the one origin accepted. */
export function relyingPartyOf(issuer: string, name = defaultServiceName): { id: string; name: string; origin: string } {
  const url = new URL(issuer);
  return { id: url.hostname, name, origin: url.origin };
}

// --- what may arrive from a browser ---------------------------------------------------------------

/** base64url, as @simplewebauthn/browser sends it (padding tolerated), bounded before any work. */
const base64url = (max: number) => z.string().min(1).max(max).regex(/^[A-Za-z0-9_-]+={0,2}$/);
/** Credential IDs are at most 1023 bytes (WebAuthn §5.8.3). */
const credentialId = base64url(1400);
const knownTransports = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);
const extensionResults = z.record(z.string(), z.unknown()).optional().transform((value) => value ?? {});

const registrationResponseSchema = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url(16_384),
    attestationObject: base64url(65_536),
    transports: z.array(z.string().max(32)).max(16).optional(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: extensionResults,
});

const authenticationResponseSchema = z.object({
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  response: z.object({
    clientDataJSON: base64url(16_384),
    authenticatorData: base64url(16_384),
    signature: base64url(2_048),
    // Empty when the authenticator keeps none for this credential (a non-discoverable one).
    userHandle: z.string().max(128).regex(/^[A-Za-z0-9_-]*={0,2}$/).nullish(),
  }),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
  clientExtensionResults: extensionResults,
});

/** Control characters and bidi overrides have no place in a name (they forge lines in terminals and logs). */
const controlCharacters = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

const passkeyNameSchema = z
  .string()
  .trim()
  .min(1, words('libraries.passkey_name_required'))
  .refine((value) => [...value].length <= maxPasskeyNameLength, words('libraries.at_most_characters', { max: maxPasskeyNameLength }))
  .refine((value) => !controlCharacters.test(value), words('libraries.no_control_characters'));

function parseName(name: unknown): string {
  const parsed = passkeyNameSchema.safeParse(name);
  if (!parsed.success) throw invalidInput(parsed.error.issues.map((issue) => ({ ...issue, path: ['name'] })));
  return parsed.data;
}

/** Flags and counter of authenticator data, read only to name why a verification failed (audit). */
function authenticatorDataFacts(authenticatorData: string): { userVerified: boolean; counter: number } | undefined {
  const bytes = Buffer.from(authenticatorData, 'base64url');
  if (bytes.length < 37) return undefined;
  return { userVerified: (bytes[32]! & 0x04) !== 0, counter: bytes.readUInt32BE(33) };
}

const sameHandle = (a: string, b: string) => a.replace(/=+$/, '') === b.replace(/=+$/, '');

function summary(record: PasskeyRecord): PasskeySummary {
  return {
    id: record.id,
    name: record.name,
    createdAt: record.createdAt,
    lastUsedAt: record.lastUsedAt,
    backedUp: record.backedUp,
    deviceType: record.deviceType,
    transports: record.transports,
  };
}

/** Why an assertion was refused, as the audit trail names it. */
type RefusalReason =
  | 'malformed' | 'unknown_credential' | 'wrong_account' | 'unknown_account' | 'user_handle_missing' | 'user_handle_mismatch'
  | 'verification_failed' | 'bad_signature' | 'user_not_verified' | 'counter_not_increased' | 'replayed' | 'account_disabled';

const refusalError: Record<RefusalReason, [GatehouseError['code'], MessageId]> = {
  malformed: ['passkey_invalid', 'libraries.passkey_invalid'],
  unknown_credential: ['passkey_unknown', 'libraries.passkey_unknown'],
  // Told apart from an unknown passkey only in the audit trail.
  wrong_account: ['passkey_unknown', 'libraries.passkey_unknown'],
  unknown_account: ['passkey_unknown', 'libraries.passkey_unknown'],
  user_handle_missing: ['passkey_invalid', 'libraries.passkey_invalid'],
  user_handle_mismatch: ['passkey_invalid', 'libraries.passkey_invalid'],
  verification_failed: ['passkey_invalid', 'libraries.passkey_invalid'],
  bad_signature: ['passkey_invalid', 'libraries.passkey_invalid'],
  user_not_verified: ['passkey_invalid', 'libraries.passkey_user_not_verified'],
  counter_not_increased: ['passkey_invalid', 'libraries.passkey_invalid'],
  replayed: ['passkey_invalid', 'libraries.passkey_invalid'],
  account_disabled: ['account_disabled', 'libraries.account_disabled_contact_your_administrator'],
};

export type PasskeysDependencies = Pick<LibraryDependencies, 'config' | 'logger'> & {
  store: Pick<Store, 'passkeys' | 'accounts' | 'audit' | 'oidc'>;
  clock: Clock;
  /** The relying party's name in passkey dialogs (default "Gatehouse"). */
  serviceName?: string;
};

export function passkeysLibrary(deps: PasskeysDependencies): PasskeysLibrary {
  const { store, clock, logger } = deps;
  const relyingParty = relyingPartyOf(deps.config.issuer, deps.serviceName);
  const audit = (type: string, source: AuditSource, event: { accountId?: string; details?: Record<string, unknown> }) =>
    recordAudit(store.audit, auditEvent(type, source, event), logger, clock);

  /** Audits a refused assertion and returns the error to throw. */
  async function refuse(reason: RefusalReason, source: AuditSource, event: { accountId?: string; passkeyId?: string }): Promise<GatehouseError> {
    await audit('passkey_refused', source, {
      ...(event.accountId ? { accountId: event.accountId } : {}),
      // The credential ID comes from the request: bounded (by the schema) and cut short here.
      details: { reason, ...(event.passkeyId ? { passkey_id: event.passkeyId.slice(0, 128) } : {}) },
    });
    const [code, messageId] = refusalError[reason];
    return new GatehouseError(code, messageId);
  }

  async function atMostAllowed(accountId: string): Promise<void> {
    if ((await store.passkeys.countForAccount(accountId)) >= maxPasskeysPerAccount) {
      throw new GatehouseError('conflict', 'libraries.passkey_limit', { max: maxPasskeysPerAccount });
    }
  }

  return {
    relyingParty,

    async list(accountId) {
      return (await store.passkeys.listForAccount(accountId)).map(summary);
    },

    async registrationOptions(account) {
      const existing = await store.passkeys.listForAccount(account.id);
      if (existing.length >= maxPasskeysPerAccount) throw new GatehouseError('conflict', 'libraries.passkey_limit', { max: maxPasskeysPerAccount });
      return generateRegistrationOptions({
        rpName: relyingParty.name,
        rpID: relyingParty.id,
        userName: account.email,
        userDisplayName: account.email,
        userID: new Uint8Array(handleBytes(account.id)),
        attestationType: 'none',
        excludeCredentials: existing.map((passkey) => ({ id: passkey.id, transports: passkey.transports })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
        supportedAlgorithmIDs: passkeyAlgorithms,
        timeout: ceremonyTimeoutMs,
      });
    },

    async finishRegistration(input, source) {
      // A name left empty gets the default; anything else must be a good name.
      const name = input.name === undefined || (typeof input.name === 'string' && input.name.trim() === '') ? undefined : parseName(input.name);
      const parsed = registrationResponseSchema.safeParse(input.response);
      if (!parsed.success || typeof input.expectedChallenge !== 'string' || input.expectedChallenge === '') {
        throw new GatehouseError('passkey_invalid', 'libraries.passkey_invalid');
      }
      let verification;
      try {
        verification = await verifyRegistrationResponse({
          response: parsed.data as RegistrationResponseJSON,
          expectedChallenge: input.expectedChallenge,
          expectedOrigin: relyingParty.origin,
          expectedRPID: relyingParty.id,
          requireUserPresence: true,
          requireUserVerification: true,
          supportedAlgorithmIDs: passkeyAlgorithms,
        });
      } catch (error) {
        const uv = /user verification/i.test((error as Error)?.message ?? '');
        throw new GatehouseError('passkey_invalid', uv ? 'libraries.passkey_user_not_verified' : 'libraries.passkey_invalid', undefined, { cause: error });
      }
      if (!verification.verified) throw new GatehouseError('passkey_invalid', 'libraries.passkey_invalid');
      const info = verification.registrationInfo;
      await atMostAllowed(input.accountId);
      const now = clock();
      const record: PasskeyRecord = {
        id: info.credential.id,
        accountId: input.accountId,
        publicKey: Buffer.from(info.credential.publicKey).toString('base64url'),
        counter: info.credential.counter,
        transports: [...new Set((parsed.data.response.transports ?? []).filter((transport) => knownTransports.has(transport)))],
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        aaguid: info.aaguid,
        name: name ?? message('libraries.passkey_default_name', { date: now.toISOString().slice(0, 10) }),
        createdAt: now,
        lastUsedAt: null,
      };
      if (!(await store.passkeys.create(record))) throw new GatehouseError('conflict', 'libraries.passkey_already_registered');
      await audit('passkey_added', source, {
        accountId: input.accountId,
        details: { passkey_id: record.id, name: record.name, device_type: record.deviceType, backed_up: record.backedUp, aaguid: record.aaguid },
      });
      return summary(record);
    },

    async authenticationOptions(input) {
      const allowed = input.accountId ? await store.passkeys.listForAccount(input.accountId) : [];
      return generateAuthenticationOptions({
        rpID: relyingParty.id,
        allowCredentials: allowed.map((passkey) => ({ id: passkey.id, transports: passkey.transports })),
        userVerification: input.userVerification === 'required' ? 'required' : 'preferred',
        timeout: ceremonyTimeoutMs,
      });
    },

    async finishAuthentication(input, source) {
      const parsed = authenticationResponseSchema.safeParse(input.response);
      if (!parsed.success || typeof input.expectedChallenge !== 'string' || input.expectedChallenge === '') {
        throw await refuse('malformed', source, input.accountId ? { accountId: input.accountId } : {});
      }
      const response = parsed.data;
      const passkey = await store.passkeys.find(response.id);
      if (!passkey) throw await refuse('unknown_credential', source, { ...(input.accountId ? { accountId: input.accountId } : {}), passkeyId: response.id });
      if (input.accountId && passkey.accountId !== input.accountId) {
        throw await refuse('wrong_account', source, { accountId: input.accountId, passkeyId: passkey.id });
      }
      const refused = (reason: RefusalReason) => refuse(reason, source, { accountId: passkey.accountId, passkeyId: passkey.id });
      const { userHandle } = response.response;
      // A person not named before the ceremony is named by the authenticator (WebAuthn §7.2 step 6).
      if (!userHandle && !input.accountId) throw await refused('user_handle_missing');
      if (userHandle && !sameHandle(userHandle, passkeyUserHandle(passkey.accountId))) throw await refused('user_handle_mismatch');

      let verification;
      try {
        verification = await verifyAuthenticationResponse({
          response: response as AuthenticationResponseJSON,
          expectedChallenge: input.expectedChallenge,
          expectedOrigin: relyingParty.origin,
          expectedRPID: relyingParty.id,
          credential: { id: passkey.id, publicKey: new Uint8Array(Buffer.from(passkey.publicKey, 'base64url')), counter: passkey.counter, transports: passkey.transports },
          // Checked below, after the signature, so the refusal can say what was missing.
          requireUserVerification: false,
        });
      } catch (error) {
        const facts = authenticatorDataFacts(response.response.authenticatorData);
        const counterRefused = facts !== undefined && (facts.counter > 0 || passkey.counter > 0) && facts.counter <= passkey.counter;
        // Why, for whoever looks into it: the library's words without the values it quotes (challenges).
        logger?.info('passkey verification failed', { passkeyId: passkey.id, problem: String((error as Error)?.message).replace(/"[^"]*"/g, '"…"') });
        throw await refused(counterRefused ? 'counter_not_increased' : 'verification_failed');
      }
      if (!verification.verified) throw await refused('bad_signature');
      const info = verification.authenticationInfo;
      if (input.userVerification === 'required' && !info.userVerified) throw await refused('user_not_verified');

      const account = await store.accounts.findById(passkey.accountId);
      if (!account) throw await refused('unknown_account');
      if (account.disabled) throw await refused('account_disabled');
      // One winner among uses of one assertion: the compare-and-set on the counter just read.
      if (!(await store.passkeys.recordUse(passkey.id, passkey.counter, info.newCounter, info.credentialBackedUp, clock()))) {
        throw await refused('replayed');
      }
      const amr = passkeyAmr({ deviceType: passkey.deviceType, userVerified: info.userVerified });
      await audit('passkey_used', source, {
        accountId: passkey.accountId,
        details: { passkey_id: passkey.id, user_verified: info.userVerified, backed_up: info.credentialBackedUp, amr },
      });
      return { accountId: passkey.accountId, passkeyId: passkey.id, userVerified: info.userVerified, amr };
    },

    async rename(accountId, passkeyId, name, source) {
      const newName = parseName(name);
      if (!(await store.passkeys.rename(accountId, passkeyId, newName))) throw new GatehouseError('not_found', 'libraries.no_passkey');
      await audit('passkey_renamed', source, { accountId, details: { passkey_id: passkeyId, name: newName } });
    },

    async remove(accountId, passkeyId, source) {
      const passkey = await store.passkeys.find(passkeyId);
      if (!passkey || passkey.accountId !== accountId || !(await store.passkeys.remove(accountId, passkeyId))) {
        throw new GatehouseError('not_found', 'libraries.no_passkey');
      }
      // A credential change: half-finished sign-ins of the account start again.
      await store.oidc.revokeInteractions(accountId);
      await audit('passkey_removed', source, { accountId, details: { passkey_id: passkeyId, name: passkey.name } });
    },
  };
}
