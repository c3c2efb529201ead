import { describe, expect, it } from 'vitest';

import {
  applyChanges,
  defaultRotationIntervalSeconds,
  planRotation,
  publishedKeys,
  requestRotation,
  revokeKey,
  signingAlgorithms,
  signingKeys,
  validateSchedule,
} from '../../src/keys/rotation.ts';
import type { GeneratedKey, KeyState, RingChange, RingKey, Schedule, SigningAlgorithm } from '../../src/keys/rotation.ts';

const HOUR = 3600;
const DAY = 24 * HOUR;
const T0 = new Date('2025-01-01T00:00:00.000Z');

/** T0 plus some seconds (fractions allowed, for millisecond boundaries). */
function at(seconds: number): Date {
  return new Date(T0.getTime() + seconds * 1000);
}

const schedule: Schedule = {
  jwksCacheSeconds: HOUR,
  rotationIntervalSeconds: 90 * DAY,
  maxTokenLifetimeSeconds: DAY,
  marginSeconds: 300,
};
/** How long a key is published before it signs, with the default schedule. */
const WAIT = schedule.jwksCacheSeconds + schedule.marginSeconds;
/** The age at which a current key gets a next key. */
const THRESHOLD = schedule.rotationIntervalSeconds - WAIT;

function key(kid: string, alg: SigningAlgorithm, state: KeyState, dates: Pick<RingKey, 'createdAt' | 'activatesAt' | 'activatedAt' | 'retiredAt'>): RingKey {
  return { kid, alg, state, ...dates, publicJwk: { kid, alg }, encryptedPrivateJwk: `sealed:${kid}` };
}

let generatedCount = 0;
/** Stands in for the caller's key generation: one fresh kid per alg to create. */
function generate(changes: readonly RingChange[]): Map<SigningAlgorithm, GeneratedKey> {
  const created = new Map<SigningAlgorithm, GeneratedKey>();
  for (const change of changes) {
    if (change.type !== 'create') continue;
    const kid = `${change.alg}-gen${++generatedCount}`;
    created.set(change.alg, { kid, publicJwk: { kid, alg: change.alg }, encryptedPrivateJwk: `sealed:${kid}` });
  }
  return created;
}

function material(kid: string): GeneratedKey {
  return { kid, publicJwk: { kid }, encryptedPrivateJwk: `sealed:${kid}` };
}

function step(ring: readonly RingKey[], now: Date, sched = schedule): { changes: RingChange[]; ring: RingKey[] } {
  const changes = planRotation(ring, now, sched);
  return { changes, ring: applyChanges(ring, changes, now, generate(changes)) };
}

/** The three current keys of a freshly bootstrapped ring, activated at `now`. */
function fullRing(now: Date): RingKey[] {
  return signingAlgorithms.map((alg) => key(`${alg}-a`, alg, 'current', { createdAt: now, activatedAt: now }));
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}

function kids(ring: readonly RingKey[]): string[] {
  return ring.map((k) => k.kid);
}

function errorOf(work: () => unknown): Error {
  try {
    work();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('validateSchedule', () => {
  it('accepts the default schedule and a zero margin', () => {
    expect(validateSchedule(schedule)).toEqual([]);
    expect(validateSchedule({ ...schedule, marginSeconds: 0 })).toEqual([]);
    expect(schedule.rotationIntervalSeconds).toBe(defaultRotationIntervalSeconds);
  });

  const fields = ['jwksCacheSeconds', 'rotationIntervalSeconds', 'maxTokenLifetimeSeconds'] as const;
  for (const field of fields) {
    it(`rejects a ${field} that is not a positive finite number`, () => {
      for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, '60' as unknown as number, undefined as unknown as number]) {
        const problems = validateSchedule({ ...schedule, [field]: bad });
        expect(problems).toEqual([`${field} must be a positive finite number of seconds (got ${String(bad)})`]);
      }
    });
  }

  it('rejects a negative or non-finite margin', () => {
    for (const bad of [-1, Number.NaN, Number.NEGATIVE_INFINITY]) {
      expect(validateSchedule({ ...schedule, marginSeconds: bad })).toEqual([
        `marginSeconds must be a finite number of seconds, 0 or more (got ${String(bad)})`,
      ]);
    }
  });

  it('needs the rotation interval to exceed two cache lifetimes plus margins', () => {
    const minimum = 2 * WAIT;
    expect(validateSchedule({ ...schedule, rotationIntervalSeconds: minimum + 1 })).toEqual([]);
    const problems = validateSchedule({ ...schedule, rotationIntervalSeconds: minimum });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`rotationIntervalSeconds (${minimum}) must exceed 2 × (jwksCacheSeconds + marginSeconds) = ${minimum}`);
    expect(problems[0]).toContain('a full JWKS cache lifetime before it signs');
  });

  it('lists every bad value, without comparing values that make no sense', () => {
    const problems = validateSchedule({ jwksCacheSeconds: -5, rotationIntervalSeconds: 1, maxTokenLifetimeSeconds: 0, marginSeconds: -1 });
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/jwksCacheSeconds[^]*maxTokenLifetimeSeconds[^]*marginSeconds/);
    expect(problems.join('\n')).not.toContain('rotationIntervalSeconds');
  });

  it('is enforced by planRotation and requestRotation, which also need a valid date', () => {
    const bad = { ...schedule, jwksCacheSeconds: 0 };
    expect(errorOf(() => planRotation([], T0, bad)).message).toBe(
      'Invalid key rotation schedule: jwksCacheSeconds must be a positive finite number of seconds (got 0)',
    );
    expect(errorOf(() => requestRotation([], T0, bad, { immediately: false })).message).toMatch(/^Invalid key rotation schedule: jwksCacheSeconds/);
    expect(errorOf(() => planRotation([], new Date(Number.NaN), schedule)).message).toBe('Key rotation needs a valid date for "now"');
    expect(() => applyChanges([], [], new Date(Number.NaN), new Map())).toThrow('valid date');
  });
});

