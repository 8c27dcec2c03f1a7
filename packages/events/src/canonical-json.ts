// Canonical JSON, the input of every integrity hash: object keys sorted by UTF-16 code units,
// no whitespace, strings and numbers exactly as JSON.stringify writes them (so non-ASCII stays
// literal, 1.0 is 1, -0 is 0), `undefined` members left out and undefined array items written as
// null (as JSON.stringify does). Non-finite numbers are rejected rather than silently nulled.
import { createHash } from 'node:crypto';

/** Version of the hash input format, stored with snapshots so a future change stays readable. */
export const HASH_ALGORITHM = 'sha256-canonical-json-v1';

export function canonicalJson(value: unknown): string {
  return write(value, new Set());
}

function write(value: unknown, seen: Set<object>): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON form`);
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} has no JSON form`);
  }
  const object = value as object;
  if (typeof (object as { toJSON?: unknown }).toJSON === 'function') return write((object as { toJSON(): unknown }).toJSON(), seen);
  if (seen.has(object)) throw new TypeError('canonicalJson: circular structure');
  seen.add(object);
  let out: string;
  if (Array.isArray(object)) {
    out = `[${object.map((item) => (item === undefined || typeof item === 'function' ? 'null' : write(item, seen))).join(',')}]`;
  } else {
    const record = object as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined && typeof record[k] !== 'function')
      .sort();
    out = `{${keys.map((k) => `${JSON.stringify(k)}:${write(record[k], seen)}`).join(',')}}`;
  }
  seen.delete(object);
  return out;
}

/** SHA-256 (hex) of the canonical JSON of `value`. */
export function stateHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value), 'utf8').digest('hex');
}
