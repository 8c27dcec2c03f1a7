import type { Expression } from './ast.js';
import { ExpressionError } from './errors.js';
import { parseExpression } from './parser.js';
import { OperandError, compareValues, getAttribute, getItem, isTruthy, makeTuple, negate, ownValue } from './values.js';

/** Values a condition is evaluated against; only its own keys are visible. */
export type ExpressionContext = Readonly<Record<string, unknown>>;

/** Parses and evaluates `source`; the result is any JSON-like value (tuples come back as frozen arrays). */
export function evaluateExpression(source: string, context: ExpressionContext): unknown {
  return evaluateParsed(parseExpression(source), context);
}

/** Evaluates `source` and applies Python truthiness to the result. */
export function evaluateCondition(source: string, context: ExpressionContext): boolean {
  return isTruthy(evaluateExpression(source, context));
}

/** Evaluates an AST from `parseExpression`, e.g. one validated and cached at workflow creation. */
export function evaluateParsed(expression: Expression, context: ExpressionContext): unknown {
  try {
    return evaluate(expression, context);
  } catch (error) {
    if (error instanceof ExpressionError) throw error;
    // Nothing else should escape, but callers rely on a single error type.
    const message = error instanceof Error ? error.message : String(error);
    throw new ExpressionError('EXPRESSION_EVALUATION', `Evaluation failed: ${message}`, undefined, { cause: error });
  }
}

// Recursion is bounded by the AST depth limit enforced by the parser.
function evaluate(node: Expression, context: ExpressionContext): unknown {
  switch (node.kind) {
    case 'constant':
      return node.value;
    case 'name':
      return ownValue(context, node.name);
    case 'attribute':
      return getAttribute(evaluate(node.object, context), node.name);
    case 'index': {
      const object = evaluate(node.object, context);
      const key = evaluate(node.index, context);
      return at(node.index.pos, () => getItem(object, key));
    }
    case 'list':
      return node.items.map((item) => evaluate(item, context));
    case 'tuple':
      return makeTuple(node.items.map((item) => evaluate(item, context)));
    case 'not':
      return !isTruthy(evaluate(node.operand, context));
    case 'negate': {
      const operand = evaluate(node.operand, context);
      return at(node.pos, () => negate(operand));
    }
    case 'logical': {
      // Parity with the Python original: every operand is evaluated (errors included) and the
      // result is a boolean, never one of the operands.
      const values = node.operands.map((operand) => evaluate(operand, context));
      return node.operator === 'and' ? values.every(isTruthy) : values.some(isTruthy);
    }
    case 'compare': {
      // The first false link ends the chain; later operands are not evaluated.
      let left = evaluate(node.left, context);
      for (const { operator, right: rightNode, pos } of node.comparisons) {
        const right = evaluate(rightNode, context);
        if (!at(pos, () => compareValues(operator, left, right))) return false;
        left = right;
      }
      return true;
    }
    case 'conditional':
      return isTruthy(evaluate(node.test, context))
        ? evaluate(node.consequent, context)
        : evaluate(node.alternate, context);
  }
}

/** Runs a value operation, reporting its failure at `pos`. */
function at<T>(pos: number, operation: () => T): T {
  try {
    return operation();
  } catch (error) {
    if (error instanceof OperandError) throw new ExpressionError(error.code, error.message, pos);
    throw error;
  }
}
