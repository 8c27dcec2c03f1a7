// Safe condition language of stage conditions (stageEnabled expressions, OR-split conditions):
// a Python expression subset with Python value semantics, parsed and evaluated without eval.
export type {
  AttributeNode,
  CompareNode,
  CompareOperator,
  Comparison,
  ConditionalNode,
  ConstantNode,
  Expression,
  IndexNode,
  ListNode,
  LogicalNode,
  NameNode,
  NegateNode,
  NotNode,
  TupleNode,
} from './ast.js';
export { childrenOf } from './ast.js';
export { ExpressionError, type ExpressionErrorCode } from './errors.js';
export { evaluateCondition, evaluateExpression, evaluateParsed, type ExpressionContext } from './evaluate.js';
export { EXPRESSION_LIMITS } from './limits.js';
export { parseExpression } from './parser.js';
export { isTruthy } from './values.js';
