import { randomInt } from 'node:crypto';

// otplib: the maintained RFC 4226/6238 implementation (audited @noble/@scure primitives); it
// reports the time step a code matched, which replay protection needs.
import { generateSecret, generateURI, verify } from 'otplib';

import { doublingDelay } from '../limits/backoff.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { Clock } from '../clock.ts';
import { epochSeconds, systemClock } from '../clock.ts';
import { GatehouseError } from '../errors.ts';
import { keyedHash, open, seal } from '../keys/encryption.ts';
import type { Logger } from '../logger.ts';
import type { Store, TotpFactorRecord } from '../store/types.ts';
import type { LibraryDependencies } from './dependencies.ts';

/**
 * The authenticator-app second factor: enrollment, verification at login (with replay protection
 * and a growing delay after wrong codes), and recovery codes. The decisions that depend only on
 * the stored record and the time are pure functions below, tested case by case.
 */

/** What authenticator apps expect (Google Authenticator ignores anything else). */
export const totpParameters = { algorithm: 'sha1', digits: 6, period: 30 } as const;
/** Accept the current step and one either side (clock drift and typing time). */
const toleranceSeconds = totpParameters.period;
export const recoveryCodeCount = 10;
/** Wrong codes allowed before each further try must wait. */
export const freeFailures = 5;
const firstDelaySeconds = 30;
const maxDelaySeconds = 15 * 60;
/** Reservations lost to racing requests before one is told to wait a second. */
const maxReserveRounds = 20;

/** `amr` values (RFC 8176) and the `acr` levels Gatehouse asserts. */
export const acr = { password: 'urn:gatehouse:loa:pwd', mfa: 'urn:gatehouse:loa:mfa' } as const;

export type SecondFactorDependencies = {
  /** `oidc`: removing a factor ends the account's half-finished sign-ins. */
  store: Pick<Store, 'secondFactors' | 'audit' | 'oidc'>;
  keyEncryptionKey: Buffer;
  /** Shown as the issuer in authenticator apps. */
  serviceName?: string;
  /** The start-up clock (createLibraries always passes it). */
  clock?: Clock;
  logger?: Logger;
};

/** A person acting for themselves: what a page passes when it gives no more. */
const person: AuditSource = { actor: 'user' };

/** Seconds a person must wait before the next try, given the failures so far (0: no wait). */
export function delayAfterFailures(failures: number): number {
  return doublingDelay({ free: freeFailures, first: firstDelaySeconds, max: maxDelaySeconds }, failures);
}

/** How long until this factor accepts another try (0: now). */
export function waitBeforeNextTry(factor: Pick<TotpFactorRecord, 'failedAttempts' | 'lastFailureAt'>, now: Date): number {
  const delay = delayAfterFailures(factor.failedAttempts);
  if (delay === 0 || !factor.lastFailureAt) return 0;
  return Math.max(0, Math.ceil((factor.lastFailureAt.getTime() + delay * 1000 - now.getTime()) / 1000));
}

export function isActive(factor: TotpFactorRecord | undefined): factor is TotpFactorRecord & { activatedAt: Date } {
  return factor?.activatedAt != null;
}

const recoveryAlphabet = 'abcdefghjkmnpqrstuvwxyz23456789';

/** `xxxxx-xxxxx` from an alphabet without look-alikes: about 49 bits each. */
export function generateRecoveryCode(): string {
  const pick = () => Array.from({ length: 5 }, () => recoveryAlphabet[randomInt(recoveryAlphabet.length)]).join('');
  return `${pick()}-${pick()}`;
}

/** What people type varies: case, spaces and dashes are forgiven. */
export function normalizeRecoveryCode(input: string): string {
  return input.toLowerCase().replace(/[\s-]/g, '');
}

/** A typed value that is a TOTP code (six digits), as opposed to a recovery code. */
export function looksLikeTotp(input: string): boolean {
  return /^\d{6}$/.test(input.replace(/\s/g, ''));
}

