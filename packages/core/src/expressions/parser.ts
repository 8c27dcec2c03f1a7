import { type CompareOperator, type Comparison, type Expression, childrenOf } from './ast.js';
import { ExpressionError } from './errors.js';
import { type Token, tokenize } from './lexer.js';
import { EXPRESSION_LIMITS } from './limits.js';

/** Whole-text shortcuts, matched case-insensitively after trimming. */
const FAST_PATH = new Map([
  ['true', true],
  ['1', true],
  ['false', false],
  ['0', false],
]);

/** Lower-case spellings that are literals rather than context lookups (they win over context keys). */
const LITERAL_NAMES = new Map<string, boolean | null>([
  ['true', true],
  ['false', false],
  ['none', null],
  ['null', null],
]);

const KEYWORD_CONSTANTS = new Map<string, boolean | null>([
  ['True', true],
  ['False', false],
  ['None', null],
]);

const SYMBOLIC_COMPARISONS = new Map<string, CompareOperator>(
  (['==', '!=', '<', '<=', '>', '>='] as const).map((operator) => [operator, operator]),
);
const BINARY_OPERATORS: ReadonlySet<string> = new Set(['+', '-', '*', '/', '//', '%', '**', '@', '<<', '>>', '&', '|', '^']);

/**
 * Parses a condition into an AST, applying the language's pre-processing: empty text is an error,
 * surrounding whitespace is ignored, and "true"/"1"/"false"/"0" (any case) become boolean constants.
 * Positions in the AST and in errors are offsets into `source` as given.
 */
export function parseExpression(source: string): Expression {
  if (typeof source !== 'string') throw new ExpressionError('EXPRESSION_SYNTAX', 'Expression must be a string');
  if (source.length > EXPRESSION_LIMITS.maxSourceLength) {
    throw new ExpressionError('EXPRESSION_LIMIT', `Expression is longer than ${EXPRESSION_LIMITS.maxSourceLength} characters`);
  }
  const text = source.trimEnd();
  const start = text.length - text.trimStart().length;
  if (start === text.length) throw new ExpressionError('EXPRESSION_SYNTAX', 'Empty expression');

  const fast = FAST_PATH.get(text.slice(start).toLowerCase());
  if (fast !== undefined) return { kind: 'constant', value: fast, pos: start };

  const expression = new Parser(text, tokenize(text, start)).parse();
  checkDepth(expression, 1);
  return expression;
}

// Postfix chains (`a.b.c...`) deepen the tree without nesting the parser, so the tree is measured too.
// The walk stops at the limit, so its own recursion is bounded.
function checkDepth(node: Expression, depth: number): void {
  if (depth > EXPRESSION_LIMITS.maxDepth) throw tooDeep(node.pos);
  for (const child of childrenOf(node)) checkDepth(child, depth + 1);
}

function tooDeep(pos: number): ExpressionError {
  return new ExpressionError('EXPRESSION_LIMIT', `Expression nested more than ${EXPRESSION_LIMITS.maxDepth} levels deep`, pos);
}

function unsupported(message: string, pos: number): ExpressionError {
  return new ExpressionError('EXPRESSION_UNSUPPORTED', message, pos);
}

/** Recursive descent, one method per precedence level of the grammar (loosest first). */
class Parser {
  private readonly text: string;
  private readonly tokens: readonly Token[];
  private index = 0;
  private nesting = 0;

  constructor(text: string, tokens: readonly Token[]) {
    this.text = text;
    this.tokens = tokens;
  }

  parse(): Expression {
    const expression = this.conditional();
    if (this.current.kind !== 'end') this.unexpected();
    return expression;
  }

  // ternary := or_expr [ "if" or_expr "else" ternary ]
  private conditional(): Expression {
    return this.nested(() => {
      const consequent = this.or();
      if (!this.acceptKeyword('if')) return consequent;
      const test = this.or();
      this.expectKeyword('else');
      const alternate = this.conditional();
      return { kind: 'conditional', test, consequent, alternate, pos: consequent.pos };
    });
  }

