// Guards for task authors. Each throws a non-transient error, so a failed assertion fails the task.
import { PermanentError } from '../errors.js';
import type { StageExecution } from '../model/stage-execution.js';

/** A required value is missing from the stage context or has the wrong type. */
export class ContextError extends PermanentError {
  constructor(message: string, readonly key: string) {
    super(message);
  }
}

export class OutputError extends PermanentError {
  constructor(message: string, readonly key: string) {
    super(message);
  }
}

export class ConfigError extends PermanentError {}

type TypeName = 'string' | 'number' | 'boolean' | 'object' | 'array';

function typeOf(value: unknown): TypeName | 'null' | 'undefined' | 'other' {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const t = typeof value;
  return t === 'string' || t === 'number' || t === 'boolean' || t === 'object' || t === 'undefined' ? t : 'other';
}

/** Every key is present (not undefined/null) in the stage context. Returns the first key's value. */
export function assertContext<T = unknown>(stage: StageExecution, ...keys: string[]): T {
  for (const key of keys) {
    const value = stage.context[key];
    if (value === undefined || value === null) throw new ContextError(`Required context key '${key}' is missing in stage '${stage.refId}'`, key);
  }
  return stage.context[keys[0] ?? ''] as T;
}

export function assertContextType<T = unknown>(stage: StageExecution, key: string, expected: TypeName): T {
  const value = assertContext<T>(stage, key);
  if (typeOf(value) !== expected) throw new ContextError(`Context key '${key}' must be ${expected}, got ${typeOf(value)}`, key);
  return value;
}

export function assertContextIn<T>(stage: StageExecution, key: string, allowed: readonly T[]): T {
  const value = assertContext<T>(stage, key);
  if (!allowed.includes(value)) throw new ContextError(`Context key '${key}' must be one of ${allowed.map(String).join(', ')}`, key);
  return value;
}

export function assertOutput<T = unknown>(stage: StageExecution, ...keys: string[]): T {
  for (const key of keys) {
    const value = stage.outputs[key];
    if (value === undefined || value === null) throw new OutputError(`Required output '${key}' is missing in stage '${stage.refId}'`, key);
  }
  return stage.outputs[keys[0] ?? ''] as T;
}

export function assertConfig(condition: unknown, message: string): asserts condition {
  if (!condition) throw new ConfigError(message);
}
