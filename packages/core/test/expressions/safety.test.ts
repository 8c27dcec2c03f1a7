// Safety: no code execution, no prototype access, bounded cost on hostile input.
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXPRESSION_LIMITS, ExpressionError, evaluateExpression, parseExpression } from '../../src/expressions/index.js';

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return (error as ExpressionError).code;
  }
  throw new Error('expected an ExpressionError');
}

describe('prototype and host access', () => {
  const context = { obj: { a: 1 }, list: [1, 2], text: 'abc', fn: () => 'called' };

  it.each([
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'hasOwnProperty',
    'valueOf',
    'obj.__proto__',
    'obj.constructor',
    'obj.prototype',
    'obj.toString',
    "obj['__proto__']",
    "obj['constructor']",
    'obj.__proto__.constructor',
    'obj.constructor.constructor',
    'list.length',
    "list['length']",
    'list.constructor',
    'list.map',
    'text.length',
    'text.constructor',
    "text['length']",
    'fn.call',
    'fn.constructor',
    "fn['name']",
    '__class__',
    'obj.__class__.__mro__',
  ])('%s is null: inherited names never resolve', (source) => {
    expect(evaluateExpression(source, context)).toBeNull();
  });

  it('membership tests see only own keys', () => {
    expect(evaluateExpression("'constructor' in obj", context)).toBe(false);
    expect(evaluateExpression("'__proto__' in obj", context)).toBe(false);
    expect(evaluateExpression("'a' in obj", context)).toBe(true);
  });

  it('does not see prototype pollution', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 'yes';
    try {
      expect(evaluateExpression('polluted', {})).toBeNull();
      expect(evaluateExpression('obj.polluted', { obj: {} })).toBeNull();
      expect(evaluateExpression("'polluted' in obj", { obj: {} })).toBe(false);
    } finally {
      delete proto.polluted;
    }
  });

  it('reads an own __proto__ data key like any other key', () => {
    const context = JSON.parse('{"d": {"__proto__": {"x": 1}}}') as Record<string, unknown>;
    expect(evaluateExpression('d.__proto__.x', context)).toBe(1);
    expect(evaluateExpression('d.__proto__.constructor', context)).toBeNull();
  });

  it('never runs getters', () => {
    let called = false;
    const secret = {
      get value() {
        called = true;
        return 1;
      },
    };
    expect(evaluateExpression('value', secret)).toBeNull();
    expect(evaluateExpression('s.value', { s: secret })).toBeNull();
    expect(evaluateExpression("s['value'] == 1", { s: secret })).toBe(false);
    expect(called).toBe(false);
  });

  it('treats class instances and functions as opaque', () => {
    class Box {
      inner = 1;
    }
    const box = new Box();
    expect(evaluateExpression('b.inner', { b: box })).toBeNull();
    expect(evaluateExpression("b['inner']", { b: box })).toBeNull();
    expect(evaluateExpression('b == b', { b: box })).toBe(true);
    expect(evaluateExpression('fn', { fn: context.fn })).toBe(context.fn);
  });

  it.each([
    'fn()',
    'obj.constructor.constructor("return process")()',
    "__import__('os')",
    "eval('1')",
    'text.upper()',
    '(lambda: 1)',
    'obj.a = 2',
    'obj.a := 2',
    'del obj',
    'x for x in list',
    '[x for x in list]',
    '(x for x in list)',
    'await fn',
    'yield 1',
    '*list',
    '{**obj}',
    '{1, 2}',
  ])('%s is rejected before evaluation', (source) => {
    expect(() => parseExpression(source)).toThrow(ExpressionError);
  });

  it('never mutates the context', () => {
    const context = deepFreeze({ a: { b: [1, { c: 2 }] }, s: 'x' });
    const sources = ['a.b[1].c == 2', "'x' in s", 'a.b == [1, a.b[1]]', 'a.b < [2]', '[a, s]', '(a, s)', 'a.b[-1]'];
    for (const source of sources) expect(() => evaluateExpression(source, context)).not.toThrow();
  });

  it('the implementation uses no dynamic code execution', () => {
    const dir = new URL('../../src/expressions/', import.meta.url);
    for (const file of readdirSync(dir)) {
      const code = readFileSync(new URL(file, dir), 'utf8');
      expect(code, file).not.toMatch(/\beval\s*\(|new\s+Function|Function\s*\(|import\s*\(/);
    }
  });
});

describe('resource limits', () => {
  it('rejects over-long sources before doing any work', () => {
    const long = `x == '${'a'.repeat(EXPRESSION_LIMITS.maxSourceLength)}'`;
    expect(codeOf(() => parseExpression(long))).toBe('EXPRESSION_LIMIT');
    expect(() => parseExpression(' '.repeat(EXPRESSION_LIMITS.maxSourceLength + 1))).toThrow(/longer than 4096/);
  });

  it.each([
    ['(', 100_000],
    ['[', 100_000],
    ['(', 4000],
    ['[', 4000],
    ['-', 4000],
    ['not ', 1000],
  ])('fails fast on %j repeated %i times', (unit, count) => {
    const started = Date.now();
    expect(codeOf(() => evaluateExpression(`${unit.repeat(count)}x`, {}))).toBe('EXPRESSION_LIMIT');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('limits nested conditionals and subscripts', () => {
    expect(codeOf(() => parseExpression(`${'a if b else '.repeat(300)}c`))).toBe('EXPRESSION_LIMIT');
    expect(codeOf(() => parseExpression(`a${'[b'.repeat(100)}${']'.repeat(100)}`))).toBe('EXPRESSION_LIMIT');
  });

  it('limits the depth of attribute chains', () => {
    expect(codeOf(() => parseExpression(`a${'.b'.repeat(100)}`))).toBe('EXPRESSION_LIMIT');
    expect(parseExpression(`a${'.b'.repeat(40)}`).kind).toBe('attribute');
  });

  it('accepts nesting up to the limit', () => {
    const depth = EXPRESSION_LIMITS.maxDepth - 1;
    expect(evaluateExpression(`${'('.repeat(depth)}1 == 1${')'.repeat(depth)}`, {})).toBe(true);
    expect(evaluateExpression(`${'not '.repeat(depth)}x`, { x: true })).toBe(false);
  });

  it('limits the number of tokens', () => {
    const many = `[${'x,'.repeat(EXPRESSION_LIMITS.maxTokens / 2)}]`;
    expect(many.length).toBeLessThan(EXPRESSION_LIMITS.maxSourceLength);
    expect(codeOf(() => parseExpression(many))).toBe('EXPRESSION_LIMIT');
  });

  it('bounds the walk over deep or cyclic context values', () => {
    let deepA: unknown = 1;
    let deepB: unknown = 1;
    for (let i = 0; i < 10_000; i++) {
      deepA = [deepA];
      deepB = [deepB];
    }
    expect(codeOf(() => evaluateExpression('a == b', { a: deepA, b: deepB }))).toBe('EXPRESSION_LIMIT');
    expect(codeOf(() => evaluateExpression('a < b', { a: deepA, b: deepB }))).toBe('EXPRESSION_LIMIT');

    const cycleA: unknown[] = [];
    cycleA.push(cycleA);
    const cycleB: unknown[] = [];
    cycleB.push(cycleB);
    expect(codeOf(() => evaluateExpression('a == b', { a: cycleA, b: cycleB }))).toBe('EXPRESSION_LIMIT');
    expect(evaluateExpression('a == a', { a: cycleA })).toBe(true);
    const cyclicMap: Record<string, unknown> = {};
    cyclicMap.self = cyclicMap;
    expect(evaluateExpression('m.self.self.self == m', { m: cyclicMap })).toBe(true);
  });

  it('handles large flat values linearly', () => {
    const items = Array.from({ length: 100_000 }, (_, i) => i);
    expect(evaluateExpression('99999 in items', { items })).toBe(true);
    expect(evaluateExpression('items == other', { items, other: [...items] })).toBe(true);
  });
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
