// @stabilize/core: the engine. Everything public is exported here.
export { type Clock, ManualClock, systemClock } from './clock.js';
export * from './errors.js';
export { ulid } from './ids.js';

export * from './model/status.js';
export { TaskExecution, type TaskExecutionInit } from './model/task-execution.js';
export {
  type Context,
  determineStageStatus,
  JoinType,
  type MultiInstanceConfig,
  SplitType,
  StageExecution,
  type StageExecutionInit,
  SyntheticStageOwner,
} from './model/stage-execution.js';
export { type PausedDetails, type Trigger, Workflow, type WorkflowInit, WorkflowType } from './model/workflow.js';

export { ancestorRefIds, type GraphNode, topologicalSort, validateStageGraph } from './dag/graph.js';
export { mergeContexts, mergeValue } from './dag/merge.js';
export { evaluateReadiness, isDeadPath, isWithdrawn, mayFireAgain, type Readiness, type ReadinessPhase, type UpstreamView } from './dag/readiness.js';
export { getOutputReducer, type OutputReducer, registerOutputReducer } from './dag/reducers.js';
export * from './expressions/index.js';

export * from './messages/messages.js';

export { TaskResult, TaskResultBuilder, type TaskResultInit } from './task/task-result.js';
export {
  isRetryableTask,
  isSkippableTask,
  type RetryableTask,
  type SkippableTask,
  type Task,
  type TaskClass,
  type TaskContext,
  type TaskFunction,
} from './task/task.js';
export { type RegisterOptions, TaskRegistry } from './task/registry.js';

export {
  noopStageBuilder,
  type StageDefinitionBuilder,
  StageDefinitionBuilderFactory,
  StageGraphBuilder,
  syntheticStage,
} from './builders/stage-definition-builder.js';
export { MultiInstanceBuilder, type MultiInstanceOptions } from './builders/multi-instance-builder.js';
export { LoopBackTask, LoopBuilder, LoopConditionTask, LoopStateTask, type LoopOptions, registerLoopTasks } from './builders/loop-builder.js';
export { MUTEX_SCOPE } from './handlers/patterns.js';

export type { DeadLetter, Delivery, PollOptions, PushOptions, Queue, QueueStats, StageSummary, WorkflowQuery, WorkflowStore } from './store/interfaces.js';
export {
  type ClaimRelease,
  type ClaimRequest,
  type ClaimWait,
  type ConsumedDelivery,
  type PendingMessage,
  type StageUpdate,
  Transaction,
  type WorkflowStateUpdate,
  type WorkflowUpdate,
} from './store/transaction.js';
export { assertJsonObject, assertJsonValue, parseJson } from './serialization/json.js';

export { type EngineEvent, type EntityType, type EventRecorder, noopEventRecorder } from './events/recorder.js';
export type { EventRecord, EventSnapshot, EventStore, ReadAllEventsOptions, ReadWorkflowEventsOptions } from './events/event-store.js';
export { DEFAULT_HANDLER_CONFIG, exponentialDelay, type HandlerConfig } from './handlers/config.js';
export { assertOutputSize, DEFAULT_MAX_OUTPUT_BYTES } from './task/output-limit.js';
export type { HandlerDeps, HandlerInput, Logger } from './handlers/deps.js';
export { silentLogger } from './handlers/deps.js';
export { defaultHandlers, type Handler, type HandlerMap } from './handlers/index.js';
export { type ProcessAllOptions, QueueProcessor, type QueueProcessorOptions } from './processor/queue-processor.js';
export { Orchestrator, type OrchestratorOptions } from './orchestrator.js';

export { createInMemoryBackend, InMemoryDatabase, InMemoryEventStore, InMemoryQueue, InMemoryWorkflowStore } from './memory/in-memory-backend.js';
export { type RecoveryOptions, type RecoveryResult, WorkflowRecovery } from './recovery.js';
export { assertConfig, assertContext, assertContextIn, assertContextType, assertOutput, ConfigError, ContextError, OutputError } from './task/assertions.js';
export { DEFINITION_LIMITS, type StageDefinition, type TaskDefinition, type WorkflowDefinition, workflowFromDefinition } from './model/definition.js';
