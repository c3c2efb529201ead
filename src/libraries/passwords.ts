import { setTimeout as sleep } from 'node:timers/promises';

import argon2 from 'argon2';
import bcrypt from 'bcrypt';

import { configDefaults } from '../config/load-config.ts';
import { message } from '../messages/messages.ts';

export type HashOptions = { type: typeof argon2.argon2id; memoryCost: number; timeCost: number; parallelism: number };

export function hashOptionsFrom(config: { memoryKiB: number; iterations: number; parallelism: number }): HashOptions {
  return { type: argon2.argon2id, memoryCost: config.memoryKiB, timeCost: config.iterations, parallelism: config.parallelism };
}

/** The default argon2id parameters (config `passwords.argon2`: OWASP's baseline, 19 MiB, 2 iterations, 1 lane). */
export const passwordHashOptions: HashOptions = hashOptionsFrom(configDefaults().passwords.argon2);

/**
 * The costliest hash accepted from elsewhere (config `passwords.bcryptMaxCost` and
 * `passwords.argon2Max`). Failed sign-ins are padded to the time the costliest accepted hash takes,
 * so these bounds also bound how long every failed sign-in takes.
 */
export type HashLimits = {
  bcryptMaxCost: number;
  /** argon2: memory, memory × iterations (the work of one verification) and lanes. */
  argon2Max: { memoryKiB: number; memoryKiBTimesIterations: number; parallelism: number };
};

/**
 * The limits of the configuration, raised where needed to cover the argon2 parameters Gatehouse
 * itself hashes with: a hash of our own is always accepted, and always covered by the padding.
 */
export function hashLimitsFrom(passwords: { argon2: { memoryKiB: number; iterations: number; parallelism: number }; bcryptMaxCost: number; argon2Max: HashLimits['argon2Max'] }): HashLimits {
  const { argon2: own, argon2Max: max } = passwords;
  return {
    bcryptMaxCost: passwords.bcryptMaxCost,
    argon2Max: {
      memoryKiB: Math.max(max.memoryKiB, own.memoryKiB),
      memoryKiBTimesIterations: Math.max(max.memoryKiBTimesIterations, own.memoryKiB * own.iterations),
      parallelism: Math.max(max.parallelism, own.parallelism),
    },
  };
}

/** The default limits (config `passwords.bcryptMaxCost` and `passwords.argon2Max`: bcrypt cost 12, argon2 up to 64 MiB and 4 passes). */
export const defaultHashLimits: HashLimits = hashLimitsFrom(configDefaults().passwords);

export function hashPassword(password: string, options: HashOptions = passwordHashOptions): Promise<string> {
  return argon2.hash(password.normalize('NFKC'), options);
}

/** Hash formats we can verify (by prefix; the importer checks argon2's structure): argon2, and bcrypt from other apps. */
export function isSupportedHash(hash: string): boolean {
  return /^\$argon2(id|i|d)\$/.test(hash) || /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(hash);
}

/**
 * Why a supported hash costs more to verify than `limits` allow, or undefined when it does not (or
 * when its parameters cannot be read: the importer reports a malformed argon2 hash itself).
 */
export function hashCostProblem(hash: string, limits: HashLimits): string | undefined {
  if (hash.startsWith('$2')) {
    const cost = Number(hash.slice(4, 6));
    return cost > limits.bcryptMaxCost ? message('libraries.hash_bcrypt_cost_above', { cost, max: limits.bcryptMaxCost }) : undefined;
  }
  // PHC string format: $argon2id[$v=19]$m=…,t=…,p=…$salt$hash (base64, which has no "=").
  const segment = hash.split('$').slice(2).find((part) => part.includes('m=')) ?? '';
  const params = new Map(segment.split(',').map((param) => [param.slice(0, 2), Number(param.slice(2))]));
  const [memoryKiB, iterations, parallelism] = [params.get('m='), params.get('t='), params.get('p=')];
  if (memoryKiB === undefined || iterations === undefined || parallelism === undefined) return undefined;
  const max = limits.argon2Max;
  const excess = [
    memoryKiB > max.memoryKiB ? message('libraries.hash_argon2_memory', { value: memoryKiB, max: max.memoryKiB }) : '',
    memoryKiB * iterations > max.memoryKiBTimesIterations ? message('libraries.hash_argon2_memory_iterations', { value: memoryKiB * iterations, max: max.memoryKiBTimesIterations }) : '',
    parallelism > max.parallelism ? message('libraries.hash_argon2_parallelism', { value: parallelism, max: max.parallelism }) : '',
  ].filter(Boolean);
  return excess.length ? message('libraries.hash_argon2_above_limits', { excess: excess.join(message('libraries.hash_limits_joiner')) }) : undefined;
}

