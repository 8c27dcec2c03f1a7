import { type Clock, systemClock } from './clock.js';
import { CorruptRowError, errorMessage, RecoveryError } from './errors.js';
import { markTerminal } from './processor/corrupt.js';
import { type Message, Messages } from './messages/messages.js';
import { isContinuable, isComplete, WorkflowStatus } from './model/status.js';
import type { StageExecution } from './model/stage-execution.js';
import type { Workflow } from './model/workflow.js';
import type { Queue, WorkflowStore } from './store/interfaces.js';
import { Transaction } from './store/transaction.js';

export interface RecoveryResult {
  workflowId: string;
  status: 'recovered' | 'skipped' | 'failed';
  message: string;
  stagesRequeued: number;
}

export interface RecoveryOptions {
  /** Workflows started longer ago than this are left alone (unless an application is given). Default 24 h. */
  maxRecoveryAgeMs?: number;
  batchSize?: number;
  clock?: Clock;
}

/**
 * Re-queues the work of workflows whose worker died (engine.md §10.2): running tasks without a
 * pending message get their RunTask back, stages that should be starting get a StartStage, and
 * workflows that never started get their StartWorkflow. Idempotent: a second sweep adds nothing
 * while the first one's messages are pending, and handlers ignore duplicates anyway.
 */
export class WorkflowRecovery {
  private readonly maxAgeMs: number;
  private readonly batchSize: number;
  private readonly clock: Clock;

  constructor(
    private readonly store: WorkflowStore,
    private readonly queue: Queue,
    options: RecoveryOptions = {},
  ) {
    this.maxAgeMs = options.maxRecoveryAgeMs ?? 24 * 3600 * 1000;
    this.batchSize = options.batchSize ?? 100;
    this.clock = options.clock ?? systemClock;
  }

  async recoverPendingWorkflows(application?: string): Promise<RecoveryResult[]> {
    const results: RecoveryResult[] = [];
    let afterId: string | undefined;
    // A corrupt workflow row fails the whole page it is on. It ends TERMINAL like a corrupt row a
    // handler meets (decisions.md), which takes it out of the page, and the page is read again.
    let quarantined = 0;
    for (;;) {
      let batch: Workflow[];
      try {
        batch = await this.store.listWorkflows({
          statuses: [WorkflowStatus.RUNNING, WorkflowStatus.NOT_STARTED],
          limit: this.batchSize,
          ...(afterId ? { afterId } : {}),
          ...(application !== undefined ? { application } : { startedAfter: this.clock.now() - this.maxAgeMs }),
        });
      } catch (error) {
        if (error instanceof CorruptRowError && error.workflowId && quarantined < this.batchSize && (await markTerminal(this.store, error.workflowId, this.clock.now()).catch(() => false))) {
          quarantined++;
          results.push({ workflowId: error.workflowId, status: 'failed', message: `${errorMessage(error)}; the workflow was marked TERMINAL`, stagesRequeued: 0 });
          continue;
        }
        throw new RecoveryError(`Could not list workflows to recover: ${errorMessage(error)}`, { cause: error });
      }
      for (const workflow of batch) results.push(await this.recoverOne(workflow.id));
      if (batch.length < this.batchSize) break;
      afterId = batch[batch.length - 1]!.id;
    }
    return results;
  }

  async recoverOne(workflowId: string): Promise<RecoveryResult> {
    try {
      const workflow = await this.store.retrieve(workflowId);
      if (isComplete(workflow.status)) return { workflowId, status: 'skipped', message: 'Workflow already complete', stagesRequeued: 0 };
      const messages: Message[] = [];
      let stages = 0;
      for (const stage of workflow.stages) {
        const before = messages.length;
        if (stage.status === WorkflowStatus.RUNNING) await this.requeueRunning(stage, messages);
        else if (stage.status === WorkflowStatus.NOT_STARTED && this.canStart(stage, workflow.stages)) messages.push(Messages.startStage(workflow.id, stage.id));
        if (messages.length > before) stages++;
      }
      if (messages.length === 0 && workflow.status === WorkflowStatus.NOT_STARTED && !workflow.stages.some((s) => s.status !== WorkflowStatus.NOT_STARTED)) {
        messages.push(Messages.startWorkflow(workflow.id));
      }
      if (messages.length === 0) return { workflowId, status: 'skipped', message: 'No stages need recovery', stagesRequeued: 0 };
      const tx = new Transaction();
      for (const m of messages) tx.push(m);
      await this.store.commit(tx);
      return { workflowId, status: 'recovered', message: `Re-queued ${messages.length} message(s)`, stagesRequeued: stages };
    } catch (error) {
      return { workflowId, status: 'failed', message: errorMessage(error), stagesRequeued: 0 };
    }
  }

  private async requeueRunning(stage: StageExecution, messages: Message[]): Promise<void> {
    const running = stage.tasks.filter((t) => t.status === WorkflowStatus.RUNNING);
    if (running.length > 0) {
      for (const task of running) {
        if (!(await this.queue.hasPendingMessageForTask(task.id))) messages.push(Messages.runTask(stage.executionId, stage.id, task.id, task.implementingClass));
      }
      return;
    }
    const next = stage.tasks.find((t) => t.status === WorkflowStatus.NOT_STARTED);
    if (next && stage.tasks.some((t) => t.status !== WorkflowStatus.NOT_STARTED)) {
      if (!(await this.queue.hasPendingMessageForTask(next.id))) messages.push(Messages.startTask(stage.executionId, stage.id, next.id));
      return;
    }
    if (stage.tasks.length > 0 && stage.tasks.every((t) => isComplete(t.status))) {
      messages.push(Messages.completeStage(stage.executionId, stage.id));
      return;
    }
    messages.push(Messages.startStage(stage.executionId, stage.id));
  }

  /** A NOT_STARTED stage that should be starting: all its upstreams are done. */
  private canStart(stage: StageExecution, all: readonly StageExecution[]): boolean {
    if (stage.parentStageId !== null) return false; // its parent drives it
    if (stage.requisiteStageRefIds.length === 0) return all.some((s) => s.status !== WorkflowStatus.NOT_STARTED);
    const upstreams = stage.requisiteStageRefIds.map((ref) => all.find((s) => s.refId === ref && s.parentStageId === null));
    if (upstreams.some((u) => u === undefined)) return false;
    return upstreams.every((u) => isContinuable(u!.status));
  }
}
