import { isIPv4 } from 'node:net';

import { describe, expect, it } from 'vitest';

import { sourceKey } from '../../src/limits/source-key.ts';

describe('sourceKey', () => {
  it('keys an IPv4 address by itself, mapped (::ffff:) or not', () => {
    expect(sourceKey('192.0.2.1')).toBe('192.0.2.1');
    expect(sourceKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(sourceKey('::FFFF:192.0.2.1')).toBe('192.0.2.1');
    expect(sourceKey('0:0:0:0:0:ffff:c000:0201')).toBe('192.0.2.1');
    expect(sourceKey(' 192.0.2.1 ')).toBe('192.0.2.1');
  });

  it('keys an IPv6 address by its /64, ignoring a zone index', () => {
    expect(sourceKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:DB8:1:2::9')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8:1:3::9')).toBe('2001:db8:1:3::/64');
    expect(sourceKey('::ffff:c000:201')).toBe('192.0.2.1');
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
    expect(sourceKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
  });

  it('keeps anything else as typed (bounded), and names a missing address', () => {
    expect(sourceKey('256.1.1.1')).toBe('256.1.1.1');
    expect(sourceKey('not an address')).toBe('not an address');
    expect(sourceKey('::ffff:300.1.1.1')).toBe('::ffff:300.1.1.1');
    expect(sourceKey('x'.repeat(100))).toBe('x'.repeat(64));
    expect(sourceKey(undefined)).toBe('unknown');
    expect(sourceKey('')).toBe('unknown');
  });

  it('agrees with node:net on which strings are IPv4 addresses (the fast path is only a shortcut)', () => {
    const octets = ['0', '1', '9', '10', '01', '00', '99', '100', '199', '200', '249', '250', '255', '256', '300', '1000', '-1', ''];
    for (const a of octets) for (const b of ['0', '255', '01']) for (const d of octets) {
      const address = `${a}.${b}.7.${d}`;
      expect(sourceKey(address) === address && isIPv4(address), address).toBe(isIPv4(address));
      expect(sourceKey(`::ffff:${address}`) === address, `::ffff:${address}`).toBe(isIPv4(address));
    }
  });
});
