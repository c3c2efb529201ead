import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createDevicePolling, judgePoll, pollIntervalSeconds, pollToleranceMs, pollWindowMs } from '../../src/oidc/device-polling.ts';
import type { PollState } from '../../src/oidc/device-polling.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';

/** Polls at these times (ms after the first), through judgePoll; the answers and intervals told. */
function run(times: number[], base = pollIntervalSeconds): Array<{ answer: string; interval: number }> {
  let state: PollState | undefined;
  return times.map((at) => {
    const judged = judgePoll(state, at, base);
    state = judged.state;
    return { answer: judged.answer, interval: judged.intervalSeconds };
  });
}

describe('judgePoll: slow_down by RFC 8628 §3.5', () => {
  it('the first poll is on time and opens a window of the interval, less the tolerance', () => {
    const judged = judgePoll(undefined, 1_000);
    expect(judged).toEqual({ answer: 'go_on', intervalSeconds: 5, state: { windowEndsAt: 1_000 + 5_000 - pollToleranceMs, extraSeconds: 0 } });
    expect(pollWindowMs(5, 10)).toBe(15_000 - pollToleranceMs);
  });

  it('a device that waits the interval after each answer is never told to slow down, whatever the jitter within the tolerance', () => {
    let at = 0;
    const times = Array.from({ length: 200 }, (_, i) => {
      // Arrivals early by up to the tolerance, or late by up to 2 s.
      at += 5_000 + ((i * 7919) % 3_000) - (pollToleranceMs - 1);
      return at;
    });
    expect(run([0, ...times]).every((poll) => poll.answer === 'go_on' && poll.interval === 5)).toBe(true);
  });

  it('an early poll gets slow_down and the interval grows by 5 s for this and every later poll', () => {
    expect(run([0, 100, 5_000, 9_000, 15_000, 30_000])).toEqual([
      { answer: 'go_on', interval: 5 },
      { answer: 'slow_down', interval: 10 },
      // The first window was still the old one: waiting the interval told is on time.
      { answer: 'go_on', interval: 10 },
      { answer: 'slow_down', interval: 15 },
      // The window opened at 5 s was 10 s (less the tolerance): 15 s is after it.
      { answer: 'go_on', interval: 15 },
      { answer: 'go_on', interval: 15 },
    ]);
  });

  it('a device hammering the endpoint is told a longer interval each time, and gets through only once a window has passed', () => {
    const hammering = run(Array.from({ length: 10 }, (_, i) => i * 10));
    expect(hammering[0]).toEqual({ answer: 'go_on', interval: 5 });
    expect(hammering.slice(1).map((poll) => poll.answer)).toEqual(Array(9).fill('slow_down'));
    expect(hammering.at(-1)!.interval).toBe(5 + 9 * 5);
  });

  it('a poll exactly at the end of the window is on time; one millisecond before is early', () => {
    const opened = judgePoll(undefined, 0).state;
    expect(judgePoll(opened, opened.windowEndsAt).answer).toBe('go_on');
    expect(judgePoll(opened, opened.windowEndsAt - 1).answer).toBe('slow_down');
  });
});

describe('createDevicePolling: judgePoll kept in the rate-limits store', () => {
  let dir: string;
  let now = Date.parse('2026-01-01T00:00:00Z');
  const clock = () => new Date(now);
  let first: Store;
  let second: Store;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-device-polling-'));
    first = openSqliteStore(join(dir, 'store.db'), () => now);
    // A second instance on the same database: what one decides, the other sees.
    second = openSqliteStore(join(dir, 'store.db'), () => now);
  });
  afterAll(async () => {
    await first?.close();
    await second?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers as judgePoll does, across two instances, for the same sequence', async () => {
    const instances = [createDevicePolling({ store: first.rateLimits, clock }), createDevicePolling({ store: second.rateLimits, clock })];
    const start = now;
    const offsets = [0, 100, 5_000, 9_000, 15_000, 30_000, 30_500, 44_000, 60_000];
    const answers = [];
    for (const [i, offset] of offsets.entries()) {
      now = start + offset;
      const answer = await instances[i % 2]!.poll('device-code-a');
      answers.push({ answer: answer.answer, interval: answer.intervalSeconds });
    }
    expect(answers).toEqual(run(offsets));
  });

  it('concurrent polls of one code get exactly one go_on', async () => {
    const polling = createDevicePolling({ store: first.rateLimits, clock });
    const other = createDevicePolling({ store: second.rateLimits, clock });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : polling).poll('device-code-b')));
    expect(answers.filter((answer) => answer.answer === 'go_on')).toHaveLength(1);
  });

  it('codes are judged apart, and the store never holds the code itself', async () => {
    const polling = createDevicePolling({ store: first.rateLimits, clock });
    expect((await polling.poll('device-code-c')).answer).toBe('go_on');
    expect((await polling.poll('device-code-d')).answer).toBe('go_on');
    expect(await first.rateLimits.get('device-poll:device-code-c', clock())).toBeUndefined();
  });

  it('knows an issued code has expired by its own clock; an unknown code is not "expired"', async () => {
    const polling = createDevicePolling({ store: first.rateLimits, clock });
    await polling.issued('device-code-e', 600);
    expect(await polling.expired('device-code-e')).toBe(false);
    now += 599_000;
    expect(await polling.expired('device-code-e')).toBe(false);
    now += 1_000;
    expect(await polling.expired('device-code-e')).toBe(true);
    expect(await polling.expired('never-issued')).toBe(false);
  });
});
