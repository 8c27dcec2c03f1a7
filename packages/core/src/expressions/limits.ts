/** Hard bounds that keep parsing and evaluation cheap and stack-safe whatever the input. */
export const EXPRESSION_LIMITS = Object.freeze({
  /** Characters in the source text, surrounding whitespace included. */
  maxSourceLength: 4096,
  /** Tokens produced by the lexer. */
  maxTokens: 1024,
  /** Nesting of the parse (brackets, `not`, unary minus, conditionals) and depth of the AST. */
  maxDepth: 64,
  /** Nesting of context values walked by `==`, ordering and `in` (also stops on cyclic values). */
  maxValueDepth: 512,
});
