/**
 * The signing-key rotation state machine, as pure functions: no I/O, no crypto, no clock (time is
 * always an argument), so every rule can be tested with explicit dates.
 *
 * Verifiers cache our JWKS for up to `jwksCacheSeconds` and refetch on an unknown kid. Refetching
 * alone is not enough: many verifiers rate-limit refetches, and some only refetch when their cache
 * expires. So a key is published (state `next`) a full cache lifetime plus a margin before it signs
 * (`current`), and stays published (`retired`) until every token it signed has expired.
 */

import type { Schedule } from '../config/key-schedule.ts';
import { validateSchedule } from '../config/key-schedule.ts';
import type { SigningKeyRecord, SigningKeyState } from '../store/types.ts';
import { GatehouseError } from '../errors.ts';

// The schedule is configuration (src/config/key-schedule.ts); it is re-exported for the ring's users.
export type { Schedule };
export { validateSchedule };

/** RS256 first: it is the OIDC default and oidc-provider signs with the first key of an alg. */
export const signingAlgorithms = ['RS256', 'ES256', 'EdDSA'] as const;
export type SigningAlgorithm = (typeof signingAlgorithms)[number];

export type KeyState = SigningKeyState;

/** A key of the ring as the store keeps it (states and dates are documented there), with a known alg. */
export type RingKey = Omit<SigningKeyRecord, 'alg'> & { alg: SigningAlgorithm };

export const defaultRotationIntervalSeconds = 90 * 24 * 60 * 60;

/** What must change in the ring now. Keys to create are described, not generated (generation is async crypto, done by the caller). */
export type RingChange =
  | { type: 'create'; alg: SigningAlgorithm; state: 'current' | 'next'; activatesAt?: Date }
  | { type: 'promote'; kid: string }
  | { type: 'retire'; kid: string }
  | { type: 'remove'; kid: string };

export type GeneratedKey = Pick<RingKey, 'kid' | 'publicJwk' | 'encryptedPrivateJwk'>;

const stateOrder: readonly KeyState[] = ['current', 'next', 'retired'];

function addSeconds(date: Date, seconds: number): Date {
  return new Date(date.getTime() + seconds * 1000);
}

function later(a: Date, b: Date): Date {
  return a.getTime() >= b.getTime() ? a : b;
}

function compareKeys(a: RingKey, b: RingKey): number {
  return a.createdAt.getTime() - b.createdAt.getTime() || (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0);
}

/**
 * The keys of one alg by state, each list oldest-published first. A well-formed ring has at most one
 * current and one next per alg; if a bad write left more, the first of each list is the one that
 * counts (the oldest is the one most likely to be in every verifier's cache), here and in
 * `signingKeys`, so repairing the ring never changes which key signs.
 */
function keysOf(ring: readonly RingKey[], alg: SigningAlgorithm) {
  const byState: Record<KeyState, RingKey[]> = { current: [], next: [], retired: [] };
  for (const key of ring) if (key.alg === alg) byState[key.state].push(key);
  return { currents: byState.current.sort(compareKeys), nexts: byState.next.sort(compareKeys), retireds: byState.retired.sort(compareKeys) };
}

/** A key's place in every ordering: alg, then state, then age. */
function sortRing(ring: RingKey[]): RingKey[] {
  return ring.sort(
    (a, b) =>
      signingAlgorithms.indexOf(a.alg) - signingAlgorithms.indexOf(b.alg) ||
      stateOrder.indexOf(a.state) - stateOrder.indexOf(b.state) ||
      compareKeys(a, b),
  );
}

function assertDate(now: Date): void {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new GatehouseError('internal', 'keys.rotation_needs_date');
}

/** Plans made from a bad schedule would store Invalid Dates or pre-publish too briefly: refuse them. */
function assertUsable(now: Date, schedule: Schedule): void {
  assertDate(now);
  const problems = validateSchedule(schedule);
  if (problems.length) throw new GatehouseError('invalid_config', 'keys.schedule_invalid', { problems: problems.join('; ') });
}

/** The time a next key may start signing: never before it has been published for a cache lifetime plus margin. */
function eligibleAt(next: RingKey, schedule: Schedule): Date {
  // Also guards keys created under a shorter jwksCacheSeconds, or stored without activatesAt.
  const published = addSeconds(next.createdAt, schedule.jwksCacheSeconds + schedule.marginSeconds);
  return next.activatesAt ? later(next.activatesAt, published) : published;
}

