// Oversized task results (issue 11): above `handlerConfig.maxOutputBytes` (default 1 MiB) of JSON
// the task fails with OutputTooLargeError recorded in the stage's exception, and the huge value is
// never written.
import { describe, expect, it } from 'vitest';
import {
  assertOutputSize,
  createInMemoryBackend,
  DEFAULT_HANDLER_CONFIG,
  DEFAULT_MAX_OUTPUT_BYTES,
  type HandlerConfig,
  ManualClock,
  Orchestrator,
  OutputTooLargeError,
  QueueProcessor,
  StageExecution,
  TaskExecution,
  TaskRegistry,
  TaskResult,
  Workflow,
  WorkflowStatus,
} from '../src/index.js';

/** Runs one stage whose task returns `result`, then a downstream stage; returns the stored workflow. */
async function run(result: () => TaskResult, handlerConfig: Partial<HandlerConfig> = {}, context: Record<string, unknown> = {}) {
  const clock = new ManualClock();
  const { store, queue } = createInMemoryBackend({ clock });
  const registry = new TaskRegistry().register('produce', result).register('ok', () => TaskResult.success());
  const workflow = Workflow.create({
    application: 'hostile',
    name: 'output',
    stages: [
      new StageExecution({ refId: 'produce', context, tasks: [TaskExecution.create({ name: 'produce', implementingClass: 'produce' })] }),
      new StageExecution({ refId: 'next', requisiteStageRefIds: ['produce'], tasks: [TaskExecution.create({ name: 'ok', implementingClass: 'ok' })] }),
    ],
  });
  await new Orchestrator(queue, { store, clock }).start(workflow);
  await new QueueProcessor(queue, { store, taskRegistry: registry, clock, handlerConfig }).processAll({ timeoutMs: 20_000 });
  return store.retrieve(workflow.id);
}

/** A value whose JSON (`{"blob":"…"}`) is exactly `bytes` long. */
const blobOf = (bytes: number) => ({ blob: 'x'.repeat(bytes - '{"blob":""}'.length) });

describe('task output limit', () => {
  it('defaults to 1 MiB', () => {
    expect(DEFAULT_MAX_OUTPUT_BYTES).toBe(1024 * 1024);
    expect(DEFAULT_HANDLER_CONFIG.maxOutputBytes).toBe(1024 * 1024);
  });

  it('a 2 MiB output fails the task with a typed error in the stage exception; nothing huge is stored', async () => {
    const bytes = 2 * 1024 * 1024;
    const result = await run(() => TaskResult.success({ outputs: blobOf(bytes) }));
    const stage = result.stageByRefId('produce')!;
    expect(stage.status).toBe(WorkflowStatus.TERMINAL);
    expect(result.status).toBe(WorkflowStatus.TERMINAL);
    expect(result.stageByRefId('next')!.status).toBe(WorkflowStatus.NOT_STARTED);
    const message = new OutputTooLargeError(bytes, 1024 * 1024).message;
    expect(message).toBe(`Task output too large: ${bytes} bytes of JSON exceed the limit of 1048576 bytes (maxOutputBytes)`);
    expect(stage.context.exception).toEqual({ details: { error: message, error_code: 'RESOURCE_EXHAUSTED', output_bytes: bytes, max_output_bytes: 1024 * 1024 } });
    expect(stage.tasks[0]!.taskExceptionDetails).toEqual(stage.context.exception);
    expect(stage.outputs).toEqual({});
    expect(JSON.stringify(result).length).toBeLessThan(10_000);
  });

  it('counts the result context too, and honours failure flags', async () => {
    const result = await run(() => TaskResult.success({ context: blobOf(200), outputs: blobOf(200) }), { maxOutputBytes: 399 }, { continuePipelineOnFailure: true });
    expect(result.stageByRefId('produce')!.status).toBe(WorkflowStatus.FAILED_CONTINUE);
    expect((result.stageByRefId('produce')!.context.exception as { details: { output_bytes: number } }).details.output_bytes).toBe(400);
    expect(result.stageByRefId('next')!.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(result.status).toBe(WorkflowStatus.SUCCEEDED);
  });

  it('is exact at the boundary and configurable; 0 turns it off', async () => {
    const at = await run(() => TaskResult.success({ outputs: blobOf(1000) }), { maxOutputBytes: 1000 });
    expect(at.status).toBe(WorkflowStatus.SUCCEEDED);
    expect(at.stageByRefId('produce')!.outputs).toEqual(blobOf(1000));
    const over = await run(() => TaskResult.success({ outputs: blobOf(1001) }), { maxOutputBytes: 1000 });
    expect(over.stageByRefId('produce')!.status).toBe(WorkflowStatus.TERMINAL);
    const off = await run(() => TaskResult.success({ outputs: blobOf(2 * 1024 * 1024) }), { maxOutputBytes: 0 });
    expect(off.status).toBe(WorkflowStatus.SUCCEEDED);
  });

  it('applies to every result status, and counts UTF-8 bytes', async () => {
    const running = await run(() => TaskResult.running({ context: { s: 'é'.repeat(600) } }), { maxOutputBytes: 1000 });
    expect(running.stageByRefId('produce')!.status).toBe(WorkflowStatus.TERMINAL);
    expect(() => assertOutputSize({ context: {}, outputs: { s: 'é'.repeat(600) } }, 1000)).toThrow(OutputTooLargeError);
    expect(() => assertOutputSize({ context: {}, outputs: { s: 'e'.repeat(600) } }, 1000)).not.toThrow();
  });
});
