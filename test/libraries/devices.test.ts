import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { describeDevice, devicesLibrary, placeLookupFrom } from '../../src/libraries/devices.ts';
import { runInRequest } from '../../src/request-context.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { Store } from '../../src/store/types.ts';
import type { MovableClock } from '../helpers/clock.ts';

/** A clock that stands still until moved: the times written are compared to the millisecond. */
function standingClock(): MovableClock {
  let now = Date.now();
  const clock = (() => new Date(now)) as MovableClock;
  clock.advance = (ms: number) => {
    now += ms;
  };
  clock.rewind = () => undefined;
  return clock;
}

/**
 * The devices library: user agents in words (bowser), places from a MaxMind-format database (a
 * tiny one built here, byte by byte, in the format's published layout), and the throttling that
 * keeps a session to one write a minute.
 */

// MaxMind DB data section encoding: a control byte holds the type (top 3 bits) and size (low 5).
const text = (value: string) => Buffer.concat([Buffer.from([0x40 | value.length]), Buffer.from(value, 'utf8')]);
const map = (entries: Array<[string, Buffer]>) => Buffer.concat([Buffer.from([0xe0 | entries.length]), ...entries.flatMap(([key, value]) => [text(key), value])]);
const uint16 = (value: number) => Buffer.from([0xa2, value >> 8, value & 0xff]);
const uint32 = (value: number) => Buffer.from([0xc4, (value >>> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff]);
// Extended types: type bits 0, then a byte with the type less 7 (array: 11, uint64: 9).
const array = (items: Buffer[]) => Buffer.concat([Buffer.from([items.length, 11 - 7]), ...items]);
const uint64 = (value: number) => Buffer.from([0x04, 9 - 7, (value >>> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff]);

/**
 * An IPv4 MaxMind database with one network: `prefix` (/`bits`) is in `city`, `country`. The search
 * tree is one node per bit of the prefix (24-bit records); the other branch of each is "no data".
 */
function tinyCityDatabase(prefix: string, bits: number, city: string, country: string, germanCountry?: string): Buffer {
  const countryNames = map([['en', text(country)], ...(germanCountry ? [['de', text(germanCountry)] as [string, Buffer]] : [])]);
  const data = map([['city', map([['names', map([['en', text(city)]])]])], ['country', map([['names', countryNames]])]]);
  const address = prefix.split('.').reduce((value, octet) => (value << 8) | Number(octet), 0) >>> 0;
  const nodeCount = bits;
  const record = (value: number) => Buffer.from([(value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff]);
  const nodes: Buffer[] = [];
  for (let bit = 0; bit < bits; bit += 1) {
    const one = ((address >>> (31 - bit)) & 1) === 1;
    const onward = bit === bits - 1 ? nodeCount + 16 : bit + 1; // the last bit points at the data (offset 0)
    nodes.push(one ? Buffer.concat([record(nodeCount), record(onward)]) : Buffer.concat([record(onward), record(nodeCount)]));
  }
  const metadata = map([
    ['node_count', uint32(nodeCount)], ['record_size', uint16(24)], ['ip_version', uint16(4)], ['database_type', text('Test-City')],
    ['languages', array([text('en')])], ['binary_format_major_version', uint16(2)], ['binary_format_minor_version', uint16(0)],
    ['build_epoch', uint64(1_700_000_000)], ['description', map([['en', text('test')]])],
  ]);
  return Buffer.concat([...nodes, Buffer.alloc(16), data, Buffer.from([0xab, 0xcd, 0xef]), Buffer.from('MaxMind.com'), metadata]);
}

describe('describeDevice', () => {
  it('names the browser (major version) and the OS', () => {
    expect(describeDevice('Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0')).toEqual({ browser: 'Firefox 128', os: 'Linux' });
    expect(describeDevice('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36'))
      .toEqual({ browser: 'Chrome 126', os: 'Windows 10' });
    expect(describeDevice('Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1'))
      .toEqual({ browser: 'Safari 17', os: 'iOS 17.5' });
  });

  it('knows nothing of a missing or meaningless user agent', () => {
    expect(describeDevice(null)).toEqual({ browser: null, os: null });
    expect(describeDevice('')).toEqual({ browser: null, os: null });
    expect(describeDevice('\u0000\u0001 not a browser')).toMatchObject({ os: null });
  });
});

describe('places (GEOIP_DATABASE)', () => {
  it('finds the city and country of an address in a MaxMind-format database, and nothing elsewhere', () => {
    const lookup = placeLookupFrom(tinyCityDatabase('203.0.113.0', 24, 'Testville', 'Testland'));
    expect(lookup('203.0.113.7')).toBe('Testville, Testland');
    expect(lookup('::ffff:203.0.113.200')).toBe('Testville, Testland');
    expect(lookup('198.51.100.7')).toBeUndefined();
    expect(lookup('not an address')).toBeUndefined();
    expect(lookup(undefined)).toBeUndefined();
  });

  it('names the place in the reader’s language where the database has it, else in English', () => {
    const lookup = placeLookupFrom(tinyCityDatabase('203.0.113.0', 24, 'Testville', 'Testland', 'Testlandia'));
    expect(runInRequest({ requestId: 'de', locale: 'de' }, () => lookup('203.0.113.7'))).toBe('Testville, Testlandia');
    expect(runInRequest({ requestId: 'ar', locale: 'ar' }, () => lookup('203.0.113.7'))).toBe('Testville, Testland');
    expect(lookup('203.0.113.7')).toBe('Testville, Testland');
  });

  it('is off without GEOIP_DATABASE, and off (not failing) with a file that is no database', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-geoip-'));
    try {
      const store = openSqliteStore(join(dir, 'gatehouse.db'));
      const warnings: string[] = [];
      const logger = { warn: (line: string) => warnings.push(line), info: () => undefined, error: () => undefined, debug: () => undefined } as never;
      expect(devicesLibrary({ store, clock: () => new Date(), config: {} }).placeOf('203.0.113.7')).toBeUndefined();
      writeFileSync(join(dir, 'broken.mmdb'), 'not a database');
      const broken = devicesLibrary({ store, clock: () => new Date(), config: { geoipDatabase: join(dir, 'broken.mmdb') }, logger });
      expect(broken.placeOf('203.0.113.7')).toBeUndefined();
      expect(broken.placeOf('203.0.113.8')).toBeUndefined();
      expect(warnings).toHaveLength(1);
      writeFileSync(join(dir, 'city.mmdb'), tinyCityDatabase('203.0.113.0', 24, 'Testville', 'Testland'));
      expect(devicesLibrary({ store, clock: () => new Date(), config: { geoipDatabase: join(dir, 'city.mmdb') } }).placeOf('203.0.113.9')).toBe('Testville, Testland');
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('recording sessions', () => {
  let dir: string;
  let store: Store;
  let clock: MovableClock;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-devices-'));
    clock = standingClock();
    store = openSqliteStore(join(dir, 'gatehouse.db'), () => clock().getTime());
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes a session at most once a minute, and at once when its sign-in changed', async () => {
    const devices = devicesLibrary({ store, clock, config: {} });
    const expiresAt = new Date(clock().getTime() + 3_600_000);
    const seen = { sessionId: 's-1', accountId: 'acct-1', userAgent: 'Firefox', sourceAddress: '192.0.2.1', amr: ['pwd'], loginTs: 100, expiresAt };
    const start = clock();
    await devices.sessionSeen(seen);
    clock.advance(30_000);
    await devices.sessionSeen({ ...seen, sourceAddress: '192.0.2.2' });
    let [row] = await store.sessionActivity.listSessions('acct-1', clock());
    expect(row).toMatchObject({ sourceAddress: '192.0.2.1', firstSeenAt: start, lastSeenAt: start });

    clock.advance(31_000);
    await devices.sessionSeen({ ...seen, sourceAddress: '192.0.2.2' });
    [row] = await store.sessionActivity.listSessions('acct-1', clock());
    expect(row).toMatchObject({ sourceAddress: '192.0.2.2', firstSeenAt: start });
    expect(row!.lastSeenAt.getTime()).toBe(start.getTime() + 61_000);

    // A second factor added to the session's sign-in is written at once.
    clock.advance(1_000);
    await devices.sessionSeen({ ...seen, amr: ['pwd', 'otp'] });
    [row] = await store.sessionActivity.listSessions('acct-1', clock());
    expect(row!.amr).toEqual(['pwd', 'otp']);
  });

  it('records an app\'s last use at most once a minute', async () => {
    const devices = devicesLibrary({ store, clock, config: {} });
    const start = clock();
    await devices.appUsed('acct-1', 'app');
    clock.advance(59_000);
    await devices.appUsed('acct-1', 'app');
    expect((await store.sessionActivity.findApp('acct-1', 'app'))!.lastUsedAt).toEqual(start);
    clock.advance(2_000);
    await devices.appUsed('acct-1', 'app');
    expect((await store.sessionActivity.findApp('acct-1', 'app'))!.lastUsedAt!.getTime()).toBe(start.getTime() + 61_000);
  });

  it('lists only live sessions, whatever rows are left of ended ones', async () => {
    const devices = devicesLibrary({ store, clock, config: {} });
    await store.oidc.model('Session').upsert('s-live', { jti: 's-live', accountId: 'acct-1', loginTs: 1_700_000_000, amr: ['pwd'], authorizations: { app: { sid: 'x' } } }, 3600);
    await devices.sessionSeen({ sessionId: 's-gone', accountId: 'acct-1', amr: ['pwd'], expiresAt: new Date(clock().getTime() + 3_600_000) });
    const sessions = await devices.sessions('acct-1');
    expect(sessions.map((session) => session.id)).toEqual(['s-live']);
    expect(sessions[0]).toMatchObject({ browser: null, os: null, amr: ['pwd'], clientIds: ['app'], signedInAt: new Date(1_700_000_000_000) });
  });
});