function recoveryCodeHasher(keyEncryptionKey: Buffer) {
  return (code: string) => keyedHash(keyEncryptionKey, 'recovery codes', normalizeRecoveryCode(code));
}

const sealContext = (accountId: string) => `totp-secret:${accountId}`;

export function otpauthUri(secret: string, email: string, serviceName = 'Gatehouse'): string {
  const uri = new URL(generateURI({ issuer: serviceName, label: email, secret, ...totpParameters }));
  // otplib leaves out the defaults; some apps guess wrong without them, so they are spelt out.
  uri.searchParams.set('algorithm', totpParameters.algorithm.toUpperCase());
  uri.searchParams.set('digits', String(totpParameters.digits));
  uri.searchParams.set('period', String(totpParameters.period));
  return uri.href;
}

const clockOf = (deps: SecondFactorDependencies): Clock => deps.clock ?? systemClock;
const now = (deps: SecondFactorDependencies) => clockOf(deps)();

async function audit(deps: SecondFactorDependencies, type: string, source: AuditSource, accountId: string, details: Record<string, unknown> = {}): Promise<void> {
  await recordAudit(deps.store.audit, auditEvent(type, source, { accountId, details }), deps.logger, clockOf(deps));
}

/** Starts enrolling: a new secret, stored sealed and inactive. Refused while a factor is active. */
export async function beginEnrollment(deps: SecondFactorDependencies, account: { id: string; email: string }): Promise<{ secret: string; uri: string }> {
  const secret = generateSecret();
  const begun = await deps.store.secondFactors.begin(account.id, seal(secret, deps.keyEncryptionKey, sealContext(account.id)), now(deps));
  if (!begun) throw new GatehouseError('conflict', 'libraries.authenticator_app_already_set_up');
  return { secret, uri: otpauthUri(secret, account.email, deps.serviceName) };
}

/** The secret of the factor being enrolled, to show again (a reload of the setup page). */
export async function pendingEnrollment(deps: SecondFactorDependencies, account: { id: string; email: string }): Promise<{ secret: string; uri: string } | undefined> {
  const factor = await deps.store.secondFactors.find(account.id);
  if (!factor || isActive(factor)) return undefined;
  const secret = open(factor.sealedSecret, deps.keyEncryptionKey, sealContext(account.id));
  return { secret, uri: otpauthUri(secret, account.email, deps.serviceName) };
}

async function matchCode(secret: string, code: string, at: Date, afterTimeStep?: number): Promise<number | undefined> {
  const result = await verify({
    secret, token: code.replace(/\s/g, ''), epoch: epochSeconds(() => at), epochTolerance: toleranceSeconds, ...totpParameters,
    ...(afterTimeStep !== undefined && afterTimeStep > 0 ? { afterTimeStep } : {}),
  });
  // otplib's result type covers HOTP too; a TOTP match always names its time step.
  return result.valid && 'timeStep' in result ? result.timeStep : undefined;
}

/** Activates the factor being enrolled with its first code; returns the recovery codes, shown once. Audited as `mfa_enabled`. */
export async function activateEnrollment(deps: SecondFactorDependencies, accountId: string, code: string, source: AuditSource = person): Promise<{ ok: true; recoveryCodes: string[] } | { ok: false; reason: 'wrong' | 'missing' }> {
  const factor = await deps.store.secondFactors.find(accountId);
  if (!factor || isActive(factor)) return { ok: false, reason: 'missing' };
  if (!looksLikeTotp(code)) return { ok: false, reason: 'wrong' };
  const at = now(deps);
  const secret = open(factor.sealedSecret, deps.keyEncryptionKey, sealContext(accountId));
  const timeStep = await matchCode(secret, code, at);
  if (timeStep === undefined) return { ok: false, reason: 'wrong' };
  const recoveryCodes = Array.from({ length: recoveryCodeCount }, generateRecoveryCode);
  const hash = recoveryCodeHasher(deps.keyEncryptionKey);
  if (!(await deps.store.secondFactors.activate(accountId, factor.sealedSecret, timeStep, recoveryCodes.map(hash), at))) return { ok: false, reason: 'missing' };
  await audit(deps, 'mfa_enabled', source, accountId, { method: 'totp' });
  return { ok: true, recoveryCodes };
}

