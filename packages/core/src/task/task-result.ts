import type { Context } from '../model/stage-execution.js';
import { WorkflowStatus } from '../model/status.js';

export interface TaskResultInit {
  outputs?: Context;
  context?: Context;
}

/** What a task returns: a status plus context (stage-scoped) and outputs (flow downstream). */
export class TaskResult {
  constructor(
    readonly status: WorkflowStatus,
    readonly context: Context = {},
    readonly outputs: Context = {},
    /** Set by `jumpTo`: the refId of the stage to route to. */
    readonly targetStageRefId: string | null = null,
  ) {}

  static success(init: TaskResultInit = {}): TaskResult {
    return new TaskResult(WorkflowStatus.SUCCEEDED, init.context, init.outputs);
  }

  /** Not done yet: the task runs again after a backoff. */
  static running(init: { context?: Context } = {}): TaskResult {
    return new TaskResult(WorkflowStatus.RUNNING, init.context);
  }

  /** Failed; the stage fails according to its flags (failPipeline, continuePipelineOnFailure). */
  static terminal(error: string, init: TaskResultInit = {}): TaskResult {
    return new TaskResult(WorkflowStatus.TERMINAL, { ...init.context, error }, init.outputs);
  }

  /** Failed, but downstream stages may proceed. */
  static failedContinue(error: string, init: TaskResultInit = {}): TaskResult {
    return new TaskResult(WorkflowStatus.FAILED_CONTINUE, { ...init.context, error }, init.outputs);
  }

  static skipped(init: TaskResultInit = {}): TaskResult {
    return new TaskResult(WorkflowStatus.SKIPPED, init.context, init.outputs);
  }

  static canceled(init: TaskResultInit = {}): TaskResult {
    return new TaskResult(WorkflowStatus.CANCELED, init.context, init.outputs);
  }

  /** Failed quietly: blocks this stage's downstream only. */
  static stopped(init: TaskResultInit = {}): TaskResult {
    return new TaskResult(WorkflowStatus.STOPPED, init.context, init.outputs);
  }

  /** Park the stage until a SignalStage message arrives. */
  static suspend(init: { context?: Context } = {}): TaskResult {
    return new TaskResult(WorkflowStatus.SUSPENDED, init.context);
  }

  /** REDIRECT without a target: treated as success for flow purposes (decision Q4). */
  static redirect(init: { context?: Context } = {}): TaskResult {
    return new TaskResult(WorkflowStatus.REDIRECT, init.context);
  }

  /** Dynamic routing: continue at the stage `targetStageRefId` (backward, forward or itself). */
  static jumpTo(targetStageRefId: string, init: TaskResultInit = {}): TaskResult {
    return new TaskResult(WorkflowStatus.REDIRECT, init.context, init.outputs, targetStageRefId);
  }

  static builder(status: WorkflowStatus): TaskResultBuilder {
    return new TaskResultBuilder(status);
  }

  /** A copy with `other`'s context and outputs layered on top of this one's. */
  mergeOutputs(other: TaskResult | null | undefined): TaskResult {
    if (!other) return this;
    return new TaskResult(this.status, { ...this.context, ...other.context }, { ...this.outputs, ...other.outputs }, this.targetStageRefId);
  }
}

export class TaskResultBuilder {
  private ctx: Context = {};
  private out: Context = {};
  constructor(private readonly status: WorkflowStatus) {}
  context(context: Context): this {
    this.ctx = { ...context };
    return this;
  }
  outputs(outputs: Context): this {
    this.out = { ...outputs };
    return this;
  }
  addContext(key: string, value: unknown): this {
    this.ctx[key] = value;
    return this;
  }
  addOutput(key: string, value: unknown): this {
    this.out[key] = value;
    return this;
  }
  build(): TaskResult {
    return new TaskResult(this.status, this.ctx, this.out);
  }
}