  private or(): Expression {
    return this.logical('or', () => this.and());
  }

  private and(): Expression {
    return this.logical('and', () => this.not());
  }

  private logical(operator: 'and' | 'or', operand: () => Expression): Expression {
    const operands = [operand()];
    while (this.acceptKeyword(operator)) operands.push(operand());
    return operands.length === 1 ? operands[0]! : { kind: 'logical', operator, operands, pos: operands[0]!.pos };
  }

  // `not` binds looser than comparisons: `not x == 1` is `not (x == 1)`.
  private not(): Expression {
    const pos = this.current.pos;
    if (!this.acceptKeyword('not')) return this.comparison();
    return this.nested(() => ({ kind: 'not', operand: this.not(), pos }));
  }

  private comparison(): Expression {
    const left = this.unary();
    const comparisons: Comparison[] = [];
    for (;;) {
      const pos = this.current.pos;
      const operator = this.compareOperator();
      if (operator === undefined) break;
      comparisons.push({ operator, right: this.unary(), pos });
    }
    return comparisons.length === 0 ? left : { kind: 'compare', left, comparisons, pos: left.pos };
  }

  private compareOperator(): CompareOperator | undefined {
    const token = this.current;
    const symbolic = token.kind === 'op' ? SYMBOLIC_COMPARISONS.get(token.value) : undefined;
    if (symbolic !== undefined) {
      this.advance();
      return symbolic;
    }
    if (this.acceptKeyword('in')) return 'in';
    if (this.acceptKeyword('is')) return this.acceptKeyword('not') ? 'is not' : 'is';
    if (this.isKeyword('not') && this.isKeyword('in', 1)) {
      this.index += 2;
      return 'not in';
    }
    return undefined;
  }

  private unary(): Expression {
    const token = this.current;
    if (this.acceptOp('-')) return this.nested(() => ({ kind: 'negate', operand: this.unary(), pos: token.pos }));
    if (this.isOp('+') || this.isOp('~')) throw unsupported(`Unary operator '${token.value}' is not supported`, token.pos);
    const operand = this.postfix();
    // Everything binding tighter than a comparison but not supported is caught here, by its operator.
    const next = this.current;
    if (next.kind === 'op' && BINARY_OPERATORS.has(next.value)) {
      throw unsupported(`Operator '${next.value}' is not supported`, next.pos);
    }
    if (this.isOp(':=')) throw unsupported('Assignment expressions are not supported', next.pos);
    return operand;
  }

  // postfix := atom { "." NAME | "[" expression "]" }
  private postfix(): Expression {
    let node = this.atom();
    for (;;) {
      const token = this.current;
      if (this.acceptOp('.')) {
        const name = this.current;
        if (name.kind !== 'name') this.unexpected();
        this.advance();
        node = { kind: 'attribute', object: node, name: name.value, pos: node.pos };
      } else if (this.acceptOp('[')) {
        if (this.isOp(':')) throw unsupported('Slices are not supported', this.current.pos);
        const index = this.conditional();
        if (this.isOp(':')) throw unsupported('Slices are not supported', this.current.pos);
        this.expectOp(']');
        node = { kind: 'index', object: node, index, pos: node.pos };
      } else if (this.isOp('(')) {
        throw unsupported('Function calls are not supported', token.pos);
      } else {
        return node;
      }
    }
  }

