import { CorruptDataError, ValidationError } from '../errors.js';

export const JSON_LIMITS = {
  /** Nesting depth of objects/arrays in a context, outputs or message payload. */
  maxDepth: 64,
} as const;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Checks that `value` is plain JSON data (no functions, class instances, cycles, NaN, undefined
 * values inside arrays, prototype-polluting keys) within the depth limit. Throws ValidationError.
 */
export function assertJsonValue(value: unknown, what: string, depth = 0, seen = new Set<object>()): void {
  if (depth > JSON_LIMITS.maxDepth) throw new ValidationError(`${what} is nested deeper than ${JSON_LIMITS.maxDepth} levels`);
  if (value === null) return;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(value)) throw new ValidationError(`${what} holds a non-finite number`);
      return;
    case 'object': {
      if (seen.has(value)) throw new ValidationError(`${what} contains a cycle`);
      seen.add(value);
      if (Array.isArray(value)) {
        value.forEach((item, i) => {
          assertJsonValue(item, `${what}[${i}]`, depth + 1, seen);
        });
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw new ValidationError(`${what} is not a plain JSON object (${(value as object).constructor?.name ?? 'unknown'})`);
        }
        for (const key of Object.keys(value)) {
          if (FORBIDDEN_KEYS.has(key)) throw new ValidationError(`${what} uses the forbidden key '${key}'`);
          const item = (value as Record<string, unknown>)[key];
          if (item === undefined) continue;
          assertJsonValue(item, `${what}.${key}`, depth + 1, seen);
        }
      }
      seen.delete(value);
      return;
    }
    default:
      throw new ValidationError(`${what} holds a ${typeof value}, which JSON cannot carry`);
  }
}

export function assertJsonObject(value: unknown, what: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ValidationError(`${what} must be an object`);
  assertJsonValue(value, what);
}

/** JSON.parse that never returns objects with prototype-polluting keys and names the bad row. */
export function parseJson<T = unknown>(text: string | null | undefined, where: string, fallback: T): T {
  if (text === null || text === undefined || text === '') return fallback;
  try {
    // The reviver is slow; only text that mentions a forbidden key needs it.
    if (!/__proto__|constructor|prototype/.test(text)) return JSON.parse(text) as T;
    return JSON.parse(text, (key, value) => (FORBIDDEN_KEYS.has(key) ? undefined : value)) as T;
  } catch (error) {
    throw new CorruptDataError(`Malformed JSON in ${where}: ${(error as Error).message}`, { cause: error });
  }
}
