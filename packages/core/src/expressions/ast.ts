/** Operators allowed in a comparison chain such as `a < b <= c`. */
export type CompareOperator = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in' | 'is' | 'is not';

interface NodeBase {
  /** 0-based offset of the node's first character in the original source. */
  readonly pos: number;
}

/** Number, string, boolean or null literal (`True`/`true`, `None`/`none`/`null` included). */
export interface ConstantNode extends NodeBase {
  readonly kind: 'constant';
  readonly value: string | number | boolean | null;
}

/** A context lookup; a missing key evaluates to null. */
export interface NameNode extends NodeBase {
  readonly kind: 'name';
  readonly name: string;
}

/** `object.name`: mapping lookup only. */
export interface AttributeNode extends NodeBase {
  readonly kind: 'attribute';
  readonly object: Expression;
  readonly name: string;
}

/** `object[index]`: mapping key or list/tuple position. */
export interface IndexNode extends NodeBase {
  readonly kind: 'index';
  readonly object: Expression;
  readonly index: Expression;
}

export interface ListNode extends NodeBase {
  readonly kind: 'list';
  readonly items: readonly Expression[];
}

export interface TupleNode extends NodeBase {
  readonly kind: 'tuple';
  readonly items: readonly Expression[];
}

export interface NotNode extends NodeBase {
  readonly kind: 'not';
  readonly operand: Expression;
}

export interface NegateNode extends NodeBase {
  readonly kind: 'negate';
  readonly operand: Expression;
}

/** `a and b and ...` / `a or b or ...` (two or more operands). */
export interface LogicalNode extends NodeBase {
  readonly kind: 'logical';
  readonly operator: 'and' | 'or';
  readonly operands: readonly Expression[];
}

/** One link of a comparison chain; `pos` is the operator's offset. */
export interface Comparison {
  readonly operator: CompareOperator;
  readonly right: Expression;
  readonly pos: number;
}

/** `left op1 right1 op2 right2 ...` */
export interface CompareNode extends NodeBase {
  readonly kind: 'compare';
  readonly left: Expression;
  readonly comparisons: readonly Comparison[];
}

/** `consequent if test else alternate` */
export interface ConditionalNode extends NodeBase {
  readonly kind: 'conditional';
  readonly test: Expression;
  readonly consequent: Expression;
  readonly alternate: Expression;
}

export type Expression =
  | ConstantNode
  | NameNode
  | AttributeNode
  | IndexNode
  | ListNode
  | TupleNode
  | NotNode
  | NegateNode
  | LogicalNode
  | CompareNode
  | ConditionalNode;

/** Direct sub-expressions in source order (for validators and tree walks). */
export function childrenOf(node: Expression): readonly Expression[] {
  switch (node.kind) {
    case 'constant':
    case 'name':
      return [];
    case 'attribute':
      return [node.object];
    case 'index':
      return [node.object, node.index];
    case 'list':
    case 'tuple':
      return node.items;
    case 'not':
    case 'negate':
      return [node.operand];
    case 'logical':
      return node.operands;
    case 'compare':
      return [node.left, ...node.comparisons.map((c) => c.right)];
    case 'conditional':
      return [node.consequent, node.test, node.alternate];
  }
}