describe('planRotation', () => {
  describe('rule 1: bootstrap', () => {
    it('creates a current key of every alg, in signingAlgorithms order, on an empty ring', () => {
      expect(signingAlgorithms).toEqual(['RS256', 'ES256', 'EdDSA']);
      const changes = planRotation([], T0, schedule);
      expect(changes).toEqual([
        { type: 'create', alg: 'RS256', state: 'current' },
        { type: 'create', alg: 'ES256', state: 'current' },
        { type: 'create', alg: 'EdDSA', state: 'current' },
      ]);
      const ring = applyChanges([], changes, T0, generate(changes));
      expect(ring.map((k) => [k.alg, k.state, k.createdAt, k.activatedAt])).toEqual(signingAlgorithms.map((alg) => [alg, 'current', T0, T0]));
    });

    it('creates a current key only for the alg that has none (a newly added alg)', () => {
      const ring = fullRing(T0).filter((k) => k.alg !== 'EdDSA');
      expect(planRotation(ring, at(DAY), schedule)).toEqual([{ type: 'create', alg: 'EdDSA', state: 'current' }]);
    });

    it('creates a current key when an alg has only retired keys, and keeps them', () => {
      const retired = key('es-old', 'ES256', 'retired', { createdAt: at(0), activatedAt: at(0), retiredAt: at(10 * HOUR) });
      const ring = [...fullRing(T0).filter((k) => k.alg !== 'ES256'), retired];
      expect(planRotation(ring, at(12 * HOUR), schedule)).toEqual([{ type: 'create', alg: 'ES256', state: 'current' }]);
    });
  });

  describe('rule 2: a next key without a current key', () => {
    it('is promoted at once, even long before its activatesAt (only an emergency revoke leads here)', () => {
      const next = key('rs-next', 'RS256', 'next', { createdAt: at(0), activatesAt: at(30 * DAY) });
      const ring = [...fullRing(T0).filter((k) => k.alg !== 'RS256'), next];
      const now = at(60);
      const changes = planRotation(ring, now, schedule);
      expect(changes).toEqual([{ type: 'promote', kid: 'rs-next' }]);
      const after = applyChanges(ring, changes, now, new Map());
      const promoted = after.find((k) => k.kid === 'rs-next')!;
      expect(promoted).toEqual({ ...next, state: 'current', activatesAt: undefined, activatedAt: now });
      expect('activatesAt' in promoted).toBe(false);
      expect(planRotation(after, now, schedule)).toEqual([]);
    });
  });

  describe('rule 3: pre-publishing a next key', () => {
    const ring = fullRing(T0);

    it('does nothing while the current key is younger than rotation - (cache + margin)', () => {
      expect(THRESHOLD).toBe(90 * DAY - 3900);
      expect(planRotation(ring, T0, schedule)).toEqual([]);
      expect(planRotation(ring, at(THRESHOLD - 0.001), schedule)).toEqual([]);
    });

    it('creates a next key that signs exactly at the end of the interval when planned on time', () => {
      const changes = planRotation(ring, at(THRESHOLD), schedule);
      expect(changes).toEqual(
        signingAlgorithms.map((alg) => ({ type: 'create', alg, state: 'next', activatesAt: at(90 * DAY) })),
      );
    });

    it('still publishes a late next key a full cache lifetime plus margin before it signs', () => {
      const now = at(100 * DAY);
      const changes = planRotation(ring, now, schedule);
      expect(changes).toEqual(signingAlgorithms.map((alg) => ({ type: 'create', alg, state: 'next', activatesAt: at(100 * DAY + WAIT) })));
    });

    it('measures the age from createdAt when activatedAt is missing', () => {
      const old = [key('rs', 'RS256', 'current', { createdAt: T0 }), ...fullRing(at(50 * DAY)).filter((k) => k.alg !== 'RS256')];
      expect(planRotation(old, at(THRESHOLD), schedule)).toEqual([{ type: 'create', alg: 'RS256', state: 'next', activatesAt: at(90 * DAY) }]);
      expect(planRotation(old, at(THRESHOLD - 1), schedule)).toEqual([]);
    });

    it('measures the age from activatedAt, not createdAt', () => {
      const promotedLate = [
        key('rs', 'RS256', 'current', { createdAt: T0, activatedAt: at(10 * DAY) }),
        ...fullRing(at(10 * DAY)).filter((k) => k.alg !== 'RS256'),
      ];
      expect(planRotation(promotedLate, at(THRESHOLD), schedule)).toEqual([]);
      expect(planRotation(promotedLate, at(10 * DAY + THRESHOLD), schedule)).toHaveLength(3);
    });

    it('never creates a second next key', () => {
      const withNext = [...ring, key('rs-next', 'RS256', 'next', { createdAt: at(THRESHOLD), activatesAt: at(90 * DAY) })];
      const changes = planRotation(withNext, at(THRESHOLD), schedule);
      expect(changes).toEqual([
        { type: 'create', alg: 'ES256', state: 'next', activatesAt: at(90 * DAY) },
        { type: 'create', alg: 'EdDSA', state: 'next', activatesAt: at(90 * DAY) },
      ]);
    });
  });

  describe('rule 4: promoting a next key', () => {
    const ring = [...fullRing(T0), key('rs-next', 'RS256', 'next', { createdAt: at(THRESHOLD), activatesAt: at(90 * DAY) })];

    it('waits until activatesAt', () => {
      expect(planRotation(ring, at(90 * DAY - 0.001), schedule).filter((c) => c.type !== 'create')).toEqual([]);
    });

    it('promotes the next key and retires the current key at activatesAt', () => {
      const now = at(90 * DAY);
      const changes = planRotation(ring, now, schedule).filter((c) => c.type !== 'create' || c.alg === 'RS256');
      expect(changes).toEqual([
        { type: 'promote', kid: 'rs-next' },
        { type: 'retire', kid: 'RS256-a' },
      ]);
      const after = applyChanges(ring, changes, now, new Map());
      expect(after.filter((k) => k.alg === 'RS256')).toEqual([
        { ...ring[3], state: 'current', activatedAt: now, activatesAt: undefined },
        { ...ring[0], state: 'retired', retiredAt: now },
      ]);
      expect(signingKeys(after)[0]!.kid).toBe('rs-next');
    });

    it('never lets a key sign sooner than cache + margin after it was published, whatever its activatesAt', () => {
      // E.g. created while jwksCacheSeconds was shorter, or stored with a bad activatesAt.
      const early = [...fullRing(T0), key('rs-next', 'RS256', 'next', { createdAt: at(DAY), activatesAt: at(DAY) })];
      expect(planRotation(early, at(DAY + WAIT - 0.001), schedule)).toEqual([]);
      expect(planRotation(early, at(DAY + WAIT), schedule)).toEqual([
        { type: 'promote', kid: 'rs-next' },
        { type: 'retire', kid: 'RS256-a' },
      ]);
    });

    it('promotes a next key without activatesAt once it has been published for cache + margin', () => {
      const bare = [...fullRing(T0), key('rs-next', 'RS256', 'next', { createdAt: at(DAY) })];
      expect(planRotation(bare, at(DAY + WAIT - 1), schedule)).toEqual([]);
      expect(planRotation(bare, at(DAY + WAIT), schedule)).toEqual([
        { type: 'promote', kid: 'rs-next' },
        { type: 'retire', kid: 'RS256-a' },
      ]);
    });
  });

  describe('rule 5: removing retired keys', () => {
    const retired = key('rs-old', 'RS256', 'retired', { createdAt: T0, activatedAt: T0, retiredAt: at(90 * DAY) });
    const ring = [...fullRing(at(90 * DAY)), retired];
    const gone = 90 * DAY + schedule.maxTokenLifetimeSeconds + schedule.marginSeconds;

    it('keeps a retired key until maxTokenLifetime + margin after it stopped signing', () => {
      expect(planRotation(ring, at(gone - 0.001), schedule)).toEqual([]);
    });

    it('removes it then', () => {
      expect(planRotation(ring, at(gone), schedule)).toEqual([{ type: 'remove', kid: 'rs-old' }]);
      expect(kids(step(ring, at(gone)).ring)).not.toContain('rs-old');
    });

    it('keeps a retired key without retiredAt, since it cannot know when it stopped signing', () => {
      const undated = key('rs-undated', 'RS256', 'retired', { createdAt: T0, activatedAt: T0 });
      expect(planRotation([...fullRing(at(90 * DAY)), undated], at(3000 * DAY), schedule).filter((c) => c.type === 'remove')).toEqual([]);
    });

    it('removes several expired keys oldest first', () => {
      const older = key('rs-older', 'RS256', 'retired', { createdAt: at(-DAY), activatedAt: at(-DAY), retiredAt: at(10 * DAY) });
      expect(planRotation([retired, older, ...fullRing(at(90 * DAY))], at(gone), schedule)).toEqual([
        { type: 'remove', kid: 'rs-older' },
        { type: 'remove', kid: 'rs-old' },
      ]);
    });
  });

  describe('repairing a malformed ring', () => {
    it('retires extra current keys, keeping the oldest published one, which already signs', () => {
      const ring = [
        key('rs-b', 'RS256', 'current', { createdAt: at(HOUR), activatedAt: at(HOUR) }),
        key('rs-a', 'RS256', 'current', { createdAt: T0, activatedAt: at(2 * HOUR) }),
        ...fullRing(T0).filter((k) => k.alg !== 'RS256'),
      ];
      expect(signingKeys(ring)[0]!.kid).toBe('rs-a');
      const now = at(DAY);
      const { changes, ring: after } = step(ring, now);
      expect(changes).toEqual([{ type: 'retire', kid: 'rs-b' }]);
      expect(after.find((k) => k.kid === 'rs-b')).toMatchObject({ state: 'retired', retiredAt: now });
      expect(signingKeys(after)[0]!.kid).toBe('rs-a');
    });

    it('breaks a createdAt tie between current keys by kid', () => {
      const ring = [key('rs-z', 'RS256', 'current', { createdAt: T0 }), key('rs-y', 'RS256', 'current', { createdAt: T0 })];
      expect(planRotation(ring, at(1), schedule)[0]).toEqual({ type: 'retire', kid: 'rs-z' });
      expect(signingKeys(ring)[0]!.kid).toBe('rs-y');
    });

    it('removes extra next keys (they never signed), keeping the oldest published one', () => {
      const ring = [
        ...fullRing(T0),
        key('es-next2', 'ES256', 'next', { createdAt: at(2 * DAY), activatesAt: at(3 * DAY) }),
        key('es-next1', 'ES256', 'next', { createdAt: at(DAY), activatesAt: at(4 * DAY) }),
      ];
      expect(planRotation(ring, at(2 * DAY), schedule)).toEqual([{ type: 'remove', kid: 'es-next2' }]);
      // The kept one signs at its own activatesAt, not the removed one's.
      expect(planRotation(ring, at(3 * DAY), schedule)).toEqual([{ type: 'remove', kid: 'es-next2' }]);
      expect(planRotation(ring, at(4 * DAY), schedule)).toEqual([
        { type: 'remove', kid: 'es-next2' },
        { type: 'promote', kid: 'es-next1' },
        { type: 'retire', kid: 'ES256-a' },
      ]);
    });
  });

  it('orders changes by alg, then repairs, promotion or creation, then removals, whatever the ring order', () => {
    const now = at(200 * DAY);
    const ring = [
      key('ed-old', 'EdDSA', 'retired', { createdAt: T0, activatedAt: T0, retiredAt: at(100 * DAY) }),
      key('ed-cur', 'EdDSA', 'current', { createdAt: at(100 * DAY), activatedAt: at(100 * DAY) }),
      key('es-old', 'ES256', 'retired', { createdAt: T0, activatedAt: T0, retiredAt: at(150 * DAY) }),
      key('es-next', 'ES256', 'next', { createdAt: at(190 * DAY), activatesAt: at(199 * DAY) }),
      key('es-cur', 'ES256', 'current', { createdAt: at(150 * DAY), activatedAt: at(150 * DAY) }),
      key('es-cur2', 'ES256', 'current', { createdAt: at(160 * DAY), activatedAt: at(160 * DAY) }),
      key('rs-old', 'RS256', 'retired', { createdAt: T0, activatedAt: T0, retiredAt: at(199 * DAY) }),
    ];
    const expected: RingChange[] = [
      { type: 'create', alg: 'RS256', state: 'current' },
      { type: 'retire', kid: 'es-cur2' },
      { type: 'promote', kid: 'es-next' },
      { type: 'retire', kid: 'es-cur' },
      { type: 'remove', kid: 'es-old' },
      { type: 'create', alg: 'EdDSA', state: 'next', activatesAt: at(200 * DAY + WAIT) },
      { type: 'remove', kid: 'ed-old' },
    ];
    expect(planRotation(ring, now, schedule)).toEqual(expected);
    expect(planRotation([...ring].reverse(), now, schedule)).toEqual(expected);
    const { ring: after } = step(ring, now);
    expect(planRotation(after, now, schedule)).toEqual([]);
  });

  it('does not mutate the ring', () => {
    const ring = deepFreeze([...fullRing(T0), key('rs-next', 'RS256', 'next', { createdAt: at(DAY), activatesAt: at(2 * DAY) })]);
    const copy = structuredClone(ring);
    step(ring, at(100 * DAY));
    expect(ring).toEqual(copy);
  });
});

