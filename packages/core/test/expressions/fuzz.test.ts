// Property / fuzz test of the condition language: 100,000+ random inputs (seeded, reproducible).
// Properties: evaluation always ends quickly; the only error ever thrown is ExpressionError; nothing
// outside the given context is read or written (globals, prototypes, getters, functions).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPRESSION_LIMITS, ExpressionError, evaluateExpression } from '../../src/expressions/index.js';

/** mulberry32: a tiny deterministic PRNG, so a failure names a reproducible seed and case. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;
const int = (r: Rand, n: number) => Math.floor(r() * n);

// Names that must never resolve outside the context: host objects, prototype keys, and sentinels
// installed on globalThis and the prototypes for the duration of the test.
const SENTINEL = '__fuzz_sentinel__';
const NAMES = [
  'x', 'y', 'z', 'a', 'b', 'items', 'config', 'name', 'status', 'count', 'l', 'd', 's', 'n', 'fn', 'getter',
  'True', 'False', 'None', 'true', 'false', 'none', 'null', 'TRUE',
  SENTINEL, 'globalThis', 'process', 'require', 'import', 'eval', 'Function', 'constructor', '__proto__', 'prototype',
  'toString', 'valueOf', 'hasOwnProperty', '__class__', '__globals__', 'window', 'self', 'module', 'exports',
];
const KEYWORDS = ['and', 'or', 'not', 'in', 'is', 'if', 'else', 'lambda', 'for', 'import', 'def', 'await', 'yield', 'del', 'pass'];
const OPERATORS = ['==', '!=', '<', '<=', '>', '>=', 'in', 'not in', 'is', 'is not', '+', '-', '*', '/', '%', '**', '//', '&', '|', '^', '~', '<<', '>>', ':=', '='];
const PUNCT = ['(', ')', '[', ']', '{', '}', ',', '.', ':', ';', '@', '!', '?', '`', '$', '#', '\\', '\n', '\t', ' '];
const LITERALS = ['0', '1', '-1', '3.14', '1e3', '1e400', '0x1F', '0o17', '0b101', '1_000', '1j', "'a'", '"b"', "'it\\'s'", "'\\x41'", "'\\u00e9'", "r'raw'", "b'x'", "f'{x}'", "'''t'''", "''", '...', '00', '1__0', '.5', '5.'];

/** A random (usually valid) expression from the grammar, with bounded depth. */
function grammar(r: Rand, depth: number): string {
  if (depth <= 0 || r() < 0.25) {
    return r() < 0.55 ? pick(r, NAMES) : pick(r, LITERALS);
  }
  const sub = () => grammar(r, depth - 1);
  switch (int(r, 11)) {
    case 0:
      return `${sub()} ${pick(r, ['and', 'or'])} ${sub()}`;
    case 1:
      return `not ${sub()}`;
    case 2:
      return `${sub()} ${pick(r, OPERATORS.slice(0, 10))} ${sub()}`;
    case 3:
      return `${sub()} ${pick(r, OPERATORS.slice(0, 6))} ${sub()} ${pick(r, OPERATORS.slice(0, 6))} ${sub()}`;
    case 4:
      return `${sub()}.${pick(r, NAMES)}`;
    case 5:
      return `${sub()}[${sub()}]`;
    case 6:
      return `(${sub()})`;
    case 7:
      return `[${Array.from({ length: int(r, 4) }, sub).join(', ')}]`;
    case 8:
      return `(${Array.from({ length: int(r, 3) }, sub).join(', ')}${r() < 0.5 ? ',' : ''})`;
    case 9:
      return `${sub()} if ${sub()} else ${sub()}`;
    default:
      return `-${sub()}`;
  }
}

/** Random token soup: keywords, operators, punctuation, literals and names in any order. */
function soup(r: Rand): string {
  const parts: string[] = [];
  const n = 1 + int(r, 16);
  for (let i = 0; i < n; i++) parts.push(pick(r, [pick(r, NAMES), pick(r, KEYWORDS), pick(r, OPERATORS), pick(r, PUNCT), pick(r, LITERALS)]));
  return parts.join(r() < 0.7 ? ' ' : '');
}

/** Random characters, including quotes, escapes, control characters and non-BMP code points. */
function noise(r: Rand): string {
  const alphabet = `abcxyz_019 .,:;()[]{}'"\\\n\r\t=<>!-+*/%&|^~#@$?\`\u0000\u00e9\u20ac\u{1F600}\uD800`;
  const chars = [...alphabet];
  return Array.from({ length: int(r, 40) }, () => pick(r, chars)).join('');
}

/** Inputs at and beyond the hard limits: long, deeply nested, many tokens. */
function extreme(r: Rand): string {
  switch (int(r, 6)) {
    case 0:
      return `${'('.repeat(EXPRESSION_LIMITS.maxDepth + int(r, 200))}x${')'.repeat(int(r, 300))}`;
    case 1:
      return `${'not '.repeat(EXPRESSION_LIMITS.maxDepth + int(r, 100))}x`;
    case 2:
      return `${'-'.repeat(EXPRESSION_LIMITS.maxDepth + int(r, 100))}1`;
    case 3:
      return Array.from({ length: EXPRESSION_LIMITS.maxTokens / 2 + int(r, 1000) }, () => 'x').join(' or ');
    case 4:
      return `'${'a'.repeat(EXPRESSION_LIMITS.maxSourceLength + int(r, 100))}'`;
    default:
      return `${'['.repeat(40 + int(r, 60))}1${']'.repeat(40 + int(r, 60))}`;
  }
}