export type PasswordCheck = {
  valid: boolean;
  /** The hash is bcrypt or weaker argon2 than configured: store a new hash now that we know the password. */
  needsRehash: boolean;
};

// Hashed once per set of parameters, lazily: verifying against it when no account matches makes an
// unknown email cost the same work as a wrong password, also after the parameters were raised.
const dummyHashes = new Map<string, Promise<string>>();

export function dummyHashFor(options: HashOptions): Promise<string> {
  const key = `${options.memoryCost}:${options.timeCost}:${options.parallelism}`;
  let hash = dummyHashes.get(key);
  if (!hash) {
    hash = hashPassword('gatehouse-timing-equalizer', options);
    dummyHashes.set(key, hash);
  }
  return hash;
}

/**
 * Verifies a password. Both kinds run off the event loop, in libuv's thread pool (argon2 and bcrypt
 * are native addons), so a costly hash slows its own check, never the rest of the server.
 */
export async function checkPassword(hash: string | null | undefined, password: string, options: HashOptions = passwordHashOptions): Promise<PasswordCheck> {
  if (!hash) {
    await argon2.verify(await dummyHashFor(options), password.normalize('NFKC')).catch(() => false);
    return { valid: false, needsRehash: false };
  }
  try {
    if (hash.startsWith('$2')) {
      // bcrypt hashed the password as the other app received it (not normalized); $2y$ is PHP's
      // name for $2b$. bcrypt looks at the first 72 bytes only, which is why we rehash.
      const valid = await bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$'));
      return { valid, needsRehash: valid };
    }
    const valid = await argon2.verify(hash, password.normalize('NFKC'));
    // needsRehash compares parameters only: argon2i and argon2d hashes are upgraded to argon2id too.
    return { valid, needsRehash: valid && (!hash.startsWith('$argon2id$') || argon2.needsRehash(hash, options)) };
  } catch {
    return { valid: false, needsRehash: false };
  }
}

/** Measured verifications vary (a busy machine, a cold cache): the floor keeps this much headroom. */
const floorMargin = 1.25;

// One measurement per set of limits, made on first use rather than at start: a server that nobody
// signs in to, and every CLI command, pay nothing.
const failureFloors = new Map<string, Promise<number>>();

async function elapsed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work().catch(() => undefined);
  return performance.now() - started;
}

/**
 * How long a failed password check takes at least, in milliseconds: the slowest verification the
 * limits accept (bcrypt at the highest cost; argon2 at the most memory and work, one lane), measured
 * on this machine with a margin. Hashing costs what verifying costs, so each is timed by hashing
 * once, in the thread pool; one after the other, so that they do not slow each other down.
 */
export function failureFloorFor(limits: HashLimits): Promise<number> {
  const key = JSON.stringify(limits);
  let floor = failureFloors.get(key);
  if (!floor) {
    floor = (async () => {
      const { memoryKiB, memoryKiBTimesIterations } = limits.argon2Max;
      const bcryptMs = await elapsed(() => bcrypt.hash('gatehouse-timing-floor', limits.bcryptMaxCost));
      const argon2Ms = await elapsed(() => argon2.hash('gatehouse-timing-floor', {
        type: argon2.argon2id, memoryCost: memoryKiB, timeCost: Math.max(1, Math.floor(memoryKiBTimesIterations / memoryKiB)), parallelism: 1,
      }));
      return Math.max(bcryptMs, argon2Ms) * floorMargin;
    })();
    failureFloors.set(key, floor);
  }
  return floor;
}

/**
 * Waits (on a timer, not the CPU) until `floor` has passed since `startedAt` (a performance.now()
 * value), so that a failed sign-in answers after the same time whether the account is unknown, has
 * an argon2 hash or an imported bcrypt one.
 */
export async function padToFloor(startedAt: number, floor: Promise<number>): Promise<void> {
  const until = startedAt + (await floor);
  // A timer counts from the start of the event loop's turn, so it may end a little early: again then.
  for (let remaining = until - performance.now(); remaining > 0; remaining = until - performance.now()) await sleep(Math.ceil(remaining));
}
