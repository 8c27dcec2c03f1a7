// Python value semantics over JSON-like JavaScript values:
// null/undefined ~ None, boolean ~ bool, number ~ int/float, string ~ str, array ~ list,
// frozen array made by a tuple literal ~ tuple, plain object ~ dict. Anything else is an opaque
// object: truthy, equal only to itself, never looked into.
import type { CompareOperator } from './ast.js';
import { EXPRESSION_LIMITS } from './limits.js';

/** A Python-level failure (Python's TypeError); the evaluator adds the operator's position. */
export class OperandError extends Error {
  readonly code: 'EXPRESSION_EVALUATION' | 'EXPRESSION_LIMIT';

  constructor(message: string, code: 'EXPRESSION_EVALUATION' | 'EXPRESSION_LIMIT' = 'EXPRESSION_EVALUATION') {
    super(message);
    this.name = 'OperandError';
    this.code = code;
  }
}

type OrderOperator = '<' | '<=' | '>' | '>=';

// Tuples only come from literals, so a registry of the arrays we created is enough to tell them apart.
const tuples = new WeakSet<readonly unknown[]>();

export function makeTuple(items: unknown[]): readonly unknown[] {
  const tuple = Object.freeze(items);
  tuples.add(tuple);
  return tuple;
}

export function isTuple(value: unknown): value is readonly unknown[] {
  return Array.isArray(value) && tuples.has(value);
}

function isList(value: unknown): value is readonly unknown[] {
  return Array.isArray(value) && !tuples.has(value);
}

/** Plain objects (JSON objects) are the only mappings. */
export function isMapping(value: unknown): value is Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isNone(value: unknown): value is null | undefined {
  return value === null || value === undefined;
}

/** Python's bool is an int subtype: True == 1, True < 2, -True == -1. */
function isNumeric(value: unknown): value is number | boolean {
  return typeof value === 'number' || typeof value === 'boolean';
}

/**
 * Reads an own data property; inherited names (`__proto__`, `constructor`, `toString`) and
 * accessors are treated as missing so no prototype is reached and no getter runs.
 */
export function ownValue(object: object, key: string): unknown {
  const descriptor = Object.getOwnPropertyDescriptor(object, key);
  if (descriptor === undefined || !('value' in descriptor)) return null;
  return descriptor.value ?? null;
}

export function typeName(value: unknown): string {
  if (isNone(value)) return 'NoneType';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'str';
  if (isTuple(value)) return 'tuple';
  if (Array.isArray(value)) return 'list';
  if (isMapping(value)) return 'dict';
  return 'object';
}

export function isTruthy(value: unknown): boolean {
  if (isNone(value)) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0; // NaN is truthy in Python
  if (typeof value === 'string' || Array.isArray(value)) return value.length > 0;
  if (isMapping(value)) return Object.keys(value).length > 0;
  return true;
}

function checkDepth(depth: number): void {
  if (depth > EXPRESSION_LIMITS.maxValueDepth) {
    throw new OperandError(`Values nested more than ${EXPRESSION_LIMITS.maxValueDepth} levels deep`, 'EXPRESSION_LIMIT');
  }
}

function itemAt(sequence: readonly unknown[], index: number): unknown {
  return ownValue(sequence, String(index));
}

/** Python `==`: numbers by value across int/float/bool, containers deeply, no cross-type errors. */
export function pyEquals(a: unknown, b: unknown, depth = 0): boolean {
  if (isNumeric(a) && isNumeric(b)) return Number(a) === Number(b);
  if (isNone(a) || isNone(b)) return isNone(a) && isNone(b);
  if (a === b) return true; // same string, or same container (also ends cycles, like Python's identity shortcut)
  if ((isList(a) && isList(b)) || (isTuple(a) && isTuple(b))) {
    checkDepth(depth);
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!pyEquals(itemAt(a, i), itemAt(b, i), depth + 1)) return false;
    return true;
  }
  if (isMapping(a) && isMapping(b)) {
    checkDepth(depth);
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((key) => Object.hasOwn(b, key) && pyEquals(ownValue(a, key), ownValue(b, key), depth + 1));
  }
  return false;
}

