import type { Clock } from '../clock.js';
import { type EngineEvent, type EventRecorder, noopEventRecorder } from '../events/recorder.js';
import type { Delivery, WorkflowStore } from '../store/interfaces.js';
import type { Transaction } from '../store/transaction.js';
import type { TaskRegistry } from '../task/registry.js';
import type { StageDefinitionBuilderFactory } from '../builders/stage-definition-builder.js';
import type { HandlerConfig } from './config.js';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Abort controllers of tasks executing in this process, so CancelStage can interrupt them. */
export class RunningTasks {
  private readonly running = new Map<string, AbortController>();
  start(taskId: string): AbortController | undefined {
    if (this.running.has(taskId)) return undefined;
    const controller = new AbortController();
    this.running.set(taskId, controller);
    return controller;
  }
  finish(taskId: string): void {
    this.running.delete(taskId);
  }
  abort(taskId: string, reason: string): void {
    this.running.get(taskId)?.abort(new Error(reason));
  }
  get size(): number {
    return this.running.size;
  }
}

/** Everything a handler may use. One instance per processor. */
export interface HandlerDeps {
  store: WorkflowStore;
  registry: TaskRegistry;
  builders: StageDefinitionBuilderFactory;
  clock: Clock;
  config: HandlerConfig;
  recorder: EventRecorder;
  logger: Logger;
  runningTasks: RunningTasks;
}

/** What one handler invocation works on. */
export interface HandlerInput<M> {
  message: M;
  /** The queue delivery being handled (absent when a handler is driven directly). */
  delivery?: Delivery;
}

export function recordEvent(deps: HandlerDeps, tx: Transaction, event: Omit<EngineEvent, 'timestamp'>): void {
  if (deps.recorder === noopEventRecorder) return; // event sourcing off: build nothing
  deps.recorder.record(tx, { ...event, timestamp: deps.clock.now() });
}
