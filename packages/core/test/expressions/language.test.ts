// Language details beyond the §5.8 vectors: tokens, AST, error reporting and Python value semantics.
import { describe, expect, it } from 'vitest';
import {
  type Expression,
  ExpressionError,
  type ExpressionErrorCode,
  childrenOf,
  evaluateCondition,
  evaluateExpression,
  evaluateParsed,
  isTruthy,
  parseExpression,
} from '../../src/expressions/index.js';

function errorOf(run: () => unknown): ExpressionError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ExpressionError);
    return error as ExpressionError;
  }
  throw new Error('expected an ExpressionError');
}

const evaluate = (source: string, context: Record<string, unknown> = {}): unknown => evaluateExpression(source, context);

describe('literals', () => {
  it.each([
    ['42', 42],
    ['3.5', 3.5],
    ['.5', 0.5],
    ['5.', 5],
    ['1e3', 1000],
    ['1E-3', 0.001],
    ['1.5e+2', 150],
    ['1_000_000', 1_000_000],
    ['1_0.2_5', 10.25],
    ['0x1F', 31],
    ['0o17', 15],
    ['0b101', 5],
    ['0x_ff', 255],
    ['00', 0],
    ['0_0', 0],
    ['0123.5', 123.5],
    ['-7', -7],
    ['-2.5', -2.5],
    ['--3', 3],
    ['-0', 0],
    ['-True', -1],
  ])('number %s', (source, value) => {
    expect(evaluate(source)).toStrictEqual(value);
  });

  it.each([
    ['007', 'EXPRESSION_SYNTAX'],
    ['1_', 'EXPRESSION_SYNTAX'],
    ['1__0', 'EXPRESSION_SYNTAX'],
    ['0x', 'EXPRESSION_SYNTAX'],
    ['1e', 'EXPRESSION_SYNTAX'],
    ['1abc', 'EXPRESSION_SYNTAX'],
    ['1.5.2', 'EXPRESSION_SYNTAX'],
    ['1j', 'EXPRESSION_UNSUPPORTED'],
    ['...', 'EXPRESSION_UNSUPPORTED'],
  ] as const)('bad number %s', (source, code) => {
    expect(errorOf(() => parseExpression(source)).code).toBe(code);
  });

  it.each([
    [String.raw`'a\'b'`, "a'b"],
    [String.raw`"a\"b"`, 'a"b'],
    [`"it's"`, "it's"],
    [`'say "hi"'`, 'say "hi"'],
    [String.raw`'\\'`, '\\'],
    [String.raw`'\n\t\r'`, '\n\t\r'],
    [String.raw`'\a\b\f\v'`, '\x07\b\f\v'],
    [String.raw`'\x41\u00e9\U0001F600'`, 'Aé😀'],
    [String.raw`'\101\0'`, 'A\0'],
    [String.raw`'\d'`, '\\d'],
    [String.raw`r'\d+\n'`, '\\d+\\n'],
    [String.raw`R'\''`, "\\'"],
    [`u'text'`, 'text'],
    [`'''a'b"c'''`, 'a\'b"c'],
    [`"""two\nlines"""`, 'two\nlines'],
    ['\'a\\\nb\'', 'ab'],
    [`''`, ''],
    [`'a' "b" 'c'`, 'abc'],
    [`('a'\n 'b')`, 'ab'],
    [`'é✓😀'`, 'é✓😀'],
  ])('string %s', (source, value) => {
    expect(evaluate(source)).toBe(value);
  });

  it.each([
    [`'abc`, 'EXPRESSION_SYNTAX'],
    [`"abc'`, 'EXPRESSION_SYNTAX'],
    [`'a\nb'`, 'EXPRESSION_SYNTAX'],
    [String.raw`'\x4'`, 'EXPRESSION_SYNTAX'],
    [String.raw`'\u12'`, 'EXPRESSION_SYNTAX'],
    [String.raw`'\U00110000'`, 'EXPRESSION_SYNTAX'],
    [String.raw`r'\'`, 'EXPRESSION_SYNTAX'],
    [String.raw`'\N{BULLET}'`, 'EXPRESSION_UNSUPPORTED'],
    [`b'x'`, 'EXPRESSION_UNSUPPORTED'],
    [`rb'x'`, 'EXPRESSION_UNSUPPORTED'],
    [`F"{x}"`, 'EXPRESSION_UNSUPPORTED'],
  ] as const)('bad string %s', (source, code) => {
    expect(errorOf(() => parseExpression(source)).code).toBe(code);
  });

  it('literal names win over context keys, in any position', () => {
    const context = { true: 0, false: 1, none: 2, null: 3, True: 4, None: 5 };
    expect(evaluate('[true, false, none, null, True, False, None]', context)).toStrictEqual([true, false, null, null, true, false, null]);
    expect(evaluate('true and true', { true: false })).toBe(true);
  });

  it('other capitalisations are ordinary names', () => {
    expect(evaluate('TRUE', {})).toBe(true); // fast path on the whole text
    expect(evaluate('TRUE == 1', { TRUE: 1 })).toBe(true);
    expect(evaluate('NULL', { NULL: 'n' })).toBe('n');
    expect(evaluate('x == TRUE', { x: true })).toBe(false);
  });

  it('fast path only applies to the whole trimmed text', () => {
    expect(evaluate('\n\t FALSE \n')).toBe(false);
    expect(evaluate('(1)')).toBe(1);
    expect(errorOf(() => evaluate('01')).code).toBe('EXPRESSION_SYNTAX'); // not the fast path; Python rejects 01
    expect(evaluate('1.0')).toBe(1);
  });

  it('tuples and lists', () => {
    expect(evaluate('()')).toStrictEqual([]);
    expect(evaluate('(1,)')).toStrictEqual([1]);
    expect(evaluate('(1, 2,)')).toStrictEqual([1, 2]);
    expect(evaluate('[]')).toStrictEqual([]);
    expect(evaluate('[1, [2, (3,)],]')).toStrictEqual([1, [2, [3]]]);
    expect(Object.isFrozen(evaluate('(1, 2)'))).toBe(true);
  });
});

