import { ExpressionError } from './errors.js';
import { EXPRESSION_LIMITS } from './limits.js';

export type Token =
  | { readonly kind: 'number'; readonly value: number; readonly pos: number; readonly end: number }
  | {
      readonly kind: 'string' | 'name' | 'keyword' | 'op' | 'end';
      /** Decoded string contents, identifier, keyword or operator text; '' for 'end'. */
      readonly value: string;
      readonly pos: number;
      readonly end: number;
    };

/** Python's hard keywords: none of them may be used as a name. */
const KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue',
  'def', 'del', 'elif', 'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in',
  'is', 'lambda', 'nonlocal', 'not', 'or', 'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);

// Longest first. Operators we never evaluate are still lexed so the parser can name them in errors.
const OPERATORS = [
  '...', '==', '!=', '<=', '>=', ':=', '**', '//', '<<', '>>',
  '(', ')', '[', ']', '{', '}', ',', '.', ':', '<', '>', '=', '+', '-', '*', '/', '%', '@', '&', '|', '^', '~',
];

const OPENING = new Set(['(', '[', '{']);
const CLOSING = new Set([')', ']', '}']);

const STRING_PREFIXES = new Set(['r', 'u', 'b', 'f', 'br', 'rb', 'fr', 'rf']);

const IDENTIFIER = /[\p{XID_Start}_]\p{XID_Continue}*/uy;
const DIGITS = String.raw`\d(?:_?\d)*`;
const NUMBER_FORMS = [
  /0[xX](?:_?[0-9a-fA-F])+/y,
  /0[oO](?:_?[0-7])+/y,
  /0[bB](?:_?[01])+/y,
  new RegExp(String.raw`(?:${DIGITS}\.(?:${DIGITS})?|\.${DIGITS})(?:[eE][+-]?${DIGITS})?|${DIGITS}[eE][+-]?${DIGITS}`, 'y'),
  new RegExp(DIGITS, 'y'),
];
const IDENTIFIER_CHAR = /^\p{XID_Continue}/u;
const OCTAL = /[0-7]{1,3}/y;

const SIMPLE_ESCAPES = new Map([
  ['\\', '\\'], ["'", "'"], ['"', '"'], ['a', '\x07'], ['b', '\b'], ['f', '\f'], ['n', '\n'], ['r', '\r'], ['t', '\t'], ['v', '\v'],
]);
const HEX_ESCAPE_LENGTH = new Map([['x', 2], ['u', 4], ['U', 8]]);

function syntax(message: string, pos: number): ExpressionError {
  return new ExpressionError('EXPRESSION_SYNTAX', message, pos);
}

function unsupported(message: string, pos: number): ExpressionError {
  return new ExpressionError('EXPRESSION_UNSUPPORTED', message, pos);
}

/**
 * Splits `text` into tokens starting at offset `start`; positions are offsets into `text`.
 * The caller passes text without trailing whitespace. Always ends with an 'end' token.
 */
export function tokenize(text: string, start: number): Token[] {
  const tokens: Token[] = [];
  const push = (token: Token): void => {
    if (tokens.length >= EXPRESSION_LIMITS.maxTokens) {
      throw new ExpressionError('EXPRESSION_LIMIT', `Expression has more than ${EXPRESSION_LIMITS.maxTokens} tokens`, token.pos);
    }
    tokens.push(token);
  };
  let brackets = 0; // line breaks are only legal inside (), [] and {}, as in Python
  let i = start;

  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
    } else if (c === '\n' || c === '\r') {
      if (brackets === 0) throw syntax('Line break outside brackets', i);
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n' && text[i] !== '\r') i++;
    } else if (c === '\\' && (text[i + 1] === '\n' || text[i + 1] === '\r')) {
      i += text.startsWith('\r\n', i + 1) ? 3 : 2; // explicit line joining
    } else if (c === '"' || c === "'") {
      const { value, end } = readString(text, i, i, '');
      push({ kind: 'string', value, pos: i, end });
      i = end;
    } else if (isDigit(c) || (c === '.' && isDigit(text[i + 1]))) {
      const token = readNumber(text, i);
      push(token);
      i = token.end;
    } else {
      const token = readWord(text, i) ?? readOperator(text, i);
      if (token.kind === 'op' && OPENING.has(token.value)) brackets++;
      if (token.kind === 'op' && CLOSING.has(token.value) && brackets > 0) brackets--;
      push(token);
      i = token.end;
    }
  }
  tokens.push({ kind: 'end', value: '', pos: text.length, end: text.length });
  return tokens;
}

