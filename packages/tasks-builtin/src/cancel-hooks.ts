import { type CancelStage, defaultHandlers, errorMessage, type Handler, isComplete, type QueueProcessor, type Task, WorkflowStatus } from '@stabilize/core';

const WAITING = new Set<string>([WorkflowStatus.RUNNING, WorkflowStatus.SUSPENDED, WorkflowStatus.PAUSED]);

/**
 * Makes `processor` call `onCancel(stage)` of every unfinished task of a stage that is being
 * canceled, then cancel the stage as usual. The engine itself calls `onCancel` only when a task
 * happens to run after its workflow was flagged canceled, so a task that waits between polls
 * (SubWorkflowTask) or is suspended would never hear of it. Failures are logged, never fatal.
 */
export function installCancelHooks(processor: QueueProcessor): void {
  const cancelStage = defaultHandlers().CancelStage as Handler<CancelStage>;
  processor.registerHandler('CancelStage', async (deps, input) => {
    try {
      const stage = await deps.store.retrieveStage(input.message.stageId);
      if (!isComplete(stage.status)) {
        for (const task of stage.tasks) {
          if (!WAITING.has(task.status)) continue;
          let implementation: Task;
          try {
            implementation = deps.registry.resolve(task.implementingClass);
          } catch {
            continue;
          }
          await implementation.onCancel?.(stage);
        }
      }
    } catch (error) {
      deps.logger.warn('Task onCancel failed', { stageId: input.message.stageId, error: errorMessage(error) });
    }
    await cancelStage(deps, input);
  });
}
