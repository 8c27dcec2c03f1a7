// Small readers for stage-context values, with the upstream (Python) truthiness rules.
import { type Context, TaskResult, TransientError } from '@stabilize/core';

export const MiB = 1024 * 1024;

/** Python truthiness: null, undefined, false, 0, '', [] and {} are false. */
export function truthy(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value as object).length > 0;
  return Boolean(value);
}

/** The value when it is a finite number (or a numeric string), else `fallback`. */
export function numberOr(value: unknown, fallback: number): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return fallback;
}

export function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A list of strings from a list value (other items stringified); [] for anything else. */
export function stringList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.filter((v) => v !== null && v !== undefined).map((v) => renderValue(v));
}

/**
 * Text for a context value substituted into a command, URL or environment: strings as they are,
 * numbers and booleans with `String()`, objects and arrays as JSON.
 */
export function renderValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return JSON.stringify(value);
}

/** A Python-style list literal of numbers: `[0, 1]`. */
export function pyList(values: readonly unknown[]): string {
  return `[${values.map((v) => (typeof v === 'string' ? `'${v}'` : String(v))).join(', ')}]`;
}

/**
 * Merges `env` (stringified, null/undefined entries dropped) over a copy of the parent environment.
 */
export function mergeEnv(env: unknown, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...base };
  if (isPlainObject(env)) {
    for (const [key, value] of Object.entries(env)) {
      if (value === null || value === undefined) continue;
      merged[key] = renderValue(value);
    }
  }
  return merged;
}

/** Whether a path has a `..` segment. */
export function hasTraversal(path: string): boolean {
  return path.split(/[\\/]/).includes('..');
}

/** Masks secret values in text. Longest first, so a secret containing another is masked whole. */
export class SecretMasker {
  private readonly values: string[];
  constructor(values: Iterable<string>) {
    this.values = [...new Set([...values].filter((v) => v.length > 0))].sort((a, b) => b.length - a.length);
  }
  static fromContext(context: Context, keysValue: unknown, extra: (value: string) => string[] = () => []): SecretMasker {
    const values: string[] = [];
    for (const key of stringList(keysValue)) {
      const raw = context[key];
      if (raw === null || raw === undefined) continue;
      const text = renderValue(raw);
      if (text === '') continue;
      values.push(text, ...extra(text));
    }
    return new SecretMasker(values);
  }
  get empty(): boolean {
    return this.values.length === 0;
  }
  mask(text: string): string {
    let out = text;
    for (const v of this.values) out = out.split(v).join('***');
    return out;
  }
}

export interface FailureOptions {
  continueOnFailure: boolean;
  /** Throw a TransientError (the engine retries) instead of returning. */
  restartOnFailure?: boolean;
}

/**
 * The failure ladder shared by the subprocess and HTTP tasks: restart (TransientError carrying the
 * outputs as `_last_outputs`), continue (FAILED_CONTINUE, data in outputs) or TERMINAL (data in context).
 */
export function failure(message: string, data: Context, options: FailureOptions): TaskResult {
  if (options.restartOnFailure) throw new TransientError(message, { contextUpdate: { _last_outputs: data } });
  if (options.continueOnFailure) return TaskResult.failedContinue(message, { outputs: data });
  return TaskResult.terminal(message, { context: data });
}

/** Seconds as written in messages: `1`, `0.5`. */
export function seconds(value: number): string {
  return String(value);
}