describe('identifiers and layout', () => {
  it('resolves unicode and underscore names', () => {
    expect(evaluate('größe > 1', { größe: 2 })).toBe(true);
    expect(evaluate('_private', { _private: 1 })).toBe(1);
    expect(evaluate('a1_b2', { a1_b2: 'ok' })).toBe('ok');
    expect(evaluate('ﬁle', { file: 'normalised' })).toBe('normalised'); // NFKC, like Python
  });

  it('keeps soft keywords and builtins as names', () => {
    expect(evaluate('match == type', { match: 1, type: 1 })).toBe(true);
    expect(evaluate('print')).toBeNull();
  });

  it.each(['if', 'else', 'for', 'class', 'x.if', 'x.None', 'x.1', 'pass', 'and', 'not'])('keyword misuse %s', (source) => {
    expect(errorOf(() => parseExpression(source)).code).toBe('EXPRESSION_SYNTAX');
  });

  it('allows line breaks and comments inside brackets only', () => {
    expect(evaluate('(x and\n  y)', { x: 1, y: 1 })).toBe(true);
    expect(evaluate('[1,\r\n 2]')).toStrictEqual([1, 2]);
    expect(evaluate('x == 1  # explained', { x: 1 })).toBe(true);
    expect(evaluate('(x  # first\n or y)', { y: 1 })).toBe(true);
    expect(evaluate('x and \\\n y', { x: 1, y: 1 })).toBe(true);
    expect(errorOf(() => parseExpression('x\n== 1')).message).toBe('Line break outside brackets at position 1');
    expect(errorOf(() => parseExpression("'(' ==\n x")).message).toBe('Line break outside brackets at position 6');
    expect(errorOf(() => parseExpression('(a)\n or b')).code).toBe('EXPRESSION_SYNTAX');
    expect(errorOf(() => parseExpression('# only a comment')).message).toBe('Unexpected end of expression at position 16');
  });

  it('ignores surrounding whitespace including line breaks', () => {
    expect(evaluate('\n  x == 1\n\n', { x: 1 })).toBe(true);
  });
});

