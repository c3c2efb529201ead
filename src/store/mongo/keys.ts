/**
 * MongoDB reads '.' in a field name as a path and '$' at its start as an operator, so free-form
 * objects (oidc payloads, client metadata, profiles, JWKs) have their keys escaped before they are
 * stored. Percent-encoding '%' too keeps the mapping reversible: a stored key can never be mistaken
 * for an escaped one. Keys without these characters (all the ones Gatehouse queries) are unchanged.
 */

const encoded: Record<string, string> = { '%': '%25', '.': '%2E', $: '%24' };
const decoded: Record<string, string> = { '%25': '%', '%2E': '.', '%24': '$' };

function escapeKey(key: string): string {
  return key.replace(/[%.$]/g, (character) => encoded[character]!);
}

function unescapeKey(key: string): string {
  return key.replace(/%(?:25|2E|24)/g, (sequence) => decoded[sequence]!);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function mapKeys(value: unknown, rename: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((item) => mapKeys(item, rename));
  if (!isPlainObject(value)) return value;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    // Dropped as JSON (and so the SQLite backend) drops them; the driver would store null instead.
    if (item === undefined) continue;
    result[rename(key)] = mapKeys(item, rename);
  }
  return result;
}

/** A copy of `value` with every object key, at any depth, safe to store. */
export function escapeKeys<T>(value: T): T {
  return mapKeys(value, escapeKey) as T;
}

/** The inverse of `escapeKeys`. */
export function unescapeKeys<T>(value: T): T {
  return mapKeys(value, unescapeKey) as T;
}
