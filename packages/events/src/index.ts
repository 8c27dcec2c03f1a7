// @stabilize/events: event sourcing for Stabilize — recording in the state transaction, an
// in-process bus, replay and time travel, snapshots, upcasting, projections and durable
// subscriptions. Depends on @stabilize/core only; the event tables belong to each store package.
export { type BusErrorHandler, type BusStats, type BusSubscription, type DeliveryMode, EventBus, type EventFilter, type EventHandler, matchesFilter, type SubscribeOptions } from './bus.js';
export { canonicalJson, HASH_ALGORITHM, stateHash } from './canonical-json.js';
export { CURRENT_SCHEMA_VERSION, type EventType, EventTypes, isStateEvent, STATE_EVENTS, TERMINAL_WORKFLOW_EVENTS } from './event-types.js';
export { type Projection, projectFromBus, runProjection } from './projections/projection.js';
export { StageMetrics, StageMetricsProjection, TaskMetrics } from './projections/metrics.js';
export { type TimelineEntry, type WorkflowTimeline, WorkflowTimelineProjection } from './projections/timeline.js';
export {
  configureEventSourcing,
  createEventRecorder,
  currentEventContext,
  type EventContext,
  type EventRecorderOptions,
  EventSourcingRecorder,
  eventSourcedStore,
  withEventContext,
} from './recorder.js';
export { applyEvent, EventReplayer, type EventReplayerOptions, type RebuildOptions, type RebuildResult, ReplayError } from './replay.js';
export { createSnapshot, SnapshotIntegrityError, SnapshotStore, verifySnapshot, type WorkflowSnapshotState } from './snapshots.js';
export {
  applyStageChange,
  diffStage,
  type ObjectDelta,
  type StageChange,
  type StageState,
  stageState,
  type WorkflowChangedData,
  type WorkflowDocument,
  workflowDocument,
  workflowFromDocument,
} from './state.js';
export { type DurableHandler, type DurableSubscriptionOptions, SubscriptionManager, type SubscriptionManagerOptions, type SubscriptionStatus } from './subscriptions.js';
export { type Upcaster, UpcasterRegistry, UpcastError } from './upcasting.js';
