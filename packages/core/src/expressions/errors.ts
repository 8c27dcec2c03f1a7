/**
 * Stable error codes of the expression language:
 * - EXPRESSION_SYNTAX: the text is not a valid expression (includes the empty expression);
 * - EXPRESSION_UNSUPPORTED: valid Python, but outside the safe subset (calls, arithmetic, slices, ...);
 * - EXPRESSION_EVALUATION: the expression failed on the given context (e.g. `None > 1`);
 * - EXPRESSION_LIMIT: the input or a value exceeds a hard bound (length, tokens, nesting).
 */
export type ExpressionErrorCode =
  | 'EXPRESSION_SYNTAX'
  | 'EXPRESSION_UNSUPPORTED'
  | 'EXPRESSION_EVALUATION'
  | 'EXPRESSION_LIMIT';

/** The only error the expression language throws. */
export class ExpressionError extends Error {
  readonly code: ExpressionErrorCode;
  /** 0-based character offset in the original source, when the failure has a location. */
  readonly position: number | undefined;

  constructor(code: ExpressionErrorCode, message: string, position?: number, options?: ErrorOptions) {
    super(position === undefined ? message : `${message} at position ${position}`, options);
    this.name = 'ExpressionError';
    this.code = code;
    this.position = position;
  }
}
