import type { CompleteMultiInstance } from '../messages/messages.js';
import { WorkflowStatus } from '../model/status.js';
import { loadStageOrReport, newTx, retryOnConcurrency } from './common.js';
import { finishMultiInstance } from './complete-stage.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { evaluateMultiInstance, instancesOf, isMultiInstanceStage, MiKeys } from './multi-instance.js';

/**
 * WCP-27: completes a multiple-instance stage. Instance creation closes; by default the unfinished
 * instances are withdrawn and the stage completes now with the outputs of the finished ones
 * (`withdrawRunning: false`: it completes as soon as the running instances finish).
 */
export async function handleCompleteMultiInstance(deps: HandlerDeps, input: HandlerInput<CompleteMultiInstance>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage) return;
    const tx = newTx(input);
    if (!isMultiInstanceStage(stage) || (stage.status !== WorkflowStatus.RUNNING && stage.status !== WorkflowStatus.NOT_STARTED)) {
      await deps.store.commit(tx);
      return;
    }
    stage.context[MiKeys.closed] = true;
    const outcome = stage.status === WorkflowStatus.RUNNING ? evaluateMultiInstance(stage, instancesOf(await deps.store.retrieveSyntheticStages(stage.id)), input.message.withdrawRunning !== false) : { kind: 'wait' as const };
    if (outcome.kind === 'wait') tx.updateStage(stage, stage.status);
    else await finishMultiInstance(deps, tx, stage, outcome);
    await deps.store.commit(tx);
  });
}
