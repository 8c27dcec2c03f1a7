import { type Clock, systemClock } from './clock.js';
import type { EventRecorder } from './events/recorder.js';
import { ConfigurationError, ValidationError } from './errors.js';
import { resumedFields } from './handlers/operator.js';
import { type Message, Messages } from './messages/messages.js';
import { isComplete, WorkflowStatus } from './model/status.js';
import type { Workflow } from './model/workflow.js';
import type { Queue, WorkflowStore } from './store/interfaces.js';
import { Transaction } from './store/transaction.js';

export interface OrchestratorOptions {
  /** With a store, `start` stores the workflow and queues its start in one transaction. */
  store?: WorkflowStore;
  clock?: Clock;
  /** Sees the orchestrator's transactions too (workflow creation, pause, resume). */
  recorder?: EventRecorder;
}

type WorkflowRef = Workflow | string;
const idOf = (ref: WorkflowRef) => (typeof ref === 'string' ? ref : ref.id);

/** The operator's API: start, cancel, pause, resume, restart, skip and signal workflows. */
export class Orchestrator {
  private readonly store: WorkflowStore | undefined;
  private readonly clock: Clock;
  private readonly recorder: EventRecorder | undefined;

  constructor(
    readonly queue: Queue,
    options: OrchestratorOptions = {},
  ) {
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.recorder = options.recorder;
  }

  private async commit(store: WorkflowStore, tx: Transaction): Promise<void> {
    await this.recorder?.beforeCommit?.(tx, store);
    await store.commit(tx);
    this.recorder?.afterCommit?.(tx);
  }

  /**
   * Queues the start of a workflow. Without a store the caller must have stored it; with one, the
   * workflow (validated first) and its StartWorkflow message are committed together.
   */
  async start(workflow: Workflow): Promise<void> {
    if (!this.store) {
      await this.queue.push(Messages.startWorkflow(workflow.id));
      return;
    }
    workflow.validate();
    let exists = true;
    try {
      await this.store.retrieveWorkflowOnly(workflow.id);
    } catch {
      exists = false;
    }
    const tx = new Transaction();
    if (!exists) tx.insertWorkflow(workflow);
    tx.push(Messages.startWorkflow(workflow.id));
    await this.commit(this.store, tx);
  }

  async cancel(workflow: WorkflowRef, user = 'anonymous', reason = ''): Promise<void> {
    await this.queue.push(Messages.cancelWorkflow(idOf(workflow), user, reason));
  }

  /** Re-runs a finished stage (and, when the workflow had ended, the workflow from there). */
  async restart(workflow: WorkflowRef, stageId: string): Promise<void> {
    await this.queue.push(Messages.restartStage(idOf(workflow), stageId));
  }

  async skipStage(workflow: WorkflowRef, stageId: string): Promise<void> {
    await this.queue.push(Messages.skipStage(idOf(workflow), stageId));
  }

  /** Sends a signal to a stage (resumes a SUSPENDED stage; `persistent` buffers it until then). */
  async signal(workflow: WorkflowRef, stageId: string, signalName: string, signalData: Record<string, unknown> = {}, options: { persistent?: boolean } = {}): Promise<void> {
    await this.queue.push(Messages.signalStage(idOf(workflow), stageId, signalName, signalData, options.persistent ?? false));
  }

  /** Pauses a running workflow: tasks park at their next execution. */
  async pause(workflow: WorkflowRef, user = 'anonymous'): Promise<void> {
    const store = this.requireStore('pause');
    const current = await store.retrieveWorkflowOnly(idOf(workflow));
    if (current.status !== WorkflowStatus.RUNNING) throw new ValidationError(`Workflow ${current.id} is ${current.status}, only a RUNNING workflow can be paused`);
    const tx = new Transaction().updateWorkflow(
      current,
      { status: WorkflowStatus.PAUSED, paused: { pausedBy: user, pauseTime: this.clock.now(), resumeTime: null, pausedMs: 0 } },
      WorkflowStatus.RUNNING,
    );
    await this.commit(store, tx);
  }

  /** Resumes a paused workflow and every stage that parked meanwhile. */
  async resume(workflow: WorkflowRef): Promise<void> {
    const store = this.requireStore('resume');
    const current = await store.retrieve(idOf(workflow));
    const tx = new Transaction();
    if (current.status === WorkflowStatus.PAUSED) tx.updateWorkflow(current, resumedFields(current, this.clock.now()), WorkflowStatus.PAUSED);
    for (const stage of current.stages) if (stage.status === WorkflowStatus.PAUSED) tx.push(Messages.resumeStage(current.id, stage.id));
    await this.commit(store, tx);
  }

  /** Upstream name for `resume`. */
  unpause(workflow: WorkflowRef): Promise<void> {
    return this.resume(workflow);
  }

  /** Pushes any engine message (for tools and tests). */
  async send(message: Message, delayMs = 0): Promise<void> {
    await this.queue.push(message, { delayMs });
  }

  async getExecution(workflowId: string): Promise<Workflow> {
    return this.requireStore('getExecution').retrieve(workflowId);
  }

  /** Whether the workflow has reached a final status. */
  async isFinished(workflowId: string): Promise<boolean> {
    return isComplete((await this.requireStore('isFinished').retrieveWorkflowOnly(workflowId)).status);
  }

  private requireStore(operation: string): WorkflowStore {
    if (!this.store) throw new ConfigurationError(`Orchestrator.${operation} needs a store: new Orchestrator(queue, { store })`);
    return this.store;
  }
}