describe('errors', () => {
  it.each([
    ['x == 1)', 'EXPRESSION_SYNTAX', "Unexpected token ')' at position 6", 6],
    ['  x >', 'EXPRESSION_SYNTAX', 'Unexpected end of expression at position 5', 5],
    ['(a', 'EXPRESSION_SYNTAX', 'Unexpected end of expression at position 2', 2],
    ['[a,,b]', 'EXPRESSION_SYNTAX', "Unexpected token ',' at position 3", 3],
    ['a b', 'EXPRESSION_SYNTAX', "Unexpected token 'b' at position 2", 2],
    ['a == not b', 'EXPRESSION_SYNTAX', "Unexpected keyword 'not' at position 5", 5],
    ['a if b', 'EXPRESSION_SYNTAX', 'Unexpected end of expression at position 6', 6],
    ['x is not not y', 'EXPRESSION_SYNTAX', "Unexpected keyword 'not' at position 9", 9],
    ['x $ y', 'EXPRESSION_SYNTAX', "Unexpected character '$' at position 2", 2],
    ['x ! y', 'EXPRESSION_SYNTAX', "Unexpected character '!' at position 2", 2],
    ['d[1, 2]', 'EXPRESSION_SYNTAX', "Unexpected token ',' at position 3", 3],
    ['1, 2', 'EXPRESSION_SYNTAX', "Unexpected token ',' at position 1", 1],
    ["x == 'abcdefghijklmnopqrstuvwxyz' 'b' )", 'EXPRESSION_SYNTAX', "Unexpected token ')' at position 38", 38],
    ['x == "abcdefghijklmnopqrstuvwxyz" y', 'EXPRESSION_SYNTAX', 'Unexpected token \'y\' at position 34', 34],
    ['x.upper()', 'EXPRESSION_UNSUPPORTED', 'Function calls are not supported at position 7', 7],
    ['x * 2 > 1', 'EXPRESSION_UNSUPPORTED', "Operator '*' is not supported at position 2", 2],
    ['a - 1', 'EXPRESSION_UNSUPPORTED', "Operator '-' is not supported at position 2", 2],
    ['a // b', 'EXPRESSION_UNSUPPORTED', "Operator '//' is not supported at position 2", 2],
    ['a | b', 'EXPRESSION_UNSUPPORTED', "Operator '|' is not supported at position 2", 2],
    ['a ** 2', 'EXPRESSION_UNSUPPORTED', "Operator '**' is not supported at position 2", 2],
    ['l[:2]', 'EXPRESSION_UNSUPPORTED', 'Slices are not supported at position 2', 2],
    ['l[::2]', 'EXPRESSION_UNSUPPORTED', 'Slices are not supported at position 2', 2],
    ['[*l]', 'EXPRESSION_UNSUPPORTED', 'Starred expressions are not supported at position 1', 1],
    ['{1}', 'EXPRESSION_UNSUPPORTED', 'Dict and set literals are not supported at position 0', 0],
    ['[x async for x in y]', 'EXPRESSION_UNSUPPORTED', 'Comprehensions are not supported at position 3', 3],
  ] as const)('%j', (source, code, message, position) => {
    const error = errorOf(() => parseExpression(source));
    expect(error.code).toBe(code);
    expect(error.message).toBe(message);
    expect(error.position).toBe(position);
  });

  it.each([
    ['x > 0', {}, "Cannot compare NoneType and int with '>' at position 2", 2],
    ['  x > 0', {}, "Cannot compare NoneType and int with '>' at position 4", 4],
    ['1 < x < 2.5', { x: 'a' }, "Cannot compare int and str with '<' at position 2", 2],
    ['x >= 1.5', { x: [1] }, "Cannot compare list and float with '>=' at position 2", 2],
    ['x < y', { x: {}, y: {} }, "Cannot compare dict and dict with '<' at position 2", 2],
    ['x < (1,)', { x: [1] }, "Cannot compare list and tuple with '<' at position 2", 2],
    ['1 in s', { s: 'abc' }, "'in <string>' requires string as left operand, not int at position 2", 2],
    ["'a' not in n", { n: 5 }, "argument of type 'int' is not iterable at position 4", 4],
    ["'a' in b", { b: true }, "argument of type 'bool' is not iterable at position 4", 4],
    ['[1] in d', { d: {} }, "unhashable type: 'list' at position 4", 4],
    ['(1, [2]) in d', { d: {} }, "unhashable type: 'list' at position 9", 9],
    ['d[k]', { d: {}, k: { a: 1 } }, "unhashable type: 'dict' at position 2", 2],
    ['-s', { s: 'a' }, "bad operand type for unary -: 'str' at position 0", 0],
    ['x == -y', { x: 1 }, "bad operand type for unary -: 'NoneType' at position 5", 5],
  ])('%j with %j', (source, context, message, position) => {
    const error = errorOf(() => evaluateExpression(source, context));
    expect(error.code).toBe('EXPRESSION_EVALUATION');
    expect(error.message).toBe(message);
    expect(error.position).toBe(position);
  });

  it('is a typed Error', () => {
    const error = errorOf(() => parseExpression(''));
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ExpressionError');
    expect(error.code satisfies ExpressionErrorCode).toBe('EXPRESSION_SYNTAX');
    expect(error.position).toBeUndefined();
    expect(error.message).toBe('Empty expression');
  });

  it('rejects a non-string source', () => {
    expect(errorOf(() => parseExpression(1 as unknown as string)).code).toBe('EXPRESSION_SYNTAX');
  });
});

