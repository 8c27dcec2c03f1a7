// Design-time helper for multiple-instance activities (docs/patterns.md WCP-12..15, 34..36). It only
// configures the stage (`miConfig`, merged, never overwritten) and, for a count known at design time,
// creates the instances; the engine does the rest when it reaches the stage.
import { newInstance } from '../handlers/multi-instance.js';
import type { Context, MultiInstanceConfig, StageExecution } from '../model/stage-execution.js';

export interface MultiInstanceOptions {
  /** Wait for the instances before the stage completes (default true). False: WCP-12, no synchronization. */
  syncOnComplete?: boolean;
  /** Complete the stage once this many instances are done (partial join, WCP-34/36); 0 = all (default). */
  joinThreshold?: number;
  /** With a threshold: withdraw the unfinished instances when it is reached (WCP-35). */
  cancelRemaining?: boolean;
  /** Instances may be added while the stage runs (`AddMultiInstance`, WCP-15/36). */
  allowDynamic?: boolean;
}

function configure(stage: StageExecution, config: MultiInstanceConfig, options: MultiInstanceOptions): void {
  const merged: MultiInstanceConfig = { ...(stage.miConfig ?? {}), ...config };
  if (options.syncOnComplete !== undefined) merged.syncOnComplete = options.syncOnComplete;
  if (options.joinThreshold !== undefined) merged.joinThreshold = options.joinThreshold;
  if (options.cancelRemaining !== undefined) merged.cancelRemaining = options.cancelRemaining;
  if (options.allowDynamic !== undefined) merged.allowDynamic = options.allowDynamic;
  stage.miConfig = merged;
}

/**
 * Makes a stage a multiple-instance activity: its tasks become the body of each instance; its
 * instances are its synthetic children `<refId>_instance_<i>`; the stage completes when its join
 * condition over them holds.
 */
export const MultiInstanceBuilder = {
  /**
   * WCP-13: `count` instances known at design time. Returns the instance stages, to be added to the
   * workflow together with `stage` (each gets `instanceContexts[i]` on top of the stage's context).
   */
  fixed(stage: StageExecution, count: number, options: MultiInstanceOptions & { instanceContexts?: readonly Context[] } = {}): StageExecution[] {
    configure(stage, { count }, options);
    const instances = Array.from({ length: count }, (_, i) => newInstance(stage, i, options.instanceContexts?.[i] ?? {}, false));
    stage.context._mi_planned = true;
    stage.context._mi_instance_count = count;
    return instances;
  },

  /** WCP-14: the number of instances is read from `countKey` of the stage's context when the engine reaches it. */
  fromContext(stage: StageExecution, countKey: string, options: MultiInstanceOptions = {}): StageExecution {
    configure(stage, { countFromContext: countKey }, options);
    return stage;
  },

  /** WCP-14: one instance per item of the list at `collectionKey` when the engine reaches the stage (item under `itemContextKey`, default `item`). */
  fromCollection(stage: StageExecution, collectionKey: string, options: MultiInstanceOptions & { itemContextKey?: string } = {}): StageExecution {
    configure(stage, { collectionFromContext: collectionKey, ...(options.itemContextKey ? { itemContextKey: options.itemContextKey } : {}) }, options);
    return stage;
  },

  /**
   * WCP-15: instances are added while the stage runs (`AddMultiInstance`); `initialCount` start with it.
   * The stage stays open for new instances until creation is closed (`AddMultiInstance` with
   * `close: true`, or `CompleteMultiInstance`) or its join threshold is reached (WCP-36).
   */
  dynamic(stage: StageExecution, options: MultiInstanceOptions & { initialCount?: number } = {}): StageExecution {
    configure(stage, { count: options.initialCount ?? 0, allowDynamic: true }, { ...options, allowDynamic: true });
    return stage;
  },
};
