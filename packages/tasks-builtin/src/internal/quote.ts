// POSIX shell quoting and splitting with the semantics of Python's `shlex.quote` and
// `shlex.split` (POSIX mode, no comments), so commands built by the upstream engine keep working.

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes `value` as one POSIX shell word: `''` for the empty string, unchanged if safe, else single-quoted. */
export function shellQuote(value: string): string {
  if (value === '') return "''";
  if (SAFE.test(value)) return value;
  return `'${value.replaceAll("'", `'"'"'`)}'`;
}

export class ShellSplitError extends Error {}

const WHITESPACE = new Set([' ', '\t', '\n', '\r', '\f', '\v']);

/**
 * Splits `text` into words like a POSIX shell would, without expansions: single quotes are literal,
 * double quotes honour `\"` and `\\` only, a backslash outside quotes escapes the next character.
 * Throws ShellSplitError on an unclosed quote or a trailing backslash.
 */
export function shellSplit(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (WHITESPACE.has(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (ch === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) throw new ShellSplitError('No closing quotation');
      word += text.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i]!;
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === '\\') {
          if (i + 1 >= text.length) throw new ShellSplitError('No closing quotation');
          const next = text[i + 1]!;
          word += next === '"' || next === '\\' ? next : `\\${next}`;
          i += 2;
          continue;
        }
        word += c;
        i++;
      }
      if (!closed) throw new ShellSplitError('No closing quotation');
    } else if (ch === '\\') {
      if (i + 1 >= text.length) throw new ShellSplitError('No escaped character');
      word += text[i + 1]!;
      i += 2;
    } else {
      word += ch;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}