describe('applyChanges', () => {
  const ring = deepFreeze([
    key('rs-cur', 'RS256', 'current', { createdAt: T0, activatedAt: T0 }),
    key('rs-next', 'RS256', 'next', { createdAt: at(DAY), activatesAt: at(2 * DAY) }),
    key('rs-old', 'RS256', 'retired', { createdAt: at(-DAY), activatedAt: at(-DAY), retiredAt: T0 }),
    key('es-cur', 'ES256', 'current', { createdAt: T0, activatedAt: T0 }),
  ]);
  const now = at(3 * DAY);

  it('returns a new, sorted ring and never mutates its inputs', () => {
    const changes = deepFreeze<RingChange[]>([{ type: 'promote', kid: 'rs-next' }, { type: 'retire', kid: 'rs-cur' }]);
    const copy = structuredClone(ring);
    const after = applyChanges(ring, changes, now, new Map());
    expect(ring).toEqual(copy);
    expect(after).not.toBe(ring);
    expect(after.find((k) => k.kid === 'rs-cur')).not.toBe(ring[0]);
    expect(applyChanges(ring, [], now, new Map())).toEqual(
      [ring[0], ring[1], ring[2], ring[3]].map((k) => ({ ...k })),
    );
  });

  it('sorts by alg order, then current/next/retired, then createdAt', () => {
    const shuffled = [
      key('ed-old2', 'EdDSA', 'retired', { createdAt: at(2), retiredAt: at(5) }),
      key('es-next', 'ES256', 'next', { createdAt: at(9) }),
      key('ed-old1', 'EdDSA', 'retired', { createdAt: at(1), retiredAt: at(5) }),
      key('ed-cur', 'EdDSA', 'current', { createdAt: at(3) }),
      key('rs-old', 'RS256', 'retired', { createdAt: at(0) }),
      key('es-cur', 'ES256', 'current', { createdAt: at(0) }),
      key('rs-cur', 'RS256', 'current', { createdAt: at(8) }),
    ];
    expect(kids(applyChanges(shuffled, [], now, new Map()))).toEqual(['rs-cur', 'rs-old', 'es-cur', 'es-next', 'ed-cur', 'ed-old1', 'ed-old2']);
  });

  it('creates keys with the generated material and sets their dates', () => {
    const changes: RingChange[] = [
      { type: 'create', alg: 'EdDSA', state: 'current' },
      { type: 'create', alg: 'ES256', state: 'next', activatesAt: at(4 * DAY) },
    ];
    const created = new Map([
      ['EdDSA', material('ed-new')],
      ['ES256', material('es-new')],
    ] as const);
    const after = applyChanges(ring, changes, now, created);
    expect(after.find((k) => k.kid === 'ed-new')).toStrictEqual({
      ...material('ed-new'),
      alg: 'EdDSA',
      state: 'current',
      createdAt: now,
      activatedAt: now,
    });
    expect(after.find((k) => k.kid === 'es-new')).toStrictEqual({
      ...material('es-new'),
      alg: 'ES256',
      state: 'next',
      createdAt: now,
      activatesAt: at(4 * DAY),
    });
    const bare = applyChanges(ring, [{ type: 'create', alg: 'ES256', state: 'next' }], now, created);
    expect('activatesAt' in bare.find((k) => k.kid === 'es-new')!).toBe(false);
  });

  it('promotes (activatedAt = now) and retires (retiredAt = now), keeping the other fields', () => {
    const after = applyChanges(ring, [{ type: 'retire', kid: 'rs-cur' }, { type: 'promote', kid: 'rs-next' }], now, new Map());
    expect(after.slice(0, 3)).toStrictEqual([
      { kid: 'rs-next', alg: 'RS256', state: 'current', createdAt: at(DAY), activatedAt: now, publicJwk: ring[1]!.publicJwk, encryptedPrivateJwk: 'sealed:rs-next' },
      { ...ring[2] },
      { ...ring[0], state: 'retired', retiredAt: now },
    ]);
  });

  it('removes keys', () => {
    expect(kids(applyChanges(ring, [{ type: 'remove', kid: 'rs-old' }, { type: 'remove', kid: 'rs-cur' }], now, new Map()))).toEqual([
      'rs-next',
      'es-cur',
    ]);
  });

  it('accepts the create of a current key before or after the retire of the old one', () => {
    const created = new Map([['RS256', material('rs-new')]] as const);
    const retireFirst = applyChanges(ring, [{ type: 'retire', kid: 'rs-cur' }, { type: 'create', alg: 'RS256', state: 'current' }], now, created);
    const createFirst = applyChanges(ring, [{ type: 'create', alg: 'RS256', state: 'current' }, { type: 'retire', kid: 'rs-cur' }], now, created);
    expect(createFirst).toEqual(retireFirst);
    expect(signingKeys(createFirst)[0]!.kid).toBe('rs-new');
  });

  it('needs generated material for every key to create', () => {
    expect(errorOf(() => applyChanges(ring, [{ type: 'create', alg: 'EdDSA', state: 'current' }], now, new Map([['ES256', material('x')]]))).message).toBe(
      'No generated EdDSA key was supplied for the current key to create',
    );
  });

  it('rejects changes that do not fit the ring', () => {
    const none = new Map<SigningAlgorithm, GeneratedKey>();
    const cases: [RingChange[], Map<SigningAlgorithm, GeneratedKey>, string][] = [
      [[{ type: 'remove', kid: 'nope' }], none, 'Cannot remove key "nope": it is not in the key ring'],
      [[{ type: 'promote', kid: 'nope' }], none, 'Cannot promote key "nope": it is not in the key ring'],
      [[{ type: 'remove', kid: 'rs-old' }, { type: 'remove', kid: 'rs-old' }], none, 'Cannot remove key "rs-old": it is not in the key ring'],
      [[{ type: 'retire', kid: 'rs-next' }], none, 'Cannot retire key "rs-next": it is next, not current'],
      [[{ type: 'retire', kid: 'rs-old' }], none, 'Cannot retire key "rs-old": it is retired, not current'],
      [[{ type: 'promote', kid: 'rs-cur' }], none, 'Cannot promote key "rs-cur": it is current, not next'],
      [[{ type: 'promote', kid: 'rs-next' }], none, 'These changes would leave 2 current RS256 keys in the key ring'],
      [[{ type: 'create', alg: 'ES256', state: 'current' }], new Map([['ES256', material('es-new')]]), 'These changes would leave 2 current ES256 keys in the key ring'],
      [[{ type: 'create', alg: 'RS256', state: 'next' }], new Map([['RS256', material('rs-new')]]), 'These changes would leave 2 next RS256 keys in the key ring'],
      [[{ type: 'create', alg: 'ES256', state: 'next' }], new Map([['ES256', material('rs-cur')]]), 'Cannot create key "rs-cur": that kid is already in the key ring'],
      [
        [{ type: 'retire', kid: 'es-cur' }, { type: 'create', alg: 'ES256', state: 'current' }, { type: 'create', alg: 'ES256', state: 'next' }],
        new Map([['ES256', material('es-new')]]),
        'More than one ES256 key to create in one change list',
      ],
    ];
    for (const [changes, created, message] of cases) {
      expect(errorOf(() => applyChanges(ring, changes, now, created)).message).toBe(message);
    }
  });

  it('rejects a ring with duplicate kids', () => {
    expect(() => applyChanges([ring[0]!, { ...ring[0]! }], [], now, new Map())).toThrow('The key ring holds two keys with kid "rs-cur"');
  });
});