/**
 * What must change in the ring at `now`, per alg in `signingAlgorithms` order. For each alg the
 * changes come in this order: repairs (extra current keys retired, extra next keys removed), then
 * the bootstrap, promotion or pre-publication, then removal of expired retired keys.
 * Applying the plan and planning again at the same `now` gives `[]`.
 */
export function planRotation(ring: readonly RingKey[], now: Date, schedule: Schedule): RingChange[] {
  assertUsable(now, schedule);
  const wait = schedule.jwksCacheSeconds + schedule.marginSeconds;
  const changes: RingChange[] = [];
  for (const alg of signingAlgorithms) {
    const { currents, nexts, retireds } = keysOf(ring, alg);
    const [current, ...extraCurrents] = currents;
    const [next, ...extraNexts] = nexts;
    // Extra current keys have signed, so they retire (stay published); extra next keys never signed.
    for (const key of extraCurrents) changes.push({ type: 'retire', kid: key.kid });
    for (const key of extraNexts) changes.push({ type: 'remove', kid: key.kid });

    if (!current) {
      // Bootstrap: nobody holds a token of this alg yet, and a verifier that meets the new kid
      // refetches. A next without a current only follows an emergency revoke, where some failures
      // are already accepted; signing at once beats leaving the alg without a signer.
      changes.push(next ? { type: 'promote', kid: next.kid } : { type: 'create', alg, state: 'current' });
    } else if (next) {
      if (now.getTime() >= eligibleAt(next, schedule).getTime()) {
        changes.push({ type: 'promote', kid: next.kid }, { type: 'retire', kid: current.kid });
      }
    } else {
      // With a valid schedule a freshly promoted or created key is far from this age, so only an
      // aging current key can need a successor.
      const since = current.activatedAt ?? current.createdAt;
      const ageSeconds = (now.getTime() - since.getTime()) / 1000;
      if (ageSeconds >= schedule.rotationIntervalSeconds - wait) {
        const activatesAt = later(addSeconds(now, wait), addSeconds(since, schedule.rotationIntervalSeconds));
        changes.push({ type: 'create', alg, state: 'next', activatesAt });
      }
    }

    for (const key of retireds) {
      // A retired key without retiredAt cannot be proven unused: keep it (an operator can revoke it).
      if (!key.retiredAt) continue;
      const expires = addSeconds(key.retiredAt, schedule.maxTokenLifetimeSeconds + schedule.marginSeconds);
      if (expires.getTime() <= now.getTime()) changes.push({ type: 'remove', kid: key.kid });
    }
  }
  return changes;
}

/**
 * Applies changes to a copy of the ring. Key changes (remove, retire, promote) apply in list order,
 * then creates, so a `create` of a current key and the `retire` of the old one may come in either order.
 * Throws when a change does not fit the ring (e.g. a plan made from a ring that has changed since).
 */
