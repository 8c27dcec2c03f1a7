// Handlers for operator controls: restart, pause/resume, signals.
import { Messages, type PauseTask, type RestartStage, type ResumeStage, type SignalStage } from '../messages/messages.js';
import { isComplete, validateTransition, WorkflowStatus } from '../model/status.js';
import { loadStageOrReport, newTx, retryOnConcurrency } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { notifyMilestoneWatchers } from './patterns.js';

/** Re-runs a finished stage; a finished workflow becomes RUNNING again (engine.md §4.13). */
export async function handleRestartStage(deps: HandlerDeps, input: HandlerInput<RestartStage>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage) return;
    const workflow = await deps.store.retrieveWorkflowOnly(stage.executionId);
    if (workflow.isCanceled || !isComplete(stage.status)) return;
    const expected = stage.status;
    stage.resetForRetry();
    const tx = newTx(input).updateStage(stage, expected);
    // Synthetic children run again too (except rollback stages, which belong to the failed run).
    for (const child of await deps.store.retrieveSyntheticStages(stage.id)) {
      if (child.status === WorkflowStatus.NOT_STARTED) continue;
      const childExpected = child.status;
      child.resetForRetry();
      tx.updateStage(child, childExpected);
    }
    if (isComplete(workflow.status)) tx.updateWorkflow(workflow, { status: WorkflowStatus.RUNNING, endTime: null }, workflow.status);
    tx.push(Messages.startStage(stage.executionId, stage.id));
    await deps.store.commit(tx);
  });
}

/** Parks a running task (and its stage) because the workflow is paused (engine.md §4.14). */
export async function handlePauseTask(deps: HandlerDeps, input: HandlerInput<PauseTask>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage) return;
    const task = stage.taskById(input.message.taskId);
    if (!task || task.status !== WorkflowStatus.RUNNING || stage.status !== WorkflowStatus.RUNNING) return;
    task.status = WorkflowStatus.PAUSED;
    stage.status = WorkflowStatus.PAUSED;
    const tx = newTx(input).updateStage(stage, WorkflowStatus.RUNNING);
    notifyMilestoneWatchers(tx, stage); // WCP-18: stages gated on this one re-check
    await deps.store.commit(tx);
  });
}

/** Un-parks a paused stage and runs its paused task again; resumes the workflow if paused. */
export async function handleResumeStage(deps: HandlerDeps, input: HandlerInput<ResumeStage>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage || stage.status !== WorkflowStatus.PAUSED) return;
    const workflow = await deps.store.retrieveWorkflowOnly(stage.executionId);
    stage.status = WorkflowStatus.RUNNING;
    const task = stage.tasks.find((t) => t.status === WorkflowStatus.PAUSED);
    const tx = newTx(input);
    if (task) {
      task.status = WorkflowStatus.RUNNING;
      tx.push(Messages.runTask(stage.executionId, stage.id, task.id, task.implementingClass));
    } else {
      tx.push(Messages.completeStage(stage.executionId, stage.id));
    }
    tx.updateStage(stage, WorkflowStatus.PAUSED);
    notifyMilestoneWatchers(tx, stage);
    if (workflow.status === WorkflowStatus.PAUSED) tx.updateWorkflow(workflow, resumedFields(workflow, deps.clock.now()), WorkflowStatus.PAUSED);
    await deps.store.commit(tx);
  });
}

export function resumedFields(workflow: { paused: import('../model/workflow.js').PausedDetails | null }, now: number) {
  const paused = workflow.paused ?? { pausedBy: '', pauseTime: null, resumeTime: null, pausedMs: 0 };
  return {
    status: WorkflowStatus.RUNNING,
    paused: { ...paused, resumeTime: now, pausedMs: paused.pauseTime !== null ? now - paused.pauseTime : 0 },
  };
}

/**
 * Delivers a signal: a SUSPENDED stage resumes with `_signal_name` / `_signal_data` set; a
 * persistent signal to a stage that is not suspended yet is buffered (engine.md §4.16).
 */
export async function handleSignalStage(deps: HandlerDeps, input: HandlerInput<SignalStage>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage) return;
    const { signalName, signalData, persistent } = input.message;
    const tx = newTx(input);
    if (stage.status === WorkflowStatus.SUSPENDED) {
      validateTransition(stage.status, WorkflowStatus.RUNNING, 'stage', stage.id);
      stage.context._signal_name = signalName;
      stage.context._signal_data = signalData;
      stage.status = WorkflowStatus.RUNNING;
      const task = stage.tasks.find((t) => t.status === WorkflowStatus.SUSPENDED);
      if (task) {
        task.status = WorkflowStatus.RUNNING;
        tx.push(Messages.runTask(stage.executionId, stage.id, task.id, task.implementingClass));
      } else {
        tx.push(Messages.startStage(stage.executionId, stage.id));
      }
      notifyMilestoneWatchers(tx, stage);
      await deps.store.commit(tx.updateStage(stage, WorkflowStatus.SUSPENDED));
      return;
    }
    if (persistent && !isComplete(stage.status)) {
      const buffered = Array.isArray(stage.context._buffered_signals) ? [...(stage.context._buffered_signals as unknown[])] : [];
      buffered.push({ signal_name: signalName, signal_data: signalData });
      stage.context._buffered_signals = buffered;
      await deps.store.commit(tx.updateStage(stage, stage.status));
    }
  });
}