describe('evaluation order', () => {
  it('evaluates every and/or operand, even after the result is decided', () => {
    expect(() => evaluate('False and x > 1')).toThrow(ExpressionError);
    expect(() => evaluate('True or x > 1')).toThrow(ExpressionError);
    expect(() => evaluate('a and b or x > 1', { a: 1, b: 1 })).toThrow(ExpressionError);
  });

  it('returns booleans from and/or', () => {
    expect(evaluate("'a' and 'b'")).toBe(true);
    expect(evaluate("'' or 0")).toBe(false);
    expect(evaluate('x or y or z', { z: [1] })).toBe(true);
    expect(evaluate('x and y and z', { x: 1, y: 'y', z: {} })).toBe(false);
  });

  it('stops a comparison chain at the first false link', () => {
    expect(evaluate('1 > 2 > missing')).toBe(false);
    expect(evaluate('1 > 2 > (missing > 0)')).toBe(false);
    expect(() => evaluate('2 > 1 > (missing > 0)')).toThrow(ExpressionError);
    expect(evaluate('1 < 2 < 3 < 4 != 5')).toBe(true);
    expect(evaluate('1 < 3 > 2')).toBe(true);
    expect(evaluate('1 == 1 in [1]')).toBe(true);
  });

  it('evaluates only the chosen arm of a conditional', () => {
    expect(evaluate('1 if c else (x > 0)', { c: true })).toBe(1);
    expect(evaluate('(x > 0) if c else 2', { c: [] })).toBe(2);
    expect(evaluate("'a' if c1 else 'b' if c2 else 'c'", { c2: 1 })).toBe('b');
    expect(evaluate('not x if x else y', { x: 1, y: 2 })).toBe(false);
  });

  it('binds operators with Python precedence', () => {
    expect(evaluate('not x == 1', { x: 1 })).toBe(false);
    expect(evaluate('-x < 0', { x: 1 })).toBe(true);
    expect(evaluate('a or b and c', { a: 1 })).toBe(true);
    expect(evaluate('(a or b) and c', { a: 1 })).toBe(false);
    expect(evaluate('not a and b', { a: 0, b: 1 })).toBe(true);
    expect(evaluate('x not in y and not x in y', { x: 3, y: [1] })).toBe(true);
  });
});

