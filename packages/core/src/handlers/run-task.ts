import {
  classifyError,
  errorMessage,
  isTransientError,
  TaskNotFoundError,
  TaskTimeoutError,
  TransientError,
  truncateErrorText,
  ValidationError,
  VerificationError,
} from '../errors.js';
import { Messages, type RunTask } from '../messages/messages.js';
import type { StageExecution } from '../model/stage-execution.js';
import type { Workflow } from '../model/workflow.js';
import { isComplete, WorkflowStatus } from '../model/status.js';
import type { TaskExecution } from '../model/task-execution.js';
import { assertJsonObject } from '../serialization/json.js';
import { TaskResult } from '../task/task-result.js';
import { isRetryableTask, type Task, type TaskContext } from '../task/task.js';
import { verifyOutputs } from '../task/verification.js';
import { assertOutputSize, outputLimitDetails } from '../task/output-limit.js';
import { completeTaskWithError, loadStageOrReport, newTx, retryOnConcurrency } from './common.js';
import { completeTaskInTx } from './task-flow.js';
import { FusedReads } from './fused.js';
import { exponentialDelay } from './config.js';
import type { HandlerDeps, HandlerInput } from './deps.js';
import { notifyMilestoneWatchers } from './patterns.js';

type Input = HandlerInput<RunTask>;

/**
 * Executes a task (engine.md §4.5): pre-checks, the task body outside any transaction, then one
 * short transaction that records the result and pushes what follows.
 */
export async function handleRunTask(deps: HandlerDeps, input: Input): Promise<void> {
  const { message } = input;
  const { stage, workflowRead } = await readStageAndWorkflow(deps, input);
  if (!stage) return;
  const task = stage.taskById(message.taskId);
  if (!task) {
    await deps.store.commit(newTx(input).push({ type: 'InvalidTaskId', executionId: message.executionId, stageId: message.stageId, taskId: message.taskId }));
    return;
  }
  if (task.status !== WorkflowStatus.RUNNING) return;

  let implementation: Task;
  try {
    implementation = deps.registry.resolve(task.implementingClass);
  } catch (error) {
    if (!(error instanceof TaskNotFoundError)) throw error;
    try {
      implementation = deps.registry.get(message.taskType);
    } catch {
      await completeTaskWithError(deps, input, `No task found for type: ${task.implementingClass}`, {}, stage.failureStatus());
      return;
    }
  }

  // The last task of a stage: what completing the stage in place needs is read while the task runs
  // (not for retryable tasks, which usually poll and finish on a later run).
  const reads = new FusedReads(deps);
  if (!stage.nextTask(task) && !isRetryableTask(implementation)) reads.prefetchCompletion(stage);
  const workflow = await workflowRead;
  const complete = (status: WorkflowStatus, result?: TaskResult | null) => commitResult(deps, input, status, result ?? null);
  if (workflow.isCanceled) {
    const result = implementation.onCancel ? await implementation.onCancel(stage) : null;
    return complete(WorkflowStatus.CANCELED, result);
  }
  if (isComplete(workflow.status)) return complete(WorkflowStatus.CANCELED);
  if (workflow.status === WorkflowStatus.PAUSED) {
    await deps.store.commit(newTx(input).push(Messages.pauseTask(stage.executionId, stage.id, task.id)));
    return;
  }
  if (stage.context.manualSkip) return complete(WorkflowStatus.SKIPPED);

  const now = deps.clock.now();
  const stageTimeout = numberOrNull(stage.context.stageTimeoutMs);
  if (stageTimeout !== null && stage.startTime !== null && now - stage.startTime > stageTimeout) {
    await completeTaskWithError(deps, input, `Stage exceeded timeout (${now - stage.startTime}ms > ${stageTimeout}ms)`, {}, WorkflowStatus.TERMINAL);
    return;
  }
  if (isRetryableTask(implementation) && task.startTime !== null) {
    const limit = implementation.getDynamicTimeout?.(stage) ?? implementation.getTimeout();
    const elapsed = now - task.startTime;
    if (elapsed > limit) {
      const override = implementation.onTimeout ? await implementation.onTimeout(stage) : null;
      if (override) return processResult(deps, input, implementation, override);
      await completeTaskWithError(deps, input, `Task exceeded total timeout (${elapsed}ms > ${limit}ms)`, {}, stage.failureStatus());
      return;
    }
  }

  const controller = deps.runningTasks.start(task.id);
  if (!controller) return; // already executing in this process (a duplicate delivery)
  // The task may scribble on the stage it is given; the result is merged into this untouched copy,
  // whose version guards the commit (a change meanwhile makes it re-read and retry).
  const pristine = stage.clone();
  let result: TaskResult;
  try {
    result = await execute(deps, implementation, stage, task, message, controller);
  } catch (error) {
    await handleTaskError(deps, input, implementation, stage, error);
    return;
  } finally {
    deps.runningTasks.finish(task.id);
  }
  await processResult(deps, input, implementation, result, pristine, reads);
}