export type SecondFactorVerdict =
  | { ok: true; method: 'otp' | 'recovery'; recoveryCodesLeft: number }
  | { ok: false; reason: 'wrong' | 'replayed' | 'missing' }
  | { ok: false; reason: 'wait'; waitSeconds: number };

/**
 * Checks a TOTP code or a recovery code for an account's active factor. A TOTP code is accepted
 * once: its time step must be newer than the last accepted one, recorded with compare-and-set, so
 * of two requests racing with one code exactly one gets in. Wrong codes count toward the delay.
 */
export async function verifySecondFactor(deps: SecondFactorDependencies, accountId: string, input: string, source: AuditSource = person): Promise<SecondFactorVerdict> {
  let factor = await deps.store.secondFactors.find(accountId);
  if (!isActive(factor)) return { ok: false, reason: 'missing' };
  const at = now(deps);
  // The try is reserved before the code is checked: counted as a failure with compare-and-set on
  // the count just read (a right code clears it again). Of requests racing on one count, one wins
  // and the others read again, so a burst gets exactly the free tries and then waits.
  for (let round = 0; ; round += 1) {
    const waitSeconds = waitBeforeNextTry(factor, at);
    if (waitSeconds > 0) return { ok: false, reason: 'wait', waitSeconds };
    if (await deps.store.secondFactors.reserveAttempt(accountId, factor.failedAttempts, at)) break;
    if (round >= maxReserveRounds) return { ok: false, reason: 'wait', waitSeconds: 1 };
    factor = await deps.store.secondFactors.find(accountId);
    if (!isActive(factor)) return { ok: false, reason: 'missing' };
  }

  let verdict: SecondFactorVerdict;
  if (looksLikeTotp(input)) {
    const secret = open(factor.sealedSecret, deps.keyEncryptionKey, sealContext(accountId));
    const timeStep = await matchCode(secret, input, at, factor.lastTimeStep);
    if (timeStep !== undefined && (await deps.store.secondFactors.acceptTimeStep(accountId, timeStep))) {
      verdict = { ok: true, method: 'otp', recoveryCodesLeft: factor.recoveryCodes.filter((code) => !code.usedAt).length };
    } else {
      // A right code from a step already used (or used a moment ago by a racing request).
      const replayed = timeStep !== undefined || (await matchCode(secret, input, at)) !== undefined;
      verdict = { ok: false, reason: replayed ? 'replayed' : 'wrong' };
    }
  } else {
    const hash = recoveryCodeHasher(deps.keyEncryptionKey)(input);
    const used = input.length <= 64 && (await deps.store.secondFactors.useRecoveryCode(accountId, hash, at));
    verdict = used
      ? { ok: true, method: 'recovery', recoveryCodesLeft: factor.recoveryCodes.filter((code) => !code.usedAt && code.hash !== hash).length }
      : { ok: false, reason: 'wrong' };
    if (used) await audit(deps, 'mfa_recovery_code_used', source, accountId, { left: verdict.ok ? verdict.recoveryCodesLeft : 0 });
  }
  // A wrong code stays counted (its reservation); a right one starts the count again.
  if (verdict.ok) await deps.store.secondFactors.clearFailures(accountId);
  return verdict;
}

/** New recovery codes replace all the old ones; returns them to show once. Audited as `mfa_recovery_codes_regenerated`. */
export async function regenerateRecoveryCodes(deps: SecondFactorDependencies, accountId: string, source: AuditSource = person): Promise<string[]> {
  const codes = Array.from({ length: recoveryCodeCount }, generateRecoveryCode);
  const hash = recoveryCodeHasher(deps.keyEncryptionKey);
  if (!(await deps.store.secondFactors.replaceRecoveryCodes(accountId, codes.map(hash)))) {
    throw new GatehouseError('not_found', 'libraries.no_authenticator_app');
  }
  await audit(deps, 'mfa_recovery_codes_regenerated', source, accountId);
  return codes;
}