  private atom(): Expression {
    const token = this.current;
    const pos = token.pos;
    switch (token.kind) {
      case 'number':
        this.advance();
        return { kind: 'constant', value: token.value, pos };
      case 'string': {
        // Adjacent literals concatenate: 'a' 'b' == 'ab'.
        let value = '';
        for (let next = this.current; next.kind === 'string'; next = this.current) {
          value += next.value;
          this.advance();
        }
        return { kind: 'constant', value, pos };
      }
      case 'name': {
        this.advance();
        const literal = LITERAL_NAMES.get(token.value);
        return literal === undefined ? { kind: 'name', name: token.value, pos } : { kind: 'constant', value: literal, pos };
      }
      case 'keyword': {
        const constant = KEYWORD_CONSTANTS.get(token.value);
        if (constant !== undefined) {
          this.advance();
          return { kind: 'constant', value: constant, pos };
        }
        if (token.value === 'lambda') throw unsupported('Lambda expressions are not supported', pos);
        if (token.value === 'await') throw unsupported('Await expressions are not supported', pos);
        return this.unexpected();
      }
      case 'op':
        switch (token.value) {
          case '(':
            this.advance();
            return this.parenthesized(pos);
          case '[':
            this.advance();
            return this.list(pos);
          case '{':
            throw unsupported('Dict and set literals are not supported', pos);
          case '*':
          case '**':
            throw unsupported('Starred expressions are not supported', pos);
          case '...':
            throw unsupported('Ellipsis is not supported', pos);
          default:
            return this.unexpected();
        }
      case 'end':
        return this.unexpected();
    }
  }

  // "(" ")" is an empty tuple, "(x)" grouping, "(x,)" and "(x, y)" tuples.
  private parenthesized(pos: number): Expression {
    if (this.acceptOp(')')) return { kind: 'tuple', items: [], pos };
    const first = this.conditional();
    this.rejectComprehension();
    if (this.acceptOp(')')) return first;
    const items = [first];
    while (this.acceptOp(',') && !this.isOp(')')) items.push(this.conditional());
    this.expectOp(')');
    return { kind: 'tuple', items, pos };
  }

  private list(pos: number): Expression {
    const items: Expression[] = [];
    while (!this.isOp(']')) {
      items.push(this.conditional());
      this.rejectComprehension();
      if (!this.acceptOp(',')) break;
    }
    this.expectOp(']');
    return { kind: 'list', items, pos };
  }

  private rejectComprehension(): void {
    if (this.isKeyword('for') || this.isKeyword('async')) {
      throw unsupported('Comprehensions are not supported', this.current.pos);
    }
  }

  // The parser recurses once per nesting level; bounding it keeps the call stack small.
  private nested<T>(parse: () => T): T {
    if (this.nesting >= EXPRESSION_LIMITS.maxDepth) throw tooDeep(this.current.pos);
    this.nesting++;
    try {
      return parse();
    } finally {
      this.nesting--;
    }
  }

  private get current(): Token {
    return this.peek(0);
  }

  private peek(offset: number): Token {
    return this.tokens[Math.min(this.index + offset, this.tokens.length - 1)]!;
  }

  private advance(): void {
    if (this.index < this.tokens.length - 1) this.index++;
  }

  private isOp(value: string): boolean {
    return this.current.kind === 'op' && this.current.value === value;
  }

  private isKeyword(value: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token.kind === 'keyword' && token.value === value;
  }

  private acceptOp(value: string): boolean {
    if (!this.isOp(value)) return false;
    this.advance();
    return true;
  }

  private acceptKeyword(value: string): boolean {
    if (!this.isKeyword(value)) return false;
    this.advance();
    return true;
  }

  private expectOp(value: string): void {
    if (!this.acceptOp(value)) this.unexpected();
  }

  private expectKeyword(value: string): void {
    if (!this.acceptKeyword(value)) this.unexpected();
  }

  private unexpected(): never {
    const token = this.current;
    if (token.kind === 'end') throw new ExpressionError('EXPRESSION_SYNTAX', 'Unexpected end of expression', token.pos);
    const text = this.text.slice(token.pos, token.end);
    const shown = text.length > 20 ? `${text.slice(0, 20)}...` : text;
    const what = token.kind === 'keyword' ? 'keyword' : 'token';
    throw new ExpressionError('EXPRESSION_SYNTAX', `Unexpected ${what} '${shown}'`, token.pos);
  }
}
