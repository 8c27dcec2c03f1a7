import { createHash } from 'node:crypto';
import {
  type Context,
  isComplete,
  isHalt,
  Orchestrator,
  type Queue,
  type RetryableTask,
  StageExecution,
  type StageExecutionInit,
  type TaskContext,
  TaskExecution,
  type TaskExecutionInit,
  TaskResult,
  Workflow,
  type WorkflowStore,
  WorkflowStatus,
} from '@stabilize/core';
import { isPlainObject, numberOr } from './internal/context.js';

/** A stage of a child workflow as JSON (ids are always generated anew). */
export interface SubWorkflowStageSpec extends Omit<StageExecutionInit, 'id' | 'tasks' | 'executionId'> {
  tasks?: Array<Omit<TaskExecutionInit, 'id' | 'name'> & { name?: string }>;
}

/** What `_sub_workflow_config` (or the `build` option) describes. */
export interface SubWorkflowSpec {
  application?: string;
  name?: string;
  stages: Array<SubWorkflowStageSpec | StageExecution>;
  context?: Context;
}

export interface SubWorkflowTaskOptions {
  /** Where the child is stored and queued (normally the parent's own store and queue). */
  store?: WorkflowStore;
  queue?: Queue;
  /** Builds the child from the parent stage; used instead of `_sub_workflow_config` when given. */
  build?: (stage: StageExecution) => SubWorkflowSpec | Workflow | Promise<SubWorkflowSpec | Workflow>;
  /** Total time the task waits for its child. Default 30 minutes. */
  timeoutMs?: number;
  /** Delay between two looks at the child. Default 5 s. */
  pollIntervalMs?: number;
  /** `_max_recursion_depth` when the context has none. Default 10. */
  maxRecursionDepth?: number;
}

export const SUB_WORKFLOW_DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;
export const SUB_WORKFLOW_DEFAULT_POLL_MS = 5000;

/**
 * Starts a child workflow, waits for it without holding a worker (RUNNING with a poll backoff) and
 * returns its outputs. Registered as `sub_workflow` (aliases `subWorkflow`, `childWorkflow`).
 */
export class SubWorkflowTask implements RetryableTask {
  readonly aliases = ['subWorkflow', 'childWorkflow', 'SubWorkflowTask'];
  constructor(private readonly options: SubWorkflowTaskOptions = {}) {}

  getTimeout(): number {
    return this.options.timeoutMs ?? SUB_WORKFLOW_DEFAULT_TIMEOUT_MS;
  }

  getBackoffPeriod(): number {
    return this.options.pollIntervalMs ?? SUB_WORKFLOW_DEFAULT_POLL_MS;
  }

  async execute(stage: StageExecution, ctx: TaskContext): Promise<TaskResult> {
    const c = stage.context;
    const { store, queue } = this.options;
    const childId = typeof c._sub_workflow_id === 'string' && c._sub_workflow_id !== '' ? c._sub_workflow_id : undefined;
    const depth = numberOr(c._recursion_depth, 0);
    if (childId !== undefined) return this.poll(childId, depth);

    const maxDepth = numberOr(c._max_recursion_depth, this.options.maxRecursionDepth ?? 10);
    if (depth >= maxDepth) return TaskResult.terminal(`Maximum recursion depth (${maxDepth}) exceeded`);
    if (!store || !queue) return TaskResult.terminal('No Orchestrator instance available for sub-workflow');
    const spec = this.options.build ? await this.options.build(stage) : (c._sub_workflow_config ?? c.sub_workflow);
    if (!spec || (!(spec instanceof Workflow) && !isPlainObject(spec))) return TaskResult.terminal('No _sub_workflow_config in context');

    // One child per run of this task: a retry after a crash finds the child it already started.
    const task = stage.taskById(ctx.taskId);
    const id = `sw_${createHash('sha256').update(`${stage.id}|${ctx.taskId}|${task?.startTime ?? ''}`).digest('hex').slice(0, 32)}`;
    const inherited = { _recursion_depth: depth + 1, _max_recursion_depth: maxDepth, _parent_workflow_id: stage.executionId, _parent_stage_id: stage.id };
    let exists = true;
    try {
      await store.retrieveWorkflowOnly(id);
    } catch {
      exists = false;
    }
    if (!exists) {
      let child: Workflow;
      try {
        child = toWorkflow(id, spec as SubWorkflowSpec | Workflow, depth, inherited);
      } catch (error) {
        return TaskResult.terminal(`Invalid sub-workflow: ${(error as Error).message}`);
      }
      await new Orchestrator(queue, { store }).start(child);
    }
    return TaskResult.running({ context: { _sub_workflow_id: id, _recursion_depth: depth } });
  }

  private async poll(childId: string, depth: number): Promise<TaskResult> {
    let child: Workflow;
    try {
      child = await this.options.store!.retrieve(childId);
    } catch {
      return TaskResult.running({ context: { _sub_workflow_id: childId, _recursion_depth: depth } });
    }
    const status = child.status;
    if (status === WorkflowStatus.SUCCEEDED) {
      return TaskResult.success({ outputs: { sub_workflow_id: childId, sub_workflow_status: status, sub_workflow_outputs: child.getContext() } });
    }
    if (isHalt(status)) {
      return TaskResult.terminal(`Child workflow failed with status ${status}`, { context: { sub_workflow_id: childId, sub_workflow_status: status } });
    }
    if (isComplete(status)) return TaskResult.success({ outputs: { sub_workflow_id: childId, sub_workflow_status: status } });
    return TaskResult.running();
  }

  /** The parent is canceled: so is the child. */
  async onCancel(stage: StageExecution): Promise<null> {
    await this.cancelChild(stage, 'Parent workflow canceled');
    return null;
  }

  /** The parent gave up waiting: the child is canceled, the task fails as usual. */
  async onTimeout(stage: StageExecution): Promise<null> {
    await this.cancelChild(stage, 'Parent sub-workflow task timed out');
    return null;
  }

  private async cancelChild(stage: StageExecution, reason: string): Promise<void> {
    const childId = stage.context._sub_workflow_id;
    if (typeof childId !== 'string' || !this.options.queue) return;
    await new Orchestrator(this.options.queue).cancel(childId, `parent:${stage.executionId}`, reason);
  }
}

function toWorkflow(id: string, spec: SubWorkflowSpec | Workflow, depth: number, inherited: Context): Workflow {
  const withInherited = (context: Context | undefined): Context => ({ ...inherited, ...(context ?? {}), _recursion_depth: inherited._recursion_depth });
  const stages = spec.stages.map((s) => {
    if (s instanceof StageExecution) {
      const copy = s.clone();
      if (!copy.isSynthetic()) copy.context = withInherited(copy.context);
      return copy;
    }
    const { tasks, ...rest } = s as SubWorkflowStageSpec & { id?: string };
    delete (rest as { id?: string }).id;
    return new StageExecution({
      ...rest,
      context: rest.parentStageId ? { ...(rest.context ?? {}) } : withInherited(rest.context),
      tasks: (tasks ?? []).map((t) => TaskExecution.create({ ...t, name: t.name ?? t.implementingClass, implementingClass: t.implementingClass })),
    });
  });
  return Workflow.create({
    id,
    application: spec.application || 'stabilize',
    name: spec.name || `sub-workflow-depth-${depth + 1}`,
    context: { ...(spec.context ?? {}), ...inherited },
    stages,
  });
}