/** Python `is`, defined by value for None/bool/number/string and by reference for containers. */
export function pyIs(a: unknown, b: unknown): boolean {
  if (isNone(a) || isNone(b)) return isNone(a) && isNone(b);
  return typeof a === typeof b && a === b; // `True is 1` is false: different types
}

function applyOrder(operator: OrderOperator, a: number, b: number): boolean {
  switch (operator) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

/** Python compares strings by code point; JavaScript's `<` compares UTF-16 units. */
function compareStrings(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a.charCodeAt(i) !== b.charCodeAt(i)) return a.codePointAt(i)! - b.codePointAt(i)!;
  }
  return a.length - b.length;
}

/** Python ordering; mismatched types raise instead of answering false. */
export function pyOrder(operator: OrderOperator, a: unknown, b: unknown, depth = 0): boolean {
  if (isNumeric(a) && isNumeric(b)) return applyOrder(operator, Number(a), Number(b));
  if (typeof a === 'string' && typeof b === 'string') return applyOrder(operator, compareStrings(a, b), 0);
  if ((isList(a) && isList(b)) || (isTuple(a) && isTuple(b))) {
    checkDepth(depth);
    // Lexicographic: the first unequal pair decides, otherwise the shorter sequence is smaller.
    const length = Math.min(a.length, b.length);
    for (let i = 0; i < length; i++) {
      const x = itemAt(a, i);
      const y = itemAt(b, i);
      if (!pyEquals(x, y, depth + 1)) return pyOrder(operator, x, y, depth + 1);
    }
    return applyOrder(operator, a.length, b.length);
  }
  throw new OperandError(`Cannot compare ${typeName(a)} and ${typeName(b)} with '${operator}'`);
}

/** Lists, dicts and tuples holding them cannot be dict keys in Python. */
function checkHashable(value: unknown): void {
  if (isTuple(value)) {
    for (const item of value) checkHashable(item);
  } else if (Array.isArray(value) || isMapping(value)) {
    throw new OperandError(`unhashable type: '${typeName(value)}'`);
  }
}

/** Python `item in container`. */
export function pyContains(container: unknown, item: unknown): boolean {
  if (typeof container === 'string') {
    if (typeof item !== 'string') throw new OperandError(`'in <string>' requires string as left operand, not ${typeName(item)}`);
    return container.includes(item);
  }
  if (Array.isArray(container)) {
    for (let i = 0; i < container.length; i++) if (pyEquals(item, itemAt(container, i))) return true;
    return false;
  }
  if (isMapping(container)) {
    checkHashable(item);
    return typeof item === 'string' && Object.hasOwn(container, item); // JSON keys are strings
  }
  throw new OperandError(`argument of type '${typeName(container)}' is not iterable`);
}

export function compareValues(operator: CompareOperator, left: unknown, right: unknown): boolean {
  switch (operator) {
    case '==':
      return pyEquals(left, right);
    case '!=':
      return !pyEquals(left, right);
    case 'in':
      return pyContains(right, left);
    case 'not in':
      return !pyContains(right, left);
    case 'is':
      return pyIs(left, right);
    case 'is not':
      return !pyIs(left, right);
    default:
      return pyOrder(operator, left, right);
  }
}

/** `object.name`: only mappings have attributes; everything else gives null. */
export function getAttribute(object: unknown, name: string): unknown {
  return isMapping(object) ? ownValue(object, name) : null;
}

/** `object[key]`: mapping lookup or list/tuple position (negative from the end); otherwise null. */
export function getItem(object: unknown, key: unknown): unknown {
  if (isMapping(object)) {
    checkHashable(key);
    return typeof key === 'string' ? ownValue(object, key) : null;
  }
  if (Array.isArray(object) && isNumeric(key) && Number.isInteger(Number(key))) {
    const index = Number(key) < 0 ? Number(key) + object.length : Number(key);
    return index >= 0 && index < object.length ? itemAt(object, index) : null;
  }
  return null;
}

export function negate(value: unknown): number {
  if (!isNumeric(value)) throw new OperandError(`bad operand type for unary -: '${typeName(value)}'`);
  const result = -Number(value);
  return result === 0 ? 0 : result; // no -0: Python's int has none
}