describe('Python value semantics', () => {
  it.each([
    [null, false],
    [undefined, false],
    [false, false],
    [0, false],
    [-0, false],
    [0.0, false],
    ['', false],
    [[], false],
    [{}, false],
    [true, true],
    [-1, true],
    [0.1, true],
    [Number.NaN, true],
    [' ', true],
    ['0', true],
    ['false', true],
    [[0], true],
    [[[]], true],
    [{ a: null }, true],
    [new Date(0), true],
  ])('isTruthy(%j) is %s', (value, expected) => {
    expect(isTruthy(value)).toBe(expected);
    expect(evaluateCondition('v', { v: value })).toBe(expected);
  });

  it.each([
    ['1 == 1.0', true],
    ['True == 1.0', true],
    ['False == 0', true],
    ['True == 2', false],
    ["'a' == 'a'", true],
    ["'1' == 1", false],
    ['None == None', true],
    ['None == 0', false],
    ["None == ''", false],
    ['None == []', false],
    ['[1, [2, 3]] == [1, [2, 3]]', true],
    ['[1, 2] == [2, 1]', false],
    ['[1] == [1, 1]', false],
    ['[True] == [1]', true],
    ['(1, 2) == (1, 2)', true],
    ['(1, 2) == [1, 2]', false],
    ['() == []', false],
    ['[] == []', true],
    ['d == e', true],
    ['d == f', false],
    ['d == g', false],
    ['d == [1]', false],
    ['[1] != [1]', false],
    ["'x' != None", true],
  ])('%s is %s', (source, expected) => {
    const context = { d: { a: 1, b: [1, { c: 2 }] }, e: { b: [1.0, { c: 2 }], a: true }, f: { a: 1 }, g: { a: 1, b: [1, { c: 3 }] } };
    expect(evaluate(source, context)).toBe(expected);
  });

  it.each([
    ['1 < 1.5', true],
    ['True < 2', true],
    ['False >= 0', true],
    ["'a' < 'b'", true],
    ["'a' < 'B'", false],
    ["'abc' < 'abd'", true],
    ["'ab' < 'abc'", true],
    ["'' < 'a'", true],
    ["'\\uffff' < '\\U0001F600'", true],
    ["'\\U0001F600' > '\\uffff'", true],
    ['[1, 2] < [1, 3]', true],
    ['[1, 2] < [1, 2, 0]', true],
    ['[2] > [1, 9]', true],
    ['[1, 2] <= [1, 2]', true],
    ['[] < [0]', true],
    ["[1, 'a'] < [1, 'b']", true],
    ['(1, 2) < (1, 3)', true],
    ['(2,) >= (1, 5)', true],
  ])('%s is %s', (source, expected) => {
    expect(evaluate(source)).toBe(expected);
  });

  it.each([
    ['None < 1'],
    ['1 < None'],
    ["'a' < 1"],
    ['[1] < (1,)'],
    ['[1] < 1'],
    ["[1, 'a'] < [1, 2]"],
    ['True < None'],
  ])('%s raises', (source) => {
    expect(errorOf(() => evaluate(source)).code).toBe('EXPRESSION_EVALUATION');
  });

  it('orders NaN like Python (every comparison false)', () => {
    const nan = { n: Number.NaN };
    expect(evaluate('n < 1', nan)).toBe(false);
    expect(evaluate('n >= 1', nan)).toBe(false);
    expect(evaluate('n == n', nan)).toBe(false);
    expect(evaluate('n != n', nan)).toBe(true);
  });

  it.each([
    ["'' in 'abc'", true],
    ["'bc' in 'abc'", true],
    ["'x' in 'abc'", false],
    ['1 in [1.0]', true],
    ['True in [1]', true],
    ["'1' in [1]", false],
    ['[1] in [[1], [2]]', true],
    ['(1,) in [[1]]', false],
    ['None in [None]', true],
    ['2 in (1, 2)', true],
    ["'a' in d", true],
    ["'z' in d", false],
    ['1 in d', false],
    ['None in d', false],
    ['(1, 2) in d', false],
    ["'a' not in d", false],
  ])('%s is %s', (source, expected) => {
    expect(evaluate(source, { d: { a: 1 } })).toBe(expected);
  });

  it.each([
    ['x is None', {}, true],
    ['x is None', { x: null }, true],
    ['x is not None', { x: 0 }, true],
    ['x is True', { x: true }, true],
    ['x is True', { x: 1 }, false],
    ['x is False', { x: 0 }, false],
    ['x is 1', { x: 1 }, true],
    ['x is 1', { x: 1.0 }, true],
    ["x is 'a'", { x: 'a' }, true],
    ['x is y', { x: [1], y: [1] }, false],
    ['x is x', { x: [1] }, true],
    ['x is y', { x: {}, y: {} }, false],
    ['[] is []', {}, false],
    ['x is not y', { x: 1, y: true }, true],
  ])('%s with %j is %s', (source, context, expected) => {
    expect(evaluate(source, context)).toBe(expected);
  });

  it('indexes mappings by key and sequences by integer position', () => {
    const context = { l: [10, 20, 30], t: 'abc', d: { '1': 'one', a: { b: 2 } } };
    expect(evaluate('l[-3]', context)).toBe(10);
    expect(evaluate('l[-4]', context)).toBeNull();
    expect(evaluate('l[3]', context)).toBeNull();
    expect(evaluate('l[False]', context)).toBe(10);
    expect(evaluate('l[0.5]', context)).toBeNull();
    expect(evaluate("l['0']", context)).toBeNull();
    expect(evaluate('l[None]', context)).toBeNull();
    expect(evaluate('(7, 8)[1]', context)).toBe(8);
    expect(evaluate('[7, 8][-1]', context)).toBe(8);
    expect(evaluate('t[0]', context)).toBeNull();
    expect(evaluate("d['1']", context)).toBe('one');
    expect(evaluate('d[1]', context)).toBeNull(); // JSON keys are strings; Python's d[1] misses too
    expect(evaluate("d['a'].b", context)).toBe(2);
    expect(evaluate('d.a[k]', { ...context, k: 'b' })).toBe(2);
    expect(evaluate('d[(1, 2)]', context)).toBeNull();
    expect(evaluate('missing[0].x', context)).toBeNull();
    expect(evaluate('x[0]', { x: 5 })).toBeNull();
  });

  it('keeps present null values and normalises undefined to null', () => {
    expect(evaluate('x', { x: null })).toBeNull();
    expect(evaluate('x', { x: undefined })).toBeNull();
    expect(evaluate('x.y is None', { x: { y: undefined } })).toBe(true);
    expect(evaluate('l[1]', { l: [1, undefined] })).toBeNull();
  });

  it('returns context values by reference', () => {
    const config = { nested: [1, 2] };
    expect(evaluate('config', { config })).toBe(config);
    expect(evaluate('config.nested', { config })).toBe(config.nested);
  });
});

