import { isIPv4, isIPv6 } from 'node:net';

/**
 * Where the provider's own outgoing requests may go (Client ID Metadata Documents, `jwks_uri`s,
 * sector identifiers, logout receivers): pure decisions, tested exhaustively
 * (test/oidc/outgoing-requests.test.ts). The fetch that applies them is outgoing-requests.ts.
 *
 * An address is judged after DNS resolution, on the address actually connected to. Refused
 * everywhere: private networks, carrier-grade NAT, link-local, multicast, unspecified, reserved
 * and documentation ranges, and an IPv4 address hidden in an IPv6 one (IPv4-mapped, NAT64, 6to4)
 * when the IPv4 address is refused. Loopback is refused in production and allowed elsewhere, so
 * tests and a developer's laptop can serve documents locally.
 */

export type AddressVerdict = { ok: true } | { ok: false; reason: string };

type Range = { first: bigint; bits: number; prefix: number; reason: string };

const v4 = (text: string, prefix: number, reason: string): Range => ({ first: ipv4Value(text)!, bits: 32, prefix, reason });
const v6 = (text: string, prefix: number, reason: string): Range => ({ first: ipv6Value(text)!, bits: 128, prefix, reason });

/** Loopback: refused in production only. */
const loopbackRanges: Range[] = [v4('127.0.0.0', 8, 'loopback'), v6('::1', 128, 'loopback')];

/** Never a destination of the provider's requests. */
const refusedRanges: Range[] = [
  v4('0.0.0.0', 8, 'unspecified'),
  v4('10.0.0.0', 8, 'private'),
  v4('100.64.0.0', 10, 'carrier-grade NAT'),
  v4('169.254.0.0', 16, 'link-local'),
  v4('172.16.0.0', 12, 'private'),
  v4('192.0.0.0', 24, 'IETF protocol assignment'),
  v4('192.0.2.0', 24, 'documentation'),
  v4('192.88.99.0', 24, '6to4 relay anycast'),
  v4('192.168.0.0', 16, 'private'),
  v4('198.18.0.0', 15, 'benchmarking'),
  v4('198.51.100.0', 24, 'documentation'),
  v4('203.0.113.0', 24, 'documentation'),
  v4('224.0.0.0', 4, 'multicast'),
  v4('240.0.0.0', 4, 'reserved'),
  v6('::', 128, 'unspecified'),
  v6('::', 96, 'IPv4-compatible (deprecated)'),
  v6('64:ff9b:1::', 48, 'local-use NAT64'),
  v6('100::', 64, 'discard-only'),
  v6('2001:db8::', 32, 'documentation'),
  v6('3fff::', 20, 'documentation'),
  v6('5f00::', 16, 'SRv6 SIDs'),
  v6('fc00::', 7, 'unique local (private)'),
  v6('fe80::', 10, 'link-local'),
  v6('fec0::', 10, 'site-local (deprecated)'),
  v6('ff00::', 8, 'multicast'),
];

/** IPv6 prefixes that carry an IPv4 address, judged by that address: [prefix, bits, where the IPv4 address sits (bits from the right)]. */
const embeddingRanges: Array<{ range: Range; shift: bigint }> = [
  { range: v6('::ffff:0:0', 96, 'IPv4-mapped'), shift: 0n },
  { range: v6('64:ff9b::', 96, 'NAT64'), shift: 0n },
  { range: v6('2002::', 16, '6to4'), shift: 80n },
];

function inRange(value: bigint, range: Range): boolean {
  const hostBits = BigInt(range.bits - range.prefix);
  return value >> hostBits === range.first >> hostBits;
}

/** A dotted-quad IPv4 address as a number; undefined when it is not one. */
export function ipv4Value(text: string): bigint | undefined {
  if (!isIPv4(text)) return undefined;
  return text.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n);
}

