import type { StartTask } from '../messages/messages.js';
import { WorkflowStatus } from '../model/status.js';
import { loadStageOrReport, newTx, retryOnConcurrency } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { startTaskInTx } from './task-flow.js';

/** NOT_STARTED -> RUNNING, then RunTask (engine.md §4.4). */
export async function handleStartTask(deps: HandlerDeps, input: HandlerInput<StartTask>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage) return;
    const task = stage.taskById(input.message.taskId);
    if (!task) {
      await deps.store.commit(newTx(input).push({ ...input.message, type: 'InvalidTaskId' }));
      return;
    }
    if (task.status !== WorkflowStatus.NOT_STARTED || stage.status !== WorkflowStatus.RUNNING) return;
    const tx = newTx(input).updateStage(stage, WorkflowStatus.RUNNING);
    await startTaskInTx(deps, tx, stage, task, 'StartTaskHandler');
    await deps.store.commit(tx);
  });
}