describe('requestRotation (keys rotate)', () => {
  const ring = [...fullRing(T0), key('es-next', 'ES256', 'next', { createdAt: at(DAY), activatesAt: at(5 * DAY) })];
  const now = at(2 * DAY);

  it('pre-publishes a next key for each alg that has none, signing after cache + margin', () => {
    const changes = requestRotation(ring, now, schedule, { immediately: false });
    expect(changes).toEqual([
      { type: 'create', alg: 'RS256', state: 'next', activatesAt: at(2 * DAY + WAIT) },
      { type: 'create', alg: 'EdDSA', state: 'next', activatesAt: at(2 * DAY + WAIT) },
    ]);
    const after = applyChanges(ring, changes, now, generate(changes));
    expect(after.filter((k) => k.state === 'next')).toHaveLength(3);
    // Nothing signs early, then the scheduled plan takes over.
    expect(planRotation(after, now, schedule)).toEqual([]);
    expect(planRotation(after, at(2 * DAY + WAIT - 1), schedule)).toEqual([]);
    const { changes: rotation, ring: rotated } = step(after, at(2 * DAY + WAIT));
    expect(rotation.map((c) => c.type)).toEqual(['promote', 'retire', 'promote', 'retire']);
    const [rsNext, edNext] = after.filter((k) => k.state === 'next' && k.kid !== 'es-next');
    // es-next keeps its own, later activatesAt.
    expect(kids(signingKeys(rotated))).toEqual([rsNext!.kid, 'ES256-a', edNext!.kid]);
  });

  it('does not create a second next key', () => {
    const first = requestRotation(ring, now, schedule, { immediately: false });
    const all = applyChanges(ring, first, now, generate(first));
    expect(all.filter((k) => k.state === 'next')).toHaveLength(3);
    expect(requestRotation(all, now, schedule, { immediately: false })).toEqual([]);
  });

  it('with immediately, replaces every current key at once and keeps next keys', () => {
    const changes = requestRotation(ring, now, schedule, { immediately: true });
    expect(changes).toEqual([
      { type: 'retire', kid: 'RS256-a' },
      { type: 'create', alg: 'RS256', state: 'current' },
      { type: 'retire', kid: 'ES256-a' },
      { type: 'create', alg: 'ES256', state: 'current' },
      { type: 'retire', kid: 'EdDSA-a' },
      { type: 'create', alg: 'EdDSA', state: 'current' },
    ]);
    const created = generate(changes);
    const after = applyChanges(ring, changes, now, created);
    expect(signingKeys(after).map((k) => k.kid)).toEqual(signingAlgorithms.map((alg) => created.get(alg)!.kid));
    expect(signingKeys(after).map((k) => [k.createdAt, k.activatedAt])).toEqual([[now, now], [now, now], [now, now]]);
    expect(after.filter((k) => k.state === 'retired').map((k) => [k.kid, k.retiredAt])).toEqual([
      ['RS256-a', now],
      ['ES256-a', now],
      ['EdDSA-a', now],
    ]);
    expect(after.find((k) => k.kid === 'es-next')).toEqual(ring[3]);
    expect(planRotation(after, now, schedule)).toEqual([]);
  });

  it('with immediately, creates a current key for an alg that has none and retires every extra one', () => {
    const odd = [
      key('rs-1', 'RS256', 'current', { createdAt: T0 }),
      key('rs-2', 'RS256', 'current', { createdAt: at(1) }),
      key('es-next', 'ES256', 'next', { createdAt: T0 }),
    ];
    expect(requestRotation(odd, now, schedule, { immediately: true })).toEqual([
      { type: 'retire', kid: 'rs-1' },
      { type: 'retire', kid: 'rs-2' },
      { type: 'create', alg: 'RS256', state: 'current' },
      { type: 'create', alg: 'ES256', state: 'current' },
      { type: 'create', alg: 'EdDSA', state: 'current' },
    ]);
  });

  it('does not mutate the ring', () => {
    const frozen = deepFreeze(structuredClone(ring));
    for (const immediately of [false, true]) {
      const changes = requestRotation(frozen, now, schedule, { immediately });
      applyChanges(frozen, changes, now, generate(changes));
    }
    expect(frozen).toEqual(ring);
  });
});