/**
 * The stage and its workflow row: in one read where the store offers it, else two concurrent reads
 * (one round trip either way). A gone stage is reported as by `loadStageOrReport`.
 */
async function readStageAndWorkflow(deps: HandlerDeps, input: Input): Promise<{ stage: StageExecution | null; workflowRead: Promise<Workflow> }> {
  if (deps.store.retrieveStageWithWorkflow) {
    try {
      const { stage, workflow } = await deps.store.retrieveStageWithWorkflow(input.message.stageId);
      return { stage, workflowRead: Promise.resolve(workflow) };
    } catch {
      // a missing stage or workflow: the separate reads below report it as usual
    }
  }
  const workflowRead = deps.store.retrieveWorkflowOnly(input.message.executionId);
  workflowRead.catch(() => undefined); // unused when the stage is gone; its error surfaces when awaited
  return { stage: await loadStageOrReport(deps, input), workflowRead };
}

async function execute(deps: HandlerDeps, implementation: Task, stage: StageExecution, task: TaskExecution, message: RunTask, controller: AbortController): Promise<TaskResult> {
  const timeoutMs = executionTimeout(deps, implementation, stage);
  const context: TaskContext = { signal: controller.signal, attempt: message.attempt ?? 1, clock: deps.clock, workflowId: stage.executionId, taskId: task.id };
  // The execution timeout is wall-clock time of running code, so it uses a real timer; the
  // lifetime checks above (stage and total task timeouts) use the engine clock.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new TaskTimeoutError(`Task exceeded timeout: ${timeoutMs}ms`);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
  });
  try {
    const result = await Promise.race([Promise.resolve().then(() => implementation.execute(stage, context)), timeout]);
    return toTaskResult(result);
  } finally {
    clearTimeout(timer);
  }
}

function toTaskResult(value: unknown): TaskResult {
  if (value instanceof TaskResult) return value;
  if (value && typeof value === 'object' && typeof (value as TaskResult).status === 'string') {
    const r = value as Partial<TaskResult>;
    return new TaskResult(r.status!, r.context ?? {}, r.outputs ?? {}, r.targetStageRefId ?? null);
  }
  throw new ValidationError(`Task returned ${value === undefined ? 'nothing' : typeof value} instead of a TaskResult`);
}

