import type { SkipStage } from '../messages/messages.js';
import { WorkflowStatus } from '../model/status.js';
import { loadStageOrReport, newTx, retryOnConcurrency } from './common.js';
import { finishStage } from './complete-stage.js';
import type { HandlerDeps, HandlerInput } from './deps.js';

/** NOT_STARTED -> SKIPPED; downstream stages then start (SKIPPED counts as done). Engine.md §4.9. */
export async function handleSkipStage(deps: HandlerDeps, input: HandlerInput<SkipStage>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage || stage.status !== WorkflowStatus.NOT_STARTED) return;
    stage.status = WorkflowStatus.SKIPPED;
    stage.endTime = deps.clock.now();
    const tx = newTx(input).updateStage(stage, WorkflowStatus.NOT_STARTED);
    await finishStage(deps, tx, stage, 'SkipStageHandler');
    await deps.store.commit(tx);
  });
}
