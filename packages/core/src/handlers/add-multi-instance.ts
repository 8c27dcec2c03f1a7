import { Messages, type AddMultiInstance } from '../messages/messages.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import { loadStageOrReport, newTx, retryOnConcurrency } from './common.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { instancesOf, isMultiInstanceStage, MiKeys, newInstance } from './multi-instance.js';

/**
 * WCP-15 / WCP-36: adds an instance to a running (or not yet started) multiple-instance stage whose
 * `miConfig.allowDynamic` is set and whose instance creation is still open. The instance is joined
 * like the others: the stage's join counts every instance that exists when it decides. `close`
 * closes creation (this is the last instance). Ignored for other stages, finished ones, or closed
 * creation.
 */
export async function handleAddMultiInstance(deps: HandlerDeps, input: HandlerInput<AddMultiInstance>): Promise<void> {
  await retryOnConcurrency(deps, async () => {
    const stage = await loadStageOrReport(deps, input);
    if (!stage) return;
    const tx = newTx(input);
    const open = isMultiInstanceStage(stage) && stage.miConfig?.allowDynamic === true && !isComplete(stage.status) && stage.context[MiKeys.closed] !== true;
    if (!open) {
      deps.logger.warn('AddMultiInstance ignored: not an open dynamic multi-instance stage', { stageId: stage.id, status: stage.status });
      await deps.store.commit(tx);
      return;
    }
    const existing = instancesOf(await deps.store.retrieveSyntheticStages(stage.id));
    const counter = stage.context[MiKeys.count];
    const index = Math.max(typeof counter === 'number' ? counter : 0, existing.length);
    const planned = stage.status !== WorkflowStatus.NOT_STARTED;
    const instance = newInstance(stage, index, input.message.instanceContext ?? {}, planned);
    stage.context[MiKeys.count] = index + 1;
    if (input.message.close) stage.context[MiKeys.closed] = true;
    tx.updateStage(stage, stage.status).insertStage(instance);
    // Before the stage starts, its planning starts every instance; afterwards the instance starts now.
    if (planned) tx.push(Messages.startStage(stage.executionId, instance.id));
    await deps.store.commit(tx);
  });
}
