import type { StageExecution } from '../model/stage-execution.js';
import type { TaskResult } from './task-result.js';

export type VerificationOutcome = { outcome: 'ok' } | { outcome: 'failed' | 'retry'; message: string };

const TYPE_CHECKS: Record<string, (v: unknown) => boolean> = {
  str: (v) => typeof v === 'string',
  string: (v) => typeof v === 'string',
  int: (v) => Number.isInteger(v),
  integer: (v) => Number.isInteger(v),
  float: (v) => typeof v === 'number',
  number: (v) => typeof v === 'number',
  bool: (v) => typeof v === 'boolean',
  boolean: (v) => typeof v === 'boolean',
  list: Array.isArray,
  array: Array.isArray,
  dict: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
  object: (v) => v !== null && typeof v === 'object' && !Array.isArray(v),
};

/**
 * `context.verification` (engine.md §4.5.3): `{ required_keys: [...], type_checks: {key: type} }`
 * checked against the stage outputs plus the new result's outputs.
 */
export function verifyOutputs(stage: StageExecution, result: TaskResult): VerificationOutcome {
  const config = stage.context.verification;
  if (!config || typeof config !== 'object' || Array.isArray(config)) return { outcome: 'ok' };
  const { type = 'output', required_keys: required = [], type_checks: checks = {} } = config as {
    type?: string;
    required_keys?: unknown;
    type_checks?: unknown;
  };
  if (type !== 'output') return { outcome: 'ok' };
  const outputs = { ...stage.outputs, ...result.outputs };
  const missing = Array.isArray(required) ? required.filter((k): k is string => typeof k === 'string' && !Object.hasOwn(outputs, k)) : [];
  if (missing.length > 0) return { outcome: 'failed', message: `Missing required outputs: ${missing.join(', ')}` };
  const typeErrors: string[] = [];
  if (checks && typeof checks === 'object') {
    for (const [key, expected] of Object.entries(checks as Record<string, unknown>)) {
      if (!Object.hasOwn(outputs, key)) continue;
      const check = typeof expected === 'string' ? TYPE_CHECKS[expected] : undefined;
      if (check && !check(outputs[key])) typeErrors.push(`${key} expected ${String(expected)}`);
    }
  }
  if (typeErrors.length > 0) return { outcome: 'failed', message: `Type errors: ${typeErrors.join(', ')}` };
  return { outcome: 'ok' };
}