function executionTimeout(deps: HandlerDeps, implementation: Task, stage: StageExecution): number {
  if (isRetryableTask(implementation)) return implementation.getDynamicTimeout?.(stage) ?? implementation.getTimeout();
  return numberOrNull(stage.context.stageTimeoutMs) ?? deps.config.defaultTaskTimeoutMs;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

async function handleTaskError(deps: HandlerDeps, input: Input, implementation: Task, stage: StageExecution, error: unknown): Promise<void> {
  if (error instanceof TaskTimeoutError) {
    const override = implementation.onTimeout ? await implementation.onTimeout(stage) : null;
    if (override) return processResult(deps, input, implementation, override);
    await completeTaskWithError(deps, input, errorMessage(error), {}, stage.failureStatus());
    return;
  }
  const attempt = input.message.attempt ?? 1;
  const transient = isTransientError(error);
  if (transient && attempt < deps.config.maxTaskAttempts) {
    const retryAfter = error instanceof TransientError ? error.retryAfterMs : undefined;
    const elapsed = deps.clock.now() - (stage.taskById(input.message.taskId)?.startTime ?? deps.clock.now());
    const delay =
      retryAfter !== undefined
        ? retryAfter
        : isRetryableTask(implementation)
          ? (implementation.getBackoffPeriod?.(stage, elapsed) ?? 1000)
          : exponentialDelay(attempt + 2, deps.config.taskBackoffMinMs, deps.config.taskBackoffMaxMs, deps.config.taskBackoffJitter);
    const update = error instanceof TransientError ? error.contextUpdate : {};
    await retryOnConcurrency(deps, async () => {
      const fresh = await deps.store.retrieveStage(stage.id);
      const task = fresh.taskById(input.message.taskId);
      if (!task || task.status !== WorkflowStatus.RUNNING) return;
      const tx = newTx(input);
      if (Object.keys(update).length > 0) {
        Object.assign(fresh.context, update);
        tx.updateStage(fresh, WorkflowStatus.RUNNING);
      }
      tx.push({ ...input.message, attempt: attempt + 1 }, delay);
      await deps.store.commit(tx);
    });
    return;
  }
  const text = errorMessage(error);
  const details = { errors: [truncateErrorText(text)], transient, error_code: classifyError(error), ...(transient ? { attempts: attempt } : {}) };
  await completeTaskWithError(deps, input, text, details, stage.failureStatus());
}

/** Engine.md §4.5.4: merge the result into a freshly read stage and continue by its status. */
async function processResult(deps: HandlerDeps, input: Input, implementation: Task, result: TaskResult, loaded?: StageExecution, reads?: FusedReads): Promise<void> {
  try {
    assertJsonObject(result.context, 'task result context');
    assertJsonObject(result.outputs, 'task result outputs');
    assertOutputSize(result, deps.config.maxOutputBytes);
  } catch (error) {
    const stage = await deps.store.retrieveStage(input.message.stageId);
    await completeTaskWithError(deps, input, errorMessage(error), outputLimitDetails(error), stage.failureStatus());
    return;
  }
  if (result.status === WorkflowStatus.SUCCEEDED) {
    const stage = loaded ?? (await deps.store.retrieveStage(input.message.stageId));
    const verification = verifyOutputs(stage, result);
    if (verification.outcome === 'failed') {
      await completeTaskWithError(deps, input, new VerificationError(`Output verification failed: ${verification.message}`).message, {}, stage.failureStatus());
      return;
    }
    if (verification.outcome === 'retry') {
      await handleTaskError(deps, input, implementation, stage, new TransientError(`Verification pending retry: ${verification.message}`));
      return;
    }
  }
  await commitResult(deps, input, result.status, result, implementation, loaded, reads);
}

async function commitResult(
  deps: HandlerDeps,
  input: Input,
  reported: WorkflowStatus,
  result: TaskResult | null,
  implementation?: Task,
  loaded?: StageExecution,
  reads?: FusedReads,
): Promise<void> {
  let first = loaded;
  // With `reads`, the commit completes the stage and starts its successors in place (fused.ts).
  let fused = reads;
  await retryOnConcurrency(deps, async () => {
    const stage = first ?? (await deps.store.retrieveStage(input.message.stageId));
    if (!first && fused) fused = new FusedReads(deps); // a retry after a conflict reads afresh
    first = undefined;
    const task = stage.taskById(input.message.taskId);
    // The task was canceled, reset by a jump or completed meanwhile: its late result is dropped.
    if (!task || task.status !== WorkflowStatus.RUNNING) return;
    if (result) {
      Object.assign(stage.context, result.context);
      Object.assign(stage.outputs, result.outputs);
    }
    const tx = newTx(input);
    const { executionId } = stage;
    // The task completes here, in this transaction, rather than through a queued CompleteTask.
    let completion: WorkflowStatus | null = null;
    const complete = (status: WorkflowStatus, _original?: WorkflowStatus) => {
      completion = status;
    };
    switch (reported) {
      case WorkflowStatus.RUNNING: {
        const elapsed = deps.clock.now() - (task.startTime ?? deps.clock.now());
        const delay =
          implementation && isRetryableTask(implementation)
            ? (implementation.getBackoffPeriod?.(stage, elapsed) ?? 1000)
            : exponentialDelay(1, deps.config.taskBackoffMinMs, deps.config.taskBackoffMaxMs, deps.config.taskBackoffJitter);
        tx.push({ ...input.message, attempt: 1 }, delay);
        break;
      }
      case WorkflowStatus.REDIRECT:
        if (result?.targetStageRefId) {
          // The jump drives the flow; the task is parked as REDIRECT until JumpToStage resets or ends it.
          task.status = WorkflowStatus.REDIRECT;
          tx.push({
            type: 'JumpToStage',
            executionId,
            stageId: stage.id,
            targetStageRefId: result.targetStageRefId,
            jumpContext: result.context,
            jumpOutputs: result.outputs,
          });
        } else {
          complete(WorkflowStatus.SUCCEEDED); // Q4: a redirect without a target counts as success
        }
        break;
      case WorkflowStatus.SUCCEEDED:
      case WorkflowStatus.SKIPPED:
      case WorkflowStatus.FAILED_CONTINUE:
      case WorkflowStatus.STOPPED:
        complete(reported);
        break;
      case WorkflowStatus.SUSPENDED: {
        const buffered = Array.isArray(stage.context._buffered_signals) ? [...(stage.context._buffered_signals as unknown[])] : [];
        if (buffered.length > 0) {
          const signal = buffered.shift() as { signal_name?: unknown; signal_data?: unknown };
          stage.context._buffered_signals = buffered;
          stage.context._signal_name = signal.signal_name;
          stage.context._signal_data = signal.signal_data;
          tx.push({ ...input.message, attempt: 1 });
        } else {
          task.status = WorkflowStatus.SUSPENDED;
          stage.status = WorkflowStatus.SUSPENDED;
          notifyMilestoneWatchers(tx, stage); // WCP-18: stages gated on this one re-check
        }
        break;
      }
      case WorkflowStatus.CANCELED:
        complete(stage.failureStatus(WorkflowStatus.CANCELED), WorkflowStatus.CANCELED);
        break;
      default:
        complete(stage.failureStatus(WorkflowStatus.TERMINAL), WorkflowStatus.TERMINAL);
    }
    if (completion !== null) await completeTaskInTx(deps, tx, stage, task, completion, 'RunTaskHandler', fused);
    tx.updateStage(stage, WorkflowStatus.RUNNING);
    await deps.store.commit(tx);
  });
}