const CALLED = { fn: false, getter: false, sentinel: false };

/** A JSON-like context with a few hostile members (function, getter, cyclic list, deep value). */
function context(r: Rand): Record<string, unknown> {
  const value = (depth: number): unknown => {
    if (depth <= 0) return pick(r, [null, true, false, 0, 1, -2.5, 'a', 'abc', '', 10]);
    switch (int(r, 4)) {
      case 0:
        return Array.from({ length: int(r, 4) }, () => value(depth - 1));
      case 1:
        return Object.fromEntries(Array.from({ length: int(r, 4) }, () => [pick(r, NAMES), value(depth - 1)]));
      default:
        return value(0);
    }
  };
  const ctx: Record<string, unknown> = {};
  for (const name of ['x', 'y', 'a', 'items', 'config', 'd', 'l', 's']) if (r() < 0.7) ctx[name] = value(3);
  const cyclic: unknown[] = [1];
  cyclic.push(cyclic);
  ctx.cyclic = cyclic;
  ctx.fn = () => {
    CALLED.fn = true;
    return 1;
  };
  Object.defineProperty(ctx, 'getter', {
    enumerable: true,
    get() {
      CALLED.getter = true;
      return 1;
    },
  });
  let deep: unknown = 0;
  for (let i = 0; i < 50; i++) deep = [deep];
  ctx.deep = deep;
  return ctx;
}

describe('expression language fuzz (≥ 100,000 random inputs)', () => {
  const globalKeys = new Set(Reflect.ownKeys(globalThis));
  const protoKeys = () => [Object.prototype, Array.prototype, Function.prototype, String.prototype].map((p) => Reflect.ownKeys(p).length);
  const protoKeysBefore = protoKeys();

  beforeAll(() => {
    // Reading any of these would be a read outside the context.
    for (const target of [globalThis, Object.prototype, Array.prototype]) {
      Object.defineProperty(target, SENTINEL, {
        configurable: true,
        get() {
          CALLED.sentinel = true;
          return 'leaked';
        },
      });
    }
  });

  afterAll(() => {
    for (const target of [globalThis, Object.prototype, Array.prototype]) delete (target as Record<string, unknown>)[SENTINEL];
  });

  const generators: Array<[string, (r: Rand) => string, number]> = [
    ['grammar', (r) => grammar(r, 1 + int(r, 6)), 45_000],
    ['token soup', soup, 35_000],
    ['character noise', noise, 18_000],
    ['beyond the limits', extreme, 2_000],
  ];
  let total = 0;

  for (const [kind, generate, cases] of generators) {
    it(`${kind}: ${cases} inputs end fast, throw only ExpressionError and stay inside the context`, () => {
      const seed = 0x5eed + cases;
      const r = rng(seed);
      let errors = 0;
      let slowest = 0;
      for (let i = 0; i < cases; i++) {
        const source = generate(r);
        const ctx = context(r);
        const started = performance.now();
        try {
          evaluateExpression(source, ctx); // any value: a name may return a context value as it is (never calls it)
        } catch (error) {
          if (!(error instanceof ExpressionError)) throw new Error(`seed ${seed} case ${i}: ${JSON.stringify(source)} threw ${String(error)}`, { cause: error });
          expect(error.code).toMatch(/^EXPRESSION_(SYNTAX|UNSUPPORTED|EVALUATION|LIMIT)$/);
          errors++;
        }
        slowest = Math.max(slowest, performance.now() - started);
        if (CALLED.fn || CALLED.getter || CALLED.sentinel) throw new Error(`seed ${seed} case ${i}: ${JSON.stringify(source)} touched ${JSON.stringify(CALLED)}`);
      }
      total += cases;
      expect(slowest).toBeLessThan(250); // never hangs: every single input is bounded
      expect(errors).toBeGreaterThan(0); // the generator does reach the error paths
      if (kind !== 'beyond the limits') expect(cases - errors).toBeGreaterThan(cases / 100); // ... and the success paths
    });
  }

  it('ran at least 100,000 inputs and left globals and prototypes unchanged', () => {
    expect(total).toBeGreaterThanOrEqual(100_000);
    const added = Reflect.ownKeys(globalThis).filter((k) => !globalKeys.has(k) && k !== SENTINEL);
    expect(added).toEqual([]);
    const after = protoKeys();
    // the sentinel is the only own key the test itself added to Object.prototype / Array.prototype
    expect(after).toEqual([protoKeysBefore[0]! + 1, protoKeysBefore[1]! + 1, protoKeysBefore[2], protoKeysBefore[3]]);
    expect(CALLED).toEqual({ fn: false, getter: false, sentinel: false });
  });
});
