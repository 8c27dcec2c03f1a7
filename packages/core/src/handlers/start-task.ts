import { Messages, type StartTask } from '../messages/messages.js';
import { WorkflowStatus } from '../model/status.js';
import { isSkippableTask } from '../task/task.js';
import { loadStageOrReport, newTx, retryOnConcurrency } from './common.js';
import { type HandlerDeps, type HandlerInput, recordEvent } from './deps.js';

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

    task.status = WorkflowStatus.RUNNING;
    task.startTime = deps.clock.now();
    const tx = newTx(input).updateStage(stage, WorkflowStatus.RUNNING);

    let skip = false;
    try {
      const implementation = deps.registry.resolve(task.implementingClass);
      skip = isSkippableTask(implementation) && !(await implementation.isEnabled(stage));
    } catch {
      // An unknown task type is reported by RunTask, with the error recorded on the stage.
    }
    if (skip) {
      // Q3: the task is RUNNING, so CompleteTask(SKIPPED) moves the stage on instead of hanging it.
      tx.push(Messages.completeTask(stage.executionId, stage.id, task.id, WorkflowStatus.SKIPPED));
    } else {
      tx.push(Messages.runTask(stage.executionId, stage.id, task.id, task.implementingClass));
    }
    recordEvent(deps, tx, {
      eventType: 'task.started',
      entityType: 'task',
      entityId: task.id,
      workflowId: stage.executionId,
      version: task.version + 1,
      data: { name: task.name, implementing_class: task.implementingClass, start_time: task.startTime, stage_id: stage.id },
      sourceHandler: 'StartTaskHandler',
    });
    await deps.store.commit(tx);
  });
}