/** A name, a keyword, or a prefixed string literal such as r'...'; undefined if no identifier starts here. */
function readWord(text: string, start: number): Token | undefined {
  const word = matchAt(IDENTIFIER, text, start);
  if (word === undefined) return undefined;
  const end = start + word.length;
  const prefix = word.toLowerCase();
  if ((text[end] === '"' || text[end] === "'") && STRING_PREFIXES.has(prefix)) {
    if (prefix.includes('f')) throw unsupported('f-strings are not supported', start);
    if (prefix.includes('b')) throw unsupported('Bytes literals are not supported', start);
    return { kind: 'string', ...readString(text, start, end, prefix), pos: start };
  }
  if (KEYWORDS.has(word)) return { kind: 'keyword', value: word, pos: start, end };
  return { kind: 'name', value: word.normalize('NFKC'), pos: start, end }; // Python compares identifiers after NFKC
}

function readOperator(text: string, start: number): Token {
  const op = OPERATORS.find((candidate) => text.startsWith(candidate, start));
  if (op === undefined) throw syntax(`Unexpected character '${text[start]}'`, start);
  return { kind: 'op', value: op, pos: start, end: start + op.length };
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function matchAt(pattern: RegExp, text: string, at: number): string | undefined {
  pattern.lastIndex = at;
  return pattern.exec(text)?.[0];
}

function readNumber(text: string, start: number): Token {
  let literal: string | undefined;
  for (const form of NUMBER_FORMS) {
    literal = matchAt(form, text, start);
    if (literal !== undefined) break;
  }
  const end = start + (literal?.length ?? 0);
  const next = text[end];
  if (next === 'j' || next === 'J') throw unsupported('Complex numbers are not supported', start);
  // Rejects "1abc", "1_", "0x" and, like Python, integers with leading zeros ("007"; "00" is fine).
  const glued = IDENTIFIER_CHAR.test(text.slice(end, end + 2));
  const leadingZero = literal !== undefined && /^0[0-9_]*[1-9]/.test(literal) && /^[0-9_]+$/.test(literal);
  if (literal === undefined || glued || leadingZero) throw syntax('Invalid number literal', start);
  return { kind: 'number', value: Number(literal.replaceAll('_', '')), pos: start, end };
}

/** Reads a quoted literal whose opening quote is at `quotePos`; `start` includes any prefix. */
function readString(text: string, start: number, quotePos: number, prefix: string): { value: string; end: number } {
  const raw = prefix.includes('r');
  const quote = text[quotePos]!;
  const delimiter = text.startsWith(quote.repeat(3), quotePos) ? quote.repeat(3) : quote;
  const multiline = delimiter.length === 3;
  let value = '';
  let i = quotePos + delimiter.length;

  for (;;) {
    if (i >= text.length) throw syntax('Unterminated string literal', start);
    if (text.startsWith(delimiter, i)) return { value, end: i + delimiter.length };
    const c = text[i]!;
    if (!multiline && (c === '\n' || c === '\r')) throw syntax('Unterminated string literal', start);
    if (c !== '\\') {
      value += c;
      i++;
    } else if (raw) {
      // A raw backslash still stops the next character from closing the string.
      value += text.slice(i, i + 2);
      i += 2;
    } else {
      const decoded = readEscape(text, i);
      value += decoded.value;
      i = decoded.end;
    }
  }
}

function readEscape(text: string, at: number): { value: string; end: number } {
  const c = text[at + 1];
  if (c === undefined) return { value: '', end: at + 1 }; // the caller reports the open string
  if (c === '\n') return { value: '', end: at + 2 };
  if (c === '\r') return { value: '', end: text[at + 2] === '\n' ? at + 3 : at + 2 };
  const simple = SIMPLE_ESCAPES.get(c);
  if (simple !== undefined) return { value: simple, end: at + 2 };
  const digits = matchAt(OCTAL, text, at + 1);
  if (digits !== undefined) return { value: String.fromCharCode(Number.parseInt(digits, 8)), end: at + 1 + digits.length };
  const length = HEX_ESCAPE_LENGTH.get(c);
  if (length !== undefined) {
    const hex = text.slice(at + 2, at + 2 + length);
    const codePoint = Number.parseInt(hex, 16);
    if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== length || codePoint > 0x10ffff) {
      throw syntax(`Invalid \\${c} escape`, at);
    }
    return { value: String.fromCodePoint(codePoint), end: at + 2 + length };
  }
  if (c === 'N') throw unsupported('\\N{...} escapes are not supported', at);
  return { value: `\\${c}`, end: at + 2 }; // Python keeps unknown escapes verbatim
}
