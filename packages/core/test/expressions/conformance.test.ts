// Every conformance vector of patterns.md §5.8 (verified against the Python original).
import { describe, expect, it } from 'vitest';
import { ExpressionError, type ExpressionErrorCode, evaluateExpression } from '../../src/expressions/index.js';

type Context = Record<string, unknown>;

// [expression, context, expected result]
const VALUES: ReadonlyArray<readonly [string, Context, unknown]> = [
  ['true', {}, true],
  ['True', {}, true],
  ['1', {}, true],
  [' 1 ', {}, true],
  ['TRUE', {}, true],
  ['false', {}, false],
  ['False', {}, false],
  ['0', {}, false],
  ['status', { status: 'active' }, 'active'],
  ['missing_key', {}, null],
  ['x == 10', { x: 10 }, true],
  ['x <= 10', { x: 10 }, true],
  ['x >= 10', { x: 10 }, true],
  ['x != 10', { x: 10, y: 20 }, false],
  ['x > y', { x: 10, y: 20 }, false],
  ["name == 'hello'", { name: 'hello' }, true],
  ['a and b', { a: true, b: false }, false],
  ['a or b', { a: true, b: false }, true],
  ['not b', { a: true, b: false }, true],
  ['config.enabled', { config: { enabled: true } }, true],
  ['config["enabled"]', { config: { enabled: true } }, true],
  ['config.threshold', { config: { threshold: 5 } }, 5],
  ['target in items', { items: [1, 2, 3], target: 2 }, true],
  ['5 not in items', { items: [1, 2, 3] }, true],
  ['status == "active"', { status: 'active' }, true],
  ["'yes' if flag else 'no'", { flag: true }, 'yes'],
  ["'yes' if flag else 'no'", { flag: false }, 'no'],
  ["priority == 'high' and count > threshold", { priority: 'high', count: 10, threshold: 5 }, true],
  ['x is not None and x > 3', { x: 5 }, true],
  ["a or 'default'", { a: '' }, true],
  ['yes', {}, null],
  ['null', {}, null],
  ['none', {}, null],
  ['None', { None: 5 }, null],
  ['true', { true: false }, true],
  ['-x', { x: 3 }, -3],
  ['1 < x < 5', { x: 3 }, true],
  ['1 < x < 5', { x: 7 }, false],
  ["'ab' in s", { s: 'xabc' }, true],
  ["'k' in d", { d: { k: 1 } }, true],
  ["x == 'a'", {}, false],
  ['x != None', {}, false],
  ['x == 1', { x: true }, true],
  ['x == 1.0', { x: 1 }, true],
  ['l[0]', { l: [9, 8] }, 9],
  ['l[-1]', { l: [9, 8] }, 8],
  ['l[5]', { l: [9, 8] }, null],
  ['l[True]', { l: [9, 8] }, 8],
  ['d.k.z', { d: { k: { z: 3 } } }, 3],
  ["d['k']['z']", { d: { k: { z: 3 } } }, 3],
  ['d.k.z', { d: { k: [1] } }, null],
  ['d[key]', { d: { a: 1 }, key: 'a' }, 1],
  ['s.upper', { s: 'abc' }, null],
  ['x.y', { x: null }, null],
  ["x['y']", { x: null }, null],
  ['x[0]', { x: 'abc' }, null],
  ['[1, x]', { x: 2 }, [1, 2]],
  ['not []', {}, true],
  ["not 'a'", {}, false],
  ['x if c else y', { c: 0, x: 1, y: 2 }, 2],
  ['x is None', {}, true],
  ['0x10 == 16', {}, true],
  ['1_000 == 1000', {}, true],
  ['1e3 == 1000', {}, true],
  ["'a' 'b'", {}, 'ab'],
  ['x in [1, 2]', { x: 2 }, true],
  ['x not in (1, 2)', { x: 3 }, true],
  ['a == b == c', { a: 1, b: 1, c: 1 }, true],
  ['True == 1', {}, true],
  ['[1] == [1]', {}, true],
  ["'1' == 1", {}, false],
  ['x < y', { x: [1], y: [2] }, true],
  ['x < y', { x: 'a', y: 'b' }, true],
  ['not x == 1', { x: 2 }, true],
];

// [expression, context, expected error code]
const ERRORS: ReadonlyArray<readonly [string, Context, ExpressionErrorCode]> = [
  ['', {}, 'EXPRESSION_SYNTAX'],
  ['   ', {}, 'EXPRESSION_SYNTAX'],
  ['if then else', {}, 'EXPRESSION_SYNTAX'],
  ['import os', {}, 'EXPRESSION_SYNTAX'],
  ['a = 1', {}, 'EXPRESSION_SYNTAX'],
  ['x is not None and x > 3', {}, 'EXPRESSION_EVALUATION'],
  ['x + 1 > 3', { x: 5 }, 'EXPRESSION_UNSUPPORTED'],
  ['f(x)', {}, 'EXPRESSION_UNSUPPORTED'],
  ['-x', { x: null }, 'EXPRESSION_EVALUATION'],
  ['+x', { x: 3 }, 'EXPRESSION_UNSUPPORTED'],
  ['~x', { x: 3 }, 'EXPRESSION_UNSUPPORTED'],
  ["'k' in d", {}, 'EXPRESSION_EVALUATION'],
  ['x > 0', {}, 'EXPRESSION_EVALUATION'],
  ["x < 'a'", { x: 1 }, 'EXPRESSION_EVALUATION'],
  ['l[1:2]', { l: [1, 2, 3] }, 'EXPRESSION_UNSUPPORTED'],
  ["{'a': 1}", {}, 'EXPRESSION_UNSUPPORTED'],
  ['not {}', {}, 'EXPRESSION_UNSUPPORTED'],
  ['(a := 1)', {}, 'EXPRESSION_UNSUPPORTED'],
  ['lambda: 1', {}, 'EXPRESSION_UNSUPPORTED'],
  ['[i for i in l]', {}, 'EXPRESSION_UNSUPPORTED'],
  ["f'{x}'", {}, 'EXPRESSION_UNSUPPORTED'],
  ['x and\n y', { x: 1, y: 1 }, 'EXPRESSION_SYNTAX'],
];

function errorOf(run: () => unknown): ExpressionError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return error as ExpressionError;
  }
  throw new Error('expected an ExpressionError');
}

describe('patterns.md §5.8 conformance vectors', () => {
  it.each(VALUES)('%j with %j evaluates to %j', (expression, context, expected) => {
    expect(evaluateExpression(expression, context)).toStrictEqual(expected);
  });

  it.each(ERRORS)('%j with %j raises %s', (expression, context, code) => {
    expect(errorOf(() => evaluateExpression(expression, context)).code).toBe(code);
  });
});
