// How the processor routes bad data (issue 11), beyond the backend scenarios of suite-corruption.ts:
// a CorruptDataError is never retried and never rethrown by a drain; a known message type whose
// handler is missing is a configuration problem and keeps the ordinary retries.
import { describe, expect, it } from 'vitest';
import { createInMemoryBackend, CorruptRowError, ManualClock, Messages, QueueProcessor, Workflow, WorkflowStatus } from '../src/index.js';
import { S } from '../src/testing/index.js';

describe('bad data in the queue processor', () => {
  it('a CorruptRowError from a handler: dead letter on the first delivery, workflow TERMINAL, the drain does not throw', async () => {
    const clock = new ManualClock();
    const { store, queue } = createInMemoryBackend({ clock });
    const workflow = Workflow.create({ application: 'q', name: 'w', stages: [S('a', ['success'])] });
    await store.store(workflow);
    const processor = new QueueProcessor(queue, { store, clock, retryDelayMs: 10 });
    processor.registerHandler('CancelRegion', async () => {
      throw new CorruptRowError({ table: 'stage_executions', rowId: 'stage-1', workflowId: workflow.id, column: 'context' }, 'malformed JSON');
    });
    await queue.push(Messages.cancelRegion(workflow.id, 'r'));
    await expect(processor.processAll({ timeoutMs: 5000 })).resolves.toBe(0);
    const [letter] = await queue.listDeadLetters();
    expect(letter).toMatchObject({ messageType: 'CancelRegion', attempts: 1 });
    expect(letter!.error).toBe(`CorruptRowError: Corrupt row: stage_executions row stage-1 of workflow ${workflow.id} (column context): malformed JSON`);
    const stored = await store.retrieveWorkflowOnly(workflow.id);
    expect(stored.status).toBe(WorkflowStatus.TERMINAL);
    expect(stored.endTime).toBe(clock.now());
  });

  it('a workflow that already ended keeps its status', async () => {
    const clock = new ManualClock();
    const { store, queue } = createInMemoryBackend({ clock });
    const workflow = Workflow.create({ application: 'q', name: 'w', stages: [S('a', ['success'])] });
    workflow.status = WorkflowStatus.SUCCEEDED;
    await store.store(workflow);
    await queue.push({ type: 'NoSuchMessage', executionId: workflow.id } as unknown as Parameters<typeof queue.push>[0]);
    await new QueueProcessor(queue, { store, clock }).processAll({ timeoutMs: 5000 });
    expect((await queue.listDeadLetters())[0]!.error).toMatch(/Unknown message type "NoSuchMessage"$/);
    expect((await store.retrieveWorkflowOnly(workflow.id)).status).toBe(WorkflowStatus.SUCCEEDED);
  });

  it('a known message type without a handler is a configuration problem: retried as usual', async () => {
    const clock = new ManualClock();
    const { store, queue } = createInMemoryBackend({ clock });
    const processor = new QueueProcessor(queue, { store, clock, retryDelayMs: 10 });
    processor.registerHandler('CancelRegion', undefined);
    await queue.push(Messages.cancelRegion('nowhere', 'r'), { maxAttempts: 2 });
    const errors: string[] = [];
    for (let round = 0; round < 5 && (await queue.size()) > 0; round++) {
      await processor.processAll({ timeoutMs: 5000 }).catch((error: Error) => errors.push(error.message));
    }
    expect(errors).toEqual(['No handler registered for CancelRegion', 'No handler registered for CancelRegion']);
    expect((await queue.listDeadLetters())[0]).toMatchObject({ messageType: 'CancelRegion', attempts: 2 });
  });
});
