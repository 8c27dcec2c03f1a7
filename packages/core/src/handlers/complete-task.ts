import type { CompleteTask } from '../messages/messages.js';
import { WorkflowStatus } from '../model/status.js';
import { loadStageOrReport, newTx, retryOnConcurrency } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { completeTaskInTx } from './task-flow.js';

/** RUNNING -> the reported status, then the next task or CompleteStage (engine.md §4.6). */
export async function handleCompleteTask(deps: HandlerDeps, input: HandlerInput<CompleteTask>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage) return;
    const task = stage.taskById(input.message.taskId);
    if (!task || task.status !== WorkflowStatus.RUNNING) return; // stale: already completed, canceled or reset
    const tx = newTx(input).updateStage(stage);
    await completeTaskInTx(deps, tx, stage, task, input.message.status, 'CompleteTaskHandler');
    await deps.store.commit(tx);
  });
}
