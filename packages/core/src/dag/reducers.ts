import { ValidationError } from '../errors.js';

/** Folds the values one key has in several upstream stages' outputs into one (engine.md §7.3). */
export type OutputReducer = (values: unknown[]) => unknown;

const numbers = (values: unknown[]) => values.filter((v): v is number => typeof v === 'number');

const BUILT_IN: Record<string, OutputReducer> = {
  collect: (values) => values.flatMap((v) => (Array.isArray(v) ? v : [v])),
  append: (values) => values.flatMap((v) => (Array.isArray(v) ? v : [v])),
  extend: (values) => values.filter((v) => v !== null && v !== undefined).flatMap((v) => (Array.isArray(v) ? v : [v])),
  sum: (values) => numbers(values).reduce((a, b) => a + b, 0),
  max: (values) => (numbers(values).length > 0 ? Math.max(...numbers(values)) : null),
  min: (values) => (numbers(values).length > 0 ? Math.min(...numbers(values)) : null),
  merge: (values) => Object.assign({}, ...values.filter((v) => v !== null && typeof v === 'object' && !Array.isArray(v))),
  first: (values) => (values.length > 0 ? values[0] : null),
  last: (values) => (values.length > 0 ? values[values.length - 1] : null),
};

const custom = new Map<string, OutputReducer>();

/** Registers a reducer by name for every processor in this process (overrides a built-in). */
export function registerOutputReducer(name: string, reducer: OutputReducer): void {
  custom.set(name, reducer);
}

export function getOutputReducer(name: string): OutputReducer {
  const reducer = custom.get(name) ?? (Object.hasOwn(BUILT_IN, name) ? BUILT_IN[name] : undefined);
  if (!reducer) throw new ValidationError(`Unknown output reducer '${name}'`);
  return reducer;
}

export function isKnownOutputReducer(name: string): boolean {
  return custom.has(name) || Object.hasOwn(BUILT_IN, name);
}