describe('revokeKey', () => {
  const ring = deepFreeze([
    ...fullRing(T0),
    key('rs-next', 'RS256', 'next', { createdAt: at(DAY), activatesAt: at(5 * DAY) }),
    key('es-old', 'ES256', 'retired', { createdAt: at(-DAY), activatedAt: at(-DAY), retiredAt: at(DAY + 12 * HOUR) }),
  ]);
  const now = at(2 * DAY);

  it('removes a current key and promotes its next key at once', () => {
    const changes = revokeKey(ring, 'RS256-a');
    expect(changes).toEqual([
      { type: 'remove', kid: 'RS256-a' },
      { type: 'promote', kid: 'rs-next' },
    ]);
    const after = applyChanges(ring, changes, now, new Map());
    expect(kids(after)).not.toContain('RS256-a');
    expect(signingKeys(after)[0]).toMatchObject({ kid: 'rs-next', activatedAt: now });
    expect(planRotation(after, now, schedule)).toEqual([]);
  });

  it('removes a current key without a next key and creates a new current key', () => {
    const changes = revokeKey(ring, 'ES256-a');
    expect(changes).toEqual([
      { type: 'remove', kid: 'ES256-a' },
      { type: 'create', alg: 'ES256', state: 'current' },
    ]);
    const after = applyChanges(ring, changes, now, new Map([['ES256', material('es-new')]]));
    expect(signingKeys(after).map((k) => k.kid)).toEqual(['RS256-a', 'es-new', 'EdDSA-a']);
    expect(planRotation(after, now, schedule)).toEqual([]);
  });

  it('only removes a next or a retired key', () => {
    expect(revokeKey(ring, 'rs-next')).toEqual([{ type: 'remove', kid: 'rs-next' }]);
    expect(revokeKey(ring, 'es-old')).toEqual([{ type: 'remove', kid: 'es-old' }]);
    const after = applyChanges(ring, revokeKey(ring, 'es-old'), now, new Map());
    expect(kids(after)).toEqual(['RS256-a', 'rs-next', 'ES256-a', 'EdDSA-a']);
  });

  it('leaves the other current key signing in a ring that has two', () => {
    const odd = [...ring, key('rs-b', 'RS256', 'current', { createdAt: at(HOUR) })];
    expect(revokeKey(odd, 'RS256-a')).toEqual([{ type: 'remove', kid: 'RS256-a' }]);
  });

  it('throws a clear error for an unknown kid', () => {
    expect(errorOf(() => revokeKey(ring, 'nope')).message).toBe('No key with kid "nope" in the key ring');
  });
});

