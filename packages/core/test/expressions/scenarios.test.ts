// Expression evaluator unit scenarios of patterns.md §9.1 (items 1-10; item 11 is conformance.test.ts).
import { describe, expect, it } from 'vitest';
import { ExpressionError, evaluateCondition, evaluateExpression } from '../../src/expressions/index.js';

describe('patterns.md §9.1 expression evaluator scenarios', () => {
  it('1. boolean literals are strict booleans', () => {
    for (const source of ['true', 'True', '1']) expect(evaluateExpression(source, {})).toBe(true);
    for (const source of ['false', 'False', '0']) expect(evaluateExpression(source, {})).toBe(false);
  });

  it('2. context lookup, missing key is null', () => {
    const context = { status: 'active', count: 5 };
    expect(evaluateExpression('status', context)).toBe('active');
    expect(evaluateExpression('count', context)).toBe(5);
    expect(evaluateExpression('missing_key', {})).toBeNull();
  });

  it('3. comparisons', () => {
    const context = { x: 10, y: 20, name: 'hello' };
    expect(evaluateExpression('x == 10', context)).toBe(true);
    expect(evaluateExpression('x != 10', context)).toBe(false);
    expect(evaluateExpression('x < y', context)).toBe(true);
    expect(evaluateExpression('x > y', context)).toBe(false);
    expect(evaluateExpression('x <= 10', context)).toBe(true);
    expect(evaluateExpression('x >= 10', context)).toBe(true);
    expect(evaluateExpression("name == 'hello'", context)).toBe(true);
  });

  it('4. boolean operators', () => {
    const context = { a: true, b: false };
    expect(evaluateExpression('a and b', context)).toBe(false);
    expect(evaluateExpression('a or b', context)).toBe(true);
    expect(evaluateExpression('not b', context)).toBe(true);
  });

  it('5. nested dict access', () => {
    const context = { config: { enabled: true, threshold: 5 } };
    expect(evaluateExpression('config.enabled', context)).toBe(true);
    expect(evaluateExpression('config.threshold', context)).toBe(5);
    expect(evaluateExpression('config["enabled"]', context)).toBe(true);
  });

  it('6. in operator', () => {
    const context = { items: [1, 2, 3], target: 2 };
    expect(evaluateExpression('target in items', context)).toBe(true);
    expect(evaluateExpression('5 not in items', context)).toBe(true);
  });

  it('7. string constants in both quote styles', () => {
    const context = { status: 'active' };
    expect(evaluateExpression("status == 'active'", context)).toBe(true);
    expect(evaluateExpression('status == "active"', context)).toBe(true);
  });

  it('8. conditional expression', () => {
    expect(evaluateExpression("'yes' if flag else 'no'", { flag: true })).toBe('yes');
    expect(evaluateExpression("'yes' if flag else 'no'", { flag: false })).toBe('no');
  });

  it('9. empty, syntax error and unsupported node raise ExpressionError', () => {
    for (const source of ['', '   ', 'if then else', 'import os']) {
      expect(() => evaluateExpression(source, {})).toThrow(ExpressionError);
    }
    expect(() => evaluateExpression('', {})).toThrow('Empty expression');
  });

  it('10. complex expression', () => {
    const context = { priority: 'high', count: 10, threshold: 5 };
    expect(evaluateExpression("priority == 'high' and count > threshold", context)).toBe(true);
    expect(evaluateCondition("priority == 'high' and count > threshold", context)).toBe(true);
  });
});
