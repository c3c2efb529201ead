import { keySchedule } from '../config/load-config.ts';
import { advanceRing, importIntoRing, publicJwks, revokeFromRing, rotateRing } from '../keys/key-ring.ts';
import type { RingChange } from '../keys/rotation.ts';
import type { KeyRing } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';

/** A change of the ring: the ring as stored afterwards and what changed. */
export type RingUpdate = { ring: KeyRing; changes: RingChange[] };

/**
 * The signing key ring every instance shares: its schedule, and an operator's rotations, imports
 * and revocations. Every change is audited as `key_ring_changed`, with what did it in the details
 * (`command` for an operator's, `reason: 'schedule'` for the schedule's).
 */
export type SigningKeysLibrary = {
  ring(): Promise<KeyRing>;
  /** The published JWKS (public keys only). */
  publicJwks(): Promise<{ keys: Record<string, unknown>[] }>;
  /** Brings the ring up to date with the schedule (bootstrap, publish, promote, retire). */
  advance(source: AuditSource): Promise<RingUpdate>;
  /** Publishes next keys; `immediately`, new keys sign at once (a suspected leak). */
  rotate(options: { immediately: boolean }, source: AuditSource): Promise<RingUpdate>;
  /** Removes a key from the JWKS at once (`not_found` when there is none). */
  revoke(kid: string, source: AuditSource): Promise<RingUpdate>;
  /** Imports private keys (a JWKS) as next keys. */
  import(jwks: unknown, source: AuditSource): Promise<RingUpdate>;
};

export function signingKeysLibrary(deps: Pick<LibraryDependencies, 'store' | 'config' | 'keyEncryptionKey' | 'clock' | 'logger'>): SigningKeysLibrary {
  const { store, keyEncryptionKey, clock, logger } = deps;
  const schedule = keySchedule(deps.config);
  /** Records a change (a no-op leaves no event unless `always`: a revocation is recorded even so). */
  const audited = async (update: Promise<RingUpdate>, source: AuditSource, details: Record<string, unknown>, always = false) => {
    const { ring, changes } = await update;
    if (changes.length || always) {
      await recordAudit(store.audit, auditEvent('key_ring_changed', source, { details: { ...details, changes, version: ring.version } }), logger, clock);
    }
    return { ring, changes };
  };
  return {
    ring: () => store.signingKeys.read(),
    publicJwks: async () => publicJwks(await store.signingKeys.read()),
    advance: (source) => audited(advanceRing(store.signingKeys, keyEncryptionKey, schedule, clock), source, { reason: 'schedule' }),
    rotate: ({ immediately }, source) => audited(
      rotateRing(store.signingKeys, keyEncryptionKey, schedule, immediately, clock), source, { command: immediately ? 'keys rotate --immediately' : 'keys rotate' },
    ),
    revoke: (kid, source) => audited(revokeFromRing(store.signingKeys, keyEncryptionKey, kid, clock), source, { command: 'keys revoke', kid }, true),
    import: (jwks, source) => audited(importIntoRing(store.signingKeys, keyEncryptionKey, schedule, jwks, clock), source, { command: 'keys import' }, true),
  };
}