describe('signingKeys and publishedKeys', () => {
  const ring = [
    key('ed-old', 'EdDSA', 'retired', { createdAt: at(0), retiredAt: at(9) }),
    key('ed-next', 'EdDSA', 'next', { createdAt: at(8) }),
    key('es-old2', 'ES256', 'retired', { createdAt: at(2), retiredAt: at(9) }),
    key('ed-cur', 'EdDSA', 'current', { createdAt: at(5) }),
    key('es-old1', 'ES256', 'retired', { createdAt: at(1), retiredAt: at(9) }),
    key('rs-next', 'RS256', 'next', { createdAt: at(9) }),
    key('es-cur', 'ES256', 'current', { createdAt: at(4) }),
    key('rs-cur', 'RS256', 'current', { createdAt: at(6) }),
    key('rs-old', 'RS256', 'retired', { createdAt: at(3), retiredAt: at(6) }),
  ];

  it('signingKeys gives the current key of each alg, RS256 first', () => {
    expect(kids(signingKeys(ring))).toEqual(['rs-cur', 'es-cur', 'ed-cur']);
    expect(kids(signingKeys([...ring].reverse()))).toEqual(['rs-cur', 'es-cur', 'ed-cur']);
  });

  it('signingKeys skips an alg without a current key', () => {
    expect(kids(signingKeys(ring.filter((k) => k.kid !== 'es-cur')))).toEqual(['rs-cur', 'ed-cur']);
    expect(signingKeys([])).toEqual([]);
  });

  it('publishedKeys shows current keys first, then next keys, then retired keys', () => {
    const expected = ['rs-cur', 'es-cur', 'ed-cur', 'rs-next', 'ed-next', 'rs-old', 'es-old1', 'es-old2', 'ed-old'];
    expect(kids(publishedKeys(ring))).toEqual(expected);
    expect(kids(publishedKeys([...ring].reverse()))).toEqual(expected);
    expect(publishedKeys(ring)[0]).toBe(ring[7]);
  });

  it('publishedKeys lists an extra current key after the signing keys, before next keys', () => {
    const odd = [...ring, key('rs-cur2', 'RS256', 'current', { createdAt: at(7) })];
    expect(kids(publishedKeys(odd)).slice(0, 5)).toEqual(['rs-cur', 'es-cur', 'ed-cur', 'rs-cur2', 'rs-next']);
  });
});

/** A small deterministic PRNG (mulberry32), so the generated cases are the same on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const schedules: Schedule[] = [
  schedule,
  { jwksCacheSeconds: 600, rotationIntervalSeconds: 2 * DAY, maxTokenLifetimeSeconds: HOUR, marginSeconds: 60 },
  { jwksCacheSeconds: 60, rotationIntervalSeconds: 1000, maxTokenLifetimeSeconds: 30, marginSeconds: 0 },
];

describe('invariants over generated rings', () => {
  it('holds for every generated (ring, time) case', () => {
    const rand = random(20250101);
    const int = (max: number) => Math.floor(rand() * (max + 1));
    const pick = <T>(...options: T[]) => options[int(options.length - 1)]!;
    const seen = new Map<string, number>();
    let cases = 0;

    for (let n = 0; n < 2000; n++) {
      const sched = schedules[n % schedules.length]!;
      const wait = sched.jwksCacheSeconds + sched.marginSeconds;
      const threshold = sched.rotationIntervalSeconds - wait;
      const expiry = sched.maxTokenLifetimeSeconds + sched.marginSeconds;
      const nowSeconds = 10 * sched.rotationIntervalSeconds + int(1000 * DAY);
      const now = at(nowSeconds);
      const ring: RingKey[] = [];
      let serial = 0;
      for (const alg of signingAlgorithms) {
        const make = (state: KeyState, dates: Parameters<typeof key>[3]) => ring.push(key(`${alg}-${state}-${++serial}`, alg, state, dates));
        for (let i = pick(0, 1, 1, 1, 2); i > 0; i--) {
          const age = pick(int(2 * sched.rotationIntervalSeconds), threshold, threshold - 1, threshold + 1, 0, int(threshold));
          const activated = nowSeconds - age;
          make('current', { createdAt: at(activated - pick(0, wait, int(3 * wait))), ...(rand() < 0.9 ? { activatedAt: at(activated) } : {}) });
        }
        for (let i = pick(0, 0, 1, 1, 2); i > 0; i--) {
          const created = nowSeconds - pick(int(3 * wait), wait, wait - 1, 0);
          const activates = created + pick(int(3 * wait), wait, 0, wait + 1);
          make('next', { createdAt: at(created), ...(rand() < 0.9 ? { activatesAt: at(activates) } : {}) });
        }
        for (let i = pick(0, 1, 2, 3); i > 0; i--) {
          const retired = nowSeconds - pick(int(2 * expiry), expiry, expiry - 1, 0);
          const activated = retired - int(sched.rotationIntervalSeconds);
          make('retired', { createdAt: at(activated - int(wait)), activatedAt: at(activated), ...(rand() < 0.95 ? { retiredAt: at(retired) } : {}) });
        }
      }
      // Shuffle: the plan must not depend on the ring's order.
      const shuffled = [...ring].sort(() => rand() - 0.5);
      const changes = planRotation(ring, now, sched);
      assert(same(planRotation(shuffled, now, sched), changes), () => `plan depends on ring order at case ${n}`);
      for (const change of changes) {
        const label = change.type === 'create' ? `create ${change.state}` : change.type;
        seen.set(label, (seen.get(label) ?? 0) + 1);
      }
      const after = applyChanges(ring, changes, now, generate(changes));
      checkPlan(ring, changes, after, now, sched);
      cases++;
    }
    expect(cases).toBe(2000);
    // The generator reaches every kind of change, often.
    for (const label of ['create current', 'create next', 'promote', 'retire', 'remove']) expect(seen.get(label) ?? 0).toBeGreaterThan(100);
  });
});

/**
 * Hot loops check with this instead of expect (which costs microseconds per call), and name the
 * broken invariant when it fails.
 */