/**
 * Removes the factor and its recovery codes: the person on their account page, or support from the
 * CLI (`gatehouse users reset-mfa`), alike. A credential change: the account's half-finished
 * sign-ins must start again. Audited as `mfa_removed`; false when there was no factor.
 */
export async function removeSecondFactor(deps: SecondFactorDependencies, accountId: string, source: AuditSource): Promise<boolean> {
  const removed = await deps.store.secondFactors.remove(accountId);
  if (!removed) return false;
  await deps.store.oidc.revokeInteractions(accountId);
  await audit(deps, 'mfa_removed', source, accountId);
  return true;
}

/** Whether an account has an authenticator app, and how many unused recovery codes it has. */
export type SecondFactorStatus = { active: false } | { active: true; recoveryCodesLeft: number };

/** The authenticator-app second factor of accounts. */
export type SecondFactorLibrary = {
  status(accountId: string): Promise<SecondFactorStatus>;
  isActive(accountId: string): Promise<boolean>;
  /** The factor being enrolled, started when there is none yet (`conflict` while one is active): what the setup page shows. */
  enrollment(account: { id: string; email: string }): Promise<{ secret: string; uri: string }>;
  begin(account: { id: string; email: string }): Promise<{ secret: string; uri: string }>;
  pending(account: { id: string; email: string }): Promise<{ secret: string; uri: string } | undefined>;
  /**
   * Activates the factor being enrolled with its first code; audited as `mfa_enabled`. Outside a
   * sign-in (`endPendingSignIns`, the account page), the account's half-finished sign-ins start again.
   */
  activate(accountId: string, code: string, source: AuditSource, options?: { endPendingSignIns?: boolean }): Promise<{ ok: true; recoveryCodes: string[] } | { ok: false; reason: 'wrong' | 'missing' }>;
  /** Checks a TOTP or recovery code (see verifySecondFactor); a used recovery code is audited. */
  verify(accountId: string, code: string, source: AuditSource): Promise<SecondFactorVerdict>;
  regenerateRecoveryCodes(accountId: string, source: AuditSource): Promise<string[]>;
  /** Removes the factor (see removeSecondFactor); false when there was none. */
  remove(accountId: string, source: AuditSource): Promise<boolean>;
};

export function secondFactorLibrary(deps: Pick<LibraryDependencies, 'store' | 'keyEncryptionKey' | 'clock' | 'logger'>): SecondFactorLibrary {
  const factors: SecondFactorDependencies = { store: deps.store, keyEncryptionKey: deps.keyEncryptionKey, clock: deps.clock, ...(deps.logger ? { logger: deps.logger } : {}) };
  const status = async (accountId: string): Promise<SecondFactorStatus> => {
    const factor = await deps.store.secondFactors.find(accountId);
    return isActive(factor) ? { active: true, recoveryCodesLeft: factor.recoveryCodes.filter((code) => !code.usedAt).length } : { active: false };
  };
  return {
    status,
    isActive: async (accountId) => (await status(accountId)).active,
    enrollment: async (account) => (await pendingEnrollment(factors, account)) ?? (await beginEnrollment(factors, account)),
    begin: (account) => beginEnrollment(factors, account),
    pending: (account) => pendingEnrollment(factors, account),
    async activate(accountId, code, source, options = {}) {
      const activated = await activateEnrollment(factors, accountId, code, source);
      if (activated.ok && options.endPendingSignIns) await deps.store.oidc.revokeInteractions(accountId);
      return activated;
    },
    verify: (accountId, code, source) => verifySecondFactor(factors, accountId, code, source),
    regenerateRecoveryCodes: (accountId, source) => regenerateRecoveryCodes(factors, accountId, source),
    remove: (accountId, source) => removeSecondFactor(factors, accountId, source),
  };
}
