import { availableParallelism } from 'node:os';

import { describe, expect, it } from 'vitest';

import { loadConfig, parseWorkers } from '../../src/config/load-config.ts';
import { GatehouseError } from '../../src/errors.ts';
import { defaultBackoff, restartDelay } from '../../src/cluster.ts';
import { caught } from '../helpers/caught.ts';

const cwd = '/srv/gatehouse';

function workersError(env: NodeJS.ProcessEnv): string {
  const error = caught(() => loadConfig(env, cwd));
  expect(error).toBeInstanceOf(GatehouseError);
  expect((error as GatehouseError).code).toBe('invalid_config');
  const { message } = error as GatehouseError;
  expect(message).toMatch(/^WORKERS /);
  expect(message).not.toContain('\n');
  return message;
}

describe('WORKERS', () => {
  it('is 1 by default: one process, no cluster', () => {
    expect(loadConfig({}, cwd).workers).toBe(1);
  });

  it('takes a whole number of workers', () => {
    expect(loadConfig({ WORKERS: '1' }, cwd).workers).toBe(1);
    expect(loadConfig({ WORKERS: '4' }, cwd).workers).toBe(4);
    expect(loadConfig({ WORKERS: ' 2 ' }, cwd).workers).toBe(2);
  });

  it('auto is one worker per core', () => {
    expect(loadConfig({ WORKERS: 'auto' }, cwd).workers).toBe(availableParallelism());
    expect(parseWorkers('auto', 8)).toBe(8);
    expect(parseWorkers('auto', 1)).toBe(1);
  });

  it.each(['0', '-1', '1.5', 'two', '', 'AUTO ', '257', '1e2'])('refuses %j with one line naming the variable', (value) => {
    expect(workersError({ WORKERS: value })).toContain(JSON.stringify(value));
  });

  it('refuses more than one worker on an ephemeral port without an explicit issuer', () => {
    expect(workersError({ WORKERS: '2', PORT: '0' })).toContain('ISSUER');
    expect(loadConfig({ WORKERS: '2', PORT: '0', ISSUER: 'http://127.0.0.1:8443' }, cwd).workers).toBe(2);
    expect(loadConfig({ WORKERS: '1', PORT: '0' }, cwd).workers).toBe(1);
  });
});

describe('restart backoff', () => {
  it('doubles for crashes in a row, up to the maximum', () => {
    expect(restartDelay(1)).toBe(defaultBackoff.initialMs);
    expect(restartDelay(2)).toBe(defaultBackoff.initialMs * 2);
    expect(restartDelay(3)).toBe(defaultBackoff.initialMs * 4);
    expect(restartDelay(100)).toBe(defaultBackoff.maxMs);
  });
});