/** An IPv6 address (a zone index dropped, an embedded dotted quad allowed) as a number; undefined when it is not one. */
export function ipv6Value(text: string): bigint | undefined {
  const address = text.replace(/%.*$/u, '');
  if (!isIPv6(address)) return undefined;
  let groups = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/u.exec(address);
  if (dotted) {
    const value = ipv4Value(dotted[1]!)!;
    groups = `${address.slice(0, dotted.index)}${(value >> 16n).toString(16)}:${(value & 0xffffn).toString(16)}`;
  }
  const [head, tail] = groups.includes('::') ? groups.split('::') as [string, string] : [groups, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  const all = [...left, ...Array<string>(missing).fill('0'), ...right];
  return all.reduce((value, group) => (value << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}

/** The IPv4 address an IPv6 one carries (IPv4-mapped, NAT64, 6to4), as dotted quad text. */
function embeddedIpv4(value: bigint): string | undefined {
  for (const { range, shift } of embeddingRanges) {
    if (!inRange(value, range)) continue;
    const ipv4 = (value >> shift) & 0xffffffffn;
    return [24n, 16n, 8n, 0n].map((bits) => String((ipv4 >> bits) & 0xffn)).join('.');
  }
  return undefined;
}

/**
 * May the provider connect to this address (an IP address as DNS or a socket gives it)? Anything
 * that is not an IP address is refused.
 */
export function judgeAddress(address: string, options: { allowLoopback: boolean }): AddressVerdict {
  // A bracketed host is an IPv6 address (as a URL spells it); brackets around anything else are not an address.
  const bracketed = address.startsWith('[') && address.endsWith(']');
  const text = bracketed ? address.slice(1, -1) : address;
  if (bracketed && !text.includes(':')) return { ok: false, reason: `${JSON.stringify(address)} is not an IP address` };
  const four = ipv4Value(text);
  if (four !== undefined) {
    const ranges = options.allowLoopback ? refusedRanges : [...loopbackRanges, ...refusedRanges];
    const hit = ranges.find((range) => range.bits === 32 && inRange(four, range));
    return hit ? { ok: false, reason: `${text} is a ${hit.reason} address` } : { ok: true };
  }
  const six = ipv6Value(text);
  if (six === undefined) return { ok: false, reason: `${JSON.stringify(address)} is not an IP address` };
  const embedded = embeddedIpv4(six);
  if (embedded !== undefined) {
    const inner = judgeAddress(embedded, options);
    return inner.ok ? inner : { ok: false, reason: `${text} carries ${inner.reason}` };
  }
  // ::1 sits inside the deprecated IPv4-compatible range: loopback is decided first.
  if (six === 1n) return options.allowLoopback ? { ok: true } : { ok: false, reason: `${text} is a loopback address` };
  if (/%/u.test(text)) return { ok: false, reason: `${text} is a link-local address (it has a zone)` };
  const ranges = options.allowLoopback ? refusedRanges : [...loopbackRanges, ...refusedRanges];
  const hit = ranges.find((range) => range.bits === 128 && inRange(six, range));
  return hit ? { ok: false, reason: `${text} is a ${hit.reason} address` } : { ok: true };
}

/** Whether this IP address is a loopback one (127/8, ::1, ::ffff:127.x). */
export function isLoopbackAddress(address: string): boolean {
  return judgeAddress(address, { allowLoopback: true }).ok && !judgeAddress(address, { allowLoopback: false }).ok;
}

/**
 * The operator's policy on Client ID Metadata Documents: `hosts` null accepts any host; a list
 * accepts a `client_id` whose host (`host[:port]`, lower case; the port only when it is not 443)
 * is on it. Only https URLs without credentials or a fragment are ever fetched.
 */
export function metadataDocumentHostAllowed(clientId: string, hosts: readonly string[] | null): boolean {
  const url = URL.parse(clientId);
  if (!url || url.protocol !== 'https:' || url.username || url.password || url.hash) return false;
  if (hosts === null) return true;
  return hosts.includes(url.host.toLowerCase());
}