function assert(condition: boolean, message: () => string): void {
  if (!condition) throw new Error(message());
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Every invariant a plan must keep, checked on the ring before and after applying it. */
function checkPlan(before: readonly RingKey[], changes: readonly RingChange[], after: readonly RingKey[], now: Date, sched: Schedule): void {
  const wait = sched.jwksCacheSeconds + sched.marginSeconds;
  const t = now.getTime();
  const old = new Map(before.map((k) => [k.kid, k]));
  const kept = new Map(after.map((k) => [k.kid, k]));
  const context = () => `at ${now.toISOString()} with ${JSON.stringify(sched)}: ${JSON.stringify(before)} -> ${JSON.stringify(changes)}`;
  for (const alg of signingAlgorithms) {
    const was = before.filter((k) => k.alg === alg);
    const is = after.filter((k) => k.alg === alg);
    const signers = is.filter((k) => k.state === 'current');
    assert(signers.length === 1, () => `${alg} has ${signers.length} current keys ${context()}`);
    assert(is.filter((k) => k.state === 'next').length <= 1, () => `${alg} has several next keys ${context()}`);
    const signer = signers[0]!;
    const previous = old.get(signer.kid);
    if (!previous) {
      // Created as current: only a bootstrap.
      assert(!was.some((k) => k.state === 'current' || k.state === 'next'), () => `${alg} created a current key needlessly ${context()}`);
      assert(signer.activatedAt?.getTime() === t, () => `${alg} bootstrap activatedAt ${context()}`);
    } else if (previous.state === 'next') {
      // Promoted: published for cache + margin, unless no key was signing at all (emergency).
      const hadCurrent = was.some((k) => k.state === 'current');
      assert(!hadCurrent || t - previous.createdAt.getTime() >= wait * 1000, () => `${alg} next key signs too early ${context()}`);
      assert(signer.activatedAt?.getTime() === t, () => `${alg} promoted activatedAt ${context()}`);
    } else {
      // The signer did not change, and it is the one signingKeys already used.
      assert(same(signer, previous), () => `${alg} signer changed ${context()}`);
      assert(signingKeys(before).find((k) => k.alg === alg)?.kid === signer.kid, () => `${alg} kept another current key ${context()}`);
    }
    const next = is.find((k) => k.state === 'next');
    if (next && !old.has(next.kid)) {
      assert(next.activatesAt!.getTime() >= t + wait * 1000, () => `${alg} next key activates too early ${context()}`);
    }
  }
  for (const k of before) {
    const now_ = kept.get(k.kid);
    if (!now_) {
      if (k.state === 'retired') {
        // Removed after every token it signed has expired.
        const expires = k.retiredAt!.getTime() + (sched.maxTokenLifetimeSeconds + sched.marginSeconds) * 1000;
        assert(expires <= t, () => `${k.kid} removed too early ${context()}`);
      } else {
        // Or an extra next key that never signed, while the kept next key stays.
        assert(k.state === 'next', () => `${k.kid} removed while ${k.state} ${context()}`);
        assert(after.some((other) => other.alg === k.alg && old.get(other.kid)?.state === 'next'), () => `${k.kid} removed alone ${context()}`);
      }
    } else if (now_.state === 'retired' && k.state === 'current') {
      assert(now_.retiredAt?.getTime() === t, () => `${k.kid} retiredAt ${context()}`);
    } else if (now_.state !== 'current' || k.state !== 'next') {
      assert(same(now_, k), () => `${k.kid} changed ${context()}`);
    }
  }
  if (changes.length === 0) assert(after.length === before.length, () => `no changes, yet the ring changed ${context()}`);
  // Idempotent: nothing more to do at the same instant.
  const again = planRotation(after, now, sched);
  assert(again.length === 0, () => `planning again gives ${JSON.stringify(again)} ${context()}`);
}

type History = { alg: SigningAlgorithm; publishedAt: number; activatedAt?: number; retiredAt?: number; removedAt?: number; bootstrap: boolean };

/**
 * Runs the scheduler from an empty ring, checking at every step what a verifier relies on: a key
 * it can meet in a token is in every JWKS it may still have cached, and stays published while
 * tokens it signed are alive.
 */
function simulate(sched: Schedule, steps: readonly number[], operator?: (stepIndex: number) => boolean) {
  const wait = sched.jwksCacheSeconds + sched.marginSeconds;
  let ring: RingKey[] = [];
  const history = new Map<string, History>();
  const snapshots: { at: number; kids: Set<string> }[] = [];
  const tokens: { kid: string; expires: number }[] = [];
  let seconds = 0;
  let noOps = 0;
  let operatorRotations = 0;
  for (let i = 0; i < steps.length; i++) {
    seconds += steps[i]!;
    const now = at(seconds);
    const t = now.getTime();
    const when = () => `at ${now.toISOString()} (step ${i})`;
    let changes = planRotation(ring, now, sched);
    if (changes.length === 0) noOps++;
    ring = applyChanges(ring, changes, now, generate(changes));
    if (operator?.(i)) {
      changes = requestRotation(ring, now, sched, { immediately: false });
      if (changes.length) operatorRotations++;
      ring = applyChanges(ring, changes, now, generate(changes));
    }
    assert(planRotation(ring, now, sched).length === 0, () => `plan not idempotent ${when()}`);

    const present = new Set(kids(ring));
    for (const k of ring) {
      const h = history.get(k.kid) ?? { alg: k.alg, publishedAt: k.createdAt.getTime(), bootstrap: k.state === 'current' };
      if (k.state !== 'next' && h.activatedAt === undefined) h.activatedAt = k.activatedAt!.getTime();
      if (k.state === 'retired' && h.retiredAt === undefined) h.retiredAt = k.retiredAt!.getTime();
      history.set(k.kid, h);
    }
    for (const [kid, h] of history) if (!present.has(kid) && h.removedAt === undefined) h.removedAt = t;

    for (const alg of signingAlgorithms) {
      const of = ring.filter((k) => k.alg === alg);
      assert(of.filter((k) => k.state === 'current').length === 1, () => `${alg} without exactly one current key ${when()}`);
      assert(of.filter((k) => k.state === 'next').length <= 1, () => `${alg} with several next keys ${when()}`);
    }
    // Every JWKS fetched within the last cache lifetime already shows every key signing now.
    const published = new Set(kids(publishedKeys(ring)));
    snapshots.push({ at: t, kids: published });
    while (snapshots[0]!.at <= t - sched.jwksCacheSeconds * 1000) snapshots.shift();
    for (const signer of signingKeys(ring)) {
      if (history.get(signer.kid)!.bootstrap) continue;
      assert(t - signer.createdAt.getTime() >= wait * 1000, () => `${signer.kid} signs too soon after publication ${when()}`);
      for (const snapshot of snapshots) assert(snapshot.kids.has(signer.kid), () => `${signer.kid} missing from the JWKS cached at ${snapshot.at} ${when()}`);
      tokens.push({ kid: signer.kid, expires: t + sched.maxTokenLifetimeSeconds * 1000 });
    }
    // Every token still alive verifies against the JWKS served now.
    while (tokens.length && tokens[0]!.expires < t) tokens.shift();
    for (const token of tokens) assert(published.has(token.kid), () => `${token.kid} unpublished before ${token.expires} ${when()}`);
  }
  return { ring, history, noOps, operatorRotations, end: seconds };
}

describe('a simulated life', () => {
  it('rotates every alg about every 90 days for 3 years, without a verifier ever failing', () => {
    const stepSeconds = 6 * HOUR;
    const steps = Array.from({ length: (3 * 365 * DAY) / stepSeconds }, () => stepSeconds);
    steps[0] = 0; // start at T0
    const { ring, history, noOps } = simulate(schedule, steps);

    for (const alg of signingAlgorithms) {
      const keys = [...history.values()].filter((h) => h.alg === alg).sort((a, b) => a.activatedAt! - b.activatedAt!);
      // The bootstrap key plus one per (90 days + a step): 12 rotations in 3 years.
      expect(keys).toHaveLength(13);
      expect(keys[0]!.bootstrap).toBe(true);
      expect(keys[0]!.activatedAt).toBe(T0.getTime());
      for (let i = 1; i < keys.length; i++) {
        const gap = (keys[i]!.activatedAt! - keys[i - 1]!.activatedAt!) / 1000;
        expect(gap).toBeGreaterThanOrEqual(90 * DAY);
        expect(gap).toBeLessThanOrEqual(90 * DAY + 2 * stepSeconds);
        expect(keys[i]!.bootstrap).toBe(false);
        // Published at least a cache lifetime plus margin before signing.
        expect(keys[i]!.activatedAt! - keys[i]!.publishedAt).toBeGreaterThanOrEqual(WAIT * 1000);
        // The previous key stopped signing when this one started.
        expect(keys[i - 1]!.retiredAt).toBe(keys[i]!.activatedAt);
      }
      // Retired keys disappear soon after their last token expired; the one that retired last may remain.
      const gone = (schedule.maxTokenLifetimeSeconds + schedule.marginSeconds) * 1000;
      for (const h of keys.slice(0, -1)) {
        expect(h.removedAt).toBeDefined();
        expect(h.removedAt! - h.retiredAt!).toBeGreaterThanOrEqual(gone);
        expect(h.removedAt! - h.retiredAt!).toBeLessThanOrEqual(gone + stepSeconds * 1000);
      }
    }
    // At the end (day 1094.75: last rotation day 1083, the next one due day 1173) only current keys are left.
    expect(ring.map((k) => k.state)).toEqual(['current', 'current', 'current']);
    // Most steps have nothing to do.
    expect(noOps).toBeGreaterThan(steps.length * 0.95);
  });

  it('keeps verifiers working with irregular polling, a short schedule and operator rotations', () => {
    const short = schedules[1]!;
    const rand = random(7);
    const steps = Array.from({ length: 6000 }, (_, i) => (i === 0 ? 0 : 1 + Math.floor(rand() * 600)));
    const { history, end, operatorRotations } = simulate(short, steps, (i) => i % 750 === 350);
    expect(end).toBeGreaterThan(15 * DAY);
    expect(operatorRotations).toBeGreaterThanOrEqual(7);
    for (const alg of signingAlgorithms) {
      const activations = [...history.values()]
        .filter((h) => h.alg === alg && h.activatedAt !== undefined)
        .map((h) => h.activatedAt!)
        .sort((a, b) => a - b);
      // Operator rotations come between scheduled ones, so keys rotate more often than the schedule alone.
      expect(activations.length - 1).toBeGreaterThan(end / short.rotationIntervalSeconds);
      for (let i = 1; i < activations.length; i++) {
        expect(activations[i]! - activations[i - 1]!).toBeLessThanOrEqual((short.rotationIntervalSeconds + 2 * 600) * 1000);
      }
    }
    expect([...history.values()].filter((h) => h.removedAt !== undefined).length).toBeGreaterThan(30);
  });
});
