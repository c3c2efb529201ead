import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

import { checkPassword, hashPassword } from '../../src/libraries/passwords.ts';
import type { HashOptions } from '../../src/libraries/passwords.ts';
import { percentile } from './load.ts';

export type Argon2Figures = {
  memoryKiB: number;
  iterations: number;
  parallelism: number;
  /** Median milliseconds for one hash, and for one verification (what a login costs). */
  hashMs: number;
  verifyMs: number;
  /** 1000 / verifyMs: logins one core can check per second, with nothing else to do. */
  loginsPerSecondPerCore: number;
  /** The longest the event loop of this process stalled while 4 hashes ran at once (argon2 runs in libuv's thread pool). */
  eventLoopMaxStallMs: number;
};

/** argon2id at the configured parameters, through the code Gatehouse hashes and verifies with. */
export async function measureArgon2(options: HashOptions, count: number): Promise<Argon2Figures> {
  const password = 'a password of reasonable length 1234';
  const hashes: number[] = [];
  const verifies: number[] = [];
  await hashPassword(password, options); // warm-up
  for (let index = 0; index < count; index += 1) {
    let started = performance.now();
    const hash = await hashPassword(password, options);
    hashes.push(performance.now() - started);
    started = performance.now();
    const { valid } = await checkPassword(hash, password, options);
    verifies.push(performance.now() - started);
    if (!valid) throw new Error('argon2 verification failed');
  }
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  await Promise.all(Array.from({ length: 4 }, () => hashPassword(password, options)));
  delay.disable();
  const verifyMs = percentile(verifies, 50);
  return {
    memoryKiB: options.memoryCost,
    iterations: options.timeCost,
    parallelism: options.parallelism,
    hashMs: percentile(hashes, 50),
    verifyMs,
    loginsPerSecondPerCore: 1000 / verifyMs,
    eventLoopMaxStallMs: delay.max / 1e6,
  };
}