export function applyChanges(
  ring: readonly RingKey[],
  changes: readonly RingChange[],
  now: Date,
  created: ReadonlyMap<SigningAlgorithm, GeneratedKey>,
): RingKey[] {
  assertDate(now);
  const byKid = new Map<string, RingKey>();
  for (const key of ring) {
    if (byKid.has(key.kid)) throw new GatehouseError('internal', 'keys.duplicate_kid', { kid: key.kid });
    byKid.set(key.kid, { ...key });
  }
  // The (alg, state) places a change filled: each must end up with exactly one key.
  const filled: { alg: SigningAlgorithm; state: KeyState }[] = [];

  for (const change of changes) {
    if (change.type === 'create') continue;
    const key = byKid.get(change.kid);
    if (!key) throw new GatehouseError('internal', 'keys.change_unknown_kid', { change: change.type, kid: change.kid });
    if (change.type === 'remove') {
      byKid.delete(key.kid);
    } else if (change.type === 'retire') {
      if (key.state !== 'current') throw new GatehouseError('internal', 'keys.retire_not_current', { kid: key.kid, state: key.state });
      byKid.set(key.kid, { ...key, state: 'retired', retiredAt: now });
    } else {
      if (key.state !== 'next') throw new GatehouseError('internal', 'keys.promote_not_next', { kid: key.kid, state: key.state });
      // activatesAt only means something for a next key.
      const { activatesAt: _activatesAt, ...rest } = key;
      byKid.set(key.kid, { ...rest, state: 'current', activatedAt: now });
      filled.push({ alg: key.alg, state: 'current' });
    }
  }

  const used = new Set<SigningAlgorithm>();
  for (const change of changes) {
    if (change.type !== 'create') continue;
    const material = created.get(change.alg);
    if (!material) throw new GatehouseError('internal', 'keys.create_without_material', { alg: change.alg, state: change.state });
    // One generated key per alg: a second create would reuse it.
    if (used.has(change.alg)) throw new GatehouseError('internal', 'keys.create_twice', { alg: change.alg });
    used.add(change.alg);
    if (byKid.has(material.kid)) throw new GatehouseError('internal', 'keys.create_existing_kid', { kid: material.kid });
    const base = { ...material, alg: change.alg, createdAt: now };
    byKid.set(
      material.kid,
      change.state === 'current'
        ? { ...base, state: 'current', activatedAt: now }
        : { ...base, state: 'next', ...(change.activatesAt ? { activatesAt: change.activatesAt } : {}) },
    );
    filled.push({ alg: change.alg, state: change.state });
  }

  const result = [...byKid.values()];
  for (const { alg, state } of filled) {
    const count = result.filter((key) => key.alg === alg && key.state === state).length;
    if (count > 1) throw new GatehouseError('internal', 'keys.changes_would_leave', { count: String(count), state, alg });
  }
  return sortRing(result);
}

/**
 * The operator's `keys rotate`. Without `immediately`, each alg gets a next key that signs after a
 * cache lifetime plus margin (an existing next is kept: it is already on its way). With
 * `immediately` (a suspected leak), a new current key signs at once and the old one retires; a
 * verifier may briefly refetch, which the leak justifies. Any next key stays next.
 */
export function requestRotation(
  ring: readonly RingKey[],
  now: Date,
  schedule: Schedule,
  options: { immediately: boolean },
): RingChange[] {
  assertUsable(now, schedule);
  const changes: RingChange[] = [];
  for (const alg of signingAlgorithms) {
    const { currents, nexts } = keysOf(ring, alg);
    if (options.immediately) {
      for (const key of currents) changes.push({ type: 'retire', kid: key.kid });
      changes.push({ type: 'create', alg, state: 'current' });
    } else if (nexts.length === 0) {
      const activatesAt = addSeconds(now, schedule.jwksCacheSeconds + schedule.marginSeconds);
      changes.push({ type: 'create', alg, state: 'next', activatesAt });
    }
  }
  return changes;
}

/**
 * Emergency removal of one key: tokens it signed stop verifying at once. If it was the signer, the
 * alg's next key takes over (or a new key is created) so the alg keeps a signer.
 */
export function revokeKey(ring: readonly RingKey[], kid: string): RingChange[] {
  const key = ring.find((candidate) => candidate.kid === kid);
  if (!key) throw new GatehouseError('not_found', 'keys.no_such_kid', { kid });
  const changes: RingChange[] = [{ type: 'remove', kid }];
  if (key.state === 'current') {
    const { currents, nexts } = keysOf(ring, key.alg);
    // Only a malformed ring has another current key; it keeps signing, so nothing takes over.
    if (!currents.some((other) => other.kid !== kid)) {
      const [next] = nexts;
      changes.push(next ? { type: 'promote', kid: next.kid } : { type: 'create', alg: key.alg, state: 'current' });
    }
  }
  return changes;
}

/** The current key of each alg, in `signingAlgorithms` order. */
export function signingKeys(ring: readonly RingKey[]): RingKey[] {
  return signingAlgorithms.flatMap((alg) => keysOf(ring, alg).currents.slice(0, 1));
}

/**
 * What the JWKS shows: the signing keys first (in `signingAlgorithms` order, so a private JWKS in
 * this order makes oidc-provider sign with them), then next keys, then retired keys.
 */
export function publishedKeys(ring: readonly RingKey[]): RingKey[] {
  const signers = signingKeys(ring);
  const rest = sortRing(ring.filter((key) => !signers.includes(key)));
  rest.sort((a, b) => stateOrder.indexOf(a.state) - stateOrder.indexOf(b.state));
  return [...signers, ...rest];
}
