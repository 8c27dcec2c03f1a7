import { ValidationError } from '../errors.js';
import { ulid } from '../ids.js';
import { StageExecution, type SyntheticStageOwner } from '../model/stage-execution.js';
import type { TaskExecution } from '../model/task-execution.js';

/**
 * Collects synthetic stages for one parent and one role (before / after). Stages added form a small
 * DAG of their own through requisites on their (generated) ref ids.
 */
export class StageGraphBuilder {
  private readonly stages: StageExecution[] = [];
  private last: StageExecution | undefined;

  private constructor(
    readonly parent: StageExecution,
    readonly owner: SyntheticStageOwner,
    private readonly initialRequisites: readonly string[] = [],
  ) {}

  static beforeStages(parent: StageExecution): StageGraphBuilder {
    return new StageGraphBuilder(parent, 'STAGE_BEFORE');
  }

  static afterStages(parent: StageExecution, requisites: readonly string[] = []): StageGraphBuilder {
    return new StageGraphBuilder(parent, 'STAGE_AFTER', requisites);
  }

  /** Adds a stage owned by the parent (the first one gets the initial requisites). */
  add(stage: StageExecution): StageExecution {
    if (!stage.refId) stage.refId = ulid(); // synthetic stages never collide with author ref ids
    stage.parentStageId = this.parent.id;
    stage.syntheticStageOwner = this.owner;
    stage.executionId = this.parent.executionId;
    if (this.stages.length === 0 && this.initialRequisites.length > 0) {
      stage.requisiteStageRefIds = [...new Set([...stage.requisiteStageRefIds, ...this.initialRequisites])];
    }
    this.stages.push(stage);
    this.last = stage;
    return stage;
  }

  /** Adds `stage` after the previously added one (a sequential chain). */
  append(stage: StageExecution): StageExecution {
    const previous = this.last;
    this.add(stage);
    if (previous) this.connect(previous, stage);
    return stage;
  }

  connect(from: StageExecution, to: StageExecution): void {
    if (from === to || from.refId === to.refId) throw new ValidationError('A stage cannot require itself');
    if (from.parentStageId !== to.parentStageId) throw new ValidationError('Only stages of the same parent can be connected');
    if (!to.requisiteStageRefIds.includes(from.refId)) to.requisiteStageRefIds.push(from.refId);
  }

  build(): StageExecution[] {
    return [...this.stages];
  }
}

/** Convenience: a synthetic stage for a builder to add. */
export function syntheticStage(init: { type?: string; name: string; context?: Record<string, unknown>; tasks?: TaskExecution[] }): StageExecution {
  return new StageExecution({ refId: ulid(), ...init });
}

/**
 * Describes a stage type: which tasks it runs and which synthetic stages surround it. Looked up by
 * `stage.type`; unknown types use the no-op builder (the stage's own tasks only).
 */
export interface StageDefinitionBuilder {
  readonly type: string;
  readonly aliases?: readonly string[];
  /** Tasks for a stage that was declared without any. */
  buildTasks?(stage: StageExecution): TaskExecution[];
  /** Synthetic stages that run before the stage's tasks (planned once per stage). */
  beforeStages?(stage: StageExecution, graph: StageGraphBuilder): void;
  /** Synthetic stages that run after the stage's tasks succeeded. */
  afterStages?(stage: StageExecution, graph: StageGraphBuilder): void;
  /** Synthetic stages that run when the stage failed (TERMINAL or STOPPED). */
  onFailureStages?(stage: StageExecution, graph: StageGraphBuilder): void;
  addContextFlags?(stage: StageExecution): void;
}

export const noopStageBuilder: StageDefinitionBuilder = { type: 'noop' };

export class StageDefinitionBuilderFactory {
  private readonly builders = new Map<string, StageDefinitionBuilder>();

  constructor(builders: readonly StageDefinitionBuilder[] = []) {
    this.register(noopStageBuilder);
    for (const b of builders) this.register(b);
  }

  register(builder: StageDefinitionBuilder): this {
    this.builders.set(builder.type, builder);
    for (const alias of builder.aliases ?? []) this.builders.set(alias, builder);
    return this;
  }

  get(type: string): StageDefinitionBuilder {
    return this.builders.get(type) ?? noopStageBuilder;
  }
}