describe('parseExpression and cached evaluation', () => {
  it('produces a typed AST with source positions', () => {
    const ast = parseExpression("  a.b[0] >= 2 and not c in ('x', y)");
    expect(ast).toStrictEqual<Expression>({
      kind: 'logical',
      operator: 'and',
      pos: 2,
      operands: [
        {
          kind: 'compare',
          pos: 2,
          left: {
            kind: 'index',
            pos: 2,
            object: { kind: 'attribute', pos: 2, name: 'b', object: { kind: 'name', name: 'a', pos: 2 } },
            index: { kind: 'constant', value: 0, pos: 6 },
          },
          comparisons: [{ operator: '>=', pos: 9, right: { kind: 'constant', value: 2, pos: 12 } }],
        },
        {
          kind: 'not',
          pos: 18,
          operand: {
            kind: 'compare',
            pos: 22,
            left: { kind: 'name', name: 'c', pos: 22 },
            comparisons: [
              {
                operator: 'in',
                pos: 24,
                right: {
                  kind: 'tuple',
                  pos: 27,
                  items: [
                    { kind: 'constant', value: 'x', pos: 28 },
                    { kind: 'name', name: 'y', pos: 33 },
                  ],
                },
              },
            ],
          },
        },
      ],
    });
  });

  it('parses conditionals, negation and multi-word operators', () => {
    expect(parseExpression('-x if y else z')).toMatchObject({
      kind: 'conditional',
      test: { kind: 'name', name: 'y' },
      consequent: { kind: 'negate', operand: { kind: 'name', name: 'x' } },
      alternate: { kind: 'name', name: 'z' },
    });
    const chain = parseExpression('a is not b not in c is d');
    expect(chain.kind === 'compare' && chain.comparisons.map((c) => c.operator)).toStrictEqual(['is not', 'not in', 'is']);
  });

  it('applies the fast path in the AST', () => {
    expect(parseExpression(' 1 ')).toStrictEqual({ kind: 'constant', value: true, pos: 1 });
    expect(parseExpression('FaLsE')).toStrictEqual({ kind: 'constant', value: false, pos: 0 });
  });

  it('lists children for validators', () => {
    const names: string[] = [];
    const visit = (node: Expression): void => {
      if (node.kind === 'name') names.push(node.name);
      childrenOf(node).forEach(visit);
    };
    visit(parseExpression('a.x if b[c] else [d, (e,), not f, -g, h < i or j]'));
    expect(names.sort()).toStrictEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
  });

  it('evaluates a parsed expression many times', () => {
    const ast = parseExpression('upstream.score >= threshold');
    expect(evaluateParsed(ast, { upstream: { score: 7 }, threshold: 5 })).toBe(true);
    expect(evaluateParsed(ast, { upstream: { score: 3 }, threshold: 5 })).toBe(false);
    expect(errorOf(() => evaluateParsed(ast, {})).code).toBe('EXPRESSION_EVALUATION');
  });

  it('evaluateCondition applies truthiness to the result', () => {
    expect(evaluateCondition('items', { items: [] })).toBe(false);
    expect(evaluateCondition('items', { items: [0] })).toBe(true);
    expect(evaluateCondition("'no' if x else ''", { x: 0 })).toBe(false);
    expect(evaluateCondition('1', {})).toBe(true);
    expect(evaluateCondition('0', {})).toBe(false);
    expect(() => evaluateCondition('x > 1', {})).toThrow(ExpressionError);
  });
});
